"""Singlestep DPM-Solver (Lu et al. 2022), data prediction ("DPM-Solver++" form), in
half-log-SNR time lambda = log(m/s); exact phi weights psi_j (``expint``).

One step from lambda (state x, data prediction x0_0 = x0(x)) to lambda + h with
intermediate points at lambda + r h (t from ``sde.t_from_log_snr``):

- 2S (r1 = 1/2, 2 NFE):  u1 = (s_1/s) x + m_1 psi_0(r1 h) x0_0
                          x' = (s'/s) x + m' psi_0(h) x0_0 + m' psi_1(h) (x0(u1) - x0_0) / r1
- 3S (r1 = 1/3, r2 = 2/3, 3 NFE):
      u2 = (s_2/s) x + m_2 psi_0(r2 h) x0_0 + m_2 psi_1(r2 h) (r2/r1) (x0(u1) - x0_0)
      x' = (s'/s) x + m' psi_0(h) x0_0 + m' psi_1(h) (x0(u2) - x0_0) / r2
  (r2 = 2/3 cancels the leading x0'' error term, so the linear form is third order).

``singlestep_pair`` returns the lower- and higher-order results that share evaluations; the
adaptive solver (``adaptive.py``) uses it as an embedded pair. A step that ends at s = 0 is
the plain denoising step x' = m' x0_0 (one NFE).
"""
from __future__ import annotations

import math
from typing import Callable, Sequence, Tuple

import torch

from .base import Sampler, SolverContext, register_sampler
from .expint import psi

__all__ = ["SinglestepDPMSolver2", "SinglestepDPMSolver3", "singlestep_pair", "points_at_lambda"]

Point = Tuple[float, float, float]  # (t, m, s)


def points_at_lambda(sde, lams: Sequence[float]) -> list:
    """(t, m, s) at half-log-SNR values ``lams`` (host floats; one batched SDE call)."""
    t = sde.t_from_log_snr(2.0 * torch.tensor(list(lams), dtype=torch.float64))
    t = t.to(torch.float64)
    m, s = sde.marginal(t)
    return list(zip(t.tolist(), m.tolist(), s.tolist()))


def singlestep_pair(x0_at: Callable[[torch.Tensor, Point], torch.Tensor], x: torch.Tensor,
                    x0_0: torch.Tensor, s0: float, h: float, end: Point, mids: Sequence[Point],
                    rs: Sequence[float], order: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """(lower, higher): order 2 -> (DPM-Solver-1, 2S); order 3 -> (2S with r1, 3S)."""
    m1, s1 = end[1], end[2]
    ps = psi(h, 1)
    base = (s1 / s0) * x + (m1 * ps[0]) * x0_0
    r1 = rs[0]
    u1 = (mids[0][2] / s0) * x + (mids[0][1] * psi(r1 * h, 0)[0]) * x0_0
    d1 = x0_at(u1, mids[0]) - x0_0
    second = base + (m1 * ps[1] / r1) * d1
    if order == 2:
        return base, second
    r2 = rs[1]
    q = psi(r2 * h, 1)
    u2 = (mids[1][2] / s0) * x + (mids[1][1] * q[0]) * x0_0 + (mids[1][1] * q[1] * r2 / r1) * d1
    third = base + (m1 * ps[1] / r2) * (x0_at(u2, mids[1]) - x0_0)
    return second, third


class _Singlestep(Sampler):
    rs: Tuple[float, ...] = ()

    def __init__(self):
        pass

    def midpoints(self, ctx: SolverContext) -> list:
        """The intermediate points (t, m, s) of every step, from one batched SDE call."""
        lam, wanted = ctx.lam, []
        for i in range(ctx.steps):
            h = lam[i + 1] - lam[i]
            if ctx.s[i + 1] == 0.0:
                continue
            if not (h > 0 and math.isfinite(h)):
                raise ValueError(f"sampler {self.name!r} needs log-SNR strictly increasing "
                                 f"and finite along the grid; step {i} has h = {h!r}")
            wanted += [lam[i] + r * h for r in self.rs]
        pts = points_at_lambda(ctx.sde, wanted) if wanted else []
        mids, k = [], 0
        for i in range(ctx.steps):
            if ctx.s[i + 1] == 0.0:
                mids.append(None)
            else:
                mids.append(pts[k:k + len(self.rs)])
                k += len(self.rs)
        return mids

    def run(self, ctx, x):
        mids, lam = self.midpoints(ctx), ctx.lam

        def x0_at(u, pt):
            return (u + (pt[2] * pt[2]) * ctx.score(u, pt[0])) / pt[1]

        for i in ctx.loop(x):
            x0_0 = ctx.x0(x, i)
            if ctx.s[i + 1] == 0.0:
                x = ctx.finish_step(ctx.m[i + 1] * x0_0, i + 1)
                continue
            end = (ctx.t[i + 1], ctx.m[i + 1], ctx.s[i + 1])
            x = ctx.finish_step(singlestep_pair(x0_at, x, x0_0, ctx.s[i], lam[i + 1] - lam[i], end,
                                                mids[i], self.rs, int(self.order))[1], i + 1)
        return x


@register_sampler("dpm_solver_2s")
class SinglestepDPMSolver2(_Singlestep):
    """Singlestep DPM-Solver-2 (2 NFE per step, order 2), midpoint r1 = 1/2."""

    order = 2.0
    evals_per_step = 2
    rs = (0.5,)


@register_sampler("dpm_solver_3s")
class SinglestepDPMSolver3(_Singlestep):
    """Singlestep DPM-Solver-3 (3 NFE per step, order 3), r1 = 1/3, r2 = 2/3."""

    order = 3.0
    evals_per_step = 3
    rs = (1.0 / 3.0, 2.0 / 3.0)
