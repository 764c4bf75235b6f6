"""EDM: the SDE, the preconditioning as a parameterisation, the loss weighting and log-normal
noise levels, the samplers -- and every registered sampler on LinearSDE and EDMSDE."""
import math

import pytest
import torch
from torch import nn

from sde_diffusion.analytic import ring_of_gaussians
from sde_diffusion.losses import EDMLoss, eps_weight, lognormal_time_density, sample_time
from sde_diffusion.metrics import sliced_wasserstein
from sde_diffusion.models import (ScoreModel, convert, edm_coefficients, edm_loss_weight, edm_to_x0,
                                  x0_to_edm)
from sde_diffusion.sdes import EDMSDE, LinearSDE, VESDE, VPSDE
from sde_diffusion.sdes.linear import Constant, Linear, Sqrt
from sde_diffusion.solvers import SAMPLERS, sample

SDES = {"edm": EDMSDE, "vp": VPSDE, "ve": VESDE,
        "linear": lambda: LinearSDE(f=Constant(0.0), g=Sqrt(Linear(0.01, 400.0), 2.0))}


def test_edm_sde_closed_forms():
    sde = EDMSDE()
    assert (sde.T, sde.eps) == (80.0, 0.002)
    t = torch.linspace(0.0, 80.0, 101, dtype=torch.float64)
    m, s = sde.marginal(t)
    assert torch.equal(m, torch.ones_like(t)) and torch.equal(s, t)
    torch.testing.assert_close(sde.diffusion(t) ** 2, 2 * t)
    assert float(sde.drift_coeff(t).abs().max()) == 0.0
    torch.testing.assert_close(sde.t_from_log_snr(sde.log_snr(t[1:])), t[1:])
    torch.testing.assert_close(sde.t_from_sigma(sde.sigma(t)), t)
    assert sde.prior_std() == 80.0
    with pytest.raises(ValueError, match="sigma_max"):
        EDMSDE(sigma_min=1.0, sigma_max=0.5)


# ------------------------------------------------------------------ preconditioning
def test_coefficients_are_the_papers():
    sig, sd = torch.tensor([0.002, 0.5, 1.0, 80.0], dtype=torch.float64), 0.5
    c = edm_coefficients(sig, sd)
    torch.testing.assert_close(c.c_skip, sd ** 2 / (sig ** 2 + sd ** 2))
    torch.testing.assert_close(c.c_out, sig * sd / (sig ** 2 + sd ** 2).sqrt())
    torch.testing.assert_close(c.c_in, 1 / (sig ** 2 + sd ** 2).sqrt())
    torch.testing.assert_close(c.c_noise, 0.25 * sig.log())
    # unit-variance training target: c_skip^2 sd^2 ... Var[(x0 - c_skip(x0 + sig n)) / c_out] = 1
    var_target = ((1 - c.c_skip) ** 2 * sd ** 2 + c.c_skip ** 2 * sig ** 2) / c.c_out ** 2
    torch.testing.assert_close(var_target, torch.ones_like(sig))
    torch.testing.assert_close(edm_loss_weight(sig, sd), 1 / c.c_out ** 2)


@pytest.mark.parametrize("sde_name", sorted(SDES))
@pytest.mark.parametrize("target", ["eps", "score", "x0", "v"])
def test_edm_round_trips_with_other_parameterisations(sde_name, target):
    sde = SDES[sde_name]()
    g = torch.Generator().manual_seed(0)
    n = 64
    t = sde.eps + (sde.T - sde.eps) * torch.rand(n, generator=g, dtype=torch.float64)
    m, s = sde.marginal(t)
    x_t = torch.randn(n, 3, generator=g, dtype=torch.float64) * (m[:, None] + s[:, None])
    F = torch.randn(n, 3, generator=g, dtype=torch.float64)
    D = edm_to_x0(F, x_t, m, s, 0.5)
    other = convert(D, "x0", target, x_t, m, s)
    F_back = x0_to_edm(convert(other, target, "x0", x_t, m, s), x_t, m, s, 0.5)
    torch.testing.assert_close(F_back, F, rtol=1e-9, atol=1e-9)


