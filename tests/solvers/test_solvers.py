"""Samplers on analytic Gaussian mixtures (exact scores, no training): convergence orders,
distributional accuracy, NFE accounting, reproducibility and input validation."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from sde_diffusion.sdes import RectifiedFlow

from sde_diffusion.analytic import GaussianMixture, ring_of_gaussians
from sde_diffusion.metrics import sliced_wasserstein
from sde_diffusion.sdes import SubVPSDE, VESDE, VPSDE
from sde_diffusion.solvers import SAMPLERS, karras, langevin_step, register_sampler, sample, \
    uniform_log_snr, uniform_t
from sde_diffusion.solvers.base import Sampler

CONF = Path(__file__).resolve().parents[2] / "conf" / "sampler"
RING = ring_of_gaussians()


def _sdes():
    return {"vp": VPSDE(), "ve": VESDE(sigma_max=20.0)}


class Counting:
    """Score wrapper that counts calls (one call on the batch = one NFE)."""

    def __init__(self, fn):
        self.fn, self.calls = fn, 0

    def __call__(self, x, t):
        self.calls += 1
        return self.fn(x, t)


def _prior64(sde, n=64, seed=0, dim=2):
    return sde.prior_sample((n, dim), generator=torch.Generator().manual_seed(seed),
                            dtype=torch.float64)


@pytest.fixture(scope="module")
def references():
    """Tight RK45 reference PF-ODE end points (float64) per SDE."""
    out = {}
    for key, sde in _sdes().items():
        x0 = _prior64(sde)
        ref, info = sample(sde, RING.score_fn(sde), sampler="rk45", x_init=x0, rtol=1e-11,
                           atol=1e-11)
        out[key] = (sde, x0, ref)
    return out


def _rms(x, y):
    return float((x - y).pow(2).sum(-1).mean().sqrt())


# ----------------------------------------------------------------------------- convergence
# (sampler, grid, steps): step ranges in the asymptotic regime (local slopes checked by hand;
# the log-SNR grid keeps consecutive step ratios near 1, which multistep orders rely on)
ORDER_CASES = [
    ("euler", "uniform_t", [25, 50, 100, 200], 1.0, "vp"),
    ("heun", "uniform_t", [25, 50, 100, 200], 2.0, "vp"),
    ("ddim", "log_snr", [20, 40, 80, 160], 1.0, "vp"),
    ("dpm_solver2", "log_snr", [20, 40, 80, 160], 2.0, "vp"),
    ("dpm_solver3", "log_snr", [20, 40, 80, 160], 3.0, "vp"),
    ("heun", "uniform_t", [25, 50, 100, 200], 2.0, "ve"),
    ("dpm_solver2", "log_snr", [20, 40, 80, 160], 2.0, "ve"),
    ("dpm_solver3", "log_snr", [20, 40, 80, 160], 3.0, "ve"),
]


@pytest.mark.parametrize("name,grid,steps,order,key", ORDER_CASES,
                         ids=[f"{c[0]}-{c[4]}" for c in ORDER_CASES])
def test_convergence_order(references, name, grid, steps, order, key):
    sde, x0, ref = references[key]
    assert SAMPLERS[name]().order == order  # declared order matches what we measure
    errs = []
    for n in steps:
        x, info = sample(sde, RING.score_fn(sde), sampler=name, steps=n, x_init=x0, grid=grid,
                         t_end=sde.eps)
        assert x.dtype == torch.float64
        errs.append(_rms(x, ref))
    slope = -np.polyfit(np.log(steps), np.log(errs), 1)[0]
    assert abs(slope - order) <= 0.3, f"{name}: errors {errs}, slope {slope:.2f}"
    assert errs[-1] < 0.05  # and actually accurate at the finest grid


def test_two_deterministic_samplers_same_endpoint(references):
    """The PF-ODE is a deterministic map: heun and dpm_solver3 at high accuracy agree."""
    sde, x0, ref = references["vp"]
    a, _ = sample(sde, RING.score_fn(sde), sampler="heun", steps=400, x_init=x0)
    b, _ = sample(sde, RING.score_fn(sde), sampler="dpm_solver3", steps=200, x_init=x0,
                  grid="log_snr")
    scale = float(ref.pow(2).sum(-1).mean().sqrt())  # ~ ring radius
    assert _rms(a, b) < 1e-4 * scale
    assert _rms(a, ref) < 1e-4 * scale


def test_few_step_accuracy_dpm(references):
    """Multistep exponential integrators beat the first-order ones at equal NFE (uniform-t
    grid to eps, pinned: the SDE's default grid changed with issue 15): below DDIM at 20 NFE,
    and well below Euler at 50 NFE."""
    sde, x0, ref = references["vp"]

    def err(name, steps):
        return _rms(sample(sde, RING.score_fn(sde), sampler=name, steps=steps, x_init=x0,
                           grid="uniform_t", t_end=sde.eps)[0], ref)

    assert err("dpm_solver2", 20) < err("ddim", 20) and err("dpm_solver3", 20) < err("ddim", 20)
    e50 = err("euler", 50)
    assert err("dpm_solver2", 50) < 0.6 * e50 and err("dpm_solver3", 50) < 0.6 * e50


# ----------------------------------------------------------------------------- distributions
def _floor(n, reps, seed=100):
    """Mean sliced-Wasserstein between independent true sample sets of size n."""
    vals = [sliced_wasserstein(RING.sample(n, torch.Generator().manual_seed(seed + 2 * r)),
                               RING.sample(n, torch.Generator().manual_seed(seed + 2 * r + 1)))
            for r in range(reps)]
    return float(np.mean(vals))


def _sw_to_truth(x, seed):
    return sliced_wasserstein(x, RING.sample(x.shape[0], torch.Generator().manual_seed(seed)))


def test_euler_maruyama_error_falls_with_steps():
    sde = VPSDE()
    n = 4000
    sw = {}
    for steps in (3, 10, 100):
        x, _ = sample(sde, RING.score_fn(sde), (n, 2), sampler="euler_maruyama", steps=steps,
                      generator=torch.Generator().manual_seed(steps), grid="uniform_t",
                      t_end=sde.eps)
        sw[steps] = _sw_to_truth(x, 7)
    floor = _floor(n, 3)
    assert sw[3] > sw[10] > sw[100]
    assert sw[3] > 3 * floor       # coarse EM is visibly biased
    assert sw[100] < 1.5 * floor   # fine EM reaches the Monte Carlo floor


def _pc_vs_floor(steps, n, reps):
    sde = VPSDE()
    pc = []
    for r in range(reps):
        x, info = sample(sde, RING.score_fn(sde), (n, 2), sampler="pc", steps=steps,
                         predictor="reverse_diffusion", corrector="langevin",
                         generator=torch.Generator().manual_seed(r))
        assert info.nfe == 2 * steps + 1
        pc.append(_sw_to_truth(x, 100 + 2 * r + 1))
    return float(np.mean(pc)), _floor(n, reps)


def test_pc_reaches_floor_cheap():
    pc, floor = _pc_vs_floor(steps=200, n=4000, reps=2)
    assert pc < 1.5 * floor, (pc, floor)


@pytest.mark.slow
def test_pc_reaches_floor_1000_steps():
    pc, floor = _pc_vs_floor(steps=1000, n=8000, reps=3)
    assert pc < 1.5 * floor, (pc, floor)


def test_torchsde_agrees_with_native_em():
    sde = VPSDE()
    n, steps = 4000, 100
    a, ia = sample(sde, RING.score_fn(sde), (n, 2), sampler="torchsde", steps=steps,
                   method="euler", generator=torch.Generator().manual_seed(1))
    b, ib = sample(sde, RING.score_fn(sde), (n, 2), sampler="euler_maruyama", steps=steps,
                   generator=torch.Generator().manual_seed(2))
    floor = _floor(n, 3)
    assert sliced_wasserstein(a, b) < 1.5 * floor
    assert _sw_to_truth(a, 11) < 1.5 * floor
    # moments agree within Monte Carlo error (per-coordinate var ~ 8 -> se of mean ~ 0.045)
    se = math.sqrt(2 * 8.1 / n)
    assert float((a.double().mean(0) - b.double().mean(0)).abs().max()) < 4 * se


def test_langevin_alone_on_gaussian():
    """Langevin with target SNR on N(0, V I): stationary var is V (1 + snr^2) (ULA bias with
    e = 2 snr^2 V^2 / V_inf), a closed form the step-size rule must reproduce."""
    V, snr, d, n = 2.0, 0.3, 16, 4000
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, d, generator=g, dtype=torch.float64)
    for _ in range(200):
        x = langevin_step(x, -x / V, torch.randn(n, d, generator=g, dtype=torch.float64), snr)
    var = float(x.var())
    se = V * math.sqrt(2.0 / (n * d))
    assert abs(var - V * (1 + snr ** 2)) < 5 * se
    assert abs(var - V) > 5 * se  # the bias is real and detected


def test_ancestral_equals_discrete_ddpm_chain():
    """Ancestral coefficients derived from (m, s) equal the VP discrete chain's."""
    sde = VPSDE()
    x0 = _prior64(sde, n=16)
    kw = dict(steps=50, x_init=x0)
    a, ia = sample(sde, RING.score_fn(sde), sampler="ancestral", discrete=True,
                   generator=torch.Generator().manual_seed(3), **kw)
    b, ib = sample(sde, RING.score_fn(sde), sampler="ancestral", t_end=0.0, grid="uniform_t",
                   generator=torch.Generator().manual_seed(3), **kw)
    torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-9)
    assert ia.nfe == ib.nfe == 50  # last step lands on s = 0: denoising costs nothing
    torch.testing.assert_close(ia.times, ib.times)


