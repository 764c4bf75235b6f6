"""iPNDM (Zhang & Chen 2023; Zhou et al. 2024): Adams-Bashforth on the probability-flow ODE in
the scaled state x_hat = x/m and noise level sigma = s/m, one NFE per step.

In those variables the PF-ODE of every linear SDE is dx_hat/dsigma = eps(x_hat; sigma) =
(x_hat - D(x_hat; sigma))/sigma, with D the denoiser. With eps_i, eps_{i-1}, ... the noise
predictions at the last grid points, step i -> i + 1 (H = sigma_{i+1} - sigma_i < 0) is

    x_hat_{i+1} = x_hat_i + H sum_k b_k eps_{i-k},       x_{i+1} = m_{i+1} x_hat_{i+1},

- ``ipndm``: the fixed-step Adams-Bashforth weights whatever the grid:
  p = 1: (1),  p = 2: (3, -1)/2,  p = 3: (23, -16, 5)/12,  p = 4: (55, -59, 37, -9)/24;
- ``ipndm_v``: the variable-step weights b_k = (1/H) int_{sigma_i}^{sigma_{i+1}} L_k(sigma)
  dsigma of the Lagrange basis L_k through sigma_i, sigma_{i-1}, ... (order p on any grid).

The order p_i of each step follows the one rule of ``order.py`` (at most ``order`` <= 4). A
step into sigma = 0 has order 1 and lands on the denoiser: x_hat - sigma eps = D.
``afs`` (analytic first step; the default of ``ipndm``) replaces the first model call by
eps(x_T) ~ x_hat / sqrt(1 + sigma^2) (exact as sigma -> inf for data of unit scale): one NFE
fewer.
"""
from __future__ import annotations

import math
from typing import List

import numpy as np

from ..contract import check_bool
from .base import Sampler, register_sampler
from .expint import gauss_legendre
from .order import check_increasing, step_orders

__all__ = ["IPNDMSampler", "IPNDMVSampler", "AB_WEIGHTS", "variable_ab_weights"]

AB_WEIGHTS = {1: (1.0,), 2: (1.5, -0.5), 3: (23 / 12, -16 / 12, 5 / 12),
              4: (55 / 24, -59 / 24, 37 / 24, -9 / 24)}


def variable_ab_weights(sig: List[float], i: int, p: int) -> List[float]:
    """b_k, k = 0..p-1: the mean over [sigma_i, sigma_{i+1}] of the Lagrange basis through
    sigma_i, sigma_{i-1}, ..., sigma_{i-p+1} (exact: Gauss-Legendre with p nodes)."""
    nodes = [sig[i - k] for k in range(p)]
    u, w = gauss_legendre(max(p, 1))
    q = sig[i] + (sig[i + 1] - sig[i]) * u
    out = []
    for k in range(p):
        lk = np.ones_like(q)
        for j in range(p):
            if j != k:
                lk = lk * (q - nodes[j]) / (nodes[k] - nodes[j])
        out.append(float(np.dot(w, lk)))
    return out


class _AdamsBashforth(Sampler):
    variable = False
    lands_on_zero = True

    def __init__(self, order: int = 4, afs: bool = False, lower_order_final: bool = True):
        if isinstance(order, bool) or order not in (1, 2, 3, 4):
            raise ValueError(f"{self.name} order must be 1, 2, 3 or 4, got {order!r}")
        self.order = int(order)
        self.afs = check_bool("afs", afs)
        self.lower_order_final = check_bool("lower_order_final", lower_order_final)

    def run(self, ctx, x):
        check_increasing(ctx.lam, self.name, ctx.sde)
        if not math.isfinite(ctx.sigma[0]):
            raise ValueError(f"sampler {self.name!r} steps in sigma = s/m and cannot start where "
                             f"m = 0 (sigma = inf); use ddim, dpm_solver2/3 or unipc")
        weights = []  # per step, newest first, computed once on the host
        for i, p in enumerate(step_orders(ctx.lam, self.order, self.lower_order_final)):
            weights.append(variable_ab_weights(ctx.sigma, i, p) if self.variable
                           else list(AB_WEIGHTS[p]))
        hist = []  # eps's, newest first
        for i in ctx.loop(x):
            m, sig = ctx.m[i], ctx.sigma[i]
            x_hat = x / m
            if self.afs and i == 0:
                eps = x_hat / math.sqrt(1.0 + sig * sig)
            else:
                eps = ctx.eps(x, i)
            hist.insert(0, eps)
            del hist[self.order:]
            w = weights[i]
            drift = w[0] * hist[0]
            for b, e in zip(w[1:], hist[1:]):
                drift = drift + b * e
            x = ctx.finish_step(ctx.m[i + 1] * (x_hat + (ctx.sigma[i + 1] - sig) * drift), i + 1)
        return x


@register_sampler("ipndm")
class IPNDMSampler(_AdamsBashforth):
    """iPNDM-p: fixed-step Adams-Bashforth weights in sigma (``order`` p in 1..4); the analytic
    first step is on by default (chosen on the tuning half of the problem suite by the worst
    ratio to the best published solver, VP and EDM)."""

    def __init__(self, order: int = 4, afs: bool = True, lower_order_final: bool = True):
        super().__init__(order, afs, lower_order_final)


@register_sampler("ipndm_v")
class IPNDMVSampler(_AdamsBashforth):
    """iPNDM-v-p: variable-step Adams-Bashforth weights in sigma (``order`` p in 1..4)."""

    variable = True
