"""Linear measurements y = A x_0 + noise_std n (a matrix, or a 0/1 mask for inpainting)."""
from __future__ import annotations

import math
from typing import Optional, Sequence, Tuple

import torch

__all__ = ["LinearMeasurement"]


class LinearMeasurement:
    """y = A x_0 + noise_std * n: A (m, d) acting on flattened samples, y (m,) or (N, m).

    ``LinearMeasurement.inpainting(mask, y)`` builds A from a 0/1 mask of the data's shape
    (A = the rows of the identity where mask = 1); y may then be given in the data's shape.
    """

    def __init__(self, A, y, noise_std: float = 0.0):
        if not torch.is_tensor(A):
            A = torch.as_tensor(A)
        if A.dtype.is_complex:
            raise TypeError(f"A must be a real matrix, got dtype {A.dtype}")
        if A.ndim != 2 or A.shape[0] < 1 or A.shape[1] < 1:
            raise ValueError(f"A must be a non-empty (m, d) matrix, got shape {tuple(A.shape)}")
        A = A.to(torch.float64)
        if not bool(torch.isfinite(A).all()):
            raise ValueError("A contains non-finite values (NaN or inf)")
        y = torch.as_tensor(y).to(torch.float64)
        if y.ndim not in (1, 2) or y.shape[-1] != A.shape[0]:
            raise ValueError(f"y must have shape ({A.shape[0]},) or (N, {A.shape[0]}) for A of shape "
                             f"{tuple(A.shape)}, got {tuple(y.shape)}")
        if not bool(torch.isfinite(y).all()):
            raise ValueError("y contains non-finite values (NaN or inf)")
        if isinstance(noise_std, bool) or not isinstance(noise_std, (int, float)) \
                or not math.isfinite(noise_std) or noise_std < 0:
            raise ValueError(f"noise_std must be a finite number >= 0, got {noise_std!r}")
        self.A, self.y, self.noise_std = A, y, float(noise_std)
        self.mask: Optional[torch.Tensor] = None
        self.data_shape: Optional[Tuple[int, ...]] = None

    @classmethod
    def inpainting(cls, mask, y, noise_std: float = 0.0) -> "LinearMeasurement":
        """Observe the entries where ``mask`` (data shape, values 0/1) is 1. ``y``: the data's
        shape, (N, *data shape) (unobserved entries ignored), or the observed values (m,)/(N, m)."""
        mask = torch.as_tensor(mask)
        if mask.ndim < 1 or mask.numel() == 0:
            raise ValueError(f"mask must have the data's shape, got {tuple(mask.shape)}")
        flat = mask.reshape(-1).to(torch.float64)
        if not bool(((flat == 0) | (flat == 1)).all()):
            raise ValueError("mask must contain only 0 and 1 (1 = observed)")
        keep = flat.bool()
        if not bool(keep.any()):
            raise ValueError("mask observes nothing (all zeros): there is no measurement")
        y = torch.as_tensor(y).to(torch.float64)
        shape = tuple(mask.shape)
        if tuple(y.shape) == shape:
            y = y.reshape(-1)[keep]
        elif tuple(y.shape[1:]) == shape and y.ndim == mask.ndim + 1:
            y = y.reshape(y.shape[0], -1)[:, keep]
        A = torch.eye(flat.numel(), dtype=torch.float64)[keep]
        meas = cls(A, y, noise_std)
        meas.mask, meas.data_shape = mask.to(torch.float64), shape
        return meas

    @property
    def dim(self) -> int:
        """Values per sample the measurement acts on (d)."""
        return self.A.shape[1]

    def check_data_shape(self, data_shape: Sequence[int]) -> None:
        """ValueError if this measurement cannot act on samples of ``data_shape``."""
        data_shape = tuple(int(s) for s in data_shape)
        if self.mask is not None and self.data_shape != data_shape:
            raise ValueError(f"mask has shape {self.data_shape} but the data have shape {data_shape}")
        d = math.prod(data_shape)
        if d != self.dim:
            raise ValueError(f"A has {self.dim} columns but the data have {d} values per sample "
                             f"(shape {data_shape})")

    def _y_for(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        flat = x.reshape(n, -1)
        if flat.shape[1] != self.dim:
            raise ValueError(f"A has {self.dim} columns but x has {flat.shape[1]} values per sample")
        y = self.y.to(device=x.device, dtype=x.dtype)
        if y.ndim == 2 and y.shape[0] != n:
            raise ValueError(f"y holds {y.shape[0]} measurements but the batch has {n} samples")
        return y.expand(n, -1)

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        """A x for x (N, *shape): (N, m)."""
        return x.reshape(x.shape[0], -1) @ self.A.to(device=x.device, dtype=x.dtype).T

    def __repr__(self):
        kind = "inpainting" if self.mask is not None else "matrix"
        return f"LinearMeasurement({kind}, m={self.A.shape[0]}, d={self.dim}, noise_std={self.noise_std})"
