"""DEIS tAB (Zhang & Chen 2023): exponential integrator with polynomial extrapolation of the
noise prediction eps = -s score in t (Adams-Bashforth), one NFE per step.

With sigma = s/m the probability-flow ODE is d(x/m) = eps d sigma (any linear SDE:
d sigma/dt = g^2 / (2 m s)), so one step from t_i to t_{i+1} is exactly

    x_{i+1} = (m_{i+1}/m_i) x_i + m_{i+1} int_{sigma_i}^{sigma_{i+1}} eps(t(sigma)) d sigma.

tAB-p replaces eps(t) by its Lagrange interpolant in t through the last p grid points
t_i, t_{i-1}, ... (``basis="t"``; the default ``basis="log_sigma"`` interpolates in log sigma instead,
the "log-rho" DEIS of diffusers: measured 2-10x better on EDM at 10 NFE, within 1.3x on VP); the coefficients C_{ik} = m_{i+1} int L_k(t(sigma)) d sigma are computed
once per call by Gauss-Legendre quadrature in sigma (``quad_points`` nodes per step; t(sigma)
from ``sde.t_from_sigma``). Order p = 1 is DDIM. The order of each step follows the one rule of ``order.py``.
"""
from __future__ import annotations

import numpy as np
import torch

from ..contract import check_choice
from .base import Sampler, SolverContext, as_steps, register_sampler
from .expint import gauss_legendre
from .order import step_orders

__all__ = ["DEISSampler"]


@register_sampler("deis")
class DEISSampler(Sampler):
    """DEIS tAB-p, p = ``order`` in 1..3."""

    lands_on_zero = True

    def __init__(self, order: int = 3, lower_order_final: bool = True, quad_points: int = 16,
                 basis: str = "log_sigma"):
        if isinstance(order, bool) or order not in (1, 2, 3):
            raise ValueError(f"deis order must be 1, 2 or 3, got {order!r}")
        self.order = int(order)
        self.basis = check_choice("DEIS basis", basis, ("t", "log_sigma"))
        self.lower_order_final = bool(lower_order_final)
        self.quad_points = as_steps(quad_points, "quad_points", minimum=2)

    def coefficients(self, ctx: SolverContext) -> list:
        """Coefficient table C[i] (one list per step, newest node first), float64 on the host."""
        n = ctx.steps
        if not np.isfinite(ctx.sigma[0]):
            raise ValueError(f"sampler {self.name!r} integrates in sigma = s/m and cannot start "
                             f"where m = 0 (sigma = inf); use ddim, dpm_solver2/3 or unipc")
        sig = np.array(ctx.sigma, dtype=np.float64)
        with np.errstate(divide="ignore"):  # log sigma = -inf at a final s = 0: never a node
            t = np.array(ctx.t, dtype=np.float64) if self.basis == "t" else np.log(sig)
        u, w = gauss_legendre(self.quad_points)
        sq = sig[:-1, None] + (sig[1:] - sig[:-1])[:, None] * u[None, :]  # (n, q)
        tq = ctx.sde.t_from_sigma(torch.from_numpy(sq.ravel())).to(torch.float64).numpy()
        tq = tq.reshape(n, -1) if self.basis == "t" else np.log(sq)
        coeffs = []
        for i, p in enumerate(step_orders(ctx.lam, self.order, self.lower_order_final)):
            nodes = [t[i - k] for k in range(p)]
            c = []
            for k in range(p):
                lk = np.ones_like(tq[i])
                for j in range(p):
                    if j != k:
                        lk = lk * (tq[i] - nodes[j]) / (nodes[k] - nodes[j])
                c.append(float(ctx.m[i + 1] * (sig[i + 1] - sig[i]) * np.dot(w, lk)))
            coeffs.append(c)
        return coeffs

    def run(self, ctx: SolverContext, x: torch.Tensor) -> torch.Tensor:
        coeffs, eps_hist = self.coefficients(ctx), []
        for i in ctx.loop(x):
            eps_hist.insert(0, ctx.eps(x, i))
            del eps_hist[self.order:]
            out = (ctx.m[i + 1] / ctx.m[i]) * x
            for c, e in zip(coeffs[i], eps_hist):
                out = out + c * e
            x = ctx.finish_step(out, i + 1)
        return x
