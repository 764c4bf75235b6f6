"""Denoising score matching: weightings, parameterisation invariance, time sampling, and a
short training run that learns the score of a 2-D mixture."""
import math

import pytest
import torch

from sde_diffusion.analytic import GaussianMixture, ring_of_gaussians
from sde_diffusion.losses import DenoisingLoss, eps_weight, sample_time, weighted_dsm
from sde_diffusion.models import MLP, ScoreModel, convert
from sde_diffusion.sdes import SubVPSDE, VESDE, VPSDE

BASE = ("score", "eps", "x0", "v")


def _biased_model(gm, sde, kind, bias=0.3):
    """A model whose eps-prediction is the exact one plus a constant bias, output in ``kind``."""

    class Net(torch.nn.Module):
        def forward(self, x, t):
            m, s = sde.marginal(t)
            eps = convert(gm.score(x, sde, t), "score", "eps", x, m, s) + bias
            return convert(eps, "eps", kind, x, m, s)

    return ScoreModel(Net(), sde, kind, input_scaling=False)


@pytest.mark.parametrize("sde", [VPSDE(), SubVPSDE(), VESDE(sigma_max=10.0)], ids=repr)
@pytest.mark.parametrize("weighting", ["sigma2", "likelihood", "none"])
def test_loss_is_the_same_in_every_parameterisation(sde, weighting):
    """The same underlying predictor gives the same DSM loss whatever its parameterisation:
    the per-parameterisation losses differ exactly by the factor c(t)."""
    gm = ring_of_gaussians()
    g = torch.Generator().manual_seed(0)
    x0 = gm.sample(64, generator=g, dtype=torch.float64)
    t = torch.rand(64, generator=g, dtype=torch.float64) * 0.9 + 0.05
    noise = torch.randn(64, 2, generator=g, dtype=torch.float64)
    losses = [DenoisingLoss(weighting)(_biased_model(gm, sde, k), x0, t=t, noise=noise) for k in BASE]
    for other in losses[1:]:
        torch.testing.assert_close(other, losses[0], rtol=1e-8, atol=1e-10)


def test_sigma2_weighting_is_plain_eps_mse_and_weights_are_lambda_over_s2():
    sde, gm = VPSDE(), ring_of_gaussians()
    g = torch.Generator().manual_seed(1)
    x0 = gm.sample(32, generator=g, dtype=torch.float64)
    t = torch.rand(32, generator=g, dtype=torch.float64) * 0.9 + 0.05
    noise = torch.randn(32, 2, generator=g, dtype=torch.float64)
    model = _biased_model(gm, sde, "eps")
    xt = sde.perturb(x0, t, noise)
    eps_hat = model.predict(xt, t, "eps")
    plain = ((eps_hat - noise) ** 2).mean(1)
    torch.testing.assert_close(DenoisingLoss("sigma2")(model, x0, t=t, noise=noise), plain)
    m, s = sde.marginal(t)
    g2 = sde.diffusion(t) ** 2
    torch.testing.assert_close(DenoisingLoss("likelihood")(model, x0, t=t, noise=noise), g2 / s ** 2 * plain)
    torch.testing.assert_close(DenoisingLoss("none", reduce="sum")(model, x0, t=t, noise=noise),
                               ((model(xt, t) + noise / s[:, None]) ** 2).sum(1))
    # g^2 / s^2 = -d log-SNR / dt for every SDE of the family
    h = 1e-6
    for sde_ in (VPSDE(schedule="cosine"), SubVPSDE(), VESDE()):
        tt = torch.tensor([0.1, 0.5, 0.9], dtype=torch.float64)
        dlam = (sde_.log_snr(tt + h) - sde_.log_snr(tt - h)) / (2 * h)
        torch.testing.assert_close(eps_weight(sde_, tt, "likelihood"), -dlam, rtol=1e-5, atol=0)


@pytest.mark.parametrize("sde", [VPSDE(), VESDE(sigma_max=10.0)], ids=repr)
def test_importance_sampling_is_unbiased_and_reduces_variance(sde):
    """Likelihood-weighted loss: E under importance sampling equals E under uniform t (within
    4 SE), and its per-sample variance is smaller."""
    gm = ring_of_gaussians()
    model = _biased_model(gm, sde, "eps", bias=0.2)
    g = torch.Generator().manual_seed(3)
    n = 40000
    x0 = gm.sample(n, generator=g, dtype=torch.float64)
    lu = DenoisingLoss("likelihood", "uniform")(model, x0, generator=g)
    li = DenoisingLoss("likelihood", "importance")(model, x0, generator=g)
    se = math.sqrt(float(lu.var()) / n + float(li.var()) / n)
    assert abs(float(lu.mean()) - float(li.mean())) < 4 * se
    assert float(li.var()) < 0.5 * float(lu.var())


