"""Training: the Trainer loop, EMA, atomic checkpoints, ``load_model``, Hydra config schemas.

``load_model(path, use_ema=True)`` rebuilds the ScoreModel of a run from a checkpoint file or a
run directory (newest readable checkpoint) using only the checkpoint's own resolved config.
Importing this package registers the structured-config schemas used by ``conf/``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Sequence, Union

from omegaconf import DictConfig, OmegaConf

from .checkpoint import (CheckpointError, checkpoint_dir, latest_checkpoint, list_checkpoints,
                         load_checkpoint, save_checkpoint)
from .config import Config, SampleConfig, TrainConfig, register_configs
from .ema import EMA
from .trainer import (NonFiniteLossError, Trainer, TrainResult, build_model, build_sde,
                      generate_samples, sampler_arguments, select_device, seed_everything,
                      sliced_wasserstein_report)

__all__ = ["Trainer", "TrainResult", "EMA", "NonFiniteLossError", "CheckpointError",
           "load_model", "load_checkpoint", "save_checkpoint", "latest_checkpoint",
           "list_checkpoints", "resolve_checkpoint", "checkpoint_dir", "build_model", "build_sde",
           "generate_samples", "sampler_arguments", "select_device", "seed_everything",
           "sliced_wasserstein_report", "register_configs", "compose_config", "CONF_DIR",
           "Config", "TrainConfig", "SampleConfig"]

register_configs()

CONF_DIR = Path(__file__).resolve().parents[2] / "conf"


def resolve_checkpoint(path: Union[str, Path], map_location: Any = "cpu"):
    """(checkpoint path, state) for a checkpoint file or a run directory (its newest readable
    checkpoint in ``checkpoints/``, or in the directory itself)."""
    p = Path(path)
    if p.is_dir():
        for d in (checkpoint_dir(p), p):
            found, state = latest_checkpoint(d, map_location=map_location)
            if state is not None:
                return found, state
        raise FileNotFoundError(f"no checkpoint (ckpt_*.pt) in {str(p)!r} or its checkpoints/ folder")
    return p, load_checkpoint(p, map_location=map_location)


def load_model(path: Union[str, Path], use_ema: bool = True, map_location: Any = "cpu"):
    """Rebuild a trained ScoreModel: ``(model, cfg)``.

    Args:
        path: a checkpoint file or a run directory.
        use_ema: load the EMA weights (default; what sampling and evaluation should use) or the
            raw weights.
        map_location: where to put the weights.
    Returns:
        (ScoreModel in eval mode, the run's resolved config as a DictConfig with an extra
        ``_meta_`` node: data_shape, data_kind, data_name, value_range, bits, step, use_ema).
    """
    _, state = resolve_checkpoint(path, map_location=map_location)
    cfg = OmegaConf.create(state["config"])
    sde = build_sde(cfg.sde)
    shape = list(state["meta"]["data_shape"])
    model = build_model(cfg.model, sde, shape, state["meta"].get("data_name", "data"))
    model.load_state_dict(state["ema"] if use_ema else state["model"])
    model.to(map_location if not callable(map_location) else "cpu").eval()
    OmegaConf.set_struct(cfg, False)
    meta = dict(state["meta"])
    if meta.get("data_kind") == "images" and "value_range" not in meta:  # early format-1 files
        meta.update(value_range=[-1.0, 1.0], bits=8)  # every image set here uses this scaling
    cfg._meta_ = {"data_shape": shape, "data_kind": meta.get("data_kind"),
                  "data_name": meta.get("data_name"), "value_range": meta.get("value_range"),
                  "bits": meta.get("bits"), "step": int(state["step"]), "use_ema": bool(use_ema)}
    return model, cfg


def compose_config(overrides: Sequence[str] = (), config_name: str = "config",
                   config_dir: Optional[Union[str, Path]] = None) -> DictConfig:
    """Compose ``conf/<config_name>.yaml`` with Hydra's compose API (tests, notebooks, torchrun
    launchers that own argv). Validation errors are raised like on the command line."""
    from hydra import compose, initialize_config_dir
    with initialize_config_dir(config_dir=str(config_dir or CONF_DIR), version_base="1.3"):
        return compose(config_name=config_name, overrides=list(overrides))
