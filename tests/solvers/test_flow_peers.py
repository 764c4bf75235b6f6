"""Flow samplers and likelihood side by side with the published code (optional ``bench`` extra):
diffusers' FlowMatchEulerDiscreteScheduler and its use_flow_sigmas DPM-Solver++ / UniPC,
flow_matching's ODESolver (Euler, midpoint, compute_likelihood). Same velocity field (the exact
mixture velocity), same x_T, same time grid."""
import math

import pytest
import torch

from sde_diffusion.analytic import GaussianMixture
from sde_diffusion.likelihood import log_likelihood
from sde_diffusion.models.parameterization import FunctionModel
from sde_diffusion.sdes import RectifiedFlow
from sde_diffusion.solvers import sample
from sde_diffusion.solvers.flow_euler import shifted_grid

PATH = RectifiedFlow(eps=0.0)


def mixture():
    return GaussianMixture(torch.tensor([[1.0, 2.0], [-2.0, 0.5]]), torch.tensor([0.5, 0.7]))


def x_T(dtype=torch.float32, n=64):
    return torch.randn(n, 2, generator=torch.Generator().manual_seed(0), dtype=dtype)


def run_diffusers(sch, steps, vel, x):
    """The usual diffusers loop; the velocity is evaluated at the scheduler's own sigma (its
    integer ``timestep`` would round t to 1e-3)."""
    sch.set_timesteps(steps)
    for i, t in enumerate(sch.timesteps):
        sig = sch.sigmas[i].to(torch.float64).expand(x.shape[0])
        x = sch.step(vel(x, sig).to(x.dtype), t, x).prev_sample
    return x, sch.sigmas.to(torch.float64)


@pytest.mark.parametrize("shift", [1.0, 3.0])
def test_flow_euler_equals_diffusers_flow_match_euler(shift):
    """Same x_T (float32), same grid: equal to float32 rounding of the grid. Diffusers' grid is
    shift(linspace(1, sigma_min, n)) + [0] with sigma_min = shift(1/1000) (shifted twice at the
    end): ``shifted_grid(t_min=sigma_min)`` rebuilds it to 3e-8."""
    diffusers = pytest.importorskip("diffusers")
    gm = mixture()
    vel = gm.velocity_fn(PATH)
    sch = diffusers.FlowMatchEulerDiscreteScheduler(shift=shift)
    theirs, sigmas = run_diffusers(sch, 10, vel, x_T())
    grid = shifted_grid(PATH, 10, t_end=0.0, shift=shift, t_min=float(sch.sigma_min))
    torch.testing.assert_close(grid, sigmas, rtol=0, atol=3e-8)
    model = FunctionModel(vel, PATH, "velocity")
    same_grid, _ = sample(PATH, model, sampler="flow_euler", x_init=x_T(), grid=sigmas.tolist())
    torch.testing.assert_close(same_grid, theirs, rtol=0, atol=1e-6)
    ours, _ = sample(PATH, model, sampler="flow_euler", x_init=x_T(), grid=grid)
    torch.testing.assert_close(ours, theirs, rtol=0, atol=2e-6)


@pytest.mark.parametrize("method,sampler", [("euler", "flow_euler"), ("midpoint", "flow_midpoint")])
def test_flow_samplers_equal_flow_matching_ode_solver(method, sampler):
    """flow_matching integrates from noise (its t = 0) to data (t = 1): its time is tau = 1 - t
    and its velocity -u(x, 1 - tau). Fixed grid of 12 steps, float64: equal to 1e-12."""
    solver_mod = pytest.importorskip("flow_matching.solver")
    gm = mixture()
    vel = gm.velocity_fn(PATH)

    class Theirs(torch.nn.Module):
        def forward(self, x, t, **extras):
            return -vel(x, (1 - t).expand(x.shape[0]))

    tau = torch.linspace(0, 1, 13, dtype=torch.float64) ** 1.5
    theirs = solver_mod.ODESolver(velocity_model=Theirs()).sample(
        x_init=x_T(torch.float64), step_size=None, method=method, time_grid=tau)
    ours, info = sample(PATH, FunctionModel(vel, PATH, "velocity"), sampler=sampler,
                        x_init=x_T(torch.float64), grid=(1 - tau).tolist())
    torch.testing.assert_close(ours, theirs, rtol=1e-12, atol=1e-12)
    assert info.nfe == 12 * (1 if method == "euler" else 2)