def test_sample_time_range_and_density():
    sde = VPSDE()
    t, corr = sample_time(sde, 100000, "importance", generator=torch.Generator().manual_seed(0))
    assert float(t.min()) >= sde.eps and float(t.max()) <= sde.T
    # E_q[correction] = E_q[(1/(T-eps))/q] = 1
    assert abs(float(corr.mean()) - 1) < 4 * float(corr.std()) / math.sqrt(len(corr))
    t, corr = sample_time(sde, 1000, "uniform", generator=torch.Generator().manual_seed(0))
    assert float(corr.min()) == 1.0 and float(t.min()) >= sde.eps


def test_exact_score_minimises_dsm():
    """DSM is minimised by the true score: the exact model beats biased ones (same t, noise)."""
    sde, gm = VPSDE(), ring_of_gaussians()
    g = torch.Generator().manual_seed(4)
    x0 = gm.sample(20000, generator=g, dtype=torch.float64)
    t = torch.rand(20000, generator=g, dtype=torch.float64) * 0.9 + 0.1
    noise = torch.randn(20000, 2, generator=g, dtype=torch.float64)
    exact = DenoisingLoss()(_biased_model(gm, sde, "eps", 0.0), x0, t=t, noise=noise)
    for b in (0.05, -0.1, 0.3):
        excess = DenoisingLoss()(_biased_model(gm, sde, "eps", b), x0, t=t, noise=noise) - exact
        # E[excess] = b^2 exactly, since E[noise | x_t] = eps*(x_t): within 4 SE
        se = float(excess.std()) / math.sqrt(len(excess))
        assert abs(float(excess.mean()) - b * b) < 4 * se
        assert float(excess.mean()) > 0


def test_loss_validation():
    with pytest.raises(ValueError, match="'sigma'.*'sigma2'"):
        DenoisingLoss(weighting="sigma")
    with pytest.raises(ValueError, match="'beta'.*'uniform'"):
        DenoisingLoss(t_sampling="beta")
    with pytest.raises(ValueError, match="reduce"):
        DenoisingLoss(reduce="max")


def test_mlp_learns_mixture_score_within_a_minute():
    """An MLP trained by DSM (800 steps, well under a minute on 2 CPU cores) learns the score
    of a 2-D four-component mixture to relative L2 error < 0.25 over t in [0.1, 1]."""
    torch.manual_seed(0)
    gm = GaussianMixture([[-2.0, -2.0], [2.0, -2.0], [-2.0, 2.0], [2.0, 2.0]],
                         [0.5, 0.5, 0.7, 0.4], [0.3, 0.2, 0.25, 0.25])
    sde = VPSDE()
    model = ScoreModel(MLP(2, hidden=128, depth=2, fourier_scale=4.0), sde, "eps")
    steps = 800
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    g = torch.Generator().manual_seed(0)
    for _ in range(steps):
        loss = DenoisingLoss()(model, gm.sample(512, generator=g), generator=g).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    with torch.no_grad():
        x0 = gm.sample(20000, generator=g)
        t = 0.1 + 0.9 * torch.rand(20000, generator=g)
        xt = sde.perturb(x0, t, torch.randn(x0.shape, generator=g))
        s_true, s_hat = gm.score(xt, sde, t), model(xt, t)
        rel = float((s_hat - s_true).norm() / s_true.norm())
    assert rel < 0.25, rel


# ---------------------------------------------------------------- named losses, flow matching
from sde_diffusion.losses import (EDMLoss, FlowMatchingLoss, LikelihoodLoss, DenoisingLoss,  # noqa: E402
                                  ot_pairing)
from sde_diffusion.models.parameterization import FunctionModel  # noqa: E402
from sde_diffusion.sdes import CosineFlow, RectifiedFlow  # noqa: E402


@pytest.mark.parametrize("named,weighting,t_sampling", [
    (LikelihoodLoss(), "likelihood", "importance"), (EDMLoss(), "edm", "lognormal"),
    (DenoisingLoss("none", "uniform"), "none", "uniform")])
