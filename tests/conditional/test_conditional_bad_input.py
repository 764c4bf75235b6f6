"""Bad input to conditional generation: each attack and its exact outcome (error type + message)."""
import math

import re

import pytest
import torch

from sde_diffusion.analytic import GaussianMixture, random_full_mixture, ring_of_gaussians
from sde_diffusion.conditional import (LinearMeasurement, cfg_score, classifier_score,
                                       posterior_score, replacement)
from sde_diffusion.losses import DenoisingLoss
from sde_diffusion.training import TrainOptions
from sde_diffusion.models import MLP, ScoreModel, UNet
from sde_diffusion.models.classifier import NoiseConditionalClassifier
from sde_diffusion.sdes import VPSDE
from sde_diffusion.solvers import sample

SDE = VPSDE()


def cond_model(num_classes=10, dim=4):
    return ScoreModel(MLP(dim, hidden=16, depth=1, num_classes=num_classes), SDE)


def unet_model():
    return ScoreModel(UNet(1, 8, base_channels=8, channel_mult=(1, 2), num_res_blocks=1,
                           attn_resolutions=(), num_groups=4, num_classes=10), SDE)


# ---------------------------------------------------------------------- LinearMeasurement
@pytest.mark.parametrize("A,match", [
    (torch.ones(3), r"non-empty \(m, d\) matrix, got shape \(3,\)"),
    (torch.ones(0, 3), r"non-empty \(m, d\) matrix, got shape \(0, 3\)"),
    (torch.tensor([[1.0, float("nan")]]), "A contains non-finite"),
    (torch.tensor([[1.0, float("inf")]]), "A contains non-finite"),
])
def test_bad_matrix(A, match):
    with pytest.raises(ValueError, match=match):
        LinearMeasurement(A, torch.zeros(A.shape[0] if A.ndim == 2 else 1), 0.1)


def test_complex_matrix_is_a_type_error():
    with pytest.raises(TypeError, match="real matrix"):
        LinearMeasurement(torch.ones(1, 2, dtype=torch.complex64), torch.zeros(1), 0.1)


def test_y_of_wrong_length_or_non_finite():
    with pytest.raises(ValueError, match=r"y must have shape \(2,\) or \(N, 2\).*got \(3,\)"):
        LinearMeasurement(torch.ones(2, 4), torch.zeros(3), 0.1)
    with pytest.raises(ValueError, match="y contains non-finite"):
        LinearMeasurement(torch.ones(2, 4), torch.tensor([0.0, float("nan")]), 0.1)


@pytest.mark.parametrize("bad", [-0.1, float("inf"), float("nan"), True, "0.1"])
def test_bad_noise_std(bad):
    with pytest.raises(ValueError, match="noise_std must be a finite number >= 0"):
        LinearMeasurement(torch.ones(1, 2), torch.zeros(1), bad)


def test_bad_masks():
    with pytest.raises(ValueError, match="only 0 and 1"):
        LinearMeasurement.inpainting(torch.tensor([1.0, 2.0]), torch.zeros(2))
    with pytest.raises(ValueError, match="observes nothing"):
        LinearMeasurement.inpainting(torch.zeros(3), torch.zeros(3))
    with pytest.raises(ValueError, match="mask must have the data's shape"):
        LinearMeasurement.inpainting(torch.zeros(0), torch.zeros(0))


def test_per_sample_y_must_match_the_batch():
    meas = LinearMeasurement(torch.eye(2), torch.zeros(3, 2), 0.1)
    fn = posterior_score(SDE, ring_of_gaussians().score_fn(SDE), meas, "dps")
    with pytest.raises(ValueError, match="y holds 3 measurements but the batch has 5"):
        fn(torch.zeros(5, 2), torch.full((5,), 0.5))


# ---------------------------------------------------------------------- classifier-free guidance
def test_guidance_on_an_unconditional_model():
    with pytest.raises(ValueError, match="needs a class-conditional model.*unconditional"):
        cfg_score(ScoreModel(MLP(4, hidden=8, depth=1), SDE), 0, w=1.0)
    with pytest.raises(ValueError, match="unconditional"):
        cfg_score(lambda x, t: x, 0, w=1.0)


