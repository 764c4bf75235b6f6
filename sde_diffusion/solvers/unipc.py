"""UniPC (Zhao et al. 2023): unified predictor-corrector for the probability-flow ODE, data
prediction, half-log-SNR time lambda = log(m/s), one NFE per step.

Step i -> i+1 (h = lambda_{i+1} - lambda_i, x0_k the data predictions of earlier grid
points at r_k = (lambda_k - lambda_i)/h, D_k = (x0_k - x0_i)/r_k, psi_j as in ``expint``):

    UniP-p (predictor):  x' = (s'/s) x + m' psi_0(h) x0_i + m' B(h) sum_k rho_k D_k
    UniC-p (corrector):  the same from the *corrected* x_i with one more node r = 1 (the data
                         prediction at the predicted x'), giving the corrected x'.

rho solves sum_k rho_k r_k^(j-1) = psi_j(h)/B(h), j = 1..(#nodes) (UniPC's R rho = b), except
rho = 1/2 for UniP-2 and UniC-1 (the paper's choice); B(h) = h (``bh1``) or 1 - e^{-h}
(``bh2``). The corrector reuses the evaluation that the next predictor needs anyway, so the
NFE is one per step; with it UniPC-p converges at order p + 1 (without it, p).
``predictor="dpm_solver"`` replaces UniP by the exact-Lagrange multistep predictor
(DPM-Solver++ multistep, ``exponential.py``), showing UniC after another multistep predictor.
The order of each step (UniP-p_i, then UniC-p_i on it) follows the one rule of ``order.py``:
warm-up, the k-th last step at order <= k where it is long (h > 0.2), no far extrapolation,
UniPC-4 / UniPC-5 only on steps h <= 0.4 and UniPC-3 only on steps h <= 1.5: the default
order 5 is UniPC-2 on the longest steps (5-7-step EDM grids), UniPC-3 on the long steps of
5-20-step grids and higher where the steps are short. A start at m(T) = 0
(lambda = -inf) is the limit h -> inf, as in ``exponential.py`` (that step is not corrected:
B(h) has no finite limit for ``bh1``).
All weights are host floats computed once per call; a step is one weighted sum
x' = w_x x + sum_k w_k x0_k.
"""
from __future__ import annotations

import math
from typing import List, Optional, Tuple

import torch

from ..contract import check_bool, check_choice
from .base import Sampler, SolverContext, register_sampler
from .expint import lagrange_weights, moment_solve, psi
from .order import check_increasing, step_orders

__all__ = ["UniPCSampler"]

Weights = Tuple[float, List[float]]  # (weight of x, weights of x0_i, x0_{i-1}, ... [, x0_new])


def _b_of_h(variant: str, h: float) -> float:
    return h if variant == "bh1" else -math.expm1(-h)


def _weighted(wx: float, x: torch.Tensor, w: List[float], vals: List[torch.Tensor]) -> torch.Tensor:
    out = wx * x
    for c, v in zip(w, vals):
        out = torch.add(out, v, alpha=c)
    return out


@register_sampler("unipc")
class UniPCSampler(Sampler):
    """UniPC-p (``order`` p in 1..5: the highest order; ``order.py`` takes orders above 3 only
    on short steps, unless ``step_limit=False``), ``variant`` bh1/bh2, ``corrector`` on/off."""

    starts_at_prior = True
    lands_on_zero = True

    def __init__(self, order: int = 5, variant: str = "bh2", corrector: bool = True,
                 predictor: str = "unip", lower_order_final: bool = True, step_limit: bool = True):
        if isinstance(order, bool) or order not in (1, 2, 3, 4, 5):
            raise ValueError(f"unipc order must be 1, 2, 3, 4 or 5, got {order!r}")
        self.variant = check_choice("UniPC variant", variant, ("bh1", "bh2"))
        self.predictor = check_choice("UniPC predictor", predictor, ("unip", "dpm_solver"))
        self.corrector = bool(corrector)
        self.lower_order_final = bool(lower_order_final)
        self.step_limit = check_bool("sampler option step_limit", step_limit)
        self.order = int(order)

    def _weights(self, ctx, i: int, p: int, corrector: bool) -> Optional[Weights]:
        """Weights of UniP-p (or UniC-p with the node r = 1) for step i -> i + 1."""
        lam = ctx.lam
        h = lam[i + 1] - lam[i]
        m1, wx = ctx.m[i + 1], ctx.s[i + 1] / ctx.s[i]
        if corrector and not math.isfinite(h):
            return None
        ps = psi(h, p)
        nodes = [(lam[i - k] - lam[i]) / h for k in range(1, p)] + ([1.0] if corrector else [])
        if not nodes:
            return wx, [m1 * ps[0]]
        if not corrector and self.predictor == "dpm_solver":
            return wx, [m1 * w for w in lagrange_weights([0.0] + nodes, h)]
        B = _b_of_h(self.variant, h)
        if len(nodes) == 1 and (corrector or p == 2):
            rho = [0.5]
        else:
            rho = moment_solve(nodes, [ps[j] / B for j in range(1, len(nodes) + 1)])
        w = [m1 * B * c / r for r, c in zip(nodes, rho)]
        return wx, [m1 * ps[0] - sum(w)] + w

    def run(self, ctx: SolverContext, x: torch.Tensor) -> torch.Tensor:
        check_increasing(ctx.lam, self.name, ctx.sde)
        orders = step_orders(ctx.lam, self.order, self.lower_order_final,
                             corrected=self.corrector, step_limit=self.step_limit)
        pred, corr = [], []  # per-step weights (host floats), computed once
        for i, p in enumerate(orders):
            final = ctx.s[i + 1] == 0.0
            pred.append(None if final else self._weights(ctx, i, p, False))
            corr.append(None if final or not self.corrector else self._weights(ctx, i, p, True))
        hist, prev = [], None  # x0's newest first; (x_i, UniC weights of step i -> i + 1)
        for i in ctx.loop(x):
            x0 = ctx.x0(x, i)
            if prev is not None:  # UniC on step i-1 -> i, reusing x0 at x_i
                x_prev, (wx, w) = prev
                x = _weighted(wx, x_prev, w, hist[:len(w) - 1] + [x0])
            hist.insert(0, x0)
            del hist[self.order:]
            if ctx.s[i + 1] == 0.0:  # lambda' = inf: the denoising step
                x = ctx.finish_step(ctx.m[i + 1] * x0, i + 1)
                continue
            prev = None if corr[i] is None else (x, corr[i])
            wx, w = pred[i]
            x = ctx.finish_step(_weighted(wx, x, w, hist[:len(w)]), i + 1)
        return x
