"""Benchmark records on disk: one JSON file per cell, written atomically, read defensively.

A record file that cannot be read as a record (truncated JSON, not an object, missing fields,
another version) is *corrupt*: readers name the file; ``run_cell`` recomputes it, and
``load_records`` warns and skips it (``on_corrupt="warn"``) or raises (``"raise"``).
"""
from __future__ import annotations

import json
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any, Dict, List, Tuple

from ..contract import check_choice
from .cells import RECORD_VERSION

__all__ = ["CorruptRecordError", "atomic_write", "read_record", "load_records",
           "scan_records", "REQUIRED_FIELDS"]

REQUIRED_FIELDS = ("key", "cell", "problem", "sde", "sampler", "steps", "seed", "metrics",
                   "baseline")


class CorruptRecordError(ValueError):
    """A record file that is not a valid record; ``path`` names it."""

    def __init__(self, path: Path, why: str):
        self.path = Path(path)
        super().__init__(f"record {str(path)!r} is corrupt ({why})")


def atomic_write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that readers never see a partial file (temp + replace)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def read_record(path: Path) -> Dict[str, Any]:
    """The record stored at ``path``; ``CorruptRecordError`` (a ValueError) naming the file if
    it is not one."""
    path = Path(path)
    try:
        text = path.read_text()
    except UnicodeDecodeError as e:
        raise CorruptRecordError(path, f"not text: {e}") from None
    try:
        rec = json.loads(text)
    except json.JSONDecodeError as e:
        raise CorruptRecordError(path, f"invalid JSON: {e}") from None
    if not isinstance(rec, dict):
        raise CorruptRecordError(path, f"a JSON {type(rec).__name__}, not an object")
    missing = [k for k in REQUIRED_FIELDS if k not in rec]
    if missing:
        raise CorruptRecordError(path, f"missing field(s) {', '.join(missing)}")
    if rec.get("version", RECORD_VERSION) != RECORD_VERSION:
        raise CorruptRecordError(path, f"record version {rec.get('version')!r}, this code "
                                       f"reads version {RECORD_VERSION}")
    if not isinstance(rec["metrics"], dict) or not isinstance(rec["baseline"], dict):
        raise CorruptRecordError(path, "'metrics' and 'baseline' must be objects")
    return rec


def load_records(sweep_dir: os.PathLike, on_corrupt: str = "warn"
                 ) -> List[Dict[str, Any]]:
    """Every record under ``<sweep_dir>/records`` (or ``sweep_dir`` itself), sorted by file name.

    Corrupt files: ``on_corrupt="warn"`` names each in a ``RuntimeWarning`` and skips it;
    ``"raise"`` raises ``CorruptRecordError``. ``scan_records`` also returns the skipped paths.
    """
    check_choice("on_corrupt", on_corrupt, ("warn", "raise"))
    return scan_records(sweep_dir, on_corrupt)[0]


def scan_records(sweep_dir: os.PathLike, on_corrupt: str = "warn"
                 ) -> Tuple[List[Dict[str, Any]], List[Path]]:
    """(records, paths of the corrupt files skipped); see ``load_records``."""
    check_choice("on_corrupt", on_corrupt, ("warn", "raise"))
    d = Path(sweep_dir)
    rec_dir = d / "records" if (d / "records").is_dir() else d
    if not rec_dir.is_dir():
        raise FileNotFoundError(f"no sweep directory at {str(d)!r} (expected "
                                f"{str(d / 'records')!r} with one JSON record per cell)")
    recs, bad = [], []
    for p in sorted(rec_dir.glob("*.json")):
        try:
            recs.append(read_record(p))
        except CorruptRecordError as e:
            if on_corrupt == "raise":
                raise
            warnings.warn(f"{e}; skipped (re-run its cell to recompute it)", RuntimeWarning,
                          stacklevel=3)
            bad.append(p)
    return recs, bad
