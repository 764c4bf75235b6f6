"""The one order-control rule of every multistep solver (DPM-Solver 2M/3M, UniPC, DEIS, iPNDM).

A multistep solver of order p extrapolates the model's prediction through the last p grid
points. On a grid with half log-SNR lambda_0 < lambda_1 < ... < lambda_N (step sizes
h_i = lambda_{i+1} - lambda_i) step i -> i + 1 uses order

    p_i = min(p, i + 1, N - i, 1 + K_i),

- i + 1: warm-up, only i + 1 predictions exist;
- N - i: the k-th last step uses order <= k at every step count (UniPC's reference rule;
  the last steps are the longest in lambda on every default grid and the polynomial
  extrapolated over them is the least accurate);
- K_i: the number of consecutive earlier gaps h_{i-1}, h_{i-2}, ... that are finite and at
  least ``MIN_RATIO`` * h_i. Extrapolating a polynomial through nodes much closer together
  than the step is unstable (e.g. a last step from lambda = 2 to lambda = 6 after steps of
  0.3), and a node at lambda = -inf (a path with m(T) = 0) carries no slope at all.

A step of infinite length (into s = 0, or out of m = 0) is order 1: its data prediction is
taken as is. On a smooth grid the ratios h_{i-1}/h_i tend to 1, so the asymptotic order is p.
"""
from __future__ import annotations

import math
from typing import List, Sequence

__all__ = ["MIN_RATIO", "step_orders", "check_increasing"]

MIN_RATIO = 0.3


def step_orders(lam: Sequence[float], max_order: int, lower_order_final: bool = True,
                min_ratio: float = MIN_RATIO) -> List[int]:
    """Order p_i of each step i -> i + 1 (len(lam) - 1 values) on the half log-SNR grid ``lam``
    (increasing; -inf where m = 0, +inf where s = 0)."""
    n = len(lam) - 1
    orders = []
    for i in range(n):
        h = lam[i + 1] - lam[i]
        p = min(int(max_order), i + 1)
        if lower_order_final:
            p = min(p, n - i)
        if not math.isfinite(h):
            p = 1
        for k in range(1, p):
            gap = lam[i - k + 1] - lam[i - k]
            if not (math.isfinite(gap) and gap >= min_ratio * h):
                p = k
                break
        orders.append(p)
    return orders


def check_increasing(lam: Sequence[float], sampler: str, sde) -> None:
    """ValueError unless the half log-SNR increases strictly along the grid (decreasing t)."""
    if any(not b > a for a, b in zip(lam, lam[1:])):
        raise ValueError(f"sampler {sampler!r} needs the log-SNR strictly increasing along the "
                         f"grid (decreasing in t); {type(sde).__name__}'s is not")
