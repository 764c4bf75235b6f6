"""LinearSDE: any linear SDE from its schedule (quadrature marginals), Karras' (s, sigma) kernel,
reproduction of VPSDE / VESDE (marginals and sampler outputs), bad schedules refused."""
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from sde_diffusion.sdes import EDMSDE, LinearSDE, SubVPSDE, VESDE, VPSDE
from sde_diffusion.sdes.linear import Constant, Geometric, Linear, Scaled, Sqrt, vp_diffusion, vp_drift
from sde_diffusion.solvers import SAMPLERS, sample

CONF = Path(__file__).resolve().parents[2] / "conf" / "sde"

# times including the delicate ends: t -> 0 (s -> 0) and t = T
T_CHECK = torch.cat([torch.tensor([1e-9, 1e-7, 1e-5, 1e-3]), torch.linspace(0.0, 1.0, 997)[1:],
                     torch.rand(300, generator=torch.Generator().manual_seed(0))]).double()

REFERENCES = {
    "vp_linear": lambda: VPSDE(),
    "vp_cosine": lambda: VPSDE(schedule="cosine"),
    "subvp": lambda: SubVPSDE(),
    "ve": lambda: VESDE(),
    "ve_small": lambda: VESDE(sigma_min=0.002, sigma_max=80.0),
}


def _vp_fg(beta, B):
    return lambda t: (-0.5 * beta(t), torch.sqrt(beta(t)))


def _ve_fg(smin, smax):  # g = sigma(t) sqrt(2 ln(smax/smin)), f = 0 (Song et al. 2021, eq. 30)
    return lambda t: (torch.zeros_like(t), smin * (smax / smin) ** t * math.sqrt(2 * math.log(smax / smin)))


_LIN_BETA = lambda t: 0.1 + (20.0 - 0.1) * t
_COS_TH0 = 0.008 / 1.008 * math.pi / 2
_COS_TH1 = math.acos(math.sqrt(5e-5) * math.cos(_COS_TH0))
_COS_BETA = lambda t: 2 * torch.tan(_COS_TH0 + t * (_COS_TH1 - _COS_TH0)) * (_COS_TH1 - _COS_TH0)
_PAPER_F_G = {
    "vp_linear": _vp_fg(_LIN_BETA, None),
    "vp_cosine": _vp_fg(_COS_BETA, None),
    # sub-VP: g^2 = beta (1 - exp(-2 int beta))
    "subvp": lambda t: (-0.5 * _LIN_BETA(t), torch.sqrt(_LIN_BETA(t) * -torch.expm1(
        -2 * (0.1 * t + 0.5 * (20.0 - 0.1) * t * t)))),
    "ve": _ve_fg(0.01, 50.0),
    "ve_small": _ve_fg(0.002, 80.0),
}


def _rel(a, b):
    return float(((a - b).abs() / b.abs()).max())


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_quadrature_marginal_matches_closed_form(name):
    ref = REFERENCES[name]()
    lin = LinearSDE(f=ref.drift_coeff, g=ref.diffusion)  # no closed form: quadrature grid
    m, s = lin.marginal(T_CHECK)
    m_ref, s_ref = ref.marginal(T_CHECK)
    assert _rel(m, m_ref) < 1e-6
    assert _rel(s, s_ref) < 1e-6  # relative, also at t = 1e-9 where s ~ 1e-5
    assert float(lin.marginal(0.0)[1]) == 0.0
    # f and g against the papers' formulas written out here, not against ref itself
    f_ref, g_ref = _PAPER_F_G[name](T_CHECK)
    assert _rel(lin.drift_coeff(T_CHECK)[T_CHECK > 0] - 1, f_ref[T_CHECK > 0] - 1) < 1e-12
    assert _rel(lin.diffusion(T_CHECK)[T_CHECK > 0], g_ref[T_CHECK > 0]) < 1e-12
    lam = ref.log_snr(T_CHECK[T_CHECK > 1e-6])
    # the inverse log-SNR lands on the same times (dt = dlam / (g^2/s^2) ~ 1e-6 relative)
    torch.testing.assert_close(lin.t_from_log_snr(lam), T_CHECK[T_CHECK > 1e-6], rtol=1e-6, atol=1e-9)


def test_quadrature_of_tutorial_example_is_exact():
    """Forward dx = sqrt(2 beta) dW with linear beta: s^2 = 2 int beta, closed form."""
    b0, b1 = 0.1, 20.0
    beta = Linear(b0, b1)
    sde = LinearSDE(f=Constant(0.0), g=Sqrt(beta, 2.0))
    s2 = 2 * (b0 * T_CHECK + 0.5 * (b1 - b0) * T_CHECK ** 2)
    m, s = sde.marginal(T_CHECK)
    assert float((m - 1).abs().max()) == 0.0
    assert _rel(s, s2.sqrt()) < 1e-9
    # the tutorial's reverse SDE: dx = -2 beta(t) score dt + sqrt(2 beta(t)) dW-bar
    score = lambda x, t: -x  # any score function
    x, t = torch.randn(5, 3, dtype=torch.float64), torch.full((5,), 0.3, dtype=torch.float64)
    rev = sde.reverse(score)
    torch.testing.assert_close(rev.drift(x, t), -2 * beta(t)[:, None] * score(x, t))
    torch.testing.assert_close(rev.diffusion(t), torch.sqrt(2 * beta(t)))


