"""The metrics a benchmark cell computes, by name.

- two-sample metrics between the samples x (N, ...) and held-out data y (M, ...):
  ``metrics.METRICS`` (sliced Wasserstein-2, MMD^2, energy distance, ...) plus ``frechet``
  (Frechet distance between Gaussian fits of the flattened samples);
- density metrics under the problem's exact mixture p_0: ``nll`` = -mean log p_0(x) (nats;
  exact samples give the entropy H(p_0), so the report judges |NLL - NLL(exact samples)|, not
  lower-is-better), ``mode_tv`` = 1/2 sum_k |mean_i r_k(x_i) - w_k| with r_k the
  responsibilities of component k;
- ``ode_rmse`` = sqrt(mean (x0 - x0_ref)^2), end to end: the sample's data estimate x0 against
  the exact probability-flow ODE map of the same prior noise to the data end
  (``reference.data_end_reference``; computed by the runner, deterministic samplers only).
"""
from __future__ import annotations

import inspect
import math
from typing import Any, Callable, Dict, Sequence

import torch

from .. import metrics as _metrics

__all__ = ["TWO_SAMPLE_METRICS", "DENSITY_METRICS", "METRIC_NAMES", "ANALYTIC_ONLY", "quality"]


def _nll(x: torch.Tensor, mixture: Any) -> float:
    return _metrics.mean_nll(x, mixture.log_prob)


def _mode_tv(x: torch.Tensor, mixture: Any) -> float:
    w_hat = mixture.responsibilities(x).mean(0)                 # (K,)
    return float(0.5 * (w_hat - mixture.weights.to(w_hat)).abs().sum())


DENSITY_METRICS: Dict[str, Callable[[torch.Tensor, Any], float]] = {"nll": _nll,
                                                                      "mode_tv": _mode_tv}
"""name -> fn(x, mixture) -> float, samples under the exact density."""
TWO_SAMPLE_METRICS: Dict[str, Callable[..., float]] = {
    k: v for k, v in {"frechet": _metrics.frechet_distance, **_metrics.METRICS}.items()
    if k not in DENSITY_METRICS and k != "ode_rmse"}
"""name -> fn(x, y) -> float, samples against held-out data (``metrics.METRICS`` + frechet)."""
_ORDER = ("sliced_wasserstein", "mmd", "energy_distance", "nll", "mode_tv", "ode_rmse", "frechet")
METRIC_NAMES = tuple([m for m in _ORDER if m in TWO_SAMPLE_METRICS or m in DENSITY_METRICS
                      or m == "ode_rmse"]
                     + sorted(set(TWO_SAMPLE_METRICS) - set(_ORDER)))
"""Every metric a cell can compute."""
ANALYTIC_ONLY = ("nll", "mode_tv", "ode_rmse")
"""Metrics that need the problem's exact density (or its exact score)."""


def _call_two_sample(name: str, x: torch.Tensor, y: torch.Tensor, seed: int) -> float:
    fn = TWO_SAMPLE_METRICS[name]
    try:
        takes_seed = "seed" in inspect.signature(fn).parameters
    except (TypeError, ValueError):  # builtins without a signature
        takes_seed = False
    return float(fn(x, y, seed=seed) if takes_seed else fn(x, y))


def quality(names: Sequence[str], x: torch.Tensor, heldout: torch.Tensor, mixture: Any,
            seed: int) -> Dict[str, float]:
    """Metrics ``names`` (not ``ode_rmse``) of samples x (N, ...) float64.

    Two-sample metrics compare x with ``heldout``; density metrics need ``mixture`` (a
    ``GaussianMixture``). Non-finite samples give NaN for every metric."""
    if not bool(torch.isfinite(x).all()):
        return {m: math.nan for m in names}
    out: Dict[str, float] = {}
    for m in names:
        if m in TWO_SAMPLE_METRICS:
            out[m] = _call_two_sample(m, x, heldout, seed)
        elif m in DENSITY_METRICS:
            if mixture is None:
                raise ValueError(f"metric {m!r} needs an analytic problem (an exact density)")
            out[m] = float(DENSITY_METRICS[m](x, mixture))
        else:
            raise ValueError(f"unknown metric {m!r} here; valid choices: "
                             f"{', '.join(n for n in METRIC_NAMES if n != 'ode_rmse')}")
    return out
