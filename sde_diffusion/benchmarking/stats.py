"""Spread over seeds: mean +- 95 % confidence interval, and comparisons that respect the noise.

Every cell of a sweep with seed s starts from the same prior noise and compares against the
same held-out set for every sampler, so two rows are compared **paired by seed**: the
difference d_s = a_s - b_s has mean d and a Student-t interval d +- t_{0.975, n-1} sd(d)/sqrt(n).
A difference is *significant* when that interval excludes 0 (with a single shared seed nothing
is significant: there is no spread to judge by).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, Mapping, Optional, Sequence

__all__ = ["Estimate", "estimate", "t_quantile", "paired_difference", "significantly_less",
           "by_seed"]


def t_quantile(df: int, level: float = 0.95) -> float:
    """The two-sided Student-t quantile t_{(1+level)/2, df} (inf for df < 1)."""
    if df < 1:
        return math.inf
    from scipy.stats import t
    return float(t.ppf(0.5 + level / 2, df))


@dataclass(frozen=True)
class Estimate:
    """mean, 95 % CI half-width (Student t over seeds; nan for n < 2), n values, sd."""

    mean: float
    half_width: float
    n: int
    sd: float

    @property
    def low(self) -> float:
        return self.mean - self.half_width

    @property
    def high(self) -> float:
        return self.mean + self.half_width


def estimate(values: Sequence[Optional[float]]) -> Optional[Estimate]:
    """Mean +- 95 % CI of the finite values (None when there are none). One value gives a
    nan half-width; a non-finite value anywhere makes the mean nan (a diverged seed is not
    dropped silently)."""
    vals = [float(v) for v in values if v is not None]
    if not vals:
        return None
    if not all(math.isfinite(v) for v in vals):
        return Estimate(math.nan, math.nan, len(vals), math.nan)
    n = len(vals)
    m = sum(vals) / n
    if n < 2:
        return Estimate(m, math.nan, 1, math.nan)
    sd = math.sqrt(sum((v - m) ** 2 for v in vals) / (n - 1))
    return Estimate(m, t_quantile(n - 1) * sd / math.sqrt(n), n, sd)


def paired_difference(a: Mapping[int, float], b: Mapping[int, float]) -> Optional[Estimate]:
    """Estimate of mean(a_s - b_s) over the seeds s both have (None if they share none)."""
    seeds = sorted(set(a) & set(b))
    diffs = [a[s] - b[s] for s in seeds if a[s] is not None and b[s] is not None]
    return estimate(diffs)


def significantly_less(a: Mapping[int, float], b: Mapping[int, float]) -> bool:
    """True when a < b beyond the noise: the paired 95 % CI of a - b lies below 0."""
    d = paired_difference(a, b)
    return d is not None and d.n >= 2 and math.isfinite(d.high) and d.high < 0


def by_seed(records: Sequence[Mapping], value) -> Dict[int, float]:
    """{seed: value(record)} (records without a value left out)."""
    out = {}
    for r in records:
        v = value(r)
        if v is not None:
            out[int(r["seed"])] = float(v)
    return out