class _Oracle(nn.Module):
    """The exact EDM network output F* = (E[x0|x_t] - c_skip x_hat) / c_out, reading sigma back
    from the noise label (ln sigma mapped affinely to [0, 1] over [sigma(max(eps, 1e-5 T)),
    sigma(T)]) and x_hat from c_in x_hat (so it checks what the net is fed)."""

    def __init__(self, gm, sde, sd):
        super().__init__()
        self.gm, self.sde, self.sd = gm, sde, sd
        lo = math.log(float(sde.sigma(max(sde.eps, 1e-5 * sde.T))))
        self.lo, self.span = lo, math.log(float(sde.sigma(sde.T))) - lo

    def forward(self, x_in, c_noise):
        assert float(c_noise.min()) >= -1e-12 and float(c_noise.max()) <= 1 + 1e-12  # in [0, 1]
        sig = torch.exp(self.lo + self.span * c_noise.double())
        c = edm_coefficients(sig, self.sd)
        x_hat = x_in.double() / c.c_in[:, None]
        t = self.sde.t_from_sigma(sig)
        m, s = self.sde.marginal(t)
        d = self.gm.posterior_mean(m[:, None] * x_hat, self.sde, t)
        return ((d - c.c_skip[:, None] * x_hat) / c.c_out[:, None]).to(x_in.dtype)


@pytest.mark.parametrize("sde_name", ["edm", "vp", "linear"])
def test_score_model_edm_with_exact_net_gives_exact_score(sde_name):
    sde, gm = SDES[sde_name](), ring_of_gaussians()
    model = ScoreModel(_Oracle(gm, sde, 0.7), sde, parameterization="edm", data_std=0.7)
    g = torch.Generator().manual_seed(1)
    t = sde.eps + (sde.T - sde.eps) * torch.rand(32, generator=g, dtype=torch.float64) ** 3
    x = sde.perturb(gm.sample(32, g, torch.float64), t, torch.randn(32, 2, generator=g, dtype=torch.float64))
    kind, D = model.native(x, t)
    assert kind == "x0"
    torch.testing.assert_close(D, gm.posterior_mean(x, sde, t), rtol=1e-8, atol=1e-8)
    torch.testing.assert_close(model(x, t), gm.score(x, sde, t), rtol=1e-7, atol=1e-7)
    m, s = sde.marginal(t)
    torch.testing.assert_close(model.predict(x, t, "eps"), convert(D, "x0", "eps", x, m, s))


# ------------------------------------------------------------------ loss
@pytest.mark.parametrize("sde_name", ["edm", "vp", "linear"])
def test_lognormal_noise_levels(sde_name):
    """ln sigma(t) ~ N(-1.2, 1.2^2) (truncation mass < 1e-4 here): mean and std within 4 SE,
    and the density of t integrates to one."""
    sde = SDES[sde_name]()
    n = 20_000
    t, corr = sample_time(sde, n, "lognormal", generator=torch.Generator().manual_seed(2))
    assert float(t.min()) >= sde.eps and float(t.max()) <= sde.T
    ls = torch.log(sde.sigma(t))
    assert abs(float(ls.mean()) + 1.2) < 4 * 1.2 / math.sqrt(n)
    assert abs(float(ls.std()) - 1.2) < 4 * 1.2 / math.sqrt(2 * n)
    # integral of q over [eps, T] in ln sigma (where it is smooth): q dt = q / (d ln sigma/dt) d ln sigma
    u = torch.linspace(0, 1, 20_001, dtype=torch.float64)
    lo, hi = torch.log(sde.sigma(sde.eps)), torch.log(sde.sigma(sde.T))
    tt = sde.t_from_sigma(torch.exp(lo + (hi - lo) * u)).clamp(sde.eps, sde.T)
    q = lognormal_time_density(sde, tt)
    dlns_dt = 0.5 * sde.diffusion(tt) ** 2 / sde.marginal(tt)[1] ** 2
    assert abs(float(torch.trapezoid(q / dlns_dt, lo + (hi - lo) * u)) - 1) < 1e-6
    torch.testing.assert_close(corr, 1 / ((sde.T - sde.eps) * lognormal_time_density(sde, t)))


