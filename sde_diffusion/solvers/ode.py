"""Probability-flow ODE samplers: dx/dt = f(t) x - 1/2 g(t)^2 score(x, t), from T to t_end.

The drift comes from ``sde.probability_flow(score)`` (``SolverContext.pf_drift``) and the steps
from the package's one ODE integrator (``solvers/integrator.py``, shared with the likelihood):

- ``euler``: x' = x + d(x, t) dt = (1 + f dt) x - (g^2 dt / 2) score  (order 1, 1 NFE/step)
- ``heun``:  x_e = x + d(x, t) dt; x' = x + (d(x, t) + d(x_e, t')) dt / 2
                                                                   (order 2, 2 NFE/step; a step
                                                                    that ends at s = 0 is Euler)
- ``rk45``: adaptive Dormand-Prince through ``scipy.integrate.solve_ivp`` on the flattened
  batch in float64. ``rtol``/``atol`` (default 1e-5 each, as in score_sde) set the accuracy and
  the NFE, which is measured and reported; ``steps`` is ignored. The state crosses to the host
  at every evaluation (adaptive stepping needs the error norm on the host anyway).
"""
from __future__ import annotations

import torch

from ..contract import check_choice, check_positive
from .base import NonFiniteSampleError, Sampler, register_sampler
from .integrator import ADAPTIVE_METHODS, NonFiniteODEError, heun_step, odeint_adaptive

__all__ = ["EulerODESampler", "HeunSampler", "RK45Sampler"]


def _rhs_at(ctx):
    """Grid-indexed right-hand side (x,) -> (PF drift,) for the fixed-step integrator."""
    return lambda i, y: (ctx.pf_drift(y[0], i),)


@register_sampler("euler")
class EulerODESampler(Sampler):
    """Explicit Euler on the probability-flow ODE."""

    order = 1.0
    starts_at_prior = True

    def __init__(self):
        pass

    def step(self, ctx, x, i):
        h, g = ctx.t[i + 1] - ctx.t[i], ctx.g[i]
        if not ctx.finite_coeffs(i):
            return x + h * ctx.pf_drift(x, i)
        return torch.add((1.0 + h * ctx.f[i]) * x, ctx.score(x, ctx.t[i]), alpha=-0.5 * h * g * g)


@register_sampler("heun")
class HeunSampler(Sampler):
    """Heun's method (explicit trapezoid) on the probability-flow ODE."""

    order = 2.0
    evals_per_step = 2
    starts_at_prior = True

    def __init__(self):
        pass

    def step(self, ctx, x, i):
        # the score is undefined at s = 0: a step ending there is Euler
        return heun_step(_rhs_at(ctx), (x,), ctx.t, i, final_euler=ctx.s[i + 1] == 0.0)[0]


@register_sampler("rk45")
class RK45Sampler(Sampler):
    """Adaptive Runge-Kutta (scipy ``solve_ivp``) on the probability-flow ODE."""

    order = 5.0
    evals_per_step = 6
    end_points_only = True

    def __init__(self, rtol: float = 1e-5, atol: float = 1e-5, method: str = "RK45"):
        self.rtol = check_positive("rtol", rtol)
        self.atol = check_positive("atol", atol)
        self.method = check_choice("solve_ivp method", method, ADAPTIVE_METHODS)

    def run(self, ctx, x):
        sde = ctx.sde

        def rhs(t: float, y):
            f, g = float(sde.drift_coeff(t)), float(sde.diffusion(t))
            return (ctx.flow.combine(y[0], ctx.score(y[0], t), f, g),)

        try:
            _, times, states = odeint_adaptive(rhs, (x,), ctx.t[0], ctx.t[-1], self.method,
                                               self.rtol, self.atol)
        except NonFiniteODEError as e:
            raise NonFiniteSampleError(self.name, e.evaluations, e.t) from None
        nfe = ctx.nfe
        ctx.set_times(torch.as_tensor(times, dtype=torch.float64))
        # trajectory and callback after the fact (scipy gives no per-step hook)
        for j, (xj,) in enumerate(states):
            ctx.record(xj, j)
        ctx.nfe = nfe
        return states[-1][0]