@pytest.mark.parametrize("label", [10, -1, torch.tensor([0, 3, 12])])
def test_label_outside_the_classes(label):
    with pytest.raises(ValueError, match=r"label (10|-1|12) is outside the classes 0\.\.9"):
        cfg_score(cond_model(), label, w=1.0)


@pytest.mark.parametrize("label", [1.5, True, "3", torch.tensor([0.5]), torch.zeros(2, 2, dtype=torch.long)])
def test_label_of_the_wrong_type(label):
    with pytest.raises(TypeError, match="label must be an"):
        cfg_score(cond_model(), label, w=1.0)


@pytest.mark.parametrize("w", [float("nan"), float("inf"), "2", None])
def test_bad_guidance_scale(w):
    with pytest.raises(ValueError, match="guidance scale w must be a finite number"):
        cfg_score(cond_model(), 1, w=w)


def test_per_sample_labels_must_match_the_batch():
    s = cfg_score(cond_model(), torch.tensor([0, 1, 2]), w=1.0)
    with pytest.raises(ValueError, match="got 3 labels for a batch of 5"):
        s(torch.zeros(5, 4), torch.full((5,), 0.5))


def test_cfg_label_checked_before_sampling():
    calls = []

    class Model:
        num_classes = 3

        def __call__(self, x, t, y):
            calls.append(1)
            return x

    with pytest.raises(ValueError, match="label 3 is outside the classes 0..2"):
        sample(SDE, cfg_score(Model(), 3, w=1.0), (4, 2), sampler="euler", steps=3)
    assert calls == []


# ---------------------------------------------------------------------- networks and losses
@pytest.mark.parametrize("bad, exc, msg", [(-1, ValueError, "num_classes must be an integer >= 0, got -1"),
                                            (2.5, TypeError, "num_classes must be an integer, got float 2.5"),
                                            (True, TypeError, "num_classes must be an integer, got True"),
                                            ("3", TypeError, "num_classes must be an integer, got str '3'")])
@pytest.mark.parametrize("net", [lambda c: MLP(4, num_classes=c),
                                 lambda c: UNet(image_size=8, base_channels=8, num_groups=4, num_classes=c)],
                         ids=["MLP", "UNet"])
def test_bad_num_classes(bad, exc, msg, net):
    with pytest.raises(exc, match="^" + re.escape(msg) + "$"):
        net(bad)


def test_bad_labels_to_a_conditional_net():
    net = MLP(2, hidden=8, depth=1, num_classes=3)
    x, t = torch.zeros(4, 2), torch.zeros(4)
    with pytest.raises(TypeError, match="integer tensor, got dtype torch.float32"):
        net(x, t, torch.zeros(4))
    with pytest.raises(ValueError, match=r"labels y must have shape \(4,\)"):
        net(x, t, torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match=r"label 4 is outside the classes 0\.\.3 \(3 = the null label\)"):
        net(x, t, torch.tensor([0, 1, 2, 4]))
    with pytest.raises(TypeError, match="integer tensor of shape"):
        net(x, t, [0, 1, 2, 0])


def test_labels_to_an_unconditional_unet():
    net = UNet(1, 8, base_channels=8, channel_mult=(1, 2), num_res_blocks=1, attn_resolutions=(),
               num_groups=4)
    with pytest.raises(ValueError, match=r"unconditional \(num_classes=0\)"):
        net(torch.zeros(2, 1, 8, 8), torch.zeros(2), torch.zeros(2, dtype=torch.long))


@pytest.mark.parametrize("p, kind, msg", [
    (-0.1, ValueError, r"train.label_dropout must be >= 0, got -0.1"),
    (1.5, ValueError, r"train.label_dropout must be <= 1, got 1.5"),
    (float("nan"), ValueError, r"train.label_dropout must be finite, got nan"),
    ("0.2", TypeError, r"train.label_dropout must be a number, got '0.2'")])
def test_bad_label_dropout(p, kind, msg):
    with pytest.raises(kind, match=msg):
        TrainOptions(conditional=True, label_dropout=p)