def test_log_likelihood_equals_flow_matching_compute_likelihood():
    """Both against the closed-form density of the mixture at t = 0: ours (RK45, 1e-8) to 1e-5
    nats, flow_matching's (dopri5, 1e-8) to 1e-5, hence each other to 2e-5."""
    solver_mod = pytest.importorskip("flow_matching.solver")
    gm = mixture()
    vel = gm.velocity_fn(PATH)

    class Theirs(torch.nn.Module):  # dopri5's first-step probe evaluates just outside [0, 1]
        def forward(self, x, t, **extras):
            return -vel(x, (1 - t).clamp(0, 1).expand(x.shape[0]))

    x = gm.sample(16, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    log_p0 = lambda z: -0.5 * z.pow(2).sum(1) - math.log(2 * math.pi)
    _, theirs = solver_mod.ODESolver(velocity_model=Theirs()).compute_likelihood(
        x_1=x, log_p0=log_p0, step_size=None, method="dopri5", atol=1e-8, rtol=1e-8,
        time_grid=torch.tensor([1.0, 0.0], dtype=torch.float64), exact_divergence=True)
    ours = log_likelihood(PATH, FunctionModel(vel, PATH, "velocity"), x, rtol=1e-8, atol=1e-8).logp
    exact = gm.log_prob(x)
    torch.testing.assert_close(ours, exact, rtol=0, atol=1e-5)
    torch.testing.assert_close(theirs.to(torch.float64), exact, rtol=0, atol=1e-5)


@pytest.mark.parametrize("steps", [5, 10, 20])
def test_dpm_solver_pp_and_unipc_equal_diffusers_flow_sigmas(steps):
    """Diffusers' DPMSolverMultistep / UniPCMultistep with use_flow_sigmas start at sigma =
    0.999 (not 1: their lambda would be -inf) and end at 0. On that grid, with min_ratio = 0
    (diffusers never lowers the order for short history gaps), our dpm_solver2 equals its
    solver_type="heun" (the exact phi_2 weight) and our unipc (order 2, bh2) equals its default, to
    float32 rounding. Its default DPM-Solver++ solver_type="midpoint" weights D1 by
    (1 - e^-h)/2 instead of phi_2: a different O(h^3) local term, so it differs (by up to
    0.05 at 5 steps here) and is not checked for equality."""
    diffusers = pytest.importorskip("diffusers")
    gm = mixture()
    vel = gm.velocity_fn(PATH)
    kw = dict(use_flow_sigmas=True, prediction_type="flow_prediction", final_sigmas_type="zero")
    dpm, grid = run_diffusers(diffusers.DPMSolverMultistepScheduler(solver_type="heun", **kw),
                              steps, vel, x_T(torch.float64))
    ours, _ = sample(PATH, gm.score_fn(PATH), sampler="dpm_solver2", x_init=x_T(torch.float64),
                     grid=grid.tolist(), min_ratio=0.0)
    torch.testing.assert_close(ours, dpm, rtol=0, atol=2e-6)
    uni, grid = run_diffusers(diffusers.UniPCMultistepScheduler(solver_type="bh2", **kw),
                              steps, vel, x_T(torch.float64))
    ours, _ = sample(PATH, gm.score_fn(PATH), sampler="unipc", order=2, variant="bh2",
                     x_init=x_T(torch.float64), grid=grid.tolist())
    torch.testing.assert_close(ours, uni, rtol=0, atol=1e-6)


def test_flow_matching_loss_equals_torchcfm_conditional_flow_matcher():
    """torchcfm's ConditionalFlowMatcher(sigma=0) runs from noise x0 (its t = 0) to data x1:
    x_t = t x1 + (1 - t) x0, u_t = x1 - x0. With our t = 1 - its t and our velocity = - its,
    the same (data, noise, t) give the same x_t, target and per-sample loss."""
    cfm_mod = pytest.importorskip("torchcfm.conditional_flow_matching")
    from sde_diffusion.losses import FlowMatchingLoss
    gm = mixture()
    g = torch.Generator().manual_seed(0)
    data = gm.sample(128, generator=g, dtype=torch.float64)
    noise = torch.randn(128, 2, generator=g, dtype=torch.float64)
    t_theirs = torch.rand(128, generator=g, dtype=torch.float64)
    net = lambda x, t: torch.tanh(x) * (1 + t[:, None])  # any velocity field (their convention)
    cfm = cfm_mod.ConditionalFlowMatcher(sigma=0.0)
    t, xt, ut = cfm.sample_location_and_conditional_flow(noise, data, t=t_theirs)
    theirs = (net(xt, t) - ut).pow(2).mean(1)
    ours_model = FunctionModel(lambda x, tt: -net(x, 1 - tt), PATH, "velocity")
    torch.testing.assert_close(PATH.perturb(data, 1 - t_theirs, noise), xt, rtol=0, atol=1e-12)
    ours = FlowMatchingLoss()(ours_model, data, t=1 - t_theirs, noise=noise)
    torch.testing.assert_close(ours, theirs, rtol=1e-10, atol=1e-12)
