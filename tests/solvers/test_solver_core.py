"""The denoiser-first core: the context asks a model for its native prediction (no
score -> x0 round trip per NFE), wraps a plain score function once, and exponential
integrators start at m(T) = 0 (lambda = -inf) without NaN."""
import math

import pytest
import torch
from torch import nn

import sde_diffusion.models.score_model as score_model_mod
import sde_diffusion.solvers.context as context_mod
from sde_diffusion.analytic import GaussianMixture
from sde_diffusion.models import ScoreModel
from sde_diffusion.sdes import SDE, VPSDE
from sde_diffusion.solvers import sample


class _CountingNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.calls = 0

    def forward(self, x, label):
        self.calls += 1
        return 0.5 * x


@pytest.fixture
def conversions(monkeypatch):
    """Counts of the parameterisation maps the sampling path performs."""
    n = {"convert": 0, "tweedie": 0}

    def counted(name, fn):
        def wrapper(*a, **k):
            n[name] += 1
            return fn(*a, **k)
        return wrapper

    monkeypatch.setattr(score_model_mod, "convert", counted("convert", score_model_mod.convert))
    monkeypatch.setattr(context_mod, "tweedie", counted("tweedie", context_mod.tweedie))
    return n


@pytest.mark.parametrize("sampler,kind", [("dpm_solver2", "x0"), ("unipc", "x0"),
                                          ("deis", "eps"), ("ipndm", "eps")])
def test_native_prediction_is_used_without_conversion(conversions, sampler, kind):
    net = _CountingNet()
    model = ScoreModel(net, VPSDE(), parameterization=kind)
    _, info = sample(VPSDE(), model, (8, 2), sampler=sampler, steps=10,
                     generator=torch.Generator().manual_seed(0))
    # ipndm's default analytic first step spends no model call
    assert net.calls == info.nfe == (9 if sampler == "ipndm" else 10)
    assert conversions == {"convert": 0, "tweedie": 0}


def test_other_parameterisation_is_converted_once_per_nfe(conversions):
    net = _CountingNet()
    model = ScoreModel(net, VPSDE(), parameterization="eps")
    _, info = sample(VPSDE(), model, (8, 2), sampler="dpm_solver2", steps=10,
                     generator=torch.Generator().manual_seed(0))
    assert net.calls == info.nfe == 10
    assert conversions == {"convert": 10, "tweedie": 0}  # eps -> x0, not eps -> score -> x0


def test_plain_score_function_is_wrapped_once_per_nfe(conversions):
    gm = GaussianMixture(torch.tensor([[0.0, 1.0]]), torch.tensor([0.5]))
    _, info = sample(VPSDE(), gm.score_fn(VPSDE()), (8, 2), sampler="dpm_solver2", steps=10,
                     generator=torch.Generator().manual_seed(0))
    assert conversions == {"convert": 0, "tweedie": info.nfe} and info.nfe == 10


def test_native_and_score_paths_agree():
    """The same exact denoiser through predict() and through the score: same samples."""
    gm = GaussianMixture(torch.tensor([[-1.0, 0.5], [1.0, -0.5]]), torch.tensor([0.4, 0.6]))
    sde = VPSDE()
    model = _Exact(gm, sde)
    x = sde.prior_sample((50, 2), generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    for name in ("dpm_solver3", "unipc", "deis", "ipndm_v"):
        a, _ = sample(sde, model, sampler=name, steps=12, x_init=x)
        b, _ = sample(sde, gm.score_fn(sde), sampler=name, steps=12, x_init=x)
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-9)


# --------------------------------------------------------------------- start at m(T) = 0
class _ZeroSignalSDE(SDE):
    """x_t = (1 - t) x_0 + t z (a flow-matching path): m(1) = 0, lambda(1) = -inf."""

    def _f(self, t):
        return -1.0 / (1.0 - t)

    def _g(self, t):
        return torch.sqrt(2.0 * t + 2.0 * t * t / (1.0 - t))

    def _marginal(self, t):
        return 1.0 - t, t.clone()


class _Exact:
    """An exact model with native predictions (x0 / eps / score) of a Gaussian mixture."""

    def __init__(self, gm, sde):
        self.gm, self.sde = gm, sde

    def predict(self, x, t, kind):
        x0 = self.gm.posterior_mean(x, self.sde, t)
        if kind == "x0":
            return x0
        m, s = (c.to(x.dtype)[:, None] for c in self.sde.marginal(t))
        eps = (x - m * x0) / s
        return eps if kind == "eps" else -eps / s

    def __call__(self, x, t):
        return self.predict(x, t, "score")


