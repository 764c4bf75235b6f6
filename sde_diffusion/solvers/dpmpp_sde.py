"""DPM-Solver++(2M) SDE (Lu et al. 2022b): stochastic second-order multistep solver of the
reverse SDE in half-log-SNR time lambda = log(m/s), data prediction, one NFE per step.

With h = lambda' - lambda, H = (1 + eta) h, D1 = (x0_i - x0_{i-1}) / r (r = h_prev / h):

    x' = (s'/s) e^{-eta h} x + m' psi_0(H) x0_i + m' psi_1(H) D1 + s' sqrt(1 - e^{-2 eta h}) z

(psi_j as in ``expint``; eta = 1 is the reverse SDE, eta = 0 the PF-ODE 2M). The first step
is first order; the order of each step follows the one rule of ``order.py``. The marginals are preserved for the
exact score at every eta. Denoises at t_end by default (one more NFE), as every stochastic
sampler here. Default grid: ``log_snr`` on every SDE (its step is uniform in lambda).
"""
from __future__ import annotations

import math

from .base import Sampler, register_sampler
from .expint import psi
from .order import step_orders

__all__ = ["DPMSolverPP2MSDE"]


@register_sampler("dpmpp_2m_sde")
class DPMSolverPP2MSDE(Sampler):
    """DPM-Solver++(2M) SDE with noise scale ``eta`` in [0, 1]."""

    order = 1.0  # strong order with noise; 2 for eta = 0
    stochastic = True
    default_denoise = True
    # its own grid: on grids near uniform-t (VP's time_power) the last, long log-SNR step
    # inflates the spread (std 0.61 instead of 0.5 at 50 steps, fewstep.md section 2)
    default_grid = "log_snr"

    def __init__(self, eta: float = 1.0, lower_order_final: bool = True):
        if isinstance(eta, bool) or not isinstance(eta, (int, float)) or not 0.0 <= eta <= 1.0:
            raise ValueError(f"dpmpp_2m_sde eta must lie in [0, 1], got {eta!r}")
        self.eta = float(eta)
        self.lower_order_final = bool(lower_order_final)

    def run(self, ctx, x):
        lam, prev = ctx.lam, None  # prev: the last step's x0
        orders = step_orders(lam, 2, self.lower_order_final)
        for i in ctx.loop(x):
            x0 = ctx.x0(x, i)
            m1, s1, s0 = ctx.m[i + 1], ctx.s[i + 1], ctx.s[i]
            if s1 == 0.0:
                x = ctx.finish_step(m1 * x0, i + 1)
                continue
            h = lam[i + 1] - lam[i]
            big = (1.0 + self.eta) * h
            ps = psi(big, 1)
            out = (s1 / s0) * math.exp(-self.eta * h) * x + (m1 * ps[0]) * x0
            if orders[i] == 2:
                r = (lam[i] - lam[i - 1]) / h
                out = out + (m1 * ps[1] / r) * (x0 - prev)
            if self.eta > 0:
                out = out + (s1 * math.sqrt(-math.expm1(-2.0 * self.eta * h))) * ctx.noise(x)
            prev = x0
            x = ctx.finish_step(out, i + 1)
        return x