def test_named_losses_are_the_core_with_their_options(named, weighting, t_sampling):
    sde, gm = VPSDE(), ring_of_gaussians()
    model = _biased_model(gm, sde, "eps")
    x0 = gm.sample(32, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    a = named(model, x0, generator=torch.Generator().manual_seed(1))
    g = torch.Generator().manual_seed(1)  # the core by hand: t, then noise, from one generator
    t, corr = sample_time(sde, 32, t_sampling, generator=g)
    noise = torch.randn(x0.shape, generator=g, dtype=x0.dtype)
    w = eps_weight(sde, t, weighting, sigma_data=float(model.data_std)) * corr
    torch.testing.assert_close(a, weighted_dsm(model, x0, t, noise, w), rtol=0, atol=0)


def _velocity_model(gm, path, kind, bias=0.0):
    """The exact velocity plus a constant bias, expressed in ``kind``."""
    def fn(x, t):
        u = gm.velocity(x, path, t) + bias
        m, s = path.marginal(t)
        return convert(u, "velocity", kind, x, m, s, rates=path.marginal_rates(t))
    return FunctionModel(fn, path, kind)


@pytest.mark.parametrize("path", [RectifiedFlow(), CosineFlow()], ids=repr)
def test_flow_matching_loss_is_the_velocity_error_in_every_parameterisation(path):
    """Fixed t and noise: |u_theta - (alpha' x0 + sigma' eps)|^2 written out (rectified flow:
    the target is eps - x0), and the same value for the same predictor in eps / x0 / score."""
    gm = ring_of_gaussians()
    g = torch.Generator().manual_seed(0)
    x0 = gm.sample(64, generator=g, dtype=torch.float64)
    t = torch.rand(64, generator=g, dtype=torch.float64) * 0.9 + 0.05
    noise = torch.randn(64, 2, generator=g, dtype=torch.float64)
    loss = FlowMatchingLoss()
    ref = loss(_velocity_model(gm, path, "velocity", 0.3), x0, t=t, noise=noise)
    da, ds = path.marginal_rates(t)
    x_t = path.perturb(x0, t, noise)
    u_hat = gm.velocity(x_t, path, t) + 0.3
    target = noise - x0 if isinstance(path, RectifiedFlow) else da[:, None] * x0 + ds[:, None] * noise
    torch.testing.assert_close(ref, (u_hat - target).pow(2).mean(1), rtol=1e-10, atol=1e-12)
    for kind in ("eps", "x0", "score"):
        other = loss(_velocity_model(gm, path, kind, 0.3), x0, t=t, noise=noise)
        torch.testing.assert_close(other, ref, rtol=1e-7, atol=1e-9)


def test_flow_matching_loss_is_minimised_by_the_exact_velocity():
    """E[loss(u* + b)] - E[loss(u*)] = |b|^2 / d (mean over d dims) since E[target | x_t] = u*;
    the per-sample difference 2 b.(u* - target)/d + |b|^2/d has mean |b|^2/d: the Monte Carlo
    mean over 20000 draws is within 4 standard errors of it (and far from 0)."""
    path, gm = RectifiedFlow(), ring_of_gaussians()
    g = torch.Generator().manual_seed(5)
    x0 = gm.sample(20000, generator=g, dtype=torch.float64)
    t = torch.rand(20000, generator=g, dtype=torch.float64) * 0.98 + 0.01
    noise = torch.randn(20000, 2, generator=g, dtype=torch.float64)
    loss = FlowMatchingLoss()
    diff = (loss(_velocity_model(gm, path, "velocity", 0.2), x0, t=t, noise=noise)
            - loss(_velocity_model(gm, path, "velocity", 0.0), x0, t=t, noise=noise))
    se = float(diff.std()) / math.sqrt(diff.numel())
    assert abs(float(diff.mean()) - 0.04) < 4 * se and 0.04 > 10 * se


def test_ot_coupling_is_the_optimal_assignment():
    """ot_pairing's permutation attains scipy's optimal assignment cost, below the identity's."""
    pytest.importorskip("ot")
    from scipy.optimize import linear_sum_assignment
    g = torch.Generator().manual_seed(0)
    x0, noise = torch.randn(40, 3, generator=g), torch.randn(40, 3, generator=g)
    perm = ot_pairing(x0, noise)
    assert sorted(perm.tolist()) == list(range(40))
    cost = torch.cdist(x0.double(), noise.double()).pow(2)
    r, c = linear_sum_assignment(cost.numpy())
    ours = float(cost[torch.arange(40), perm].sum())
    assert ours == pytest.approx(float(cost[r, c].sum()), rel=1e-9)
    assert ours < float(cost.diagonal().sum())
    model = _velocity_model(ring_of_gaussians(), RectifiedFlow(), "velocity")
    out = FlowMatchingLoss("ot")(model, x0.double()[:, :2], generator=g)
    assert out.shape == (40,) and torch.isfinite(out).all()


def test_flow_matching_loss_bad_input():
    with pytest.raises(ValueError, match="coupling.*did you mean 'ot'"):
        FlowMatchingLoss("otp")
    sde, gm = VPSDE(), ring_of_gaussians()
    with pytest.raises(ValueError, match="needs a flow path.*VPSDE"):
        FlowMatchingLoss()(_biased_model(gm, sde, "eps"), gm.sample(4, dtype=torch.float64))
