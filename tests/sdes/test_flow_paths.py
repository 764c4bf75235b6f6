"""Flow paths as SDEs, the velocity parameterisation, the exact mixture velocity, bad input."""
import itertools
import re
import math

import pytest
import torch

from sde_diffusion.analytic import GaussianMixture
from sde_diffusion.models import MLP, ScoreModel
from sde_diffusion.models.parameterization import FunctionModel, convert, eps_loss_factor
from sde_diffusion.sdes import AffinePath, CosineFlow, LinearSDE, RectifiedFlow, VPSDE
from sde_diffusion.solvers import sample

PATHS = [RectifiedFlow(), CosineFlow()]
KINDS = ("score", "eps", "x0", "v", "velocity")


def mixture():
    return GaussianMixture(torch.tensor([[1.0, 2.0], [-2.0, 0.5], [0.5, -1.5]]),
                           torch.tensor([0.3, 0.5, 0.4]), torch.tensor([0.5, 0.3, 0.2]))


# ---------------------------------------------------------------- the path as an SDE
@pytest.mark.parametrize("path", PATHS, ids=repr)
def test_end_points_are_exact(path):
    m, s = path.marginal(torch.tensor([0.0, 1.0], dtype=torch.float64))
    assert m.tolist() == [1.0, 0.0] and s.tolist() == [0.0, 1.0]
    assert path.prior_std() == 1.0  # N(0, I) exactly at t = 1
    assert path.drift_coeff(1.0) == -math.inf and path.log_snr(1.0) == -math.inf


def test_closed_forms_of_rectified_flow_and_cosine():
    t = torch.linspace(0.05, 0.95, 19, dtype=torch.float64)
    rf, cos = RectifiedFlow(), CosineFlow()
    torch.testing.assert_close(rf.drift_coeff(t), -1 / (1 - t))
    torch.testing.assert_close(rf.diffusion(t) ** 2, 2 * t / (1 - t))  # 2t + 2t^2/(1-t)
    torch.testing.assert_close(cos.drift_coeff(t), -math.pi / 2 * torch.tan(math.pi * t / 2))
    torch.testing.assert_close(cos.diffusion(t) ** 2, math.pi * torch.tan(math.pi * t / 2))


