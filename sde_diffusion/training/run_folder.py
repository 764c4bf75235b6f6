"""The run folder: writable check, stale temporary files, fresh start vs resume, identity
checks on resume, and the per-experiment ``latest`` link.

Nothing is lost: ``resume=false`` in a folder that holds checkpoints refuses (naming the
folder and the options) or, with ``fresh_start="move"``, renames ``checkpoints/`` aside; it
never deletes anything. A resume compares the run's identity (seed, data, model spec) with
the checkpoint's and refuses on a difference unless ``resume_ignore`` names it.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
import warnings
from typing import Any, Dict, List, Optional

from ..io.checkpoints import (CheckpointWriteError, checkpoint_dir, clean_stale_tmp, list_checkpoints,
                         move_aside)
from .options import TrainOptions

__all__ = ["prepare_run_dir", "identity_differences", "link_latest", "spec_or_none"]

log = logging.getLogger(__name__)


def prepare_run_dir(run_dir: Path, options: TrainOptions, is_main: bool = True) -> List[Path]:
    """Create/check ``run_dir``; clean stale ``.tmp``; apply the fresh-start policy. Returns the
    checkpoints a resume may use (empty on a fresh start)."""
    run_dir = Path(run_dir)
    ckdir = checkpoint_dir(run_dir)
    if is_main:
        probe = run_dir / ".write_test"
        try:
            run_dir.mkdir(parents=True, exist_ok=True)
            probe.write_bytes(b"ok")
            probe.unlink()
        except OSError as e:
            raise CheckpointWriteError(f"run folder {str(run_dir)!r} is not writable "
                                       f"({e.strerror or e}); choose another output folder") from None
        for p in clean_stale_tmp(ckdir):
            log.warning("removed a stale temporary file %s (a save was interrupted)", p)
    files = list_checkpoints(ckdir)
    if files and not options.resume:
        if options.fresh_start == "refuse":
            raise FileExistsError(
                f"run folder {str(run_dir)!r} already holds {len(files)} checkpoint(s) (newest "
                f"{files[-1].name}) and train.resume=false: refusing to start over them. Use "
                f"train.resume=true to continue that run, train.fresh_start=move to move them "
                f"aside, or another output folder")
        if is_main:
            moved = move_aside(ckdir)
            log.warning("train.fresh_start=move: moved the old checkpoints to %s", moved)
        return []
    return files if options.resume else []


def _flat(d: Any, prefix: str) -> Dict[str, Any]:
    if isinstance(d, dict):
        out: Dict[str, Any] = {}
        for k, v in d.items():
            out.update(_flat(v, f"{prefix}.{k}"))
        return out
    return {prefix: list(d) if isinstance(d, tuple) else d}


def identity_differences(old: Dict[str, Any], new: Dict[str, Any],
                         ignore=()) -> List[str]:
    """Differences ``"model.net.hidden: 32 -> 16"`` between two run identities {"seed", "data",
    "model"}; keys absent from ``old`` (older checkpoints) or listed in ``ignore`` are skipped."""
    out = []
    for key in ("seed", "data", "model"):
        if key in ignore or old.get(key) is None:
            continue
        a, b = _flat(old[key], key), _flat(new.get(key), key)
        out += [f"{k}: {a.get(k)!r} -> {b.get(k)!r}" for k in sorted(set(a) | set(b))
                if a.get(k) != b.get(k)]
    return out


def link_latest(run_dir: Path, name: str = "latest") -> Optional[Path]:
    """Point ``<run_dir's parent>/latest`` at ``run_dir`` (a relative symlink, replaced
    atomically). Returns the link, or None where symlinks are not possible."""
    run_dir = Path(run_dir).resolve()
    link = run_dir.parent / name
    tmp = run_dir.parent / f".{name}.{os.getpid()}.tmp"
    try:
        if tmp.is_symlink() or tmp.exists():
            tmp.unlink()
        os.symlink(run_dir.name, tmp)
        os.replace(tmp, link)
        return link
    except OSError as e:  # no symlinks on this file system, or a real folder named latest
        log.warning("could not update %s (%s)", link, e)
        try:
            tmp.unlink()
        except OSError:
            pass
        return None


def spec_or_none(model) -> Optional[Dict[str, Any]]:
    """``registry.model_spec(model)``, or None (with a warning) for a model outside the
    allow-list: it trains, but ``load_model`` cannot rebuild it from the checkpoint."""
    from .. import registry
    try:
        return registry.model_spec(model)
    except ValueError as e:
        warnings.warn(f"the model cannot be recorded as a spec ({e}); checkpoints will hold its "
                      f"weights but load_model cannot rebuild it", RuntimeWarning, stacklevel=3)
        return None