def _zero_signal_errors(name, **options):
    """RMS error of ``name`` at 16 and 32 steps (uniform t, T = 1 -> 1e-2) from x_T where
    m(T) = 0, against the exact map of N(mu, c^2 I): x_t = m mu + sqrt(m^2 c^2 + s^2) x_T;
    every output finite. Returns (errors, infos)."""
    mu, c = torch.tensor([[1.0, -2.0]]), 0.5
    gm, sde = GaussianMixture(mu, torch.tensor([c])), _ZeroSignalSDE(T=1.0, eps=1e-3)
    x_T = torch.randn(200, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    m, s = (float(v) for v in sde.marginal(1e-2))
    exact = m * mu + math.sqrt(m * m * c * c + s * s) * x_T
    errs, infos = [], []
    for n in (16, 32):
        y, info = sample(sde, _Exact(gm, sde), sampler=name, steps=n, x_init=x_T, t_end=1e-2,
                         grid="uniform_t", **options)
        assert bool(torch.isfinite(y).all())
        errs.append(float((y - exact).pow(2).sum(1).mean().sqrt()))
        infos.append(info)
    return errs, infos


@pytest.mark.parametrize("name,order", [("ddim", 1), ("dpm_solver2", 2), ("dpm_solver3", 3),
                                        ("unipc", 2)])
def test_exponential_integrators_start_at_zero_signal(name, order):
    """Single Gaussian N(mu, c^2 I): the exact PF-ODE map from x_T (m(T) = 0, s(T) = 1) is
    x_t = m mu + sqrt(m^2 c^2 + s^2) x_T. The first step is the h -> inf limit
    x' = (s'/s) x + m' D(x_T) with D(x_T) = mu from the model alone; no NaN, and the error falls
    with the steps at least at first order."""
    errs, _ = _zero_signal_errors(name, **({"order": order} if name == "unipc" else {}))
    assert errs[1] < 0.6 * errs[0], errs


@pytest.mark.parametrize("name", ["ipndm", "ipndm_v", "deis", "dpm_solver_2s", "dpm_solver_3s",
                                  "edm_heun", "euler", "heun"])
def test_other_samplers_start_at_zero_signal_by_the_limit_step(name):
    """Samplers without their own limit at m = 0 (an SDE with no ``marginal_rates``, so f and g
    are infinite there) take the core's first step, DDIM's from lambda = -inf: finite, the grid
    kept, and the error of the exact Gaussian map falls with the steps (16 -> 32: < 0.6x)."""
    errs, infos = _zero_signal_errors(name)
    assert all(info.times[0] == 1.0 for info in infos)
    assert errs[1] < 0.6 * errs[0], errs


@pytest.mark.parametrize("name", ["ipndm", "deis", "dpm_solver_2s", "euler_maruyama"])
def test_callback_index_is_the_grid_index_after_the_limit_step(name):
    """After the core's limit first step from m = 0 the sampler runs on the rest of the grid;
    its callbacks still report the call's grid index: i = 0 .. steps once each, with
    t = info.times[i] and x = info.trajectory[i]."""
    gm = GaussianMixture(torch.tensor([[1.0, -2.0]]), torch.tensor([0.5]))
    sde = _ZeroSignalSDE(T=1.0, eps=1e-3)
    calls = []
    _, info = sample(sde, _Exact(gm, sde), (4, 2), sampler=name, steps=5, t_end=1e-2,
                     grid="uniform_t", return_trajectory=True,
                     callback=lambda d: calls.append((d["i"], d["t"], d["x"])),
                     generator=torch.Generator().manual_seed(0))
    assert [c[0] for c in calls] == list(range(6))
    for i, t, x in calls:
        assert t == float(info.times[i]) and torch.equal(x, info.trajectory[i])


def test_a_loop_that_skips_finish_step_is_refused():
    """ctx.loop checks that every step ended with ctx.finish_step (which holds the after_step
    hook, the non-finite flag, the callback and the trajectory)."""
    from sde_diffusion.solvers import SAMPLERS, Sampler, register_sampler

    @register_sampler("_test_forgetful")
    class Forgetful(Sampler):
        def run(self, ctx, x):
            for i in ctx.loop(x):
                x = x + (ctx.t[i + 1] - ctx.t[i]) * ctx.pf_drift(x, i)
            return x

    try:
        gm = GaussianMixture(torch.tensor([[0.0, 1.0]]), torch.tensor([0.5]))
        with pytest.raises(RuntimeError, match=r"'_test_forgetful' did not end step 0 with "
                                               r"x = ctx.finish_step\(x, 1\)"):
            sample(VPSDE(), gm.score_fn(VPSDE()), (4, 2), sampler="_test_forgetful", steps=3)
    finally:
        SAMPLERS.pop("_test_forgetful")
