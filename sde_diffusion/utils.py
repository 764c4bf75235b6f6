"""Small helpers shared by every module: broadcasting and time arguments (input checks live in
``contract``)."""
from __future__ import annotations

from typing import Union

import torch

__all__ = ["append_dims", "as_time"]

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
