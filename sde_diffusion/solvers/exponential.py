"""Exponential integrators of the probability-flow ODE in log-SNR time (DPM-Solver++ family).

With lambda = log(m/s) (half the log-SNR) and the data prediction from the score,
eps = -s score, x0 = (x - s eps)/m = (x + s^2 score)/m, the PF-ODE solution from t to t' is

    x_t' = (s'/s) x_t + s' int_{lambda}^{lambda'} e^l x0(l) dl          (exact for linear SDEs)

Expanding x0 in lambda around the latest point (h = lambda' - lambda > 0,
phi_1 = expm1(-h), phi_2 = phi_1/h + 1, phi_3 = phi_2/h - 1/2):

- ``ddim`` (order 1; DDIM with eta = 0):  x' = (s'/s) x - m' phi_1 x0
- ``dpm_solver2`` (order 2, multistep):  x' = (s'/s) x - m' phi_1 x0_0 + m' phi_2 D1
- ``dpm_solver3`` (order 3, multistep):  ... - 2 m' phi_3 D2
  with D1 ~ h dx0/dl and D2 ~ h^2/2 d2x0/dl2 from backward differences of earlier x0's on a
  non-uniform lambda grid. One NFE per step; the first steps use lower orders (warm-up).

Final step: if the grid ends at s = 0 (lambda = inf, "log sigma at sigma = 0") the last step is
the plain denoising step x' = m' x0. With ``lower_order_final`` (default, DPM-Solver's rule)
runs of fewer than 15 steps use order <= k for the k-th last step, which stabilises few-step
sampling. ``min_ratio`` (default 0.3) lowers the order of a step whose history gaps are
shorter than ``min_ratio * h`` -- extrapolating x0 far beyond the history is unstable (e.g. the
last, long step of a uniform-t grid ending at eps = 1e-5); on smooth grids the ratios tend to 1,
so the asymptotic order is unchanged. These samplers work for any SDE with ``marginal`` and ``log_snr`` (VP, sub-VP, VE,
...); their default grid is uniform in t (measured best at 10-50 steps on the analytic
mixtures for VP and VE; "log_snr" and "karras" are options).
"""
from __future__ import annotations

import math
from typing import List

import torch

from .base import Sampler, SolverContext, register_sampler

__all__ = ["DDIMSampler", "DPMSolver2Sampler", "DPMSolver3Sampler", "MultistepExpSampler"]


class MultistepExpSampler(Sampler):
    """Multistep data-prediction exponential integrator of order ``max_order``."""

    max_order = 1
    requires = ("marginal", "drift_coeff", "diffusion", "log_snr", "t_from_log_snr")
    needs = ("finite_log_snr",)

    def __init__(self, lower_order_final: bool = True, min_ratio: float = 0.3):
        self.lower_order_final = bool(lower_order_final)
        if not 0.0 <= min_ratio <= 1.0:
            raise ValueError(f"min_ratio must lie in [0, 1], got {min_ratio!r}")
        self.min_ratio = float(min_ratio)
        self.order = float(self.max_order)

    def init_state(self, ctx: SolverContext, x: torch.Tensor) -> dict:
        """lambda = log(m/s) per grid point (inf where s = 0), computed once on the host, and
        the multistep history (x0 predictions and their lambdas, newest first)."""
        lam = [math.log(m) - math.log(s) if s > 0 else math.inf for m, s in zip(ctx.m, ctx.s)]
        lam_fin = [v for v in lam if math.isfinite(v)]
        if any(b <= a for a, b in zip(lam_fin, lam_fin[1:])):
            raise ValueError(f"sampler {self.name!r} needs log-SNR strictly increasing along the "
                             f"grid (decreasing in t); {type(ctx.sde).__name__}'s is not")
        hist: List[torch.Tensor] = []
        hist_lam: List[float] = []
        return {"lam": lam, "hist": hist, "hist_lam": hist_lam}

    def step(self, ctx, x, i, state):
        lam, hist, hist_lam = state["lam"], state["hist"], state["hist_lam"]
        x0 = ctx.x0(x, i)
        hist.insert(0, x0)
        hist_lam.insert(0, lam[i])
        del hist[self.max_order:], hist_lam[self.max_order:]
        m1, s1, s0 = ctx.m[i + 1], ctx.s[i + 1], ctx.s[i]
        if s1 == 0.0:  # lambda' = inf: plain denoising step
            return m1 * x0
        order = min(self.max_order, len(hist))
        if self.lower_order_final and ctx.steps < 15:
            order = min(order, ctx.steps - i)
        lam0, lam1 = lam[i], lam[i + 1]
        h = lam1 - lam0
        # no far extrapolation: each earlier log-SNR gap must be >= min_ratio * h
        for k in range(1, order):
            if hist_lam[k - 1] - hist_lam[k] < self.min_ratio * h:
                order = k
                break
        phi1 = math.expm1(-h)
        out = (s1 / s0) * x - (m1 * phi1) * x0
        if order >= 2:
            phi2 = phi1 / h + 1.0
            r0 = (lam0 - hist_lam[1]) / h
            d1_0 = (x0 - hist[1]) / r0
            if order == 2:
                d1 = d1_0
            else:
                r1 = (hist_lam[1] - hist_lam[2]) / h
                d1_1 = (hist[1] - hist[2]) / r1
                d2 = (d1_0 - d1_1) / (r0 + r1)
                d1 = d1_0 + r0 * d2
                phi3 = phi2 / h - 0.5
                out = out - (2.0 * m1 * phi3) * d2
            out = out + (m1 * phi2) * d1
        return out


@register_sampler("ddim")
class DDIMSampler(MultistepExpSampler):
    """First-order exponential integrator = deterministic DDIM: x' = m' x0 + s' eps."""

    max_order = 1

    def __init__(self):
        super().__init__(lower_order_final=False, min_ratio=0.0)


@register_sampler("dpm_solver2")
class DPMSolver2Sampler(MultistepExpSampler):
    """Second-order multistep (DPM-Solver++(2M)-style, with the exact phi_2 weight)."""

    max_order = 2


@register_sampler("dpm_solver3")
class DPMSolver3Sampler(MultistepExpSampler):
    """Third-order multistep (DPM-Solver++(3M)-style)."""

    max_order = 3
