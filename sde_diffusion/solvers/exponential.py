"""Exponential integrators of the probability-flow ODE in half log-SNR time (DPM-Solver++).

With lambda = log(m/s) and the denoiser x0 = D(x; t), the PF-ODE solution from t to t' is

    x_t' = (s'/s) x_t + s' int_{lambda}^{lambda'} e^l x0(l) dl          (exact for linear SDEs)

Expanding x0 in lambda around the latest point (h = lambda' - lambda > 0,
phi_1 = expm1(-h), phi_2 = phi_1/h + 1, phi_3 = phi_2/h - 1/2):

- ``ddim`` (order 1; DDIM with eta = 0):  x' = (s'/s) x - m' phi_1 x0
- ``dpm_solver2`` (order 2, multistep):  x' = (s'/s) x - m' phi_1 x0_0 + m' phi_2 D1
- ``dpm_solver3`` (order 3, multistep):  ... - 2 m' phi_3 D2
  with D1 ~ h dx0/dl and D2 ~ h^2/2 d2x0/dl2 from backward differences of earlier x0's on a
  non-uniform lambda grid. One NFE per step; the order of each step follows the one rule of
  ``order.py`` (warm-up, the k-th last step at order <= k where it is long, no far
  extrapolation).

End points: a step into s = 0 (lambda' = inf) is the denoising step x' = m' x0. A start at
m(T) = 0 (lambda = -inf) is the limit h -> inf: phi_1 = -1, x' = (s'/s) x + m' x0, where x0
comes from the model alone (a model with a native x0 / eps prediction: the score form
(x + s^2 score)/m is 0/0 there). Any SDE with ``marginal`` works (VP, sub-VP, VE, EDM, ...).
"""
from __future__ import annotations

import math

from .base import Sampler, register_sampler
from .order import MIN_RATIO, check_increasing, step_orders

__all__ = ["DDIMSampler", "DPMSolver2Sampler", "DPMSolver3Sampler", "MultistepExpSampler"]


class MultistepExpSampler(Sampler):
    """Multistep data-prediction exponential integrator of order ``max_order``."""

    starts_at_prior = True
    max_order = 1
    lands_on_zero = True

    def __init__(self, lower_order_final: bool = True, min_ratio: float = MIN_RATIO):
        self.lower_order_final = bool(lower_order_final)
        if not 0.0 <= min_ratio <= 1.0:
            raise ValueError(f"min_ratio must lie in [0, 1], got {min_ratio!r}")
        self.min_ratio = float(min_ratio)
        self.order = float(self.max_order)

    def check_sde(self, sde):
        super().check_sde(sde)
        self.require(sde, capability="finite_log_snr")

    def run(self, ctx, x):
        lam, hist = ctx.lam, []  # hist: the x0's, newest first
        check_increasing(lam, self.name, ctx.sde)
        orders = step_orders(lam, self.max_order, self.lower_order_final, self.min_ratio)
        for i in ctx.loop(x):
            x0 = ctx.x0(x, i)
            hist.insert(0, x0)
            del hist[self.max_order:]
            m1, s1, s0 = ctx.m[i + 1], ctx.s[i + 1], ctx.s[i]
            if s1 == 0.0:  # lambda' = inf: the denoising step
                x = ctx.finish_step(m1 * x0, i + 1)
                continue
            h = lam[i + 1] - lam[i]
            phi1 = math.expm1(-h)
            out = (s1 / s0) * x - (m1 * phi1) * x0
            if orders[i] >= 2:
                phi2 = phi1 / h + 1.0
                r0 = (lam[i] - lam[i - 1]) / h
                d1_0 = (x0 - hist[1]) / r0
                if orders[i] == 2:
                    d1 = d1_0
                else:
                    r1 = (lam[i - 1] - lam[i - 2]) / h
                    d1_1 = (hist[1] - hist[2]) / r1
                    d2 = (d1_0 - d1_1) / (r0 + r1)
                    d1 = d1_0 + r0 * d2
                    phi3 = phi2 / h - 0.5
                    out = out - (2.0 * m1 * phi3) * d2
                out = out + (m1 * phi2) * d1
            x = ctx.finish_step(out, i + 1)
        return x


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
