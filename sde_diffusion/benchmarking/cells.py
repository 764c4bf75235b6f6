"""A benchmark **cell**: the plain description of one measurement, its key and its record path.

A cell is a JSON-able dict (no objects: the objects it describes are built by the caller)::

    {"problem": {"name": "ring8", ...spec...},   # what the problem is (hashed, not built here)
     "sde": {"_target_": "sde_diffusion.sdes.VPSDE", ...},
     "sampler": {"name": "heun", "steps": 50, "options": {...}},
     "nfe": None | int,           # NFE budget: overrides sampler.steps (budget.steps_for_nfe)
     "seed": 0, "n_samples": 2000, "n_heldout": 2000,
     "metrics": [...], "reference": {...}, "checkpoint": None | path,
     "device": "cpu", "dtype": "float32", "labels": {"sde": "vp", ...}}

The key is a readable slug plus 12 hex digits of SHA-1 over the canonical JSON of every field
that changes the numbers, so two cells share a key exactly when they compute the same record.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import re
from pathlib import Path
from typing import Any, Dict, Mapping, Tuple

from ..contract import as_steps
from ..contract import check_choice
from .quality import METRIC_NAMES

__all__ = ["RECORD_VERSION", "KEY_FIELDS", "PEER_PREFIX", "canonical", "validate_cell",
           "cell_key", "record_path", "sampler_parts", "sde_label"]

RECORD_VERSION = 2
KEY_FIELDS = ("problem", "sde", "sampler", "nfe", "seed", "n_samples", "n_heldout", "metrics",
              "reference", "checkpoint", "use_ema", "device", "dtype")
PEER_PREFIX = "peer:"
"""Sampler names ``peer:<name>`` run a published solver from ``benchmarking.peers.PEERS``."""
# sample() keyword arguments that may appear in a sampler config's ``options``
SAMPLE_KWARGS = ("grid", "denoise", "t_end", "t_start", "noise_dtype", "progress")
_MAX_SEED = 2 ** 63 - 1 - 2_000_003   # generator seeds are seed + offset < 2^63


def canonical(obj: Any) -> str:
    """Canonical JSON (sorted keys, no spaces): what the key hashes."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def _plain(obj: Any) -> Any:
    """Mappings -> dicts, lists/tuples -> lists, recursively (works for any Mapping type)."""
    if isinstance(obj, Mapping):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj


def _int(name: str, v: Any, minimum: int) -> int:
    """An integer >= minimum (Python or numpy integers; not bool, not float)."""
    return as_steps(v, name=name, minimum=minimum)


def validate_cell(cell: Mapping[str, Any]) -> Dict[str, Any]:
    """Check every choice of a cell before any work; returns a plain, normalised copy.

    Raises ``ValueError``/``TypeError`` naming the bad value and the valid choices: sampler name
    (registered, or ``peer:<name>``), steps / NFE budget (integers >= 1), seed (integer in
    [0, 2^63 - 2000004]), metric names, sample sizes (integers >= 2), dtype, reference options.
    """
    from ..solvers import SAMPLERS
    if not isinstance(cell, Mapping):
        raise TypeError(f"a benchmark cell must be a mapping, got {type(cell).__name__}")
    cell = _plain(cell)
    for key in ("problem", "sde", "sampler"):
        if not isinstance(cell.get(key), Mapping):
            raise ValueError(f"cell[{key!r}] must be a mapping, got {cell.get(key)!r}")
    if not isinstance(cell["problem"].get("name"), str) or not cell["problem"]["name"]:
        raise ValueError(f"cell['problem'] needs a non-empty 'name', got {cell['problem']!r}")
    smp = cell["sampler"]
    name = smp.get("name")
    if not isinstance(name, str):
        raise TypeError(f"sampler name must be a string, got {name!r}")
    if not name.startswith(PEER_PREFIX):
        check_choice("sampler", name, sorted(SAMPLERS))
    elif not name[len(PEER_PREFIX):]:
        raise ValueError(f"peer sampler name {name!r} is empty after {PEER_PREFIX!r}")
    if not isinstance(smp.get("options") or {}, Mapping):
        raise ValueError(f"sampler options must be a mapping, got {smp.get('options')!r}")
    nfe = cell.get("nfe")
    if nfe is not None:
        cell["nfe"] = _int("nfe", nfe, 1)
    if cell.get("nfe") is None or smp.get("steps") is not None:
        smp["steps"] = _int("sampler steps", smp.get("steps"), 1)
    metrics = cell.get("metrics") or []
    if isinstance(metrics, str):
        metrics = [metrics]
    if not metrics:
        raise ValueError(f"give at least one metric; valid choices: {', '.join(METRIC_NAMES)}")
    for m in metrics:
        check_choice("metric", m, METRIC_NAMES)
    cell["metrics"] = list(dict.fromkeys(metrics))
    for k in ("n_samples", "n_heldout"):
        cell[k] = _int(k, cell.get(k), 2)
    seed = cell.get("seed")
    cell["seed"] = _int("seed", seed, 0)
    if cell["seed"] > _MAX_SEED:
        raise ValueError(f"seed must be at most {_MAX_SEED}, got {seed!r}")
    cell["dtype"] = check_choice("dtype", cell.get("dtype", "float32"), ("float32", "float64"))
    ref = cell.get("reference") or {}
    if not isinstance(ref, Mapping):
        raise ValueError(f"reference must be a mapping of rk45 options, got {ref!r}")
    for k in ("rtol", "atol"):
        if k in ref:
            v = ref[k]
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not (
                    math.isfinite(v) and v > 0):
                raise ValueError(f"reference {k} must be a finite number > 0, got {v!r}")
    return cell


def sde_label(cell: Mapping[str, Any]) -> str:
    """Readable SDE name: ``labels.sde`` or the class name of the spec's ``_target_``."""
    labels = cell.get("labels") or {}
    return str(labels.get("sde") or str(cell["sde"].get("_target_", "sde")).rsplit(".", 1)[-1])


def cell_key(cell: Mapping[str, Any]) -> str:
    """File-name key: ``<problem>__<sde>__<sampler>__<steps|nfe>__s<seed>__<hash>``."""
    cell = _plain(cell)
    payload = {k: cell.get(k) for k in KEY_FIELDS}
    payload["version"] = RECORD_VERSION
    digest = hashlib.sha1(canonical(payload).encode()).hexdigest()[:12]
    budget = (f"nfe{cell['nfe']}" if cell.get("nfe") is not None
              else f"steps{cell['sampler'].get('steps')}")
    parts = [cell["problem"]["name"], sde_label(cell), cell["sampler"]["name"], budget,
             f"s{cell['seed']}"]
    slug = "__".join(re.sub(r"[^A-Za-z0-9_.-]+", "-", str(p)) for p in parts)
    return f"{slug}__{digest}"


def record_path(out_dir: os.PathLike, cell: Mapping[str, Any]) -> Path:
    """``<out_dir>/records/<cell_key(cell)>.json``."""
    return Path(out_dir) / "records" / f"{cell_key(cell)}.json"


def sampler_parts(sampler: Mapping[str, Any]) -> Tuple[str, Dict[str, Any], Dict[str, Any]]:
    """(name, constructor options, ``sample()`` keyword options) of a sampler spec."""
    opts = dict(sampler.get("options") or {})
    sample_kw = {k: opts.pop(k) for k in list(opts) if k in SAMPLE_KWARGS}
    return sampler["name"], opts, sample_kw
