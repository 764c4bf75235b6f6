"""Probability-flow ODE samplers: dx/dt = f(t) x - 1/2 g(t)^2 score(x, t), from T to t_end.

- ``euler``: x' = x + d(x, t) dt                                   (order 1, 1 NFE/step)
- ``heun``:  x_e = x + d(x, t) dt; x' = x + (d(x, t) + d(x_e, t')) dt / 2
                                                                   (order 2, 2 NFE/step; a step
                                                                    that ends at s = 0 is Euler)
- ``rk45``: adaptive Dormand-Prince through ``scipy.integrate.solve_ivp`` on the flattened
  batch in float64. ``rtol``/``atol`` (default 1e-5 each, as in score_sde) set the accuracy and
  the NFE, which is measured and reported; ``steps`` is ignored. The state crosses to the host
  at every evaluation (adaptive stepping needs the error norm on the host anyway).
"""
from __future__ import annotations

import numpy as np
import torch

from ..utils import check_choice, check_positive
from .base import Sampler, SolverContext, register_sampler
from .grids import uniform_t

__all__ = ["EulerODESampler", "HeunSampler", "RK45Sampler"]


def pf_drift(ctx: SolverContext, x: torch.Tensor, i: int) -> torch.Tensor:
    """d(x, t_i) = f(t_i) x - 1/2 g(t_i)^2 score(x, t_i) (one NFE)."""
    g = ctx.g[i]
    return ctx.f[i] * x - (0.5 * g * g) * ctx.score(x, ctx.t[i])


@register_sampler("euler")
class EulerODESampler(Sampler):
    """Explicit Euler on the probability-flow ODE."""

    order = 1.0

    def __init__(self):
        pass

    def step(self, ctx, x, i, state):
        return x + (ctx.t[i + 1] - ctx.t[i]) * pf_drift(ctx, x, i)


@register_sampler("heun")
class HeunSampler(Sampler):
    """Heun's method (explicit trapezoid) on the probability-flow ODE."""

    order = 2.0
    evals_per_step = 2

    def __init__(self):
        pass

    def step(self, ctx, x, i, state):
        dt = ctx.t[i + 1] - ctx.t[i]
        d1 = pf_drift(ctx, x, i)
        x_e = x + dt * d1
        if ctx.s[i + 1] == 0.0:  # the score is undefined at s = 0: finish with Euler
            return x_e
        return x + (0.5 * dt) * (d1 + pf_drift(ctx, x_e, i + 1))


@register_sampler("rk45")
class RK45Sampler(Sampler):
    """Adaptive Runge-Kutta (scipy ``solve_ivp``) on the probability-flow ODE."""

    order = 5.0
    evals_per_step = 6

    def __init__(self, rtol: float = 1e-5, atol: float = 1e-5, method: str = "RK45"):
        self.rtol = check_positive("rtol", rtol)
        self.atol = check_positive("atol", atol)
        self.method = check_choice("solve_ivp method", method, ("RK45", "DOP853", "RK23"))

    def make_times(self, sde, steps, grid, t_end, t_start):
        return uniform_t(sde, 1, t_end=t_end, t_start=t_start)  # end points only

    def integrate(self, ctx, x):
        from scipy.integrate import solve_ivp

        sde, shape, device, dtype = ctx.sde, x.shape, x.device, x.dtype

        def fun(t: float, y: np.ndarray) -> np.ndarray:
            xt = torch.from_numpy(y).reshape(shape).to(device=device, dtype=dtype)
            f = float(sde.drift_coeff(t))
            g = float(sde.diffusion(t))
            d = f * xt - (0.5 * g * g) * ctx.score(xt, t)
            return d.detach().to("cpu", torch.float64).numpy().ravel()

        y0 = x.detach().to("cpu", torch.float64).numpy().ravel()
        sol = solve_ivp(fun, (ctx.t[0], ctx.t[-1]), y0, method=self.method, rtol=self.rtol,
                        atol=self.atol)
        if not sol.success:
            raise RuntimeError(f"solve_ivp failed: {sol.message}")
        nfe = ctx.nfe
        ctx.set_times(torch.as_tensor(sol.t, dtype=torch.float64))
        ys = torch.from_numpy(sol.y.T.copy())  # (n_accepted+1, numel)
        # trajectory and callback after the fact (scipy gives no per-step hook)
        for j in range(ys.shape[0]):
            ctx.record(ys[j].reshape(shape).to(device=device, dtype=dtype), j, self)
        ctx.nfe = nfe
        return ys[-1].reshape(shape).to(device=device, dtype=dtype)
