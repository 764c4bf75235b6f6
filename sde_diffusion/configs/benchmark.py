"""Hydra glue of the solver benchmark: a composed ``conf/benchmark.yaml`` -> plain cells, the
objects they describe, and one tracker run per cell (config attached, grouped by sweep).

The library (``sde_diffusion.benchmarking``) never sees a DictConfig: this module resolves the
config to plain containers, builds the SDE and problem objects through the package's
allow-listed builder (``sde_diffusion.registry.build``) and hands them over.
"""
from __future__ import annotations

import logging
import os
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

from omegaconf import DictConfig, OmegaConf

from ..benchmarking import Problem, build_problem, run_sweep, steps_for_nfe, validate_cell
from ..benchmarking.cells import PEER_PREFIX, cell_key, sde_label
from ..benchmarking.sources import DIFFUSERS_PREFIX

__all__ = ["build_node", "build_problem_node", "problem_sources", "cell_from_config", "cells_from_config", "resolve_cell",
           "run_config_of", "make_tracker_factory", "run_from_config"]

log = logging.getLogger("benchmark")
_CELL_FIELDS = ("problem", "sde", "sampler", "nfe", "seed", "n_samples", "n_heldout", "metrics",
                "reference", "checkpoint", "use_ema", "device", "dtype", "labels")


def problem_sources() -> Dict[str, Callable[..., Any]]:
    """The allow-list of problem sources a ``conf/problem`` node may name (``_target_``)."""
    from .. import analytic, data
    return {"sde_diffusion.analytic.ring_of_gaussians": analytic.ring_of_gaussians,
            "sde_diffusion.analytic.three_clusters_1d": analytic.three_clusters_1d,
            "sde_diffusion.analytic.random_mixture": analytic.random_mixture,
            "sde_diffusion.analytic.GaussianMixture": analytic.GaussianMixture,
            "sde_diffusion.analytic.suite_mixture": analytic.suite_mixture,
            "sde_diffusion.data.digits": data.digits}


def build_problem_node(node: Mapping[str, Any]) -> Any:
    """A problem's ``mixture`` / ``data`` node -> its object, only from ``problem_sources()``;
    any other target is refused, naming it and the valid choices (nothing else is imported)."""
    if not isinstance(node, Mapping) or "_target_" not in node:
        raise ValueError(f"a problem source must be a mapping with a '_target_', got {node!r}")
    table = problem_sources()
    target = node["_target_"]
    if target not in table:
        raise ValueError(f"problem source {target!r} is not allowed; valid choices: "
                         f"{', '.join(sorted(table))}")
    return table[target](**{k: v for k, v in node.items() if k != "_target_"})


def build_node(node: Mapping[str, Any]) -> Any:
    """The SDE a ``conf/sde`` node describes, through the package's allow-list
    (``sde_diffusion.registry.build``); before that module exists, Hydra's ``instantiate`` on
    the user's own composed config."""
    try:
        from ..registry import build
    except ImportError:
        from hydra.utils import instantiate
        return instantiate(dict(node), _convert_="all")
    return build(dict(node))


def _plain(cfg: Any) -> Any:
    if OmegaConf.is_config(cfg):
        return OmegaConf.to_container(cfg, resolve=True)
    return cfg


def _get(cfg: Any, key: str, default: Any = None) -> Any:
    """One resolved top-level entry as plain data (the rest of cfg is not resolved)."""
    if isinstance(cfg, DictConfig):
        return _plain(cfg[key]) if key in cfg else default
    return cfg.get(key, default)


