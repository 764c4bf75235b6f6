"""Conditional generation: guidance and inverse problems checked against exact mixtures."""
import math

import pytest
import torch

from sde_diffusion.analytic import GaussianMixture, random_full_mixture, ring_of_gaussians
from sde_diffusion.conditional import (LinearMeasurement, cfg_score, classifier_score,
                                       posterior_score, replacement)
from sde_diffusion.losses import DenoisingLoss
from sde_diffusion.metrics import sliced_wasserstein
from sde_diffusion.models import MLP, ScoreModel, UNet
from sde_diffusion.models.classifier import NoiseConditionalClassifier, noisy_classifier_loss
from sde_diffusion.sdes import VESDE, VPSDE
from sde_diffusion.solvers import sample

SDES = [VPSDE(), VESDE(sigma_max=10.0)]


def labelled_mixture():
    """Three classes on a ring of six components (component k has class k % 3)."""
    ring = ring_of_gaussians(6, radius=3.0, std=0.4)
    return GaussianMixture(ring.means, torch.full((6,), 0.4), torch.arange(1, 7.0),
                           labels=torch.arange(6) % 3)


def points(n=12, d=2, seed=0, scale=3.0):
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * scale


@pytest.mark.parametrize("sde", SDES, ids=repr)
def test_cfg_with_exact_scores(sde):
    gm = labelled_mixture()
    fn = gm.score_fn(sde)
    x, t = points(), torch.full((12,), 0.4, dtype=torch.float64)
    cond, unc = gm.conditional(2).score(x, sde, t), gm.score(x, sde, t)
    torch.testing.assert_close(cfg_score(fn, 2, w=0.0)(x, t), cond, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(cfg_score(fn, 2, w=-1.0)(x, t), unc, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(cfg_score(fn, 2, w=2.5)(x, t), 3.5 * cond - 2.5 * unc,
                               rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(cfg_score(fn, 2, w=2.5, batched=False)(x, t),
                               3.5 * cond - 2.5 * unc, rtol=1e-12, atol=1e-12)
    # per-sample labels
    lab = torch.tensor([0, 1, 2] * 4)
    want = torch.stack([gm.conditional(int(c)).score(x, sde, t)[i] for i, c in enumerate(lab)])
    torch.testing.assert_close(cfg_score(fn, lab, w=0.0)(x, t), want, rtol=1e-12, atol=1e-12)


def test_cfg_sampling_at_w0_reproduces_the_class():
    gm, sde, n = labelled_mixture(), VPSDE(), 3000
    g = torch.Generator().manual_seed(1)
    x, _ = sample(sde, cfg_score(gm.score_fn(sde), 1, w=0.0), (n, 2), sampler="heun", steps=60,
                  generator=g, dtype=torch.float64)
    ref, ref2 = (gm.conditional(1).sample(n, generator=g, dtype=torch.float64) for _ in range(2))
    assert sliced_wasserstein(x, ref) < 2 * sliced_wasserstein(ref, ref2)
    # every sample lands in class 1's components
    assert float(gm.class_log_probs(x)[:, 1].exp().mean()) > 0.99


class CountingModel:
    """A class-conditional 'network' that records each call's batch size."""

    num_classes = 3

    def __init__(self, gm, sde):
        self.fn, self.batches = gm.score_fn(sde), []

    def __call__(self, x, t, y):
        self.batches.append(x.shape[0])
        return self.fn(x, t, y)


@pytest.mark.parametrize("batched", [True, False])
def test_cfg_counts_network_evaluations(batched):
    gm, sde = labelled_mixture(), VPSDE()
    model = CountingModel(gm, sde)
    guided = cfg_score(model, 0, w=1.5, batched=batched)
    _, info = sample(sde, guided, (50, 2), sampler="heun", steps=7, generator=torch.Generator().manual_seed(0))
    assert info.nfe == 7 * 2  # heun: two score calls per step
    assert guided.nfe == 2 * info.nfe
    assert guided.calls == len(model.batches) == (info.nfe if batched else 2 * info.nfe)
    assert set(model.batches) == ({100} if batched else {50})
    one = cfg_score(CountingModel(gm, sde), 0, w=0.0)
    one(torch.zeros(4, 2), torch.full((4,), 0.5))
    assert (one.nfe, one.calls) == (1, 1)
    guided.reset()
    assert (guided.nfe, guided.calls) == (0, 0)


@pytest.mark.parametrize("sde", SDES, ids=repr)
def test_classifier_guidance_with_exact_classifier_is_the_conditional_score(sde):
    """s(x) + grad log p(c | x_t) = grad log p_t(x | c) (Bayes), at scale 1."""
    gm = labelled_mixture()
    x, t = points(seed=3), torch.full((12,), 0.3, dtype=torch.float64)
    s = classifier_score(gm.score_fn(sde), gm.classifier_fn(sde), 1, scale=1.0)
    torch.testing.assert_close(s(x, t), gm.conditional(1).score(x, sde, t), rtol=1e-9, atol=1e-9)
    s2 = classifier_score(gm.score_fn(sde), gm.classifier_fn(sde), 1, scale=3.0)
    want = gm.score(x, sde, t) + 3 * (gm.conditional(1).score(x, sde, t) - gm.score(x, sde, t))
    torch.testing.assert_close(s2(x, t), want, rtol=1e-9, atol=1e-9)
    assert s2.nfe == 2


def _one_gaussian(d, c, seed=0):
    mu = torch.randn(1, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return GaussianMixture(mu, math.sqrt(c))


@pytest.mark.parametrize("jacobian", ["network", "gaussian"])
@pytest.mark.parametrize("sde", SDES, ids=repr)
@pytest.mark.parametrize("kind", ["matrix", "inpaint"])
def test_pigdm_is_exact_for_one_isotropic_gaussian(sde, kind, jacobian):
    d, c = 5, 0.7
    gm = _one_gaussian(d, c)
    g = torch.Generator().manual_seed(2)
    if kind == "matrix":
        meas = LinearMeasurement(torch.randn(3, d, generator=g, dtype=torch.float64), torch.randn(3, generator=g), 0.4)
    else:
        meas = LinearMeasurement.inpainting(torch.tensor([1.0, 0, 1, 1, 0]), torch.randn(5, generator=g))
    exact = gm.posterior(meas).score_fn(sde)
    approx = posterior_score(sde, gm.score_fn(sde), meas, method="pigdm", data_var=c, jacobian=jacobian)
    x = points(8, d, seed=4)
    for tv in (0.05, 0.4, 0.9):
        t = torch.full((8,), tv, dtype=torch.float64)
        torch.testing.assert_close(approx(x, t), exact(x, t), rtol=1e-8, atol=1e-8)
    assert approx.nfe == 3


def test_dps_equals_its_closed_form_for_one_gaussian():
    """For N(mu, c I): x0_hat = mu + k (x - m mu), k = c m / (m^2 c + s^2), so the DPS term is
    -k A^T (A x0_hat - y) / sigma^2 (times scale)."""
    d, c, sigma, sde = 4, 0.5, 0.3, VPSDE()
    gm = _one_gaussian(d, c, seed=1)
    g = torch.Generator().manual_seed(5)
    A, y = torch.randn(2, d, generator=g, dtype=torch.float64), torch.randn(2, generator=g, dtype=torch.float64)
    meas = LinearMeasurement(A, y, sigma)
    x, t = points(6, d, seed=6), torch.full((6,), 0.3, dtype=torch.float64)
    m, s = (float(v) for v in sde.marginal(0.3))
    k = c * m / (m * m * c + s * s)
    x0 = gm.means + k * (x - m * gm.means)
    want = gm.score(x, sde, t) - 2.0 * k * (x0 @ A.T - y) @ A / sigma ** 2
    got = posterior_score(sde, gm.score_fn(sde), meas, method="dps", scale=2.0)(x, t)
    torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-9)
    # the Gaussian-Jacobian variant uses exactly this k: the same number without a backward pass
    got = posterior_score(sde, gm.score_fn(sde), meas, "dps", scale=2.0, data_var=c, jacobian="gaussian")(x, t)
    torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-9)


def test_replacement_hook_sets_observed_entries():
    sde = VPSDE()
    mask = torch.tensor([1.0, 0.0, 1.0])
    meas = LinearMeasurement.inpainting(mask, torch.tensor([2.0, 99.0, -1.0]))
    hook = replacement(sde, meas)
    x = torch.randn(5, 3, dtype=torch.float64)
    z = torch.randn(5, 3, dtype=torch.float64)
    out = hook(x.clone(), 0.5, lambda v: z)
    m, s = (float(v) for v in sde.marginal(0.5))
    torch.testing.assert_close(out[:, 0], m * 2.0 + s * z[:, 0])
    torch.testing.assert_close(out[:, 2], m * -1.0 + s * z[:, 2])
    torch.testing.assert_close(out[:, 1], x[:, 1])
    # a general A: the result satisfies A x = m y + s A z exactly
    A = torch.randn(2, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    meas2 = LinearMeasurement(A, torch.tensor([0.5, -0.2]), 0.0)
    out2 = replacement(sde, meas2)(x.clone(), 0.5, lambda v: z)
    torch.testing.assert_close(out2 @ A.T, m * meas2.y + s * z @ A.T)


def test_replacement_sampling_hits_the_observation():
    gm, sde = random_full_mixture(dim=4, k=3, seed=0), VPSDE()
    y = torch.tensor([0.3, 0.0, -0.4, 0.0])
    meas = LinearMeasurement.inpainting(torch.tensor([1.0, 0, 1, 0]), y)
    x, info = sample(sde, gm.score_fn(sde), (200, 4), sampler="euler_maruyama", steps=100,
                     generator=torch.Generator().manual_seed(0), dtype=torch.float64,
                     after_step=replacement(sde, meas), denoise=False)
    s_end = float(sde.marginal(info.t_end)[1])
    assert float((x[:, [0, 2]] - y[[0, 2]]).abs().max()) < 6 * s_end


# ---------------------------------------------------------------------- networks with labels
def test_mlp_and_unet_label_embeddings():
    torch.manual_seed(0)
    for net, x in ((MLP(4, hidden=32, depth=1, num_classes=3), torch.randn(5, 4)),
                   (UNet(1, 8, base_channels=8, channel_mult=(1, 2), num_res_blocks=1,
                         attn_resolutions=(), num_groups=4, num_classes=3), torch.randn(5, 1, 8, 8))):
        t = torch.full((5,), 0.3)
        net.eval()  # no dropout
        with torch.no_grad():
            for p in net.parameters():  # break the zero-initialised output layers
                p.add_(0.05 * torch.randn_like(p))
            null = net(x, t, torch.full((5,), 3))
            torch.testing.assert_close(net(x, t), null)  # y=None is the null label
            a, b = net(x, t, torch.zeros(5, dtype=torch.long)), net(x, t, torch.ones(5, dtype=torch.long))
        assert a.shape == x.shape and float((a - b).abs().max()) > 1e-4
    plain = MLP(4, hidden=32, depth=1)
    with pytest.raises(ValueError, match="unconditional"):
        plain(torch.zeros(2, 4), torch.zeros(2), torch.zeros(2, dtype=torch.long))


def test_the_loss_trains_on_the_labels_it_is_given():
    """The null label 3 in the loss = no labels (the unconditional score); real labels change it.
    Label dropout is the trainer's (tests/training/test_label_dropout.py)."""
    net = MLP(2, hidden=16, depth=1, num_classes=3)
    model = ScoreModel(net, VPSDE())
    x0, y = torch.randn(64, 2), torch.randint(0, 3, (64,))
    t, noise = torch.full((64,), 0.5), torch.randn(64, 2)
    loss = DenoisingLoss()
    with torch.no_grad():
        b = loss(model, x0, t=t, noise=noise, y=torch.full((64,), 3))
        c = loss(model, x0, t=t, noise=noise)
        d = loss(model, x0, t=t, noise=noise, y=y)
    torch.testing.assert_close(b, c)
    assert float((d - b).abs().max()) > 1e-6  # the labels do change the conditional loss
    seen = []
    model.native = lambda x, tt, y=None: (seen.append(y), ("eps", torch.zeros_like(x)))[1]
    loss(model, x0, y=y, generator=torch.Generator().manual_seed(0))
    assert torch.equal(seen[0], y)  # passed through unchanged: the loss drops nothing


def test_noise_conditional_classifier_learns_the_exact_classifier():
    """A few hundred steps on the labelled ring: its cross-entropy at small t approaches the
    exact classifier's (both from the same perturbed batch)."""
    torch.manual_seed(0)
    gm, sde = labelled_mixture(), VPSDE()
    clf = NoiseConditionalClassifier(2, 3, sde=sde, hidden=64, depth=2)
    opt = torch.optim.Adam(clf.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(0)
    for _ in range(150):
        x, y = gm.sample(256, generator=g, return_labels=True)
        loss = noisy_classifier_loss(clf, sde, x, y, generator=g).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    x, y = gm.sample(4000, generator=g, dtype=torch.float32, return_labels=True)
    t = torch.full((4000,), 0.05)
    xt = sde.perturb(x, t, torch.randn(x.shape, generator=g))
    with torch.no_grad():
        ce = torch.nn.functional.cross_entropy(clf(xt, t), y)
    exact = -gm.class_log_probs(xt.double(), sde, t.double()).gather(1, y[:, None]).mean()
    assert float(exact) < 0.05           # the classes barely overlap at t = 0.05
    assert float(ce) < float(exact) + 0.1
