"""Flow-native ODE samplers: integrate dx/dt = u(x, t) (the velocity) from t = 1 to t_end.

- ``flow_euler``:    x' = x + (t' - t) u(x, t)                               (order 1, 1 NFE)
- ``flow_midpoint``: x_m = x + (t' - t)/2 u(x, t);  x' = x + (t' - t) u(x_m, (t + t')/2)
                                                                            (order 2, 2 NFE)

Default grid: uniform in t from 1 to t_end, then the SD3 timestep shift
t -> shift t / (1 + (shift - 1) t) (``shifted_grid``; shift = 1 is the plain grid). With
``t_end = 0`` the velocity is never evaluated at t = 0. Diffusers'
``FlowMatchEulerDiscreteScheduler`` builds the same grid from ``linspace(1, t_min, steps)``,
shifted, with a final 0: that is ``grid="shifted", t_end=0`` with t_min = its ``sigma_min``.

The velocity comes from the model's own prediction (``model.predict(x, t, "velocity")``, e.g. a
``ScoreModel`` with any parameterisation on a flow path, or ``parameterization.FunctionModel``),
so the first evaluation at t = 1 (alpha = 0) is finite. A plain score function gives
u = f x - g^2 score / 2, defined for t < 1 only (pass ``t_start < 1``).
"""
from __future__ import annotations

from typing import Optional

import torch

from ..contract import check_positive
from .base import Sampler, register_sampler
from .grids import make_grid

__all__ = ["FlowEulerSampler", "FlowMidpointSampler", "shifted_grid", "shift_times", "velocity_at"]


def shift_times(t: torch.Tensor, shift: float) -> torch.Tensor:
    """The SD3 timestep shift t -> shift t / (1 + (shift - 1) t) (maps [0, 1] onto itself)."""
    return shift * t / (1.0 + (shift - 1.0) * t)


def shifted_grid(sde, steps: int, t_end: Optional[float] = None, t_start: Optional[float] = None,
                 shift: float = 1.0, t_min: Optional[float] = None) -> torch.Tensor:
    """``steps`` + 1 times: ``shift_times(linspace(t_start, t_min, steps))`` then ``t_end``
    (default 0, or ``sde.eps`` when given None and ``t_min`` is None: uniform to eps)."""
    check_positive("shift", shift)
    t0 = float(sde.T if t_start is None else t_start)
    t1 = float(sde.eps if t_end is None else t_end)
    if t_min is None:  # uniform from t0 to t1 before shifting
        u = torch.linspace(t0, t1, steps + 1, dtype=torch.float64)
        times = shift_times(u, shift)
    else:
        if not t1 < t_min < t0:
            raise ValueError(f"t_min must lie strictly between t_end={t1} and t_start={t0}, got {t_min!r}")
        u = torch.linspace(t0, float(t_min), steps, dtype=torch.float64)
        times = torch.cat([shift_times(u, shift), torch.tensor([t1], dtype=torch.float64)])
    times[-1] = t1
    return times


def velocity_at(ctx, x: torch.Tensor, t: float, i: Optional[int] = None) -> torch.Tensor:
    """u(x, t): the model's native velocity when it has ``predict`` (one NFE), else
    f x - g^2 score / 2 from the score (t < 1 only)."""
    model = ctx.score_fn
    if callable(getattr(model, "predict", None)):
        tt = torch.full((x.shape[0],), float(t), dtype=x.dtype, device=x.device)
        ctx.nfe += 1
        return model.predict(x, tt, "velocity")
    if t >= ctx.sde.T:
        raise ValueError("at t = 1 a plain score function does not define the flow's velocity "
                         "(alpha = 0); pass a model with predict(x, t, 'velocity') (ScoreModel, "
                         "parameterization.FunctionModel) or t_start < 1")
    if i is not None:
        return ctx.pf_drift(x, i)
    f, g = float(ctx.sde.drift_coeff(t)), float(ctx.sde.diffusion(t))
    return ctx.flow.combine(x, ctx.score(x, t), f, g)


class _FlowODESampler(Sampler):
    starts_at_prior = True

    def __init__(self, shift: float = 1.0):
        self.shift = float(check_positive("shift", shift))

    def check_sde(self, sde):
        super().check_sde(sde)
        self.require(sde, "marginal_rates")

    def make_times(self, sde, steps, grid, t_end, t_start):
        if grid is None or grid == "shifted":
            return shifted_grid(sde, steps, t_end=t_end, t_start=t_start, shift=self.shift)
        return make_grid(sde, grid, steps, t_end, t_start)


@register_sampler("flow_euler")
class FlowEulerSampler(_FlowODESampler):
    """Euler on the flow ODE dx/dt = u(x, t), with the SD3 ``shift`` of the default grid."""

    order = 1.0

    def step(self, ctx, x, i):
        t, t1 = ctx.t[i], ctx.t[i + 1]
        return x + (t1 - t) * velocity_at(ctx, x, t, i)


@register_sampler("flow_midpoint")
class FlowMidpointSampler(_FlowODESampler):
    """Explicit midpoint rule on the flow ODE (as torchdiffeq's / flow_matching's "midpoint")."""

    order = 2.0
    evals_per_step = 2

    def step(self, ctx, x, i):
        t, t1 = ctx.t[i], ctx.t[i + 1]
        h = t1 - t
        x_mid = x + 0.5 * h * velocity_at(ctx, x, t, i)
        return x + h * velocity_at(ctx, x_mid, t + 0.5 * h)