@pytest.mark.parametrize("sde_name", ["edm", "vp", "linear"])
def test_edm_weighting_is_the_papers_lambda(sde_name):
    """Per sample, weight on |D - x0|^2 = eps-weight * correction / (s/m)^2 = lambda(sigma)."""
    sde = SDES[sde_name]()
    t, corr = sample_time(sde, 1000, "lognormal", generator=torch.Generator().manual_seed(3))
    w_D = eps_weight(sde, t, "edm", sigma_data=0.5) * corr / sde.sigma(t) ** 2
    lam = (sde.sigma(t) ** 2 + 0.25) / (sde.sigma(t) * 0.5) ** 2
    torch.testing.assert_close(w_D, lam, rtol=1e-12, atol=0)


def test_edm_loss_equals_papers_loss():
    """EDMLoss() (weighting "edm", t_sampling "lognormal") of an edm model = lambda(sigma) |D - y|^2
    (mean over dims) with the paper's own sigma ~ exp(N(P_mean, P_std^2)) and noise."""
    sde = EDMSDE()
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(2, 2))
    model = ScoreModel(lambda x, c: net(x) * (1 + c[:, None]), sde, "edm", data_std=0.5)
    x0 = torch.randn(256, 2, dtype=torch.float32)
    loss = EDMLoss()(model, x0, generator=torch.Generator().manual_seed(5))
    g = torch.Generator().manual_seed(5)
    t, _ = sample_time(sde, 256, "lognormal", generator=g)
    n = torch.randn(x0.shape, generator=g, dtype=x0.dtype)
    sigma = t.float()
    y_noisy = x0 + sigma[:, None] * n
    c = edm_coefficients(sigma, 0.5)
    label = (torch.log(sigma) - math.log(0.002)) / (math.log(80.0) - math.log(0.002))  # in [0, 1]
    D = c.c_skip[:, None] * y_noisy + c.c_out[:, None] * net(c.c_in[:, None] * y_noisy) * (1 + label[:, None])
    ref = edm_loss_weight(sigma, 0.5) * (D - x0).pow(2).mean(1)
    torch.testing.assert_close(loss, ref, rtol=1e-5, atol=1e-6)


def test_edm_weighting_is_unbiased_under_uniform_time():
    """The "edm" eps-weight is EDM's objective over t ~ U[eps, T]: E_U[w(t)/sigma^2 h(sigma)]
    = E_LN[lambda h] for any h; with h = sigma^2 sd^2/(sigma^2 + sd^2) (so lambda h = 1) it is 1."""
    sde = VPSDE()
    t = torch.linspace(sde.eps, sde.T, 400_001, dtype=torch.float64)
    w = eps_weight(sde, t, "edm", sigma_data=0.5)
    h = 0.25 / (sde.sigma(t) ** 2 + 0.25)  # = lambda^-1 / sigma^2
    val = torch.trapezoid(w * h, t) / (sde.T - sde.eps)
    assert abs(float(val) - 1) < 1e-4


def test_bad_loss_options():
    sde = EDMSDE()
    with pytest.raises(ValueError, match="t_sampling"):
        sample_time(sde, 4, "gaussian")
    with pytest.raises(ValueError, match="p_std"):
        sample_time(sde, 4, "lognormal", p_std=0.0)
    with pytest.raises(ValueError, match="sigma_data"):
        eps_weight(sde, torch.tensor([1.0]), "edm", sigma_data=-1.0)


