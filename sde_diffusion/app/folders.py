"""Output folders that stay inside their run, created atomically, and run names that stay inside
``outputs/``.

``output_dir(run, "samples")`` is ``<run>/samples/<YYYY-mm-dd_HH-MM-SS>`` (``_1``, ``_2`` ... when
taken), made with one ``mkdir`` that fails if the folder exists, so processes started together
never share a folder. A ``samples/`` (or ``eval/``) that is a link, or that resolves outside the run,
is refused: nothing is written through it. ``inside(root, path)`` is the containment test every
path a run or model folder names goes through.
"""
from __future__ import annotations

import datetime as _dt
import os
import re
from pathlib import Path, PurePosixPath
from typing import Optional, Union

__all__ = ["output_dir", "inside", "check_run_name", "OutsideRunError", "MAX_SUFFIX"]

PathLike = Union[str, Path]
MAX_SUFFIX = 10_000  # folders per timestamp before giving up
_NAME = re.compile(r"^[A-Za-z0-9_.=,+-]+$")


class OutsideRunError(ValueError):
    """A path named by a run, a model folder or a run name leads outside where it may."""


def inside(root: PathLike, path: PathLike) -> bool:
    """Whether ``path`` (links resolved, relative paths against the current folder) is ``root``
    or lies below it (``root`` resolved too)."""
    r, p = Path(os.path.realpath(root)), Path(os.path.realpath(path))
    return p == r or r in p.parents


def _subfolder(run_dir: Path, kind: str) -> Path:
    """``<run>/<kind>``, created if missing; refused when it is a link or resolves elsewhere."""
    if not _NAME.match(kind) or kind in (".", ".."):
        raise ValueError(f"output kind {kind!r} must be one plain folder name")
    run = Path(os.path.realpath(run_dir))
    sub = run / kind
    if not sub.is_symlink():
        try:
            sub.mkdir(parents=True, exist_ok=True)
        except FileExistsError:
            pass  # a file there: refused below
    if sub.is_symlink() or not sub.is_dir() or Path(os.path.realpath(sub)) != sub:
        what = f"a link to {os.readlink(sub)!r}" if sub.is_symlink() else "not a plain folder"
        raise OutsideRunError(f"{str(sub)!r} is {what}; outputs are written only into a real "
                              f"{kind}/ folder inside the run. Remove it, or pass out=<folder>")
    return sub


def output_dir(run_dir: PathLike, kind: str, out: Optional[PathLike] = None) -> Path:
    """A new, empty output folder: ``out`` (the user's own choice on the command line: created
    if missing, may exist) or ``<run_dir>/<kind>/<timestamp>[_k]`` created atomically inside the
    run. ``OutsideRunError`` when ``<run_dir>/<kind>`` is a link or not a folder; ``OSError``
    (read-only, disk full) names the path."""
    if out is not None:
        path = Path(out)
        path.mkdir(parents=True, exist_ok=True)
        return path
    sub = _subfolder(Path(run_dir), kind)
    stamp = _dt.datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    for k in range(MAX_SUFFIX):
        path = sub / (stamp if k == 0 else f"{stamp}_{k}")
        try:
            os.mkdir(path)  # atomic: exactly one process creates it
            return path
        except FileExistsError:
            continue
    raise FileExistsError(f"{MAX_SUFFIX} output folders named {stamp}* already exist in {str(sub)!r}")


def check_run_name(name: object, key: str = "name") -> str:
    """A run name is a relative folder path below ``outputs/``: parts of letters, digits and
    ``_ . = , + -`` joined by ``/``; no ``..``, no leading ``/`` or ``~``."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"{key} must be a non-empty string, got {name!r}")
    parts = PurePosixPath(name).parts
    if not parts or name.startswith(("/", "~")) or "\\" in name or ".." in parts \
            or not all(_NAME.match(p) for p in parts):
        raise OutsideRunError(f"{key}={name!r} must stay inside outputs/: folder names of letters, "
                              f"digits and _.=,+- joined by '/', without '..', '/' or '~' in front")
    return name
