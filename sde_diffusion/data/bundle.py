"""The DataBundle every in-memory data source returns; ``bundle.dataset("train")`` is its
``torch.utils.data.Dataset`` view (``(x, label)`` items when the source has labels)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional, Tuple

import torch

from .datasets import DataInfo, TensorData

__all__ = ["DataBundle"]


@dataclass
class DataBundle:
    """Train/test tensors and what a consumer needs to know about them.

    Attributes:
        train, test: float32 tensors (N, *data_shape).
        data_shape: per-sample shape, e.g. (2,) or (C, H, W).
        kind: "points" or "images".
        name: a short label used in plots and logs.
        bits: bits per value of the original quantised data (8 for images), else None.
        value_range: the interval the quantised values were mapped onto linearly: an image
            value k in {0, ..., 2^bits - 1} is stored as ``lo + (hi - lo) k / (2^bits - 1)``
            ((-1, 1) for every image set here), so bits/dim can undo the scaling.
        reference: an exact density (``analytic.GaussianMixture``) when the data are drawn from
            one, else None.
        train_labels, test_labels: integer class labels when the source has them.
    """

    train: torch.Tensor
    test: torch.Tensor
    data_shape: Tuple[int, ...]
    kind: str
    name: str = "data"
    bits: Optional[int] = None
    value_range: Optional[Tuple[float, float]] = None
    reference: Any = None
    train_labels: Optional[torch.Tensor] = None
    test_labels: Optional[torch.Tensor] = None
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.kind not in ("points", "images"):
            raise ValueError(f"unknown data kind {self.kind!r}; valid choices: 'points', 'images'")
        self.data_shape = tuple(int(d) for d in self.data_shape)
        for split in ("train", "test"):
            x = getattr(self, split)
            if not torch.is_tensor(x) or tuple(x.shape[1:]) != self.data_shape:
                raise ValueError(f"{self.name}: {split} split must be a tensor (N, *{self.data_shape}),"
                                 f" got {tuple(x.shape) if torch.is_tensor(x) else type(x).__name__}")
            if x.shape[0] == 0:
                raise ValueError(f"{self.name}: the {split} split is empty")
            if not bool(torch.isfinite(x).all()):
                raise ValueError(f"{self.name}: the {split} split contains NaN or inf")

    @property
    def dim(self) -> int:
        """Number of values per sample."""
        n = 1
        for d in self.data_shape:
            n *= d
        return n

    def to_unit(self, x: torch.Tensor) -> torch.Tensor:
        """Images in ``value_range`` -> [0, 1] (clamped), for saving and plotting."""
        lo, hi = self.value_range or (0.0, 1.0)
        return ((x - lo) / (hi - lo)).clamp(0, 1)

    def to_uint8(self, x: torch.Tensor) -> torch.Tensor:
        """Images -> integers {0..255} (rounded), the inverse of the data's scaling."""
        return (self.to_unit(x) * 255).round().to(torch.uint8)

    @property
    def info(self) -> DataInfo:
        labels = self.train_labels
        return DataInfo(self.name, self.kind, self.data_shape, self.value_range, self.bits,
                        int(labels.max()) + 1 if labels is not None else None)

    def dataset(self, split: str = "train") -> TensorData:
        """The split as a Dataset yielding ``x`` or ``(x, label)``."""
        if split not in ("train", "test"):
            raise ValueError(f"split={split!r} is not valid; valid choices: ['train', 'test']")
        return TensorData(getattr(self, split), self.info, getattr(self, f"{split}_labels"))