# ------------------------------------------------------------------ EDM samplers
def test_edm_heun_18_steps_is_35_nfe_and_ends_at_sigma_zero():
    sde, gm = EDMSDE(), ring_of_gaussians()
    x, info = sample(sde, gm.score_fn(sde), (16, 2), sampler="edm_heun", steps=18,
                     generator=torch.Generator().manual_seed(0))
    assert info.nfe == 35 and info.steps == 18 and info.t_end == 0.0 and not info.denoised
    sig = info.times[:-1]
    rho = 7.0
    ref = (80 ** (1 / rho) + torch.arange(18, dtype=torch.float64) / 17 * (0.002 ** (1 / rho) - 80 ** (1 / rho))) ** rho
    torch.testing.assert_close(sig, ref)


def test_edm_stochastic_without_churn_is_heun():
    sde, gm = EDMSDE(), ring_of_gaussians()
    x_init = sde.prior_sample((64, 2), generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    a, _ = sample(sde, gm.score_fn(sde), sampler="edm_heun", steps=12, x_init=x_init)
    b, info = sample(sde, gm.score_fn(sde), sampler="edm", steps=12, x_init=x_init, S_churn=0.0)
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert info.nfe == 23


def test_edm_heun_converges_at_second_order():
    """PF-ODE error vs a 1024-step solution from the same x_init: ratio ~ 4 per step doubling."""
    sde, gm = EDMSDE(), ring_of_gaussians()
    x_init = sde.prior_sample((256, 2), generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    run = lambda n: sample(sde, gm.score_fn(sde), sampler="edm_heun", steps=n, x_init=x_init,
                           grid="karras", t_end=0.01)[0]
    ref = run(1024)
    errs = [float((run(n) - ref).norm(dim=1).mean()) for n in (64, 128, 256)]
    slopes = [math.log2(errs[i] / errs[i + 1]) for i in range(2)]
    assert all(1.7 < sl < 2.5 for sl in slopes), (errs, slopes)


def test_edm_sampler_options_validated():
    sde, gm = EDMSDE(), ring_of_gaussians()
    with pytest.raises(ValueError, match="S_tmax"):
        sample(sde, gm.score_fn(sde), (4, 2), sampler="edm", steps=4, S_tmin=2.0, S_tmax=1.0)
    with pytest.raises(ValueError, match="S_churn"):
        sample(sde, gm.score_fn(sde), (4, 2), sampler="edm", steps=4, S_churn=-1.0)
    with pytest.raises(ValueError, match="steps >= 2"):
        sample(sde, gm.score_fn(sde), (4, 2), sampler="edm_heun", steps=1)
    with pytest.raises(TypeError, match="valid options"):
        sample(sde, gm.score_fn(sde), (4, 2), sampler="edm", steps=4, churn=1.0)


# ------------------------------------------------------------------ the whole registry
REGISTRY_SDES = {
    # the tutorial's f = 0, g = sqrt(2 beta) with beta up to 400 (prior std 20 > 5x ring radius);
    # no closed form: the samplers use the quadrature marginals
    "linear": SDES["linear"],
    "edm": EDMSDE,
}
N_SAMPLES = 2000


def _steps(cls) -> int:
    """A budget at which a sampler of this kind has converged on the 2-D ring: ~200 NFE for
    deterministic samplers, ~400 NFE for stochastic ones (strong order <= 1), ~2000 NFE for
    Langevin-only samplers (order < 0.5)."""
    evals = max(cls().evals_per_step, 1)  # default options
    budget = 200 if not cls.stochastic else (400 if cls.order >= 0.5 else 2000)
    return max(budget // evals, 10)


def _factor(cls) -> float:
    """Stated tolerance: sliced W2 within 2x the floor (exact vs exact samples); 4x for
    samplers of order < 0.5 (annealed Langevin alone, which mixes slowly)."""
    return 2.0 if cls.order >= 0.5 else 4.0


@pytest.fixture(scope="module")
def ring_reference():
    gm = ring_of_gaussians()
    ref = gm.sample(N_SAMPLES, torch.Generator().manual_seed(100))
    floor = sum(float(sliced_wasserstein(gm.sample(N_SAMPLES, torch.Generator().manual_seed(s)), ref))
                for s in (101, 102, 103)) / 3
    return gm, ref, floor


def _registry_params():
    """Every registered sampler; Langevin-only ones (order < 0.5, ~2000 NFE) run in the slow suite."""
    return [pytest.param(name, marks=pytest.mark.slow) if cls.order < 0.5 else name
            for name, cls in sorted(SAMPLERS.items())]


# (sampler, SDE) pairs that must refuse, and the message they must give; every other pair of
# the registry runs to the SW floor. With default options no registered sampler refuses on these
# SDEs; the capability refusals (options that need a discrete chain, a missing log-SNR) are
# tested in REFUSAL_TABLE below.
EXPECTED_REFUSALS: dict = {  # the flow samplers need a flow path's kernel rates
    (flow, sde): "needs an SDE with marginal_rates" for flow in ("flow_euler", "flow_midpoint", "flow_sde")
    for sde in ("edm", "linear")}

REFUSAL_TABLE = [  # (sampler, options, SDE factory, message pattern)
    ("ancestral", {"discrete": True}, EDMSDE, "capability 'discrete_chain'.*EDMSDE"),
    ("ancestral", {"discrete": True}, lambda: SDES["linear"](), "capability 'discrete_chain'.*LinearSDE"),
    ("pc", {"predictor": "ancestral", "predictor_options": {"discrete": True}}, EDMSDE,
     "capability 'discrete_chain'"),
    ("pc", {"corrector": "none", "snr": 0.3}, EDMSDE, "snr=0.3 is used by neither"),
    ("pc", {"corrector_options": {"variance": "beta"}}, EDMSDE, "corrector 'langevin' got unknown option"),
]


@pytest.mark.parametrize("sampler,options,make_sde,pattern", REFUSAL_TABLE,
                         ids=[f"{r[0]}-{i}" for i, r in enumerate(REFUSAL_TABLE)])
def test_refusal_table(sampler, options, make_sde, pattern):
    sde, gm = make_sde(), ring_of_gaussians()
    with pytest.raises(ValueError, match=pattern):
        sample(sde, gm.score_fn(sde), (8, 2), sampler=sampler, steps=4, **options)


@pytest.mark.parametrize("sde_name", sorted(REGISTRY_SDES))
@pytest.mark.parametrize("sampler", _registry_params())
def test_every_sampler_runs_or_refuses(sampler, sde_name, ring_reference):
    gm, ref, floor = ring_reference
    sde, cls = REGISTRY_SDES[sde_name](), SAMPLERS[sampler]
    run = lambda: sample(sde, gm.score_fn(sde), (N_SAMPLES, 2), sampler=sampler, steps=_steps(cls),
                         generator=torch.Generator().manual_seed(7))
    if (sampler, sde_name) in EXPECTED_REFUSALS:
        with pytest.raises(ValueError, match=EXPECTED_REFUSALS[(sampler, sde_name)]):
            run()
        return
    x, info = run()
    assert torch.isfinite(x).all()
    sw = float(sliced_wasserstein(x, ref))
    assert sw < _factor(cls) * floor, f"{sampler} on {sde_name}: SW {sw:.3f} vs floor {floor:.3f}"


@pytest.mark.slow
@pytest.mark.parametrize("sde_name", sorted(REGISTRY_SDES))
@pytest.mark.parametrize("sampler", ["edm", "edm_heun", "heun", "dpm_solver3", "pc"])
def test_samplers_tight_at_large_n(sampler, sde_name):
    """10k samples: the floor halves; converged samplers stay within 1.5x of it."""
    gm = ring_of_gaussians()
    n = 10_000
    ref = gm.sample(n, torch.Generator().manual_seed(100))
    floor = float(sliced_wasserstein(gm.sample(n, torch.Generator().manual_seed(101)), ref))
    sde, cls = REGISTRY_SDES[sde_name](), SAMPLERS[sampler]
    steps = 1000 if cls.stochastic else 200 // cls.evals_per_step * 2
    x, _ = sample(sde, gm.score_fn(sde), (n, 2), sampler=sampler, steps=steps,
                  generator=torch.Generator().manual_seed(7), grid="karras")
    assert float(sliced_wasserstein(x, ref)) < 1.5 * floor
