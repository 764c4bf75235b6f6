"""Atomic, self-describing checkpoints.

A checkpoint is a dict of plain tensors / numbers / strings (loadable with
``torch.load(weights_only=True)``):

    model, ema           state dicts (raw and EMA weights, same keys)
    optimizer            optimiser state dict
    step                 optimiser steps taken
    ema_updates          EMA update count
    rng                  {"generator": loss RNG state, "torch": global CPU state, "cuda": [...]}
    data_position        {"epoch": int, "index": int} in the epoch's permutation
    tracker_id           wandb run id (or "") so a resumed job continues the same run
    config               the resolved Hydra config as a YAML string
    meta                 {"data_shape": [...], "data_kind": str, "format": 1, ...}

Files are ``ckpt_<step:08d>.pt`` in the run's ``checkpoints/`` folder, written to
``<name>.tmp`` then moved into place with ``os.replace`` (atomic on POSIX), so a crash
mid-write never leaves a truncated file under the final name. The newest ``keep`` are kept.
"""
from __future__ import annotations

import os
import re
import warnings
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

import torch

__all__ = ["CheckpointError", "CHECKPOINT_KEYS", "save_checkpoint", "load_checkpoint",
           "list_checkpoints", "latest_checkpoint", "checkpoint_dir"]

CHECKPOINT_KEYS = ("model", "ema", "optimizer", "step", "rng", "data_position", "config", "meta")
_PATTERN = re.compile(r"^ckpt_(\d+)\.pt$")
PathLike = Union[str, Path]


class CheckpointError(RuntimeError):
    """A checkpoint file that cannot be read or lacks required entries."""


def checkpoint_dir(run_dir: PathLike) -> Path:
    return Path(run_dir) / "checkpoints"


def save_checkpoint(state: Dict[str, Any], directory: PathLike, step: int, keep: int = 3) -> Path:
    """Write ``state`` atomically to ``directory/ckpt_<step>.pt``; delete all but the newest ``keep``."""
    if keep < 1:
        raise ValueError(f"keep must be >= 1, got {keep!r}")
    missing = [k for k in CHECKPOINT_KEYS if k not in state]
    if missing:
        raise ValueError(f"checkpoint state lacks {missing}")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / f"ckpt_{int(step):08d}.pt"
    tmp = final.with_name(final.name + ".tmp")
    with open(tmp, "wb") as fh:
        torch.save(state, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, final)
    for old in list_checkpoints(directory)[:-keep]:
        try:
            old.unlink()
        except OSError:  # pragma: no cover - another process removed it
            pass
    return final


def list_checkpoints(directory: PathLike) -> List[Path]:
    """Checkpoint files in ``directory`` sorted by step (oldest first)."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in directory.iterdir() if (m := _PATTERN.match(p.name))]
    return [p for _, p in sorted(found)]


def load_checkpoint(path: PathLike, map_location: Any = "cpu") -> Dict[str, Any]:
    """Load one checkpoint with ``weights_only=True``; ``CheckpointError`` if unreadable/incomplete."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {str(path)!r} does not exist")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # truncated zip, bad pickle, disallowed global, ...
        raise CheckpointError(f"checkpoint {str(path)!r} is corrupt or unreadable "
                              f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}); "
                              f"delete it to resume from an earlier one") from e
    if not isinstance(state, dict):
        raise CheckpointError(f"checkpoint {str(path)!r} holds a {type(state).__name__}, not a dict")
    missing = [k for k in CHECKPOINT_KEYS if k not in state]
    if missing:
        raise CheckpointError(f"checkpoint {str(path)!r} lacks entries {missing}; it was not "
                              f"written by sde_diffusion's trainer or is damaged")
    return state


def latest_checkpoint(directory: PathLike, map_location: Any = "cpu"
                      ) -> Tuple[Optional[Path], Optional[Dict[str, Any]]]:
    """The newest checkpoint in ``directory`` that loads; corrupt ones are skipped with a warning.

    Returns (None, None) when there is none; raises ``CheckpointError`` if files exist but
    none can be read.
    """
    files = list_checkpoints(directory)
    errors = []
    for path in reversed(files):
        try:
            return path, load_checkpoint(path, map_location)
        except CheckpointError as e:
            errors.append(str(e))
            warnings.warn(f"{e}; falling back to the previous checkpoint", RuntimeWarning, stacklevel=2)
    if files:
        raise CheckpointError(f"none of the {len(files)} checkpoints in {str(directory)!r} could be "
                              f"read: " + " | ".join(errors))
    return None, None
