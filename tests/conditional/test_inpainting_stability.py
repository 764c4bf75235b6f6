"""DPS / PiGDM inpainting: why they diverge on trained models, and the stable defaults.

A trained network's score has errors whose Jacobian the network-Jacobian methods carry into
dx0_hat/dx_t = (I + s^2 d score/dx) / m(t), amplified by 1/m(t) (~150 at T for the default VP
SDE); DPS's weight 1/sigma^2 multiplies it again. The guidance term is then a stiffness that
exceeds the sampler's stability limit and the state grows geometrically from the first steps.
Stand-in for the network: the exact score of a Gaussian prior plus a smooth error
eps * sin(w x) (Jacobian error eps * w = 0.5); the sampler alone with that score is stable.
Ground truth: with the exact score every method's hidden values follow the exact posterior
(independent coordinates: N(0, data_var)).
"""
import re

import pytest
import torch

from sde_diffusion import conditional as cond
from sde_diffusion.analytic import GaussianMixture
from sde_diffusion.conditional import inverse
from sde_diffusion.sdes import VPSDE
from sde_diffusion.solvers import sample

D, DV, N = 16, 0.3, 32
SDE = VPSDE()
GM = GaussianMixture(torch.zeros(1, D, dtype=torch.float64), torch.tensor([DV ** 0.5], dtype=torch.float64))
EXACT = GM.score_fn(SDE)
X_TEST = GM.sample(N, generator=torch.Generator().manual_seed(1))
MASK = torch.cat([torch.ones(D // 2), torch.zeros(D // 2)]).double()


def imperfect(x, t):
    return EXACT(x, t) + 0.1 * torch.sin(5.0 * x)


def _run(score, method, jacobian, dps_noise=None, steps=50):
    meas = cond.LinearMeasurement.inpainting(MASK, X_TEST)
    post = cond.posterior_score(SDE, score, meas, method, data_var=DV, dps_noise=dps_noise,
                                jacobian=jacobian, data_shape=(D,))
    x, _ = sample(SDE, post, (N, D), sampler="ddim", steps=steps, dtype=torch.float64,
                  generator=torch.Generator().manual_seed(0))
    return x


def test_the_imperfect_score_alone_samples_stably():
    x, _ = sample(SDE, imperfect, (N, D), sampler="ddim", steps=50, dtype=torch.float64,
                  generator=torch.Generator().manual_seed(0))
    assert bool(torch.isfinite(x).all()) and float(x.abs().max()) < 5


@pytest.mark.parametrize("method,dps_noise", [("dps", 0.2), ("pigdm", None)])
def test_network_jacobian_diverges_and_the_error_names_the_guidance(method, dps_noise):
    with pytest.raises(cond.GuidanceDivergedError) as e:
        _run(imperfect, method, "network", dps_noise)
    msg = str(e.value)
    assert f"the {method.upper()} guidance term scale * grad log p(y | x_t) (network Jacobian" in msg
    assert "it is the guidance, not the network's weights" in msg and "jacobian='gaussian'" in msg
    t = float(re.search(r"diverged at t=([0-9.]+)", msg).group(1))
    assert t > 0.85  # caught within the first steps near T, long before an overflow


def test_before_the_fix_the_run_returned_garbage_silently(monkeypatch):
    """Without the guidance check, DPS (network Jacobian, sigma 0.05) grows ~15x per step and
    returns samples of size ~1e31 without a word (on the trained digits model, in float32, the
    same growth overflows at step 4 and the sampler's check blamed the network's weights)."""
    monkeypatch.setattr(inverse, "_check_guidance", lambda *a, **k: None)
    x = _run(imperfect, "dps", "network", 0.05)
    assert bool(torch.isfinite(x).all()) and float(x.abs().max()) > 1e20
    monkeypatch.undo()
    with pytest.raises(cond.GuidanceDivergedError, match="DPS guidance term"):
        _run(imperfect, "dps", "network", 0.05)


def test_dps_weight_one_over_sigma_squared_decides_stability():
    """Gaussian Jacobian: sigma = 0.05 (weight 400) diverges with the imperfect score, the CLI's
    default 0.2 (weight 25) does not."""
    with pytest.raises(cond.GuidanceDivergedError, match=r"DPS guidance term .*gaussian Jacobian, "
                                                           r"weight 1/sigma\^2 = 400.*larger noise sigma"):
        _run(imperfect, "dps", "gaussian", 0.05)
    assert bool(torch.isfinite(_run(imperfect, "dps", "gaussian", 0.2)).all())


@pytest.mark.parametrize("method,dps_noise,obs_tol", [("dps", 0.2, 0.15), ("pigdm", None, 0.01)])
def test_the_cli_defaults_are_stable_and_right(method, dps_noise, obs_tol):
    """Gaussian Jacobian (the CLI default): finite with the imperfect score; with the exact score
    the hidden values follow N(0, data_var) -- mean within 4 standard errors (SE = sd/sqrt(256)),
    std within 15 % -- and the observed ones stay near y (DPS: about sigma; PiGDM: ~1e-3)."""
    assert bool(torch.isfinite(_run(imperfect, method, "gaussian", dps_noise)).all())
    x = _run(EXACT, method, "gaussian", dps_noise)
    hidden = x[:, D // 2:]
    sd = DV ** 0.5
    assert abs(float(hidden.mean())) < 4 * sd / (N * D // 2) ** 0.5
    assert abs(float(hidden.std()) / sd - 1) < 0.15
    assert float((x[:, :D // 2] - X_TEST[:, :D // 2]).pow(2).mean().sqrt()) < obs_tol


def test_a_large_but_finite_guided_state_of_real_data_scale_is_not_flagged():
    """The bound is relative to the data's scale: data of mean 50 (y ~ 50) sample normally."""
    gm = GaussianMixture(torch.full((1, D), 50.0, dtype=torch.float64), torch.tensor([DV ** 0.5], dtype=torch.float64))
    y = gm.sample(4, generator=torch.Generator().manual_seed(2))
    meas = cond.LinearMeasurement.inpainting(MASK, y)
    post = cond.posterior_score(SDE, gm.score_fn(SDE), meas, "pigdm", data_var=DV, data_shape=(D,))
    x, _ = sample(SDE, post, (4, D), sampler="ddim", steps=50, dtype=torch.float64,
                  generator=torch.Generator().manual_seed(0))
    assert float((x - 50).abs().max()) < 5
