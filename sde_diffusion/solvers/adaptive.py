"""Adaptive-step DPM-Solver (Lu et al. 2022, Alg. "DPM-Solver-12 / -23"): embedded pairs of
singlestep solvers in half-log-SNR time with error control, for a tolerance instead of a step
count (``steps`` is ignored; the NFE is measured and reported in ``info.nfe``).

Per attempt of step h from lambda (x0 at the current point is evaluated once and reused
across rejected attempts): ``pair=12``: DPM-Solver-1 vs 2S (r1 = 1/2), 1 more NFE;
``pair=23``: 2S (r1 = 1/3) vs 3S (r1 = 1/3, r2 = 2/3), 2 more NFE. With x_l, x_h the two
results and delta = max(atol, rtol * max(|x_l|, |x_prev|)) elementwise,

    E = max over samples of RMS((x_h - x_l) / delta);   accept if E <= 1 (keep x_h),
    h <- min(theta * h * E^(-1/k), lambda_end - lambda),  k = the higher order.

Defaults rtol = 0.05, atol = 0.0078 are DPM-Solver's for images in [-1, 1] (about 20-40 NFE);
for end-point accuracy set both (the global error is then a small multiple of rtol).
"""
from __future__ import annotations

import math

import torch

from .base import NonFiniteSampleError, Sampler, SolverContext, as_steps, register_sampler
from .singlestep import points_at_lambda, singlestep_pair

__all__ = ["AdaptiveDPMSolver"]


@register_sampler("dpm_adaptive")
class AdaptiveDPMSolver(Sampler):
    """Adaptive DPM-Solver-12 / -23 with ``rtol``, ``atol`` (each > 0)."""

    order = 3.0
    evals_per_step = 3
    end_points_only = True

    def __init__(self, pair: int = 23, rtol: float = 0.05, atol: float = 0.0078,
                 h_init: float = 0.05, theta: float = 0.9, max_nfe: int = 10000):
        if isinstance(pair, bool) or pair not in (12, 23):
            raise ValueError(f"dpm_adaptive pair must be 12 or 23, got {pair!r}")
        for name, v in (("rtol", rtol), ("atol", atol), ("h_init", h_init)):
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v) or v <= 0:
                raise ValueError(f"dpm_adaptive {name} must be a finite number > 0, got {v!r}")
        if not (isinstance(theta, (int, float)) and 0 < theta <= 1):
            raise ValueError(f"dpm_adaptive theta must lie in (0, 1], got {theta!r}")
        self.pair, self.rtol, self.atol = int(pair), float(rtol), float(atol)
        self.h_init, self.theta = float(h_init), float(theta)
        self.max_nfe = as_steps(max_nfe, "max_nfe")
        self.order = 2.0 if self.pair == 12 else 3.0

    def run(self, ctx: SolverContext, x: torch.Tensor) -> torch.Tensor:
        sde, k = ctx.sde, 2 if self.pair == 12 else 3
        rs = (0.5,) if k == 2 else (1.0 / 3.0, 2.0 / 3.0)
        t_end = ctx.t[-1]
        if ctx.s[-1] <= 0.0:
            raise ValueError("dpm_adaptive needs t_end > 0 (log-SNR is infinite at s = 0)")
        lam = math.log(ctx.m[0] / ctx.s[0])
        lam_end = math.log(ctx.m[-1] / ctx.s[-1])
        cur = (ctx.t[0], ctx.m[0], ctx.s[0])
        times, states = [cur[0]], [x]
        h = min(self.h_init, lam_end - lam)

        def x0_at(u, pt):
            return (u + (pt[2] * pt[2]) * ctx.score(u, pt[0])) / pt[1]

        x0_0 = None
        while lam_end - lam > 1e-12 * max(1.0, abs(lam_end)):
            if ctx.nfe > self.max_nfe:
                raise RuntimeError(f"dpm_adaptive spent {ctx.nfe} NFE (max_nfe={self.max_nfe}) "
                                   f"before t_end; loosen rtol={self.rtol}/atol={self.atol}")
            if x0_0 is None:
                x0_0 = x0_at(x, cur)
            last = h >= lam_end - lam
            h = lam_end - lam if last else h
            pts = points_at_lambda(sde, [lam + r * h for r in rs] + [lam + h])
            end = (t_end, ctx.m[-1], ctx.s[-1]) if last else pts[-1]
            lo, hi = singlestep_pair(x0_at, x, x0_0, cur[2], h, end, pts[:-1], rs, k)
            delta = torch.clamp(self.rtol * torch.maximum(lo.abs(), x.abs()), min=self.atol)
            err = float(((hi - lo) / delta).pow(2).flatten(1).mean(1).sqrt().max())
            if err <= 1.0:
                x, x0_0, cur = hi, None, end
                lam = lam_end if last else lam + h
                times.append(cur[0])
                states.append(x)
            if not math.isfinite(err):
                if not bool(torch.isfinite(x0_0).all()):
                    raise NonFiniteSampleError(self.name, len(times), cur[0])
                h *= 0.25
            else:
                h = self.theta * h * max(err, 1e-10) ** (-1.0 / k)
            if h < 1e-10:
                raise RuntimeError(f"dpm_adaptive step size underflow at t = {cur[0]:.6g}")
        nfe = ctx.nfe
        ctx.set_times(torch.tensor(times, dtype=torch.float64))
        ctx.nfe = nfe
        for j, xs in enumerate(states):
            ctx.finish_step(xs, j) if j else ctx.record(xs, 0)
        return x
