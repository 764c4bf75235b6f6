"""The contract of ``sample``: every argument checked before the first step, in one place.

``check_sample_args`` raises ``TypeError`` (wrong kind) or ``ValueError`` (bad value) with one
line naming the argument, the bad value and what is allowed, and returns the score function
to integrate with and the sampler object. Sizes are bounded by ``contract.LIMITS`` (elements
of the batch, steps).

Model dtype: when ``score_fn`` is a module whose floating parameters have another dtype than
the samples (e.g. ``dtype=torch.float64`` with a float32 network), the score is evaluated in
the model's dtype and cast back, as ``log_likelihood`` does: the state keeps the requested
dtype, the network sees its own.
"""
from __future__ import annotations

import inspect
import os
import warnings
from typing import Any, Callable, Dict, Optional, Tuple

import torch

from ..contract import LIMITS, as_steps, check_bool, check_float_dtype, check_size

__all__ = ["check_sample_args", "InModelDtype"]


class InModelDtype:
    """``score_fn`` evaluated in ``dtype``: s(x, t) = score_fn(x.to(dtype), t.to(dtype)).to(x.dtype)."""

    def __init__(self, score_fn: Callable, dtype: torch.dtype):
        self.score_fn, self.dtype = score_fn, dtype

    def __call__(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.score_fn(x.to(self.dtype), t.to(self.dtype)).to(x.dtype)


def _model_dtype(score_fn) -> Optional[torch.dtype]:
    params = getattr(score_fn, "parameters", None)
    if callable(params):
        for p in params():
            if p.is_floating_point():
                return p.dtype
    return None


def _check_grid(grid: Any, steps: Any) -> None:
    """Explicit times must be one-dimensional, and ``steps + 1`` long when ``steps`` is given."""
    from .optimized_grid import OptimizedGrid
    if grid is None or isinstance(grid, (str, os.PathLike, OptimizedGrid)) or callable(grid):
        return
    try:
        t = torch.as_tensor(grid, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError):
        raise TypeError(f"grid must be a name, a saved grid, a callable or a sequence of times, "
                        f"got {type(grid).__name__}") from None
    if t.ndim != 1:
        raise ValueError(f"grid must be a 1-D sequence of times, got shape {tuple(t.shape)}")
    if t.numel() > LIMITS.max_steps + 1:
        raise ValueError(f"grid has {t.numel()} times, over the limit {LIMITS.max_steps + 1}; "
                         f"raise it with {LIMITS.env('max_steps')}")
    if steps is not None and t.numel() != as_steps(steps) + 1:
        raise ValueError(f"grid has {t.numel()} times but steps={steps!r} needs steps + 1 = "
                         f"{as_steps(steps) + 1}; pass steps={t.numel() - 1} or omit steps")


def _build_sampler(sampler: Any, options: Dict[str, Any]):
    """The sampler object: its own checks first (unknown options, ranges), then options whose
    default is a boolean must be real booleans (``"no"`` is refused, not read as true)."""
    from .base import _build
    smp = _build(sampler, options)
    params = inspect.signature(type(smp).__init__).parameters
    for key, value in options.items():
        p = params.get(key)
        if p is not None and isinstance(p.default, bool):
            check_bool(f"sampler option {key}", value)
    return smp


def check_sample_args(sde, score_fn, shape, sampler, steps, generator, x_init, dtype, *,
                      t_end=None, t_start=None, grid=None, denoise=None, callback=None,
                      return_trajectory=False, progress=None, noise_dtype=torch.float32,
                      after_step=None, sampler_options: Optional[Dict[str, Any]] = None
                      ) -> Tuple[Callable, Any]:
    """Check every argument of ``sample`` (same names); return the score function to use and
    the sampler object."""
    if not callable(score_fn):
        raise TypeError(f"score_fn must be callable (x, t) -> score, got {type(score_fn).__name__}")
    check_float_dtype("dtype", dtype)
    check_float_dtype("noise_dtype", noise_dtype)
    if steps is not None:
        as_steps(steps, maximum=LIMITS.max_steps)
    _check_grid(grid, steps)
    for name, value in (("denoise", denoise), ("progress", progress)):
        if value is not None:
            check_bool(name, value)
    check_bool("return_trajectory", return_trajectory)
    for name, fn in (("callback", callback), ("after_step", after_step)):
        if fn is not None and not callable(fn):
            raise TypeError(f"{name} must be callable, got {type(fn).__name__} {fn!r}")
    for name, value in (("t_end", t_end), ("t_start", t_start)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise TypeError(f"{name} must be a number, got {type(value).__name__} {value!r}")
    smp = _build_sampler(sampler, dict(sampler_options or {}))
    if grid is not None and smp.end_points_only:   # a sweep may pass one grid to every sampler: warn, not raise
        warnings.warn(f"sampler {sampler!r} is adaptive and chooses its own steps between t_start and t_end; "
                      f"grid={grid!r} is not used", UserWarning, stacklevel=3)
    if x_init is not None:
        if not torch.is_tensor(x_init):
            raise TypeError(f"x_init must be a tensor, got {type(x_init).__name__}")
        check_float_dtype("x_init.dtype", x_init.dtype)
        if shape is not None:
            shape = check_size("shape", shape)
            if shape != tuple(x_init.shape):
                raise ValueError(f"shape {shape} does not match x_init's shape {tuple(x_init.shape)}")
        shape, dtype = tuple(x_init.shape), x_init.dtype
    if shape is None:
        raise ValueError("give the batch shape (N, *data_shape) or x_init")
    shape = check_size("shape", shape)
    if len(shape) < 2:
        raise ValueError(f"shape must be (N, *data_shape) with at least 2 entries, got {shape}")
    data_shape = getattr(score_fn, "data_shape", None)
    if data_shape is not None and tuple(data_shape) != shape[1:]:
        raise ValueError(f"samples of shape {shape[1:]} per item, but the score function's data "
                         f"shape is {tuple(data_shape)}")
    model = _model_dtype(score_fn)
    if model is not None and model != dtype:
        return InModelDtype(score_fn, model), smp
    return score_fn, smp
