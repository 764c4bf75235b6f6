"""Helpers shared by the likelihood modules: data checks, dimensions, the model's dtype."""
from __future__ import annotations

import math

import numpy as np
import torch

from ..contract import check_finite

__all__ = ["LN2", "flat_dim", "check_data", "model_dtype"]

LN2 = math.log(2.0)


def flat_dim(x: torch.Tensor) -> int:
    """Values per sample of x (N, ...)."""
    return int(np.prod(x.shape[1:])) if x.ndim > 1 else 1


def check_data(x: torch.Tensor) -> None:
    """x must be a finite floating-point tensor (N, ...) with N >= 1."""
    if not torch.is_tensor(x) or x.ndim < 1 or x.shape[0] < 1:
        raise ValueError("x must be a tensor of shape (N, ...) with N >= 1")
    if not x.is_floating_point():
        raise TypeError(f"x must be a floating-point tensor, got {x.dtype}")
    check_finite("x", x)


def model_dtype(score_fn, default: torch.dtype) -> torch.dtype:
    """The dtype the score function is evaluated in: the floating dtype of a module's
    parameters (so float64 data work with a float32 model), else ``default`` (x's dtype)."""
    params = getattr(score_fn, "parameters", None)
    if callable(params):
        for p in params():
            if p.is_floating_point():
                return p.dtype
    return default
