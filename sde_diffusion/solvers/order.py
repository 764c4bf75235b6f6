"""The one order-control rule of every multistep solver (DPM-Solver 2M/3M, UniPC, DEIS, iPNDM).

A multistep solver of order p extrapolates the model's prediction through the last p grid
points. On a grid with half log-SNR lambda_0 < lambda_1 < ... < lambda_N (step sizes
h_i = lambda_{i+1} - lambda_i) step i -> i + 1 uses order

    p_i = min(p, i + 1, [N - i if h_i > FINAL_LONG_STEP], 1 + K_i), then lowered while
          p_i + c >= 4 and h_i > MAX_STEP[p_i + c],

- i + 1: warm-up, only i + 1 predictions exist;
- N - i: the k-th last step uses order <= k where it is long, h_i > ``FINAL_LONG_STEP`` = 0.2
  (the last steps are the longest in lambda on every default grid with few steps, and the
  polynomial extrapolated over them is the least accurate; UniPC's reference code and
  diffusers' UniPC lower them at every step count, diffusers' DPM-Solver++ below 15 steps).
  Short final steps keep the full order, so the global order is the scheme's, not the
  uncorrected first-order last step's O(h^2);
- K_i: the number of consecutive earlier gaps h_{i-1}, h_{i-2}, ... that are finite and at
  least ``MIN_RATIO`` * h_i. Extrapolating a polynomial through nodes much closer together
  than the step is unstable (e.g. a last step from lambda = 2 to lambda = 6 after steps of
  0.3), and a node at lambda = -inf (a path with m(T) = 0) carries no slope at all.
- MAX_STEP: a step whose convergence order q = p_i + c (c = 1 for a corrected step, UniC, else
  0) is 4 or more is taken only where it is short enough: h <= 1.5 for q = 4 (UniPC-3, iPNDM-4),
  h <= 0.4 for q = 5 and q = 6.
  A polynomial through q nodes spaced h is accurate only once h is well inside the data's
  time scales; above that the higher order costs (UniPC-5 at 10 NFE: 4.8x UniPC-3's error on
  the tuning half) and below it pays (50 NFE on EDM: 0.3x). The limits were chosen on the
  problem suite's tuning half (``benchmarks/RESULTS.md``, "Few-step defaults on the problem
  suite", sections 10 and 12). The q = 4 limit was chosen there on 1024 points (section 14i:
  among 0.6-1.5 and none, jointly for UniPC and iPNDM); it acts only on the longest steps, UniPC
  at 5-7 steps on EDM (5 on VE and sub-VP), where UniPC-3's middle steps become UniPC-2 (EDM 5
  NFE, tuning half: geometric-mean ratio to the best peer 1.54 -> 1.15, worst 4.4 -> 1.7).
  q <= 3 (DPM-Solver 2M/3M, DEIS) is never limited. ``FINAL_LONG_STEP`` was chosen there
  too: 0.1 and 0.2 tie on every tuning
  cell (5-50 NFE; lowering at every length loses at VP 50 NFE, worst cell 18x against 1.2x,
  0.3 at EDM 50 NFE), and 0.2 keeps the full order on the short steps of longer runs.

A step of infinite length (into s = 0, or out of m = 0) is order 1: its data prediction is
taken as is. On a smooth grid the ratios h_{i-1}/h_i tend to 1, so the asymptotic order is p.
"""
from __future__ import annotations

import math
from typing import List, Sequence

__all__ = ["MIN_RATIO", "MAX_STEP", "FINAL_LONG_STEP", "step_orders", "check_increasing"]

MIN_RATIO = 0.3
MAX_STEP = {4: 1.5, 5: 0.4, 6: 0.4}
"""Longest step h (half log-SNR) on which a step of convergence order q >= 4 is taken (a q
missing here is taken on no step; ``math.inf``: on every step)."""
FINAL_LONG_STEP = 0.2
"""The k-th last step is lowered to order <= k only where it is longer than this."""


def step_orders(lam: Sequence[float], max_order: int, lower_order_final: bool = True,
                min_ratio: float = MIN_RATIO, corrected: bool = False, step_limit: bool = True) -> List[int]:
    """Order p_i of each step i -> i + 1 (len(lam) - 1 values) on the half log-SNR grid ``lam``
    (increasing; -inf where m = 0, +inf where s = 0). ``corrected``: each step is followed by
    a corrector that raises its convergence order to p_i + 1 (UniC). ``step_limit=False`` drops
    the ``MAX_STEP`` limit (diffusers' UniPC has none)."""
    gain = 1 if corrected else 0
    n = len(lam) - 1
    orders = []
    for i in range(n):
        h = lam[i + 1] - lam[i]
        p = min(int(max_order), i + 1)
        if lower_order_final and not h <= FINAL_LONG_STEP:
            p = min(p, n - i)
        if not math.isfinite(h):
            p = 1
        for k in range(1, p):
            gap = lam[i - k + 1] - lam[i - k]
            if not (math.isfinite(gap) and gap >= min_ratio * h):
                p = k
                break
        while step_limit and p + gain >= 4 and not h <= MAX_STEP.get(p + gain, 0.0):
            p -= 1
        orders.append(p)
    return orders


def check_increasing(lam: Sequence[float], sampler: str, sde) -> None:
    """ValueError unless the half log-SNR increases strictly along the grid (decreasing t)."""
    if any(not b > a for a, b in zip(lam, lam[1:])):
        raise ValueError(f"sampler {sampler!r} needs the log-SNR strictly increasing along the "
                         f"grid (decreasing in t); {type(sde).__name__}'s is not")
