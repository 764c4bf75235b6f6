"""The DataBundle every in-memory data source returns; ``bundle.dataset("train")`` is its
``torch.utils.data.Dataset`` view (``(x, label)`` items when the source has labels).
``as_training_data`` turns a user's own tensor, TensorDataset, Dataset or DataLoader into what
the trainer needs (shape and kind inferred)."""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any, Optional, Tuple

import torch

from .datasets import DataInfo, TensorData, sample_of

__all__ = ["DataBundle", "as_training_data", "training_data_std"]


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


def _infer_info(x: torch.Tensor, name: str, labels: Optional[torch.Tensor] = None) -> DataInfo:
    """DataInfo of one sample (or a batch's sample) ``x``: images if (C, H, W), else points."""
    shape = tuple(int(d) for d in x.shape)
    classes = int(labels.max()) + 1 if labels is not None and labels.numel() else None
    return DataInfo(name, "images" if len(shape) == 3 else "points", shape, num_classes=classes)


def _check_values(x: Any, what: str) -> torch.Tensor:
    if not torch.is_tensor(x):
        raise TypeError(f"{what} must be a tensor (N, *data_shape), got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{what} must hold real floating-point values, got dtype {x.dtype}; "
                        f"convert with x.float()")
    return x


def _labels(y: Any, n: int, what: str) -> Optional[torch.Tensor]:
    if y is None:
        return None
    if not torch.is_tensor(y) or y.dtype.is_floating_point or y.dtype.is_complex or y.shape != (n,):
        raise TypeError(f"{what} labels must be an integer tensor of shape ({n},), got "
                        f"{getattr(y, 'dtype', type(y).__name__)} {tuple(getattr(y, 'shape', ()))}")
    return y.long()


def as_training_data(data: Any, name: str = "tensor") -> Tuple[Any, DataInfo, Optional[DataBundle]]:
    """``(dataset or loader, info, bundle)`` for the trainer from any of

    - a ``DataBundle``: its train split; the bundle is the evaluation reference;
    - a float tensor ``x`` (N, *data_shape) or a ``TensorDataset(x[, labels])``: a bundle whose
      train and test splits are both ``x`` (the final metrics then compare with the training
      data), shape inferred ((C, H, W) = images, else points);
    - a ``DataLoader`` or ``Dataset``: kept; its ``info`` if it has one, else inferred from the
      first sample (bundle None).
    """
    from torch.utils.data import DataLoader, Dataset, TensorDataset
    if isinstance(data, DataBundle):
        return data.dataset("train"), data.info, data
    if torch.is_tensor(data) or isinstance(data, TensorDataset):
        tensors = (data,) if torch.is_tensor(data) else tuple(data.tensors)
        if not 1 <= len(tensors) <= 2:
            raise TypeError(f"a TensorDataset for training holds (x,) or (x, labels), got "
                            f"{len(tensors)} tensors")
        x = _check_values(tensors[0], "the training data")
        if x.ndim < 2 or x.shape[0] < 1:
            raise ValueError(f"the training data must have shape (N, *data_shape) with N >= 1, got "
                             f"{tuple(x.shape)}")
        y = _labels(tensors[1] if len(tensors) == 2 else None, x.shape[0], "the training data's")
        info = _infer_info(x[0], name, y)
        bundle = DataBundle(x, x, info.data_shape, info.kind, name, train_labels=y, test_labels=y)
        return bundle.dataset("train"), bundle.info, bundle
    loader = data if isinstance(data, DataLoader) else None
    dataset = loader.dataset if loader is not None else data
    if not isinstance(dataset, Dataset):
        raise TypeError(f"data must be a tensor, a TensorDataset, a Dataset, a DataLoader or a "
                        f"DataBundle, got {type(data).__name__}")
    if isinstance(dataset, TensorDataset) and getattr(dataset, "info", None) is None:
        _, info, _ = as_training_data(dataset, name)
        return data, info, None
    info = getattr(dataset, "info", None)
    if info is None:
        if len(dataset) == 0:  # type: ignore[arg-type]
            raise ValueError("the training data set is empty")
        x = sample_of(dataset[0])
        info = _infer_info(_check_values(x, "a sample of the training data"), type(dataset).__name__)
    return data, info, None


log = logging.getLogger(__name__)


def training_data_std(data: Any, limit: int = 4096) -> float:
    """The standard deviation of the first ``limit`` training samples, all finite values
    pooled: the sigma_data a model with ``data_std=None`` (Python) or ``model.data_std: null``
    (Hydra) gets. ``data``: a ``DataBundle`` or a Dataset of tensors or ``(x, ...)`` tuples.
    Non-finite values are left out (the loss reports them at the first step); constant data
    (std 0) give 1 with a warning."""
    if isinstance(data, DataBundle):
        items = [data.train[:limit]]
    else:  # one sample at a time: a streamed data set is never held whole (bounded memory)
        items = (sample_of(data[i]) for i in range(min(len(data), limit)))
    n, mean, m2, total = 0, 0.0, 0.0, 0
    for x in items:                 # pooled mean and squared deviations (Chan et al.'s update)
        x = torch.as_tensor(x).double().flatten()
        total += x.numel()
        x = x[torch.isfinite(x)]
        k = x.numel()
        if k == 0:
            continue
        mk = float(x.mean())
        m2 += float((x - mk).pow(2).sum()) + (mk - mean) ** 2 * n * k / (n + k)
        mean += (mk - mean) * k / (n + k)
        n += k
    if total < 2:
        raise ValueError(f"cannot estimate data_std from {total} value(s); give the model "
                         f"an explicit data_std")
    std = round(math.sqrt(m2 / (n - 1)), 6) if n >= 2 else 0.0
    if not std > 0:
        log.warning("the training data have no spread (std %g): data_std = 1", std)
        return 1.0
    return std