@pytest.mark.parametrize("path", PATHS, ids=repr)
def test_f_and_g_give_back_the_kernel(path):
    """The kernel of dx = f x dt + g dW integrated by quadrature (LinearSDE) equals (alpha, sigma):
    f = alpha'/alpha and g^2 = 2 sigma sigma' - 2 (alpha'/alpha) sigma^2 are the right SDE."""
    lin = LinearSDE(f=path.drift_coeff, g=path.diffusion, T=0.97)
    t = torch.linspace(0.0, 0.97, 40, dtype=torch.float64)
    m_q, s_q = lin.marginal(t)
    m, s = path.marginal(t)
    torch.testing.assert_close(m_q, m, rtol=1e-7, atol=1e-9)
    torch.testing.assert_close(s_q, s, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("path", PATHS, ids=repr)
def test_log_snr_and_sigma_inverses(path):
    t = torch.linspace(0.01, 0.99, 50, dtype=torch.float64)
    torch.testing.assert_close(path.t_from_log_snr(path.log_snr(t)), t)
    torch.testing.assert_close(path.t_from_sigma(path.sigma(t)), t)


def test_any_affine_path_by_autograd():
    """A user's (alpha, sigma) without derivatives: rates by autograd equal the closed forms."""
    path = AffinePath(lambda t: 1 - t ** 2, lambda t: torch.sin(math.pi * t / 2))
    t = torch.linspace(0.0, 1.0, 11, dtype=torch.float64)
    da, ds = path.marginal_rates(t)
    torch.testing.assert_close(da, -2 * t)
    torch.testing.assert_close(ds, math.pi / 2 * torch.cos(math.pi * t / 2))


# ---------------------------------------------------------------- velocity
@pytest.mark.parametrize("path", PATHS, ids=repr)
def test_mixture_velocity_is_the_probability_flow_drift(path):
    """u = E[alpha' x0 + sigma' eps | x] equals f x - g^2 score / 2 (from the exact score) for
    t in (0, 1), and at t = 1 the closed form alpha'(1) E[x0] + sigma'(1) x."""
    gm, g = mixture(), torch.Generator().manual_seed(0)
    x = 2 * torch.randn(64, 2, generator=g, dtype=torch.float64)
    for t in (0.1, 0.5, 0.9):
        pf = path.drift_coeff(t) * x - 0.5 * path.diffusion(t) ** 2 * gm.score(x, path, t)
        torch.testing.assert_close(gm.velocity(x, path, t), pf, rtol=1e-9, atol=1e-9)
    da, ds = path.marginal_rates(1.0)
    torch.testing.assert_close(gm.velocity(x, path, 1.0), da * gm.mean()[None] + ds * x)


@pytest.mark.parametrize("src,dst", list(itertools.product(KINDS, KINDS)))
@pytest.mark.parametrize("path", PATHS, ids=repr)
def test_velocity_maps_from_the_definitions(path, src, dst):
    """Each map anchored to x_t = alpha x0 + sigma eps, u = alpha' x0 + sigma' eps, at interior
    times; the velocity's maps to x0 / eps also at t = 1 (alpha = 0) and t = 0 (sigma = 0)."""
    g = torch.Generator().manual_seed(1)
    x0, eps = (torch.randn(32, 3, generator=g, dtype=torch.float64) for _ in range(2))
    t = torch.rand(32, generator=g, dtype=torch.float64) * 0.98 + 0.01
    m, s = path.marginal(t)
    rates = path.marginal_rates(t)
    M, S, dM, dS = (c[:, None] for c in (m, s, *rates))
    x = M * x0 + S * eps
    truth = {"eps": eps, "x0": x0, "score": -eps / S, "velocity": dM * x0 + dS * eps,
             "v": (M * eps - S * x0) / torch.sqrt(M * M + S * S)}
    there = convert(truth[src], src, dst, x, m, s, rates=rates)
    torch.testing.assert_close(there, truth[dst], rtol=1e-8, atol=1e-8)
    if src == "velocity" and dst in ("x0", "eps"):
        for tt in (0.0, 1.0):
            te = torch.full((32,), tt, dtype=torch.float64)
            (m, s), rates = path.marginal(te), path.marginal_rates(te)
            M, S, dM, dS = (c[:, None] for c in (m, s, *rates))
            x = M * x0 + S * eps
            got = convert(dM * x0 + dS * eps, "velocity", dst, x, m, s, rates=rates)
            want = x0 if dst == "x0" else eps
            torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("path", PATHS, ids=repr)
def test_velocity_loss_factor_is_ratio_of_squared_errors(path):
    g = torch.Generator().manual_seed(2)
    x = torch.randn(16, 4, generator=g, dtype=torch.float64)
    e_true = torch.randn(16, 4, generator=g, dtype=torch.float64)
    e_pred = e_true + torch.randn(16, 4, generator=g, dtype=torch.float64)
    t = torch.rand(16, generator=g, dtype=torch.float64) * 0.9 + 0.05
    m, s = path.marginal(t)
    rates = path.marginal_rates(t)
    u = lambda e: convert(e, "eps", "velocity", x, m, s, rates=rates)
    ratio = (u(e_pred) - u(e_true)).pow(2).sum(1) / (e_pred - e_true).pow(2).sum(1)
    torch.testing.assert_close(ratio, eps_loss_factor("velocity", m, s, rates=rates), rtol=1e-9, atol=0)
    if isinstance(path, RectifiedFlow):  # D = 1: c = 1 / (1 - t)^2
        torch.testing.assert_close(ratio, 1 / (1 - t) ** 2, rtol=1e-9, atol=0)


@pytest.mark.parametrize("path", PATHS, ids=repr)
def test_velocity_score_model_is_exact_and_finite_at_t1(path):
    """ScoreModel(net, path, "velocity") around an exact velocity network: exact score, x0 and
    velocity, and finite x0 / eps at t = 1 where x / alpha is undefined."""
    gm = mixture()

    class Exact(torch.nn.Module):
        def forward(self, x, label):
            return gm.velocity(x, path, label)  # label = t / T = t

    model = ScoreModel(Exact(), path, parameterization="velocity", input_scaling=False)
    x = torch.randn(10, 2, dtype=torch.float64)
    t = torch.full((10,), 0.4, dtype=torch.float64)
    torch.testing.assert_close(model(x, t), gm.score(x, path, t))
    torch.testing.assert_close(model.denoise(x, t), gm.posterior_mean(x, path, t))
    one = torch.ones(10, dtype=torch.float64)
    torch.testing.assert_close(model.predict(x, one, "x0"), gm.mean()[None].expand(10, 2))
    torch.testing.assert_close(model.predict(x, one, "eps"), x)


def test_score_model_velocity_works_in_every_sampler_kind():
    """A (random) velocity network on rectified flow samples from t = 1 with the flow samplers
    and from t < 1 with an exponential integrator, without NaN."""
    path = RectifiedFlow()
    torch.manual_seed(0)
    model = ScoreModel(MLP(2, hidden=16, depth=1), path, parameterization="velocity")
    for name in ("flow_euler", "flow_midpoint", "flow_sde"):
        x, info = sample(path, model, (8, 2), sampler=name, steps=5, generator=torch.Generator().manual_seed(0))
        assert torch.isfinite(x).all() and info.times[0] == 1.0
    x, _ = sample(path, model, (8, 2), sampler="dpm_solver2", steps=5, t_start=1 - 1e-3,
                  generator=torch.Generator().manual_seed(0))
    assert torch.isfinite(x).all()


def test_velocity_model_saves_and_loads(tmp_path):
    torch.manual_seed(0)
    model = ScoreModel(MLP(2, hidden=16, depth=1), RectifiedFlow(eps=1e-4), parameterization="velocity")
    model.save_pretrained(tmp_path / "m")
    back = ScoreModel.from_pretrained(tmp_path / "m")
    assert isinstance(back.sde, RectifiedFlow) and back.sde.eps == 1e-4
    x, t = torch.randn(5, 2), torch.rand(5)
    torch.testing.assert_close(back.predict(x, t, "velocity"), model.predict(x, t, "velocity"))


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize("alpha,sigma,what", [
    (lambda t: 0.9 * (1 - t), lambda t: t.clone(), "alpha(0)"),
    (lambda t: 1 - t, lambda t: 0.5 * t, "sigma(1)"),
    (lambda t: 1 - 0.9 * t, lambda t: t.clone(), "alpha(1)"),
    (lambda t: 1 - t, lambda t: 0.1 + 0.9 * t, "sigma(0)"),
])
def test_bad_end_points(alpha, sigma, what):
    with pytest.raises(ValueError, match=rf"needs {re.escape(what)}"):
        AffinePath(alpha, sigma)


def test_non_monotone_path_and_bad_schedule_types():
    with pytest.raises(ValueError, match="strictly decreasing"):
        AffinePath(lambda t: 1 - t, lambda t: t + 0.4 * torch.sin(2 * math.pi * t) ** 2 * (t < 1))
    with pytest.raises(TypeError, match="alpha must be a callable"):
        AffinePath(1.0, lambda t: t)


def test_velocity_needs_a_flow_path():
    with pytest.raises(ValueError, match="'velocity' needs a flow path.*VPSDE is not one"):
        ScoreModel(MLP(2, hidden=8, depth=1), VPSDE(), parameterization="velocity")
    with pytest.raises(ValueError, match="flow path.*VPSDE is not one"):
        mixture().velocity_fn(VPSDE())
    with pytest.raises(ValueError, match="needs the path's rates"):
        convert(torch.zeros(2, 2), "velocity", "x0", torch.zeros(2, 2), 0.5, 0.5)
    with pytest.raises(ValueError, match="flow_euler.*marginal_rates.*VPSDE"):
        sample(VPSDE(), mixture().score_fn(VPSDE()), (4, 2), sampler="flow_euler", steps=2)


def test_time_outside_unit_interval():
    path = RectifiedFlow()
    for t in (-0.1, 1.2):
        with pytest.raises(ValueError, match=r"outside \[0, T=1.0\]"):
            path.marginal(t)
        with pytest.raises(ValueError, match=r"outside \[0, T=1.0\]"):
            path.marginal_rates(t)
    with pytest.raises(ValueError, match=r"t=1.5 is outside \[0, T=1.0\]"):
        sample(path, mixture().score_fn(path), (4, 2), sampler="flow_euler", steps=2, t_start=1.5)


def test_plain_score_at_t1_is_a_clear_error():
    path = RectifiedFlow()
    with pytest.raises(ValueError, match="at t = 1 a plain score function"):
        sample(path, mixture().score_fn(path), (4, 2), sampler="flow_euler", steps=2)

