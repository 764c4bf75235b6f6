"""A trained model for the scripts: ``load_run`` (the one call into the persistence layer's
``load_model``) and ``run_sampler`` (the sampler a request uses: the command line's, else the
run's stored one with its grid file confined to the run folder, else a few-step default, logged).
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Dict, Mapping, NamedTuple, Optional

import torch

from .folders import OutsideRunError, inside

__all__ = ["LoadedRun", "load_run", "run_sampler", "sampler_node", "DEFAULT_SAMPLER"]

log = logging.getLogger(__name__)

#: what a run or model folder without a stored sampler is sampled with (1 NFE per step)
DEFAULT_SAMPLER: Dict[str, Any] = {"name": "unipc", "steps": 20, "options": {}}


class LoadedRun(NamedTuple):
    """A trained model with its stored config and what the scripts need to know about it."""
    model: torch.nn.Module
    config: Mapping[str, Any]   # the run's stored config (sampler, data, ...)
    meta: Any                   # io.ModelMeta: data_shape, data_kind, value_range, run_dir, ...
    folder: Path                # the run or model folder (resolved): what its files may name


def load_run(path: str, use_ema: Any = True, device: Any = "cpu") -> LoadedRun:
    """``io.load_model(path)`` as a ``LoadedRun``; ``device`` "auto" picks CUDA when available."""
    from ..io import load_model
    from ..training import select_device
    model, config, meta = load_model(path, use_ema=use_ema, map_location=select_device(device))
    return LoadedRun(model, config, meta, Path(meta.run_dir))


def sampler_node(node: Any) -> Any:
    """A sampler node in the shape of ``conf/sampler`` (``{name, steps, options}``); options kept
    at the top level move under ``options``. A non-mapping is returned unchanged (for the
    validator)."""
    if not isinstance(node, Mapping):
        return node
    extra = {k: v for k, v in node.items() if k not in ("name", "steps", "options")}
    if not extra:
        return dict(node)
    opts = node.get("options") or {}
    if not isinstance(opts, Mapping):
        return dict(node)
    out = {k: node[k] for k in ("name", "steps") if k in node}
    return {**out, "options": {**extra, **opts}}


def _stored_grid(node: Dict[str, Any], folder: Path) -> Dict[str, Any]:
    """A stored ``options.grid`` naming a file is read from the run folder (relative to it) and
    must stay inside it; it is loaded here, so the current folder plays no part."""
    opts = dict(node.get("options") or {})
    grid = opts.get("grid")
    if not isinstance(grid, (str, os.PathLike)) or not os.fspath(grid).endswith(".json"):
        return node
    path = Path(folder) / os.fspath(grid)
    if not inside(folder, path):
        raise OutsideRunError(f"the run's sampler.options.grid={os.fspath(grid)!r} points outside "
                              f"the run folder {str(folder)!r}; not read. Pass a grid on the "
                              f"command line instead: sampler.options.grid=<file>")
    from ..solvers import load_grid
    return {**node, "options": {**opts, "grid": load_grid(path)}}


def run_sampler(loaded: LoadedRun, requested: Optional[Mapping[str, Any]], steps: Optional[int] = None
                ) -> Dict[str, Any]:
    """The sampler node of a request: ``requested`` (the command line) if given, else the run's
    stored sampler (grid files read from the run folder), else ``DEFAULT_SAMPLER`` (logged).
    ``requested`` was validated with the config (``validate_sample_config``); the stored node,
    read from a file, is validated here."""
    from ..configs import validate_sampler
    if requested is not None:
        return dict(requested)
    stored = sampler_node(loaded.config.get("sampler"))
    if stored is None:
        node = dict(DEFAULT_SAMPLER)
        log.info("%s stores no sampler: using %s with %d steps (the few-step default); choose "
                 "another with sampler=<name> sampler.steps=<n>", loaded.folder, node["name"],
                 steps or node["steps"])
        return node
    validate_sampler(stored, "the run's sampler", steps)
    return _stored_grid(dict(stored), loaded.folder)