def cell_from_config(cfg: Any) -> Dict[str, Any]:
    """The cell dict of a composed ``conf/benchmark.yaml`` (resolved, plain containers).

    ``labels`` (``${hydra:runtime.choices...}``) resolve only inside a Hydra job; composed with
    the compose API they are dropped (names then fall back to the config targets)."""
    if isinstance(cfg, DictConfig):
        try:
            labels = OmegaConf.to_container(cfg.labels, resolve=True) if "labels" in cfg else {}
        except Exception:  # no HydraConfig (compose API)
            labels = {}
        cfg = OmegaConf.to_container(OmegaConf.masked_copy(cfg, [k for k in cfg if k != "labels"]),
                                     resolve=True)
        cfg["labels"] = labels
    cfg = _plain(cfg)
    missing = [k for k in ("problem", "sde", "sampler", "seed") if k not in cfg]
    if missing:
        raise ValueError(f"benchmark config lacks {', '.join(missing)}")
    cell = {k: cfg.get(k) for k in _CELL_FIELDS}
    cell["checkpoint"] = _score_source(cfg.get("source"), cell["checkpoint"])
    peer = cfg.get("peer")
    if peer is not None:      # a published solver instead of the sampler group's choice
        if not isinstance(peer, str) or not peer:
            raise ValueError(f"peer must be the name of a published solver or null, got {peer!r}")
        cell["sampler"] = {"name": f"{PEER_PREFIX}{peer}",
                           "steps": (cell["sampler"] or {}).get("steps"), "options": {}}
        cell.setdefault("labels", {})
        if isinstance(cell["labels"], dict):
            cell["labels"].pop("sampler", None)
    if cell["metrics"] is None:
        cell["metrics"] = list(cell["problem"].get("metrics") or ["sliced_wasserstein"])
    cell["problem"] = {k: v for k, v in cell["problem"].items() if k != "metrics"}
    cell["labels"] = {k: v for k, v in (cell.get("labels") or {}).items() if v is not None}
    return cell


def _score_source(source: Any, checkpoint: Any) -> Any:
    """The cell's score source from the config's ``source`` / ``checkpoint`` keys:
    ``source=diffusers:<folder or hub id>`` (a diffusers model) or ``checkpoint=<path>``
    (a model trained here), at most one of them; neither: the problem's analytic score."""
    if source is None:
        if isinstance(checkpoint, str) and checkpoint.startswith(DIFFUSERS_PREFIX):
            raise ValueError(f"checkpoint={checkpoint!r}: a diffusers model is given as "
                             f"source={checkpoint}; checkpoint= names a model trained here")
        return checkpoint
    if not (isinstance(source, str) and source.startswith(DIFFUSERS_PREFIX)
            and source[len(DIFFUSERS_PREFIX):].strip()):
        raise ValueError(f"source must be {DIFFUSERS_PREFIX}<folder or hub id> (a diffusers "
                         f"model) or null, got {source!r}; a model trained here is given as "
                         f"checkpoint=<path>")
    if checkpoint:
        raise ValueError(f"give one score source: source={source!r} or checkpoint="
                         f"{checkpoint!r}, not both")
    return source


def cells_from_config(cfg: Any) -> List[Dict[str, Any]]:
    """One validated cell per seed: ``seeds`` (a list) if set, else the single ``seed``."""
    base = cell_from_config(cfg)
    seeds = _get(cfg, "seeds")
    if seeds is None:
        return [validate_cell(base)]
    if not isinstance(seeds, list) or not seeds:
        raise ValueError(f"seeds must be a non-empty list of integers or null, got {seeds!r}")
    return [validate_cell({**base, "seed": s}) for s in seeds]


def resolve_cell(cell: Mapping[str, Any]) -> Tuple[Problem, Any]:
    """(problem, sde) objects of a cell (no SDE object for a checkpoint: it brings its own)."""
    problem = build_problem(cell["problem"], build_problem_node)
    sde = None if cell.get("checkpoint") else build_node(cell["sde"])
    return problem, sde


