"""Data sets as ``torch.utils.data.Dataset``s, a resumable batch sampler and the loader.

Every data set yields ``x`` (a float32 tensor of ``data_shape``) or ``(x, label)`` when labels
exist, and carries ``info`` (name, kind, shape, value range, bits). ``make_loader`` feeds one
through a ``DataLoader`` whose ``ResumableBatchSampler`` draws the epoch's seeded permutation

    perm_e = randperm(N, seed = seed * 1_000_003 + e),  batch k = perm_e[k B : (k + 1) B]

(the incomplete tail is dropped). Under DDP rank r of W takes ``[k B + r B/W, k B + (r+1) B/W)``
of the same global batch, so the union over ranks is the single-process batch (the job
``DistributedSampler`` does, but with a start position). ``set_position(epoch, batch)`` makes
the next iterator start at that batch, which is how a resumed run continues exactly.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, Optional, Tuple

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

__all__ = ["DataInfo", "TensorData", "ResumableBatchSampler", "make_loader", "data_identity",
           "tensor_hash"]


@dataclass(frozen=True)
class DataInfo:
    """What consumers need to know about a data set's samples."""
    name: str
    kind: str  # "points" or "images"
    data_shape: Tuple[int, ...]
    value_range: Optional[Tuple[float, float]] = None
    bits: Optional[int] = None
    num_classes: Optional[int] = None


def tensor_hash(x: torch.Tensor) -> str:
    """sha256 (first 16 hex digits) of ``x``'s float32 values in order: the content hash a run
    records as ``meta["data"]["hash"]`` (the same as ``training.loading.data_identity``)."""
    h = hashlib.sha256()
    flat = x.detach().to("cpu", torch.float32).contiguous()
    for chunk in flat.reshape(flat.shape[0], -1).split(65536):
        h.update(chunk.numpy().tobytes())
    return h.hexdigest()[:16]


class TensorData(Dataset):
    """An in-memory data set: ``x`` of shape (N, *data_shape), optional integer ``labels`` (N,)."""

    def __init__(self, x: torch.Tensor, info: DataInfo, labels: Optional[torch.Tensor] = None):
        if not torch.is_tensor(x) or x.ndim < 2 or x.shape[0] == 0:
            raise ValueError(f"{info.name}: x must be a non-empty tensor (N, ...), got "
                             f"{tuple(x.shape) if torch.is_tensor(x) else type(x).__name__}")
        if labels is not None and (labels.shape != (x.shape[0],)):
            raise ValueError(f"{info.name}: labels must have shape ({x.shape[0]},), got "
                             f"{tuple(labels.shape)}")
        bad = int((~torch.isfinite(x)).sum()) if x.is_floating_point() else 0
        if bad:
            raise ValueError(f"{info.name}: x contains {bad} NaN or inf values")
        self.x, self.labels, self.info = x, labels, info
        self._hash: Optional[str] = None

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def __getitem__(self, i: int):
        return self.x[i] if self.labels is None else (self.x[i], self.labels[i])

    def __getitems__(self, idx: List[int]) -> list:
        """A whole batch in one indexing (the DataLoader's fast path); per-sample views."""
        idx_t = torch.as_tensor(idx, dtype=torch.long)
        xs = self.x[idx_t].unbind(0)
        if self.labels is None:
            return list(xs)
        return list(zip(xs, self.labels[idx_t].unbind(0)))

    def identity(self) -> Dict[str, Any]:
        if self._hash is None:
            self._hash = tensor_hash(self.x)
        return {"name": self.info.name, "shape": list(self.info.data_shape), "hash": self._hash}


def sample_of(item: Any) -> Any:
    """The data tensor of one data-set item: ``item`` itself, or ``item[0]`` of an (x, ...)
    tuple or list (e.g. (x, label))."""
    return item[0] if isinstance(item, (tuple, list)) else item


def data_identity(dataset: Any) -> Dict[str, Any]:
    """{"name", "shape", "hash"} of a data set: its own ``identity()`` when it has one, else the
    hash of every sample's float32 values in order (read once, one sample at a time)."""
    if hasattr(dataset, "identity"):
        return dict(dataset.identity())
    h, shape = hashlib.sha256(), None
    for i in range(len(dataset)):
        x = sample_of(dataset[i])
        shape = [int(d) for d in x.shape]
        h.update(x.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    name = getattr(getattr(dataset, "info", None), "name", type(dataset).__name__)
    return {"name": name, "shape": shape, "hash": h.hexdigest()[:16]}


class ResumableBatchSampler(Sampler):
    """Batches of indices of the seeded per-epoch permutation; this rank's share of each global
    batch of ``batch_size``; starts at ``set_position``'s batch."""

    def __init__(self, n: int, batch_size: int, seed: int = 0, rank: int = 0, world_size: int = 1):
        if n < batch_size:
            raise ValueError(f"batch_size={batch_size} exceeds the {n} training samples; lower "
                             f"train.batch_size")
        if batch_size % world_size:
            raise ValueError(f"batch_size={batch_size} (the global batch) is not divisible by the "
                             f"{world_size} processes; use a multiple of {world_size}")
        self.n, self.batch_size, self.seed = int(n), int(batch_size), int(seed)
        self.rank, self.world_size = int(rank), int(world_size)
        self.epoch, self.start = 0, 0

    @property
    def batches_per_epoch(self) -> int:
        return self.n // self.batch_size

    def set_position(self, epoch: int, batch: int) -> None:
        """The next iterator yields batch ``batch`` of epoch ``epoch`` first."""
        if batch < 0 or batch > self.batches_per_epoch or epoch < 0:
            raise ValueError(f"data position (epoch={epoch}, batch={batch}) out of range; an epoch "
                             f"has {self.batches_per_epoch} batches")
        self.epoch, self.start = int(epoch), int(batch)

    def permutation(self, epoch: int) -> torch.Tensor:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        return torch.randperm(self.n, generator=g)

    def __iter__(self) -> Iterator[List[int]]:
        perm, B = self.permutation(self.epoch), self.batch_size
        b = B // self.world_size
        for k in range(self.start, self.batches_per_epoch):
            lo = k * B + self.rank * b
            yield perm[lo:lo + b].tolist()

    def __len__(self) -> int:
        return self.batches_per_epoch - self.start


def make_loader(dataset: Dataset, batch_size: int, seed: int = 0, num_workers: int = 0,
                device: Any = "cpu", rank: int = 0, world_size: int = 1) -> DataLoader:
    """A ``DataLoader`` over ``dataset`` with a ``ResumableBatchSampler`` (global ``batch_size``),
    ``num_workers`` worker processes and pinned memory when training on CUDA."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 0:
        raise ValueError(f"num_workers must be a non-negative integer, got {num_workers!r}")
    if len(dataset) == 0:
        raise ValueError("the training data set is empty")
    sampler = ResumableBatchSampler(len(dataset), batch_size, seed, rank, world_size)
    return DataLoader(dataset, batch_sampler=sampler, num_workers=num_workers,
                      pin_memory=torch.device(device).type == "cuda",
                      persistent_workers=num_workers > 0,
                      generator=torch.Generator().manual_seed(int(seed)))  # worker seeds
