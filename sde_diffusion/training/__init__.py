"""Training: the Trainer loop, EMA, atomic checkpoints, and safe ``load_model``.

``load_model(path, use_ema=True)`` (``training/loading.py``) rebuilds the ScoreModel of a run
from a checkpoint file, a run directory (newest readable checkpoint), a ``latest`` link or a
``save_pretrained`` folder, building only allow-listed classes (``sde_diffusion.registry``).
The Hydra schemas and ``compose`` live in ``sde_diffusion.configs``.
"""
from __future__ import annotations

from typing import Any

from .checkpoint import (CheckpointError, checkpoint_dir, latest_checkpoint, list_checkpoints,
                         load_checkpoint, save_checkpoint)
from .ema import EMA
from .loading import NonFiniteWeightsError, RunConfig, load_model, resolve_checkpoint
from .trainer import (NonFiniteLossError, Trainer, TrainResult, build_model, build_sde,
                      generate_samples, sampler_arguments, select_device, seed_everything,
                      sliced_wasserstein_report)

__all__ = ["Trainer", "TrainResult", "EMA", "NonFiniteLossError", "CheckpointError",
           "NonFiniteWeightsError", "RunConfig", "load_model", "load_checkpoint",
           "save_checkpoint", "latest_checkpoint", "list_checkpoints", "resolve_checkpoint",
           "checkpoint_dir", "build_model", "build_sde", "generate_samples", "sampler_arguments",
           "select_device", "seed_everything", "sliced_wasserstein_report"]

_MOVED = {"compose_config": "compose", "CONF_DIR": "CONF_DIR", "register_configs": "register_configs",
          "Config": "Config", "TrainConfig": "TrainConfig", "SampleConfig": "SampleConfig"}


def __getattr__(name: str) -> Any:
    """Transition shim: the Hydra names moved to ``sde_diffusion.configs`` (remove after merge)."""
    if name in _MOVED:
        import importlib
        return getattr(importlib.import_module("sde_diffusion.configs"), _MOVED[name])
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