def test_final_denoise_is_tweedie():
    sde = VPSDE()
    x0 = _prior64(sde, n=32)
    x_noisy, i1 = sample(sde, RING.score_fn(sde), sampler="heun", steps=20, x_init=x0, denoise=False,
                         t_end=sde.eps)
    x_den, i2 = sample(sde, RING.score_fn(sde), sampler="heun", steps=20, x_init=x0, denoise=True,
                       t_end=sde.eps)
    assert i2.nfe == i1.nfe + 1 and i2.denoised and not i1.denoised
    torch.testing.assert_close(x_den, RING.posterior_mean(x_noisy, sde, sde.eps))


# ----------------------------------------------------------------------------- NFE
EXPECTED_NFE = {  # steps = 7
    "euler": 7, "heun": 14, "ddim": 7, "dpm_solver2": 7, "dpm_solver3": 7,
    "euler_maruyama": 8, "reverse_diffusion": 8, "ancestral": 8, "pc": 15,
    "annealed_langevin": 36, "torchsde": 9,
}


@pytest.mark.parametrize("name", sorted(EXPECTED_NFE))
def test_nfe_is_exact(name):
    sde = VPSDE()
    counter = Counting(RING.score_fn(sde))
    x, info = sample(sde, counter, (10, 2), sampler=name, steps=7,
                     generator=torch.Generator().manual_seed(0))
    assert info.nfe == counter.calls == EXPECTED_NFE[name]
    assert x.shape == (10, 2) and bool(torch.isfinite(x).all())