def run_config_of(cell: Mapping[str, Any], sweep: str, sde: Any = None,
                  problem: Optional[Problem] = None) -> Dict[str, Any]:
    """What a cell's tracker run records as its config: sampler, steps / NFE budget, SDE,
    problem, seed, sizes, metrics, sweep, and the full cell."""
    steps = cell["sampler"].get("steps")
    if cell.get("nfe") is not None:
        try:
            steps = steps_for_nfe(cell["sampler"], cell["nfe"], sde,
                                  problem.data_shape if problem is not None else (1,))
        except Exception:   # the cell itself will record why it cannot run
            steps = None
    return {"sweep": sweep, "problem": cell["problem"]["name"], "sde": sde_label(cell),
            "sde_target": cell["sde"].get("_target_"), "sampler": cell["sampler"]["name"],
            "sampler_options": dict(cell["sampler"].get("options") or {}), "steps": steps,
            "nfe_budget": cell.get("nfe"), "seed": cell["seed"],
            "n_samples": cell["n_samples"], "n_heldout": cell["n_heldout"],
            "metrics": list(cell["metrics"]), "checkpoint": cell.get("checkpoint"),
            "dtype": cell.get("dtype"), "device": cell.get("device"), "cell": dict(cell)}


def make_tracker_factory(logger_cfg: Any, job_dir: str, sweep: str,
                         tags: Tuple[str, ...] = ()) -> Optional[Callable[..., Any]]:
    """``factory(cell, problem, sde) -> tracker`` for the ``logger`` node, or None for no logger.

    Only the logger node itself is built (as a partial): the run config it receives is plain
    data, never instantiated, so no second (empty, ungrouped) run can appear. The run is
    grouped by sweep (``benchmark-<sweep>``), named after the cell, tagged with problem, SDE,
    sampler, seed and the logger's / experiment's tags; wandb's banners are off."""
    node = _plain(logger_cfg) or {}
    target = str(node.get("_target_", ""))
    if not target or target.endswith("NullTracker"):
        return None
    os.environ.setdefault("WANDB_SILENT", "true")
    os.environ.setdefault("WANDB_CONSOLE", "off")
    extra_tags = [str(t) for t in (node.pop("tags", None) or [])] + [str(t) for t in tags]
    node.pop("name", None)
    make = build_partial(node)

    def factory(cell: Mapping[str, Any], problem: Optional[Problem] = None, sde: Any = None):
        key = cell_key(cell)
        run_tags = list(dict.fromkeys(["benchmark", cell["problem"]["name"], sde_label(cell),
                                       cell["sampler"]["name"], f"seed{cell['seed']}"]
                                      + extra_tags))
        tracker = make(run_dir=os.path.join(job_dir, key), name=key.rsplit("__", 1)[0],
                       group=node.get("group") or f"benchmark-{sweep}", tags=run_tags,
                       run_config=run_config_of(cell, sweep, sde, problem))
        log.info("tracker run %s: %s", key.rsplit("__", 1)[0], os.path.join(job_dir, key))
        return tracker

    return factory


def build_partial(node: Mapping[str, Any]) -> Callable[..., Any]:
    """The logger node as a partial (its own options bound, nothing nested instantiated)."""
    from hydra.utils import instantiate
    return instantiate(dict(node), _partial_=True, _recursive_=False)


def run_from_config(cfg: Any, job_dir: str, out_dir: str,
                    tracker_factory: Optional[Callable[..., Any]] = None,
                    progress: Optional[bool] = None) -> List[Dict[str, Any]]:
    """One benchmark job: its cell(s) (one per seed of ``seeds``) into the sweep directory
    ``out_dir``, each with its own tracker run in ``job_dir`` (from ``cfg.logger`` unless
    ``tracker_factory`` is given). Returns the records."""
    cells = cells_from_config(cfg)          # validates everything before any work
    sweep = str(_get(cfg, "name") or "default")
    if tracker_factory is None:
        tracker_factory = make_tracker_factory(_get(cfg, "logger"), job_dir, sweep,
                                               tuple(_get(cfg, "tags") or ()))
    return run_sweep(cells, out_dir, resolve_cell, tracker_factory=tracker_factory,
                     force=bool(_get(cfg, "force", False)), progress=progress)