def test_losses_take_no_label_dropout():
    with pytest.raises(TypeError, match="p_uncond"):
        DenoisingLoss(p_uncond=0.2)


def test_classifier_with_one_class():
    with pytest.raises(ValueError, match="num_classes >= 2, got 1"):
        NoiseConditionalClassifier(4, 1)


def test_classifier_guidance_label_beyond_the_logits():
    logits = lambda x, t: torch.zeros(x.shape[0], 3, requires_grad=False) + x.sum(1, keepdim=True)
    s = classifier_score(lambda x, t: x, logits, 5)
    with pytest.raises(ValueError, match="label 5 is outside the classifier's 3 classes"):
        s(torch.zeros(2, 2), torch.full((2,), 0.5))
    with pytest.raises(ValueError, match="label 5 is outside the classes 0..2 of the classifier"):
        classifier_score(lambda x, t: x, NoiseConditionalClassifier(2, 3), 5)


# ---------------------------------------------------------------------- shape checks before sampling
def test_mask_shape_does_not_match_the_unet():
    meas = LinearMeasurement.inpainting(torch.ones(1, 4, 4), torch.zeros(1, 4, 4))
    with pytest.raises(ValueError, match=r"mask has shape \(1, 4, 4\) but the data have shape \(1, 8, 8\)"):
        posterior_score(SDE, unet_model(), meas, "pigdm")


def test_matrix_width_does_not_match_the_model():
    meas = LinearMeasurement(torch.ones(2, 5), torch.zeros(2), 0.1)
    with pytest.raises(ValueError, match=r"A has 5 columns but the data have 4 values per sample"):
        posterior_score(SDE, cond_model(dim=4), meas, "dps")
    with pytest.raises(ValueError, match=r"A has 5 columns but the data have 2 values per sample"):
        posterior_score(SDE, ring_of_gaussians().score_fn(SDE), meas, "pigdm")
    with pytest.raises(ValueError, match=r"A has 5 columns but the data have 64 values"):
        replacement(SDE, meas, data_shape=(1, 8, 8))


def test_replacement_shape_error_at_the_first_step_without_data_shape():
    meas = LinearMeasurement.inpainting(torch.ones(3), torch.zeros(3))
    with pytest.raises(ValueError, match="A has 3 columns but x has 2 values per sample"):
        sample(SDE, ring_of_gaussians().score_fn(SDE), (4, 2), sampler="euler", steps=2,
               after_step=replacement(SDE, meas))


def test_unknown_method_and_dps_without_noise():
    meas = LinearMeasurement.inpainting(torch.tensor([1.0, 0.0]), torch.zeros(2))
    fn = ring_of_gaussians().score_fn(SDE)
    with pytest.raises(ValueError, match="unknown posterior method 'foo'; valid choices: 'dps', 'pigdm'"):
        posterior_score(SDE, fn, meas, "foo")
    with pytest.raises(ValueError, match="DPS needs a measurement with noise_std > 0"):
        posterior_score(SDE, fn, meas, "dps")
    with pytest.raises(ValueError, match="dps_noise must be positive, got -1"):
        posterior_score(SDE, fn, meas, "dps", dps_noise=-1.0)
    with pytest.raises(ValueError, match="data_var must be a positive finite number, got 0"):
        posterior_score(SDE, fn, meas, "pigdm", data_var=0)
    with pytest.raises(ValueError, match="unknown jacobian 'exact'; valid choices: 'network', 'gaussian'"):
        posterior_score(SDE, fn, meas, "pigdm", jacobian="exact")
    with pytest.raises(ValueError, match="data_var must be a positive finite number, got nan"):
        posterior_score(SDE, fn, meas, "dps", dps_noise=0.1, jacobian="gaussian", data_var=float("nan"))
    with pytest.raises(TypeError, match="meas must be a LinearMeasurement, got dict"):
        posterior_score(SDE, fn, {"A": 1}, "pigdm")


def test_replacement_with_dependent_rows():
    A = torch.tensor([[1.0, 0.0], [2.0, 0.0]])
    with pytest.raises(ValueError, match="independent rows"):
        replacement(SDE, LinearMeasurement(A, torch.zeros(2), 0.0))