def test_rk45_nfe_reported_and_tolerance_matters(references):
    sde, x0, ref = references["vp"]
    errs, nfes = [], []
    for tol in (1e-3, 1e-6):
        counter = Counting(RING.score_fn(sde))
        x, info = sample(sde, counter, sampler="rk45", x_init=x0, rtol=tol, atol=tol)
        assert info.nfe == counter.calls and info.steps == len(info.times) - 1
        errs.append(_rms(x, ref))
        nfes.append(info.nfe)
    assert nfes[1] > nfes[0] and errs[1] < 0.1 * errs[0]


# ----------------------------------------------------------------------------- API behaviour
def test_reproducible_and_batch_independent():
    sde = VPSDE()
    gens = lambda k: [torch.Generator().manual_seed(100 + j) for j in range(k)]
    for name in ("euler_maruyama", "ancestral", "dpm_solver2"):
        a, _ = sample(sde, RING.score_fn(sde), (6, 2), sampler=name, steps=20, generator=gens(6))
        b, _ = sample(sde, RING.score_fn(sde), (3, 2), sampler=name, steps=20, generator=gens(3))
        torch.testing.assert_close(a[:3], b, rtol=1e-5, atol=1e-5)
    c, _ = sample(sde, RING.score_fn(sde), (6, 2), sampler="pc", steps=20,
                  generator=torch.Generator().manual_seed(5))
    d, _ = sample(sde, RING.score_fn(sde), (6, 2), sampler="pc", steps=20,
                  generator=torch.Generator().manual_seed(5))
    assert torch.equal(c, d)


