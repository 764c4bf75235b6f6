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
    config               the model spec (``registry.model_spec``: sde, net, parameterisation);
                         runs before format 2 hold the resolved Hydra config as a YAML string
    meta                 {"data_shape", "data_kind", "data_name", "data": {name, shape, hash},
                          "train_options", "run_config", "seed", "format": 2, ...}
    ema_extra            {str(decay): state dict} for extra EMA decays (optional)

Files are ``ckpt_<step:08d>.pt`` in the run's ``checkpoints/`` folder, written to
``<name>.tmp`` then moved into place with ``os.replace`` (atomic on POSIX), so a crash
mid-write never leaves a truncated file under the final name; a failed write removes its
temporary file, and ``clean_stale_tmp`` removes those a ``kill -9`` left behind (only names of
that exact form, never through a linked folder). A ``checkpoints/`` that links out of its run
is refused. Reading opens regular files only; a newest file that cannot be read (corrupt, a
FIFO, a link to a device, tensors that are not plain) is skipped for the newest good one, and
one logged warning names both, once per process and cause (a run loaded again with the same
files is not reported again). Pruning keeps the newest ``keep`` files *up to the step just
written* and never touches a higher step.

Finiteness rule (``check_savable``): a checkpoint is written only if every weight, EMA weight
and optimiser state value is finite and every weight is at most ``max_weight_abs`` (default
1e6) in magnitude. Why a magnitude bound and not only finiteness: with lr = 1e30 one Adam step
moves each weight by ~lr, so the weights are ~1e28 yet finite, and the next forward pass
overflows. Trained networks here have weights of order 1 (initialisation ~ 1/sqrt(fan_in),
trained |w| < 1e2 in every run measured), so 1e6 is four orders above anything healthy and
far below float32 overflow; a checkpoint past it would only resume into NaN.
"""
from __future__ import annotations

import logging
import math
import os
import re
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

import torch

from ..contract import as_steps
from ..weights_file import UnsafeFileError, check_storages, iter_tensors, open_regular
from .files import inside, write_error

__all__ = ["CheckpointError", "CheckpointWriteError", "UnsafeCheckpointError", "CHECKPOINT_KEYS",
           "save_checkpoint", "load_checkpoint", "list_checkpoints", "latest_checkpoint",
           "checkpoint_dir", "clean_stale_tmp", "check_savable", "move_aside", "ema_state"]

CHECKPOINT_KEYS = ("model", "ema", "optimizer", "step", "rng", "data_position", "config", "meta")
_PATTERN = re.compile(r"^ckpt_(\d+)\.pt$")
_TMP_PATTERN = re.compile(r"^ckpt_\d+\.pt\.tmp$")
PathLike = Union[str, Path]
log = logging.getLogger(__name__)
_reported_fallbacks: set = set()


class CheckpointError(RuntimeError):
    """A checkpoint file that cannot be read or lacks required entries."""


class CheckpointWriteError(OSError):
    """A checkpoint could not be written (read-only folder, disk full, ...)."""


class UnsafeCheckpointError(FloatingPointError):
    """The state holds non-finite or runaway values; it was not written."""


def check_savable(state: Dict[str, Any], max_weight_abs: Optional[float] = 1e6) -> None:
    """Raise ``UnsafeCheckpointError`` naming the first non-finite tensor in the weights, EMA
    weights or optimiser state, or the largest weight above ``max_weight_abs``."""
    for key in ("model", "ema", "ema_extra", "optimizer"):
        for name, t in iter_tensors(state.get(key, {}), key):
            if t.is_floating_point() and t.numel() and not bool(torch.isfinite(t).all()):
                raise UnsafeCheckpointError(f"{name} holds NaN or inf")
    if max_weight_abs is not None:
        for key in ("model", "ema"):
            for name, t in iter_tensors(state.get(key, {}), key):
                if t.is_floating_point() and t.numel():
                    m = float(t.abs().max())
                    if m > max_weight_abs:
                        raise UnsafeCheckpointError(
                            f"{name} has |w| = {m:.3g} > max_weight_abs = {max_weight_abs:g} "
                            f"(the run diverged)")


def clean_stale_tmp(directory: PathLike) -> List[Path]:
    """Remove the ``ckpt_<step>.pt.tmp`` files a killed save left in ``directory`` (no other
    name; never through a linked folder); returns them."""
    directory = Path(directory)
    if directory.is_symlink():
        raise UnsafeFileError(f"{str(directory)!r} is a link (to {os.path.realpath(directory)!r}); "
                              f"refusing to remove files through it")
    removed = []
    if directory.is_dir():
        for p in directory.iterdir():
            if _TMP_PATTERN.match(p.name) and (p.is_symlink() or p.is_file()):
                try:
                    p.unlink()
                    removed.append(p)
                except OSError:  # pragma: no cover - removed concurrently
                    pass
    return removed


def move_aside(directory: PathLike) -> Optional[Path]:
    """Rename a non-empty ``directory`` to ``<directory>.old-<YYYYmmdd-HHMMSS>[-k]``; returns the
    new path (None when there was nothing to move)."""
    directory = Path(directory)
    if not directory.is_dir() or not any(directory.iterdir()):
        return None
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target, k = directory.with_name(f"{directory.name}.old-{stamp}"), 1
    while target.exists():
        target, k = directory.with_name(f"{directory.name}.old-{stamp}-{k}"), k + 1
    os.replace(directory, target)
    return target


def ema_state(state: Dict[str, Any], which: Union[bool, float, str] = True) -> Dict[str, Any]:
    """The weights to load: raw (``False``), the primary EMA (``True``), or the EMA of a given
    decay (a float or its string, one of ``state["ema_extra"]`` or the primary's)."""
    if which is False:
        return state["model"]
    if which is True:
        return state["ema"]
    extra = state.get("ema_extra") or {}
    primary = state.get("meta", {}).get("ema_decay")
    try:
        d = float(which)
    except (TypeError, ValueError):
        raise ValueError(f"use_ema={which!r} is not valid; valid: true, false or one of the "
                         f"decays {sorted(extra)}") from None
    if primary is not None and math.isclose(d, float(primary)):
        return state["ema"]
    for k, v in extra.items():
        if math.isclose(d, float(k)):
            return v
    raise ValueError(f"no EMA of decay {which!r} in this checkpoint; kept decays: "
                     f"{([str(primary)] if primary is not None else []) + sorted(extra)}")


def checkpoint_dir(run_dir: PathLike) -> Path:
    """``<run_dir>/checkpoints``; ``UnsafeFileError`` when it is a link out of the run."""
    d = Path(run_dir) / "checkpoints"
    if d.is_symlink() and not inside(d, run_dir):
        raise UnsafeFileError(f"{str(d)!r} is a link to {os.path.realpath(d)!r}, outside the run "
                              f"folder; refusing to read, write or clean checkpoints there")
    return d


def save_checkpoint(state: Dict[str, Any], directory: PathLike, step: int, keep: int = 3,
                    max_weight_abs: Optional[float] = None, check: bool = False) -> Path:
    """Write ``state`` atomically to ``directory/ckpt_<step>.pt``; then delete the older files
    beyond the newest ``keep`` with step <= ``step``. With ``check`` the state must first pass
    ``check_savable`` (else ``UnsafeCheckpointError``, nothing written). A failed write removes
    its temporary file and raises ``CheckpointWriteError`` naming the folder and the cause."""
    keep = as_steps(keep, "keep")
    missing = [k for k in CHECKPOINT_KEYS if k not in state]
    if missing:
        raise ValueError(f"checkpoint state lacks {missing}")
    if check:
        check_savable(state, max_weight_abs)
    directory = Path(directory)
    final = directory / f"ckpt_{int(step):08d}.pt"
    tmp = final.with_name(final.name + ".tmp")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as fh:
            torch.save(state, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, final)
    except BaseException as e:
        try:
            tmp.unlink()
        except OSError:
            pass
        why = write_error(e)
        if why is not None:
            raise CheckpointWriteError(f"cannot write checkpoint {str(final)!r}: {why}; the "
                                       f"previous checkpoints are kept; free space or choose a "
                                       f"writable run folder") from None
        raise
    older = [p for p in list_checkpoints(directory) if _step_of(p) <= int(step)]
    for old in older[:-keep]:
        try:
            old.unlink()
        except OSError:  # pragma: no cover - another process removed it
            pass
    return final


def _step_of(path: Path) -> int:
    return int(_PATTERN.match(path.name).group(1))


def list_checkpoints(directory: PathLike) -> List[Path]:
    """Checkpoint files in ``directory`` sorted by step (oldest first)."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in directory.iterdir() if (m := _PATTERN.match(p.name))]
    return [p for _, p in sorted(found)]


def load_checkpoint(path: PathLike, map_location: Any = "cpu") -> Dict[str, Any]:
    """Load one checkpoint (a regular file) with ``weights_only=True``; ``CheckpointError`` if
    it is not a regular file, unreadable, incomplete or holds tensors that are not plain."""
    path = Path(path)
    try:
        fh = open_regular(path, "checkpoint")
    except UnsafeFileError as e:
        raise CheckpointError(str(e)) from None
    try:
        with fh:
            state = torch.load(fh, map_location=map_location, weights_only=True)
    except Exception as e:  # truncated zip, bad pickle, disallowed global, ...
        raise CheckpointError(f"checkpoint {str(path)!r} is corrupt or unreadable "
                              f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}); "
                              f"delete it to resume from an earlier one") from None
    if not isinstance(state, dict):
        raise CheckpointError(f"checkpoint {str(path)!r} holds a {type(state).__name__}, not a dict")
    missing = [k for k in CHECKPOINT_KEYS if k not in state]
    if missing:
        raise CheckpointError(f"checkpoint {str(path)!r} lacks entries {missing}; it was not "
                              f"written by sde_diffusion's trainer or is damaged")
    try:
        check_storages(state, f"checkpoint {str(path)!r}")
    except UnsafeFileError as e:
        raise CheckpointError(str(e)) from None
    return state


def _report_fallback(used: Path, errors: List[str]) -> None:
    """Log the fallback once per process for one (checkpoint used, skipped files) pair.

    A logged warning, not ``warnings.warn``: the cause is a file, not the caller's code, so the
    Python source line that ``warnings`` prints says nothing; and the ``warnings`` registry
    de-duplicates per call site, not per cause.
    """
    key = (str(used.resolve()), tuple(errors))
    if key in _reported_fallbacks:
        return
    _reported_fallbacks.add(key)
    log.warning("falling back to %s, the newest readable checkpoint; skipped %d newer: %s",
                used.name, len(errors), " | ".join(errors))


def latest_checkpoint(directory: PathLike, map_location: Any = "cpu"
                      ) -> Tuple[Optional[Path], Optional[Dict[str, Any]]]:
    """The newest checkpoint in ``directory`` that loads; unreadable ones are skipped and one
    logged warning (once per process and cause) names them and the checkpoint used instead.

    Returns (None, None) when there is none; raises ``CheckpointError`` if files exist but
    none can be read.
    """
    files = list_checkpoints(directory)
    errors = []
    for path in reversed(files):
        try:
            state = load_checkpoint(path, map_location)
        except (CheckpointError, FileNotFoundError) as e:
            errors.append(str(e))
            continue
        if errors:
            _report_fallback(path, errors)
        return path, state
    if files:
        raise CheckpointError(f"none of the {len(files)} checkpoints in {str(directory)!r} could be "
                              f"read: " + " | ".join(errors))
    return None, None
