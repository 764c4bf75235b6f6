"""Every sampler on flow paths (rectified flow, cosine), measured orders, the marginal-keeping
stochastic flow sampler, the SD3 shift grid, and flow-model likelihoods, on analytic mixtures."""
import math

import pytest
import torch

from sde_diffusion.analytic import GaussianMixture
from sde_diffusion.likelihood import log_likelihood
from sde_diffusion.models.parameterization import FunctionModel
from sde_diffusion.sdes import CosineFlow, RectifiedFlow
from sde_diffusion.solvers import SAMPLERS, sample
from sde_diffusion.solvers.flow_euler import shift_times, shifted_grid

PATHS = [RectifiedFlow(), CosineFlow()]
T_START, T_END = 1 - 1e-3, 1e-2  # a score function (not a velocity model) needs t_start < 1

# measured order p of every deterministic sampler and the grid it is measured on
ORDERS = {"euler": (1, "uniform_t"), "flow_euler": (1, "uniform_t"), "ddim": (1, "log_snr"),
          "heun": (2, "uniform_t"), "flow_midpoint": (2, "uniform_t"),
          "dpm_solver2": (2, "log_snr"), "dpm_solver_2s": (2, "log_snr"), "edm_heun": (2, "log_snr"),
          "dpm_solver3": (3, "log_snr"), "dpm_solver_3s": (3, "log_snr"), "unipc": (3, "log_snr"),
          "deis": (3, "log_snr")}
# UniPC at order 3: on these paths every order reads ~3 (the warm-up steps' error from the
# start at m = 1e-3 dominates); orders 4-5 are measured on VP / VE in test_fewstep.py
ORDER_OPTIONS = {"unipc": {"order": 3}}
ADAPTIVE = ("rk45", "dpm_adaptive")
# their orders are asserted by their own tests on their grids; here they run in
# test_every_sampler_runs_on_flow_paths (on this log-SNR grid ipndm measures 1.95, ipndm_v 3.5)
ORDER_TESTED_ELSEWHERE = ("ipndm", "ipndm_v")


def mixture():
    return GaussianMixture(torch.tensor([[1.0, 2.0], [-2.0, 0.5]]), torch.tensor([0.5, 0.7]))


def velocity_model(gm, path):
    return FunctionModel(gm.velocity_fn(path), path, "velocity")