def test_closed_form_marginal_is_used_and_checked():
    vp = VPSDE()
    # a closed form 3e-7 off the truth passes the 1e-5 check and is then used as given (the
    # quadrature alone would be within 1e-8 of the truth, so the offset shows which one is used)
    off = lambda t: (vp.marginal(t)[0], (1 + 3e-7) * vp.marginal(t)[1])
    lin = LinearSDE(f=vp.drift_coeff, g=vp.diffusion, marginal=off)
    ratio = lin.marginal(T_CHECK[T_CHECK > 0])[1] / vp.marginal(T_CHECK[T_CHECK > 0])[1]
    assert float((ratio - (1 + 3e-7)).abs().max()) < 1e-12
    wrong = lambda t: (vp.marginal(t)[0], 1.01 * vp.marginal(t)[1])
    with pytest.raises(ValueError, match="disagrees with the quadrature"):
        LinearSDE(f=vp.drift_coeff, g=vp.diffusion, marginal=wrong)
    LinearSDE(f=vp.drift_coeff, g=vp.diffusion, marginal=wrong, validate_marginal=False)


def test_from_kernel_reproduces_ve_and_edm():
    ve = VESDE(sigma_min=0.01, sigma_max=50.0)
    k = LinearSDE.from_kernel(s=Constant(1.0), sigma=Geometric(0.01, 50.0))
    # exact kernel from x_0 at t = 0: std = sqrt(sigma^2 - sigma(0)^2), as VESDE; sigma - sigma(0)
    # cancels in float64 at t = 1e-9 (rel. 1e-16 / (t ln 5000) ~ 1e-8), far inside 1e-6
    assert _rel(k.marginal(T_CHECK[T_CHECK > 0])[1], ve.marginal(T_CHECK[T_CHECK > 0])[1]) < 1e-7
    assert _rel(k.diffusion(T_CHECK), ve.diffusion(T_CHECK)) < 1e-9  # autograd sigma'
    assert float(k.drift_coeff(T_CHECK).abs().max()) == 0.0
    edm = EDMSDE()
    t = torch.linspace(0.0, 80.0, 321, dtype=torch.float64)
    ke = LinearSDE.from_kernel(s=Constant(1.0), sigma=lambda u: u, T=80.0, eps=0.002)
    torch.testing.assert_close(ke.marginal(t)[1], edm.marginal(t)[1], rtol=0, atol=0)
    torch.testing.assert_close(ke.diffusion(t), edm.diffusion(t), rtol=1e-12, atol=1e-12)


def test_from_kernel_reproduces_vp_with_finite_differences():
    """VP as Karras' kernel: s = exp(-B/2), sigma = sqrt(e^B - 1); the schedule goes through
    numpy (not differentiable torch code), so f, g come from float64 finite differences."""
    vp = VPSDE()
    B = lambda t: 0.1 * t + 0.5 * 19.9 * t * t
    s_np = lambda t: torch.from_numpy(np.exp(-0.5 * B(t.detach().cpu().numpy())))
    sig_np = lambda t: torch.from_numpy(np.sqrt(np.expm1(np.abs(B(t.detach().cpu().numpy())))))
    k = LinearSDE.from_kernel(s=s_np, sigma=sig_np)
    t = T_CHECK[T_CHECK > 1e-3]
    assert _rel(k.marginal(t)[1], vp.marginal(t)[1]) < 1e-12
    assert _rel(k.drift_coeff(t), vp.drift_coeff(t)) < 1e-7  # FD: (h/t)^4 ~ 1e-12, one-sided ends ~ 1e-10
    assert _rel(k.diffusion(t), vp.diffusion(t)) < 1e-7
    k2 = LinearSDE.from_kernel(s=lambda t: torch.exp(-0.5 * B(t)), sigma=lambda t: torch.sqrt(torch.expm1(B(t))))
    assert _rel(k2.drift_coeff(t), vp.drift_coeff(t)) < 1e-12  # autograd: exact
    assert _rel(k2.diffusion(t), vp.diffusion(t)) < 1e-10


def test_discrete_chain_only_for_variance_preserving():
    vp = VPSDE()
    lin = LinearSDE(f=vp_drift(Linear(0.1, 20.0)), g=vp_diffusion(Linear(0.1, 20.0)))
    torch.testing.assert_close(lin.discrete(50).alpha_bars, vp.discrete(50).alpha_bars, rtol=1e-7, atol=0)
    ve = VESDE()
    with pytest.raises(ValueError, match="variance-preserving"):
        LinearSDE(f=ve.drift_coeff, g=ve.diffusion).discrete(10)


