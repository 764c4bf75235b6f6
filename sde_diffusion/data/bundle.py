"""The DataBundle every data source returns, and ``build_data`` (Hydra's ``instantiate``)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional, Tuple

import torch

__all__ = ["DataBundle", "build_data"]


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


def build_data(cfg) -> DataBundle:
    """Build a DataBundle from a config node with ``_target_`` (Hydra's instantiate)."""
    from hydra.utils import instantiate
    from omegaconf import DictConfig, OmegaConf

    if isinstance(cfg, dict):
        cfg = OmegaConf.create(cfg)
    if not isinstance(cfg, DictConfig) or "_target_" not in cfg:
        raise ValueError("data config needs a '_target_' naming a data function, e.g. "
                         "sde_diffusion.data.ring; see conf/data/*.yaml")
    try:
        out = instantiate(cfg, _convert_="all")
    except Exception as e:  # Hydra wraps the real error: surface the original message
        cause = e.__cause__ or e
        if isinstance(cause, (ValueError, TypeError, ImportError, FileNotFoundError)):
            raise cause
        raise
    if not isinstance(out, DataBundle):
        raise TypeError(f"data target {cfg._target_} returned {type(out).__name__}, not a DataBundle")
    return out
