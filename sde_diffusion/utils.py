"""Small helpers shared by every module: broadcasting and input validation."""
from __future__ import annotations

import math
import numbers
from typing import Iterable, Union

import torch

__all__ = ["append_dims", "as_time", "check_choice", "check_positive", "check_finite",
           "check_finite_number", "check_score_shape"]

TimeLike = Union[float, torch.Tensor]


def append_dims(v: torch.Tensor, ndim: int) -> torch.Tensor:
    """Append trailing singleton dims so a per-sample scalar ``v`` of shape ``(N,)`` (or a
    0-d tensor) broadcasts against data of rank ``ndim``: ``(N,) -> (N, 1, ..., 1)``."""
    missing = ndim - v.ndim
    if missing < 0:
        raise ValueError(f"append_dims: tensor of rank {v.ndim} has more dims than the target {ndim}")
    return v.reshape(v.shape + (1,) * missing)


def as_time(t: TimeLike, *, T: float | None = None, like: torch.Tensor | None = None,
            dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Turn ``t`` (float or tensor) into a float64 tensor, checking ``0 <= t <= T``.

    The range check is done only for CPU tensors and Python numbers, so that solver loops on
    CUDA never synchronise with the host.
    """
    if not torch.is_tensor(t):
        t = torch.tensor(float(t), dtype=dtype, device=like.device if like is not None else None)
    else:
        t = t.to(dtype)
    if T is not None and t.device.type == "cpu" and t.numel() > 0:
        lo, hi = float(t.min()), float(t.max())
        if not (lo >= 0.0 and hi <= T * (1 + 1e-12)):
            bad = lo if not lo >= 0.0 else hi
            raise ValueError(f"time t={bad!r} is outside [0, T={T}]")
    return t


def check_choice(name: str, value: str, choices: Iterable[str]) -> str:
    """Raise ``ValueError`` naming the bad value and the valid choices."""
    choices = tuple(choices)
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}; valid choices: {', '.join(map(repr, choices))}")
    return value


def check_finite_number(name: str, value) -> float:
    """A finite real number (Python/numpy scalar or one-element tensor; not bool) as a float;
    TypeError for other types, ValueError (naming the value) for NaN/inf."""
    if isinstance(value, bool) or not (isinstance(value, numbers.Real)
                                       or (torch.is_tensor(value) and value.numel() == 1)):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} {value!r}")
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return v


def check_positive(name: str, value: float) -> float:
    """A finite number > 0 (ValueError naming the value otherwise, e.g. NaN, inf, 0)."""
    if isinstance(value, bool) or not (isinstance(value, numbers.Real)
                                       or (torch.is_tensor(value) and value.numel() == 1)):
        raise TypeError(f"{name} must be a positive number, got {type(value).__name__} {value!r}")
    if not (math.isfinite(float(value)) and value > 0):
        raise ValueError(f"{name} must be positive and finite, got {value!r}")
    return value


def check_finite(name: str, x: torch.Tensor) -> torch.Tensor:
    """Raise ``ValueError`` if ``x`` holds NaN or inf (one host sync: use at API boundaries)."""
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} contains non-finite values (NaN or inf)")
    return x


def check_score_shape(score: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """A score function must return a tensor of exactly x's shape."""
    if not torch.is_tensor(score) or score.shape != x.shape:
        got = tuple(score.shape) if torch.is_tensor(score) else type(score).__name__
        raise ValueError(f"score function returned shape {got}, expected x's shape {tuple(x.shape)}")
    return score
