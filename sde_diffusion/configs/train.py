"""Training-side Hydra schemas (helper H2): the ``train:`` group is ``TrainOptions`` itself,
the streamed image-folder data node, and the wandb logger node. ``register(cs)`` is called by
``configs.store.register_configs`` after the base schemas, so these entries win.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional

from omegaconf import MISSING

from ..training.options import TrainOptions
from .schemas import Config

__all__ = ["TrainRootConfig", "ImageFolderStreamConfig", "WandbLoggerConfig", "register"]


@dataclass
class TrainRootConfig(Config):
    """The root of ``conf/config.yaml`` with ``train:`` typed by ``TrainOptions``."""
    train: TrainOptions = field(default_factory=TrainOptions)


@dataclass
class ImageFolderStreamConfig:
    """``data.ImageFolderDataset``: images decoded from disk one at a time (bounded memory)."""
    _target_: str = "sde_diffusion.data.ImageFolderDataset"
    path: str = MISSING
    image_size: int = 32
    channels: int = 3
    test_fraction: float = 0.1
    seed: int = 0
    max_images: Optional[int] = None


@dataclass
class WandbLoggerConfig:
    """wandb, offline unless ``mode`` says otherwise (the WANDB_MODE env var wins over it);
    banners off (``quiet``); online without network falls back to offline after
    ``network_timeout`` seconds. ``name``/``tags`` default to the experiment's (scripts/train.py)."""
    _target_: str = "sde_diffusion.tracking.WandbTracker"
    project: str = "sde_diffusion"
    entity: Optional[str] = None
    mode: str = "offline"
    group: Optional[str] = None
    tags: List[str] = field(default_factory=list)
    name: Optional[str] = None
    notes: Optional[str] = None
    quiet: bool = True
    network_timeout: float = 3.0


def register(cs) -> None:
    """Store the training schemas in Hydra's ConfigStore ``cs``."""
    cs.store(name="base_config", node=TrainRootConfig)
    cs.store(group="train", name="base_train", node=TrainOptions)
    cs.store(group="data", name="base_image_folder_stream", node=ImageFolderStreamConfig)
    cs.store(group="logger", name="base_wandb", node=WandbLoggerConfig)