# ------------------------------------------------------------------ samplers agree
PAIRS = {
    "vp": lambda: (VPSDE(), LinearSDE(f=vp_drift(Linear(0.1, 20.0)), g=vp_diffusion(Linear(0.1, 20.0)))),
    "ve": lambda: (VESDE(sigma_min=0.01, sigma_max=10.0),
                   LinearSDE(f=Constant(0.0), g=Scaled(Geometric(0.01, 10.0), math.sqrt(2 * math.log(1000.0))))),
}


@pytest.mark.parametrize("pair", sorted(PAIRS))
@pytest.mark.parametrize("sampler", sorted(SAMPLERS))
def test_samplers_agree_on_linear_sde_and_reference(pair, sampler):
    """Same noise, same sampler: LinearSDE(VP/VE schedule) gives VPSDE/VESDE's samples to float
    tolerance (float64: the coefficients agree to ~1e-10, so outputs agree to ~1e-8)."""
    from sde_diffusion.analytic import three_clusters_1d
    ref, lin = PAIRS[pair]()
    gm = three_clusters_1d()
    outs = []
    if sampler.startswith("flow_"):
        pytest.skip("the flow samplers need a flow path (tests/solvers/test_flow_samplers.py)")
    # the grid and end time are pinned: VPSDE names its own default grid, LinearSDE does not (an
    # adaptive sampler picks its own steps and takes no grid)
    grid = {} if SAMPLERS[sampler].end_points_only else {"grid": "uniform_t"}
    for sde in (ref, lin):  # no other registered sampler refuses these SDEs with default options
        x, info = sample(sde, gm.score_fn(sde), (64, 1), sampler=sampler, steps=20,
                         generator=torch.Generator().manual_seed(3), dtype=torch.float64,
                         t_end=sde.eps, **grid)
        outs.append((x, info.nfe))
    (x_ref, nfe_ref), (x_lin, nfe_lin) = outs
    assert torch.isfinite(x_ref).all()
    if sampler != "rk45":  # adaptive step control may take a different number of steps
        assert nfe_ref == nfe_lin
    torch.testing.assert_close(x_lin, x_ref, rtol=1e-6, atol=1e-6)


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize("kwargs, pattern", [
    (dict(s=lambda t: 1.0 - t, sigma=lambda t: t), r"s\(t\) must be positive.*t=1\b"),
    (dict(s=lambda t: 0.5 - t, sigma=lambda t: t), r"s\(t\) must be positive.*t=0\.5\b"),
    (dict(s=Constant(1.0), sigma=lambda t: t - 0.25), r"sigma\(t\) must be >= 0 at t=0"),
    (dict(s=Constant(1.0), sigma=lambda t: t * (t - 0.5)), r"sigma\(t\) must be positive.*t=0\.000976562"),
    (dict(s=Constant(1.0), sigma=lambda t: 1 + (t - 0.5) ** 2), r"must be increasing.*t=0\.000976562"),
    (dict(s=Constant(1.0), sigma=lambda t: torch.minimum(t, torch.full_like(t, 0.75))),
     r"must be increasing.*offending time t=0\.750977"),
    (dict(s=Constant(1.0), sigma=lambda t: t / (0.5 - t)), r"sigma\(t\) is not finite at t=0\.5\b"),
])
def test_bad_kernel_refused_naming_the_time(kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        LinearSDE.from_kernel(**kwargs)


def test_bad_schedule_refused_naming_the_time():
    with pytest.raises(ValueError, match=r"g\(t\) must be >= 0.*t=0\.500977"):
        LinearSDE(f=Constant(0.0), g=lambda t: 0.5 - t)
    with pytest.raises(ValueError, match=r"s\(t\) must be positive.*t=0\.000976562"):
        LinearSDE(f=Constant(0.0), g=lambda t: torch.where(t < 0.3, 0.0, 1.0))
    with pytest.raises(ValueError, match=r"f\(t\) is not finite at t=0"):
        LinearSDE(f=lambda t: 1.0 / t, g=Constant(1.0))
    with pytest.raises(TypeError, match="callables"):
        LinearSDE(f=0.0, g=Constant(1.0))


# ------------------------------------------------------------------ configs
@pytest.mark.parametrize("path", sorted(CONF.glob("linear_*.yaml")) + [CONF / "edm.yaml"],
                         ids=lambda p: p.name)
def test_sde_configs_instantiate(path):
    from hydra.utils import instantiate
    from omegaconf import OmegaConf
    cfg = OmegaConf.load(path)
    cfg = OmegaConf.masked_copy(cfg, [k for k in cfg if k != "defaults"])
    sde = instantiate(cfg)
    m, s = sde.marginal(torch.tensor([sde.eps, sde.T], dtype=torch.float64))
    assert float(s[1]) > float(s[0]) > 0
    if path.name == "linear_vp.yaml":
        torch.testing.assert_close(s, VPSDE().marginal(torch.tensor([sde.eps, sde.T], dtype=torch.float64))[1],
                                   rtol=1e-6, atol=0)
    if path.name == "linear_tutorial.yaml":  # f = 0, g^2 = 2 beta
        assert float(sde.drift_coeff(0.5)) == 0.0
