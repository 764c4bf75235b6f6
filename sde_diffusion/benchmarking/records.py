"""Benchmark records on disk: one JSON file per cell, written atomically, read defensively.

A record file that cannot be read as a record is *corrupt*: not a regular file (a directory,
a FIFO, a device: refused without opening it for a blocking read), unreadable, larger than
``LIMITS.max_text_bytes``, not UTF-8, invalid or too deeply nested JSON, not an object,
missing fields, another version, or *poisoned* (``poison_reason``): a metric that is not a
finite number although the samples were finite, a negative distance, or a sliced Wasserstein
distance below ``FLOOR_FRACTION`` = 0.05 of the exact-sample floor of its own seed (honest
records measured: >= 0.79 x floor over the 3040-cell solver benchmark, >= 0.41 x at n = 96
in 1-D; the energy distance is a V-statistic whose bias shrinks with the samples' spread, so
a collapsed sampler can sit far below its floor, and it has no such bound). Readers name the file; ``run_cell``
recomputes it (an entry that is not a regular file is first renamed aside to ``*.corrupt``),
and ``load_records`` warns and skips it (``on_corrupt="warn"``) or raises (``"raise"``).
"""
from __future__ import annotations

import json
import math
import os
import stat
import tempfile
import warnings
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from ..contract import LIMITS, check_choice
from .cells import RECORD_VERSION

__all__ = ["CorruptRecordError", "atomic_write", "read_record", "load_records",
           "scan_records", "set_aside", "poison_reason", "REQUIRED_FIELDS",
           "NONNEGATIVE_METRICS", "FLOORED_METRICS", "FLOOR_FRACTION"]

REQUIRED_FIELDS = ("key", "cell", "problem", "sde", "sampler", "steps", "seed", "metrics",
                   "baseline")
NONNEGATIVE_METRICS = ("sliced_wasserstein", "energy_distance", "frechet", "mode_tv", "ode_rmse")
FLOORED_METRICS = ("sliced_wasserstein",)
FLOOR_FRACTION = 0.05


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
    except BaseException as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(e, OSError) and e.errno is not None and not e.filename:
            raise OSError(e.errno, os.strerror(e.errno), str(path)) from e  # name the record
        raise


def _read_text(path: Path) -> str:
    """The text of a regular file, bounded by ``LIMITS.max_text_bytes``; a FIFO or device is
    refused from ``fstat`` of a non-blocking descriptor, never waited on."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as e:
        raise CorruptRecordError(path, f"unreadable: {e.strerror or e}") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise CorruptRecordError(path, "a directory, not a file" if stat.S_ISDIR(mode)
                                 else "not a regular file")
    limit = LIMITS.max_text_bytes
    try:
        with os.fdopen(fd, "rb") as f:
            raw = f.read(limit + 1)
    except OSError as e:
        raise CorruptRecordError(path, f"unreadable: {e.strerror or e}") from None
    if len(raw) > limit:
        raise CorruptRecordError(path, f"larger than {limit} bytes; raise the limit with "
                                       f"{LIMITS.env('max_text_bytes')}")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise CorruptRecordError(path, f"not text: {e}") from None


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def poison_reason(rec: Dict[str, Any]) -> Optional[str]:
    """Why a record's metrics are impossible, or None. A failed record (``error`` set) has none
    to check; NaN metrics are possible only when the record counts non-finite samples."""
    if rec.get("error"):
        return None
    metrics, base = rec["metrics"], rec["baseline"]
    for name, v in metrics.items():
        if v is None:
            continue
        if not _is_number(v):
            return f"metric {name} = {v!r} is not a number"
        if not math.isfinite(v):
            if not (isinstance(rec.get("nonfinite"), int) and rec["nonfinite"] > 0):
                return f"metric {name} = {v} but the record has no non-finite samples"
            continue
        if name in NONNEGATIVE_METRICS and v < 0:
            return f"metric {name} = {v:g} is negative (a distance)"
        floor = base.get(name)
        if (name in FLOORED_METRICS and _is_number(floor) and math.isfinite(floor) and floor > 0
                and v < FLOOR_FRACTION * floor):
            return (f"metric {name} = {v:.3g} is below {FLOOR_FRACTION:g} x its exact-sample "
                    f"floor {floor:.3g}, which finite samples cannot reach")
    for name, v in base.items():
        if v is not None and not (_is_number(v) and (math.isfinite(v) or math.isnan(v))):
            return f"baseline {name} = {v!r} is not a number"
    return None


def read_record(path: Path) -> Dict[str, Any]:
    """The record stored at ``path``; ``CorruptRecordError`` (a ValueError) naming the file if
    it is not one (see the module docstring)."""
    path = Path(path)
    text = _read_text(path)
    try:
        rec = json.loads(text)
    except json.JSONDecodeError as e:
        raise CorruptRecordError(path, f"invalid JSON: {e}") from None
    except RecursionError:
        raise CorruptRecordError(path, "JSON nested too deeply") from None
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
    why = poison_reason(rec)
    if why is not None:
        raise CorruptRecordError(path, f"poisoned: {why}")
    return rec


def set_aside(path: Path) -> Optional[Path]:
    """Rename an entry that is not a regular file (a directory, a FIFO) to ``<name>.corrupt``
    (``.corrupt1``, ... if taken), so a recomputed record can be written; its new path, or
    None when ``path`` is a regular file (or a link: replacing it never follows it)."""
    path = Path(path)
    if path.is_symlink() or not os.path.lexists(path) or stat.S_ISREG(path.lstat().st_mode):
        return None
    for k in range(1000):
        dst = path.with_name(path.name + (".corrupt" if k == 0 else f".corrupt{k}"))
        if not os.path.lexists(dst):
            os.rename(path, dst)
            return dst
    raise FileExistsError(f"cannot set {str(path)!r} aside: 1000 '.corrupt' names are taken")


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