# ---------------------------------------------------------------------- exact posteriors and mixtures
def test_posterior_input_errors():
    gm = ring_of_gaussians()
    with pytest.raises(ValueError, match=r"measurement matrix A has shape \(1, 3\); .* must be \(m, 2\)"):
        gm.posterior(LinearMeasurement(torch.ones(1, 3), torch.zeros(1), 0.1))
    with pytest.raises(ValueError, match="one measurement y"):
        gm.posterior(LinearMeasurement(torch.ones(1, 2), torch.zeros(4, 1), 0.1))
    with pytest.raises(TypeError, match="posterior needs a LinearMeasurement"):
        gm.posterior("y = 3")
    with pytest.raises(ValueError, match="singular"):
        gm.posterior(LinearMeasurement(torch.tensor([[1.0, 0.0], [1.0, 0.0]]), torch.zeros(2), 0.0))


def test_singular_posterior_has_no_density_at_t0():
    post = ring_of_gaussians().posterior(LinearMeasurement.inpainting(torch.tensor([1.0, 0.0]),
                                                                      torch.tensor([1.0, 0.0])))
    with pytest.raises(ValueError, match="singular covariances"):
        post.log_prob(torch.zeros(3, 2))
    out = post.log_prob(torch.zeros(3, 2), SDE, torch.full((3,), 0.1))  # fine for t > 0
    assert bool(torch.isfinite(out).all())


def test_mixture_label_errors():
    gm = GaussianMixture(torch.zeros(2, 2), [1.0, 1.0], labels=[0, 2])
    with pytest.raises(ValueError, match=r"label 1 is outside the classes of this mixture: \[0, 2\]"):
        gm.conditional(1)
    with pytest.raises(TypeError, match="label must be an integer class, got 1.0"):
        gm.conditional(1.0)
    with pytest.raises(ValueError, match=r"label 4 is outside the classes 0\.\.2 \(3 = the null label\)"):
        gm.score(torch.zeros(2, 2), SDE, torch.full((2,), 0.5), torch.tensor([0, 4]))
    with pytest.raises(ValueError, match="labels must be integers >= 0"):
        GaussianMixture(torch.zeros(2, 2), [1.0, 1.0], labels=[0, -1])
    with pytest.raises(ValueError, match="labels must be 2 integers"):
        GaussianMixture(torch.zeros(2, 2), [1.0, 1.0], labels=[0.5, 1.0])


def test_bad_covariances():
    with pytest.raises(ValueError, match="symmetric"):
        GaussianMixture(torch.zeros(1, 2), covs=torch.tensor([[[1.0, 0.5], [0.0, 1.0]]]))
    with pytest.raises(ValueError, match="positive semi-definite; smallest eigenvalue -1"):
        GaussianMixture(torch.zeros(1, 2), covs=-torch.eye(2)[None])
    with pytest.raises(ValueError, match=r"covs must have shape \(K, d, d\) = \(1, 2, 2\), got \(1, 3, 3\)"):
        GaussianMixture(torch.zeros(1, 2), covs=torch.eye(3)[None])
    with pytest.raises(ValueError, match="exactly one of stds"):
        GaussianMixture(torch.zeros(1, 2), [1.0], covs=torch.eye(2)[None])
    with pytest.raises(ValueError, match="exactly one of stds"):
        GaussianMixture(torch.zeros(1, 2))
    with pytest.raises(ValueError, match="covs contain non-finite"):
        GaussianMixture(torch.zeros(1, 2), covs=torch.full((1, 2, 2), float("nan")))


def test_degenerate_but_valid_inputs_behave():
    """A PSD covariance with a zero eigenvalue samples on its support; CFG at w = 0 needs no
    unconditional evaluation; a 1-component posterior keeps weight 1."""
    gm = GaussianMixture(torch.zeros(1, 2), covs=torch.tensor([[[1.0, 1.0], [1.0, 1.0]]]))
    x = gm.sample(100, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    torch.testing.assert_close(x[:, 0], x[:, 1])
    post = random_full_mixture(dim=3, k=1).posterior(LinearMeasurement(torch.ones(1, 3), torch.ones(1), 0.2))
    assert float(post.weights[0]) == 1.0
