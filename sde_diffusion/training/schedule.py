"""Learning-rate schedules: a factor f(k) multiplying the optimiser's base learning rate at
optimiser step k (0-based), linear warm-up first:

    warm-up   f(k) = min(1, (k + 1) / W)                                   for k < W
    constant  f(k) = 1
    cosine    f(k) = r + (1 - r) (1 + cos(pi u)) / 2,  u = (k - W) / max(1, K - W)
    linear    f(k) = 1 - (1 - r) u

with W warm-up steps, K total steps and r = ``min_lr_ratio``; u is clipped to [0, 1].
"""
from __future__ import annotations

import math
from typing import Callable

from .options import LR_SCHEDULES, TrainOptions

__all__ = ["lr_factor", "make_lr_schedule"]


def lr_factor(step: int, total: int, warmup: int = 0, kind: str = "constant",
              min_ratio: float = 0.0) -> float:
    """f(step) above."""
    if kind not in LR_SCHEDULES:
        raise ValueError(f"unknown lr schedule {kind!r}; valid choices: {list(LR_SCHEDULES)}")
    if warmup > 0 and step < warmup:
        return min(1.0, (step + 1) / warmup)
    if kind == "constant":
        return 1.0
    u = min(1.0, max(0.0, (step - warmup) / max(1, total - warmup)))
    if kind == "cosine":
        return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * u))
    return 1.0 - (1.0 - min_ratio) * u


def make_lr_schedule(options: TrainOptions) -> Callable[[int], float]:
    """``step -> factor`` for the options' schedule."""
    o = options
    return lambda step: lr_factor(step, o.steps, o.warmup_steps, o.lr_schedule, o.min_lr_ratio)