def start(n=128, seed=0):
    return torch.randn(n, 2, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


_REFS = {}


def reference(gm, path, x):
    """The exact map from T_START to T_END (RK45 at 1e-11), cached per path for start()."""
    key = type(path).__name__
    if key not in _REFS:
        _REFS[key] = sample(path, velocity_model(gm, path), sampler="rk45", x_init=x,
                            t_start=T_START, t_end=T_END, rtol=1e-11, atol=1e-11)[0]
    return _REFS[key]


def rms(a, b):
    return float((a - b).pow(2).mean().sqrt())


def test_every_sampler_is_covered():
    """A sampler registered later must be added to ORDERS (deterministic) or be stochastic."""
    for name, cls in SAMPLERS.items():
        assert (name in ORDERS or name in ADAPTIVE or name in ORDER_TESTED_ELSEWHERE
                or cls.stochastic or name == "flow_sde"), name


@pytest.mark.parametrize("path", PATHS, ids=repr)
@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_every_sampler_runs_on_flow_paths(path, name):
    """From t_start = 1 - 1e-3 with the exact score: finite; a deterministic sampler at 20 steps
    is within 0.1 of the exact map (RMS; data scale ~2)."""
    gm, x = mixture(), start()
    out, info = sample(path, gm.score_fn(path), sampler=name, steps=20, x_init=x, t_start=T_START,
                       t_end=T_END, denoise=False, generator=torch.Generator().manual_seed(1))
    assert torch.isfinite(out).all() and info.nfe > 0
    if not SAMPLERS[name].stochastic and name != "flow_sde":
        assert rms(out, reference(gm, path, x)) < 0.1


@pytest.mark.parametrize("path", PATHS, ids=repr)
@pytest.mark.parametrize("name", sorted(ORDERS))
def test_measured_order_of_every_deterministic_sampler(path, name):
    """log2(err(n) / err(2n)) at n = 64 within [p - 0.25, p + 0.5] of the order p (RMS error vs
    RK45 at 1e-11 from the same start, 1 - 1e-3 -> 1e-2)."""
    p, grid = ORDERS[name]
    gm, x = mixture(), start()
    ref = reference(gm, path, x)
    err = [rms(sample(path, gm.score_fn(path), sampler=name, steps=n, x_init=x, grid=grid,
                      t_start=T_START, t_end=T_END, denoise=False, **ORDER_OPTIONS.get(name, {}))[0],
               ref) for n in (64, 128)]
    slope = math.log2(err[0] / err[1])
    assert p - 0.25 <= slope <= p + 0.5, (name, err, slope)


def test_euler_ddim_and_flow_euler_coincide_on_rectified_flow():
    """On rectified flow the PF-ODE drift is the velocity and DDIM's exponential step is linear
    in t (x' = m' x0 + s' eps, both linear in t): all three are the same map."""
    path, gm, x = RectifiedFlow(), mixture(), start()
    outs = [sample(path, gm.score_fn(path), sampler=s, steps=10, x_init=x, t_start=T_START,
                   t_end=T_END, grid="uniform_t")[0] for s in ("euler", "ddim", "flow_euler")]
    torch.testing.assert_close(outs[0], outs[1], rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(outs[0], outs[2], rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("path", PATHS, ids=repr)
@pytest.mark.parametrize("name", ["flow_euler", "flow_midpoint", "flow_sde"])
def test_flow_samplers_start_at_t1_exactly(path, name):
    """The flow samplers start at t = 1 (alpha = 0) from the model's velocity; the ODE ones
    converge at their order to the exact map from t = 1 to t = 0."""
    gm, x = mixture(), start(32)
    model = velocity_model(gm, path)
    out, info = sample(path, model, sampler=name, steps=16, x_init=x, t_end=0.0,
                       generator=torch.Generator().manual_seed(0))
    assert info.times[0] == 1.0 and info.times[-1] == 0.0 and torch.isfinite(out).all()
    if name != "flow_sde":
        ref = sample(path, model, sampler="flow_midpoint", steps=1024, x_init=x, t_end=0.0)[0]
        p = ORDERS[name][0]
        err = [rms(sample(path, model, sampler=name, steps=n, x_init=x, t_end=0.0)[0], ref)
               for n in (64, 128)]
        assert p - 0.2 <= math.log2(err[0] / err[1]) <= p + 0.3, err


@pytest.mark.parametrize("name", ["ddim", "dpm_solver2", "dpm_solver3", "unipc"])
def test_exponential_integrators_start_at_t1(name):
    """The half-log-SNR samplers take the lambda -> -inf limit at t = 1 (the model's own x0):
    finite, and within 0.15 (ddim, order 1; = flow Euler's 0.12) or 0.05 (orders 2-3) of the
    exact map at 10 steps."""
    path, gm, x = RectifiedFlow(), mixture(), start()
    model = velocity_model(gm, path)
    out, info = sample(path, model, sampler=name, steps=10, x_init=x, t_end=T_END)
    ref = sample(path, model, sampler="flow_midpoint", steps=512, x_init=x, t_end=T_END)[0]
    assert info.times[0] == 1.0 and rms(out, ref) < (0.15 if name == "ddim" else 0.05)


@pytest.mark.parametrize("path", PATHS, ids=repr)
@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_every_sampler_starts_at_t1(path, name):
    """From t = 1 exactly (m = 0: f, g and sigma infinite) with a velocity model, every sampler
    is finite and its grid starts at 1; a deterministic one at 20 steps is within 0.08 (order 1:
    Euler's own error there is 0.06) or 0.04 (the others measure <= 0.03) of the exact map to
    1e-2 (RMS, data scale ~2).
    The samplers without their own limit take the core's first step (Sampler.prior_step)."""
    gm, x = mixture(), start()
    model = velocity_model(gm, path)
    out, info = sample(path, model, sampler=name, steps=20, x_init=x, t_end=T_END, denoise=False,
                       generator=torch.Generator().manual_seed(1))
    assert info.times[0] == 1.0 and torch.isfinite(out).all()
    if not SAMPLERS[name].stochastic and name != "flow_sde":
        ref = sample(path, model, sampler="rk45", x_init=x, t_end=T_END, rtol=1e-10, atol=1e-10)[0]
        tol = 0.08 if name in ("euler", "ddim", "flow_euler") else 0.04
        assert rms(out, ref) < tol, rms(out, ref)


@pytest.mark.parametrize("name", ["euler", "heun"])
def test_pf_ode_samplers_start_at_t1(name):
    """Euler and Heun evaluate the PF drift at t = 1 as m' x0 + s' eps (finite) and converge at
    their order from there: log2(err(32)/err(64)) within [p - 0.25, p + 0.5]."""
    path, gm, x = RectifiedFlow(), mixture(), start()
    model = velocity_model(gm, path)
    ref = sample(path, model, sampler="rk45", x_init=x, t_end=T_END, rtol=1e-11, atol=1e-11)[0]
    err = [rms(sample(path, model, sampler=name, steps=n, x_init=x, t_end=T_END)[0], ref)
           for n in (32, 64)]
    p = ORDERS[name][0]
    assert p - 0.25 <= math.log2(err[0] / err[1]) <= p + 0.5, err


@pytest.mark.parametrize("name", ["ipndm", "deis", "dpm_solver_2s", "rk45"])
def test_core_limit_step_from_t1_is_exact_ddim(name):
    """At t = 1 x_1 is independent of x_0, so D(x_1) = E[x_0] (the weighted mean of the mixture
    means) and the limit step is x_t = m(t) E[x_0] + s(t) x_1 exactly (to 1e-12): one step for
    the fixed-step samplers; rk45's first accepted state is at grid.prior_exit."""
    path, gm, x = RectifiedFlow(), mixture(), start(16)
    mean = (gm.weights[:, None] * gm.means).sum(0).to(torch.float64)
    steps = 1 if name != "rk45" else None
    out, info = sample(path, velocity_model(gm, path), sampler=name, steps=steps, x_init=x,
                       t_end=0.5, return_trajectory=True)
    t1 = float(info.times[1])
    m1, s1 = (float(v) for v in path.marginal(t1))
    assert info.times[0] == 1.0 and (t1 == 0.5) == (name != "rk45")
    torch.testing.assert_close(info.trajectory[1], m1 * mean + s1 * x, rtol=1e-12, atol=1e-12)


def test_plain_score_at_t1_is_a_clear_error():
    """At m = 0 a score function does not define E[x_0 | x_t]: one clear ValueError."""
    path, gm = RectifiedFlow(), mixture()
    with pytest.raises(ValueError, match="m = 0"):
        sample(path, gm.score_fn(path), sampler="heun", steps=4, x_init=start(8), t_end=T_END)


# ---------------------------------------------------------------- the stochastic sampler
def _moments_within(x, exact: GaussianMixture, k=4.0):
    """Per-coordinate mean and variance of x within k standard errors of the exact mixture's
    (SE of the variance from the exact fourth central moment, by a 400k-point exact sample)."""
    n = x.shape[0]
    ref = exact.sample(400_000, generator=torch.Generator().manual_seed(9), dtype=torch.float64)
    mu, var = ref.mean(0), ref.var(0)
    m4 = ((ref - mu) ** 4).mean(0)
    z_mean = (x.mean(0) - mu) / (var / n).sqrt()
    z_var = (x.var(0) - var) / ((m4 - var ** 2) / n).sqrt()
    return float(z_mean.abs().max()), float(z_var.abs().max())


@pytest.mark.parametrize("path", PATHS, ids=repr)
@pytest.mark.parametrize("eta", [0.0, 0.5, 1.0])
def test_flow_sde_keeps_the_marginals(path, eta):
    """Samples of flow_sde (from N(0, I) at t = 1, exact velocity, 200 steps) at t = 0.5 and at
    t_end = 0.01 have the exact marginal's mean and variance within 4 standard errors (n = 4000;
    a 4-SE band misses a true marginal with probability < 1e-4 per statistic). Power: the noise
    c = eta s' without the posterior factor inflates the variance and is caught
    (benchmarks/mutation_check.py)."""
    gm = mixture()
    x, info = sample(path, velocity_model(gm, path), (4000, 2), sampler="flow_sde", steps=200,
                     eta=eta, t_end=0.01, dtype=torch.float64, return_trajectory=True,
                     generator=torch.Generator().manual_seed(3))
    mid = int(torch.argmin((info.times - 0.5).abs()))
    for i, xi in ((mid, info.trajectory[mid]), (len(info.times) - 1, x)):
        z_mean, z_var = _moments_within(xi, gm.marginal(path, float(info.times[i])))
        assert z_mean < 4 and z_var < 4, (float(info.times[i]), z_mean, z_var)


def test_flow_sde_eta_zero_is_ddim_and_bad_eta():
    """eta = 0 is DDIM's step x' = m' x0 + s' eps (the exponential integrator of order 1)."""
    path, gm, x = CosineFlow(), mixture(), start()
    kw = dict(steps=12, x_init=x, t_start=T_START, t_end=T_END, grid="uniform_t")
    a = sample(path, velocity_model(gm, path), sampler="flow_sde", eta=0.0, **kw)[0]
    b = sample(path, gm.score_fn(path), sampler="ddim", **kw)[0]
    torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-9)
    for bad in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match="eta"):
            sample(path, velocity_model(gm, path), (4, 2), sampler="flow_sde", eta=bad, steps=2)


# ---------------------------------------------------------------- the shift grid
def test_shift_grid():
    path = RectifiedFlow()
    g1 = shifted_grid(path, 10, t_end=0.0)
    torch.testing.assert_close(g1, torch.linspace(1, 0, 11, dtype=torch.float64))
    g3 = shifted_grid(path, 10, t_end=0.0, shift=3.0)
    u = torch.linspace(1, 0, 11, dtype=torch.float64)
    torch.testing.assert_close(g3, 3 * u / (1 + 2 * u))
    assert g3[0] == 1.0 and g3[-1] == 0.0 and bool((g3[1:] < g3[:-1]).all())
    torch.testing.assert_close(shift_times(shift_times(u, 3.0), 1 / 3.0), u)  # inverse shift
    with pytest.raises(ValueError, match="shift"):
        sample(path, velocity_model(mixture(), path), (4, 2), sampler="flow_euler", shift=0.0, steps=2)


# ---------------------------------------------------------------- likelihood
@pytest.mark.parametrize("path", PATHS, ids=repr)
def test_flow_likelihood_matches_the_mixture_density(path):
    """log p_eps(x) of a velocity model through the PF-ODE machinery (to t = 1, exact prior)
    equals the closed-form mixture density: exact divergence to 1e-5 nats (RK45 at 1e-8);
    Hutchinson unbiased: mean error over 64 points within 4 SE of 0."""
    gm = mixture()
    model = velocity_model(gm, path)
    x = gm.sample(64, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    exact = gm.log_prob(x, path, path.eps)
    r = log_likelihood(path, model, x, rtol=1e-8, atol=1e-8)
    torch.testing.assert_close(r.logp, exact, rtol=0, atol=1e-5)
    h = log_likelihood(path, model, x, divergence="hutchinson", n_probes=1, rtol=1e-6, atol=1e-6,
                       generator=torch.Generator().manual_seed(2))
    d = h.logp - exact
    assert abs(float(d.mean())) < 4 * float(d.std()) / math.sqrt(64) + 1e-4