def test_trajectory_callback_progress_dtype():
    sde = VESDE(sigma_max=20.0)
    seen = []
    x, info = sample(sde, RING.score_fn(sde), (5, 2), sampler="heun", steps=6,
                     return_trajectory=True, callback=lambda d: seen.append((d["i"], d["t"])),
                     generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    assert x.dtype == torch.float64
    assert info.trajectory.shape == (7, 5, 2)
    assert [i for i, _ in seen] == list(range(7))
    assert info.times.dtype == torch.float64 and info.times[0] == sde.T
    # VE's default end: the noise level reaches sigma_min (s(t_end) = 0.01), not s(eps) ~ 1e-4
    assert info.t_end == float(info.times[-1]) > sde.eps
    assert abs(float(sde.marginal(info.t_end)[1]) - sde.sigma_min) < 1e-12
    torch.testing.assert_close(info.trajectory[-1], x)
    x32, _ = sample(sde, RING.score_fn(sde), (5, 2), sampler="euler", steps=3)
    assert x32.dtype == torch.float32


def test_images_shape_all_samplers():
    """Any per-sample shape works (torchsde flattens and reshapes)."""
    gm = GaussianMixture(torch.randn(3, 1, 2, 2, generator=torch.Generator().manual_seed(0)),
                         [0.5, 0.5, 0.5])
    sde = VPSDE()
    for name in SAMPLERS:
        if name not in EXPECTED_NFE and name != "rk45":
            continue
        x, info = sample(sde, gm.score_fn(sde), (4, 1, 2, 2), sampler=name, steps=3,
                         generator=torch.Generator().manual_seed(0))
        assert x.shape == (4, 1, 2, 2) and bool(torch.isfinite(x).all())


def test_grids():
    sde = VPSDE()
    for fn in (uniform_t, uniform_log_snr, karras):
        t = fn(sde, 10)
        assert t.shape == (11,) and t.dtype == torch.float64
        assert float(t[0]) == sde.T and float(t[-1]) == sde.eps
        assert bool((t[1:] < t[:-1]).all())
    lam = sde.log_snr(uniform_log_snr(sde, 10))
    torch.testing.assert_close(lam[1:] - lam[:-1], (lam[1] - lam[0]).expand(10), rtol=1e-8, atol=1e-8)
    sig = sde.sigma(karras(sde, 10, rho=7.0)) ** (1 / 7)
    torch.testing.assert_close(sig[1:] - sig[:-1], (sig[1] - sig[0]).expand(10), rtol=1e-7, atol=1e-9)


def test_register_sampler_decorator():
    @register_sampler("_test_noop")
    class Noop(Sampler):
        order = 0.0

        def __init__(self):
            pass

        def step(self, ctx, x, i):
            return x

    try:
        x0 = torch.ones(2, 2)
        x, info = sample(VPSDE(), RING.score_fn(VPSDE()), sampler="_test_noop", steps=3, x_init=x0)
        assert torch.equal(x, x0) and info.nfe == 0
        with pytest.raises(ValueError, match="already registered"):
            register_sampler("_test_noop")(type("Other", (Sampler,), {}))
    finally:
        SAMPLERS.pop("_test_noop")


# ----------------------------------------------------------------------------- bad input
def test_bad_inputs():
    sde = VPSDE()
    sc = RING.score_fn(sde)
    with pytest.raises(ValueError, match="registered samplers: .*heun"):
        sample(sde, sc, (4, 2), sampler="hune")
    for bad in (0, -3, 2.5):
        with pytest.raises(ValueError, match="steps must be an integer >= 1"):
            sample(sde, sc, (4, 2), sampler="euler", steps=bad)
    with pytest.raises(ValueError, match=r"score function returned shape \(4,\)"):
        sample(sde, lambda x, t: x.sum(-1), (4, 2), sampler="euler", steps=2)
    with pytest.raises(ValueError, match="capability 'discrete_chain'.*VESDE does not have it"):
        sample(VESDE(), sc, (4, 2), sampler="ancestral", steps=5, discrete=True)
    with pytest.raises(ValueError, match="capability 'discrete_chain'.*SubVPSDE does not have it"):
        sample(SubVPSDE(), sc, (4, 2), sampler="ancestral", steps=5, discrete=True)
    with pytest.raises(TypeError, match="valid options: rtol, atol, method"):
        sample(sde, sc, (4, 2), sampler="rk45", tol=1e-3)
    with pytest.raises(ValueError, match="unknown predictor 'em'"):
        sample(sde, sc, (4, 2), sampler="pc", predictor="em")
    with pytest.raises(ValueError, match="unknown torchsde method"):
        sample(sde, sc, (4, 2), sampler="torchsde", method="heun")
    with pytest.raises(ValueError, match="does not match x_init"):
        sample(sde, sc, (3, 2), sampler="euler", x_init=torch.zeros(4, 2))
    with pytest.raises(ValueError, match="non-finite"):
        sample(sde, sc, sampler="euler", x_init=torch.full((4, 2), float("nan")))
    with pytest.raises(ValueError, match="unknown time grid"):
        sample(sde, sc, (4, 2), sampler="euler", grid="cosine")
    with pytest.raises(ValueError, match="strictly decreasing"):
        sample(sde, sc, (4, 2), sampler="euler", grid=[0.1, 0.5, 1.0])

    class NoLogSNR:  # a forward process without the log-SNR capability
        T, eps = 1.0, 1e-5
        marginal, drift_coeff, diffusion = sde.marginal, sde.drift_coeff, sde.diffusion

    with pytest.raises(ValueError, match="needs an SDE with log_snr"):
        sample(NoLogSNR(), sc, (4, 2), sampler="dpm_solver2", steps=4)


# ----------------------------------------------------------------------------- configs
def test_sampler_configs():
    from omegaconf import OmegaConf

    files = sorted(CONF.glob("*.yaml"))
    assert {f.stem for f in files} >= set(SAMPLERS) - {"_test_noop"} - {
        n for n in SAMPLERS if n.startswith("edm")}
    sde = VPSDE()
    for f in files:
        cfg = OmegaConf.load(f)
        assert cfg.name == f.stem and cfg.name in SAMPLERS
        opts = OmegaConf.to_container(cfg.options, resolve=True) if "options" in cfg else {}
        flow = cfg.name.startswith("flow_")  # a flow path; a score function needs t_start < 1
        on = RectifiedFlow() if flow else sde
        x, info = sample(on, RING.score_fn(on), (4, 2), sampler=cfg.name, steps=2,
                         t_start=0.99 if flow else None,
                         generator=torch.Generator().manual_seed(0), **opts)
        assert bool(torch.isfinite(x).all()), f.name
