"""Run benchmark cells: one cell -> one record (failures recorded, never fatal); a sweep of
cells with a progress bar.

A record holds the cell, NFE, wall time, peak memory, the metrics of the samples and
``baseline``: the same metrics for an independent set of exact samples from the same seed (the
Monte Carlo floor). ``status`` is "computed", "skipped" (loaded from disk) or "failed"
(``error`` says why: a refusal, a numerical failure, an exception in a metric).

Reproducibility: all randomness comes from ``torch.Generator``s seeded from the cell's seed
(prior noise, sampler noise, held-out and baseline sets, metric projections), so the same cell
twice gives identical metric values on CPU.
"""
from __future__ import annotations

import json
import logging
import os
import shlex
import sys
import time
import traceback
import warnings
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import torch

from ..contract import close_match
from .budget import steps_for_nfe
from .cells import (PEER_PREFIX, RECORD_VERSION, canonical, cell_key, record_path,
                    sampler_parts, sde_label, validate_cell)
from .memory import PeakMemory
from .problems import Problem
from .quality import ANALYTIC_ONLY, METRIC_NAMES, quality
from .records import CorruptRecordError, atomic_write, read_record, set_aside
from .reference import data_estimate, reference_solution
from .settings import resolved_settings, stale_reason
from .sources import run_peer, score_source

__all__ = ["run_cell", "run_sweep", "tracker_payload", "SamplerRefusal", "progress_line",
           "format_duration"]

log = logging.getLogger(__name__)


class SamplerRefusal(ValueError):
    """The sampler does not apply to the cell's SDE (its ``check_sde`` said why)."""


def _check_sampler(cell: Mapping[str, Any], sde) -> None:
    from ..solvers import get_sampler
    name, ctor, _ = sampler_parts(cell["sampler"])
    if name.startswith(PEER_PREFIX):
        return
    smp = get_sampler(name)(**ctor)          # a bad option fails here, as itself
    try:
        smp.check_sde(sde)
    except ValueError as e:
        raise SamplerRefusal(str(e)) from e

_BASELINE_CACHE: Dict[str, Dict[str, float]] = {}


def _check_metrics(cell: Mapping[str, Any], problem: Problem) -> None:
    if problem.name != cell["problem"]["name"]:
        raise ValueError(f"the problem object is {problem.name!r} but the cell describes "
                         f"{cell['problem']['name']!r}")
    if not problem.analytic:
        bad = [m for m in cell["metrics"] if m in ANALYTIC_ONLY]
        if bad:
            raise ValueError(f"metric(s) {', '.join(bad)} need an analytic problem; problem "
                             f"{problem.name!r} has none (valid here: "
                             f"{', '.join(m for m in METRIC_NAMES if m not in ANALYTIC_ONLY)})")


def _sample(cell, sde, score_fn, x_init, g_noise, steps):
    """(x, nfe, wall_time, t_end, denoised, options, stochastic) of the cell's sampler; x is the
    data estimate (``reference.data_estimate``; peers return one)."""
    from ..solvers import get_sampler, sample
    name, ctor, sample_kw = sampler_parts(cell["sampler"])
    if name.startswith(PEER_PREFIX):
        return run_peer(name[len(PEER_PREFIX):], sde, score_fn, x_init, steps, sample_kw)
    cls = get_sampler(name)
    smp = cls(**ctor)
    x, info = sample(sde, score_fn, sampler=name, steps=steps, generator=g_noise, x_init=x_init,
                     progress=False, **ctor, **sample_kw)
    x = data_estimate(sde, x, float(info.t_end), bool(info.denoised))
    return (x, int(info.nfe), float(info.wall_time), float(info.t_end), bool(info.denoised),
            info.options, bool(getattr(smp, "stochastic", cls.stochastic)))


def _compute(cell, problem, sde, score_fn, source, out, device, dtype) -> Dict[str, Any]:
    seed, n = cell["seed"], cell["n_samples"]
    _check_sampler(cell, sde)
    steps = (steps_for_nfe(cell["sampler"], cell["nfe"], sde, problem.data_shape)
             if cell.get("nfe") is not None else int(cell["sampler"]["steps"]))
    shape = (n,) + tuple(problem.data_shape)
    g_prior = torch.Generator().manual_seed(seed)          # independent streams, one seed
    g_noise = torch.Generator(device=device).manual_seed(seed + 1)
    g_held = torch.Generator().manual_seed(1_000_003 + seed)
    g_base = torch.Generator().manual_seed(2_000_003 + seed)
    x_init = sde.prior_sample(shape, generator=g_prior, dtype=torch.float64).to(device, dtype)
    res: Dict[str, Any] = {"steps": steps}
    with PeakMemory(device) as mem:
        x, nfe, wall, t_end, denoised, options, stochastic = _sample(
            cell, sde, score_fn, x_init, g_noise, steps)
    x64 = x.detach().to("cpu", torch.float64)
    heldout = problem.heldout(cell["n_heldout"], g_held)
    q_names = [m for m in cell["metrics"] if m != "ode_rmse"]
    t0 = time.perf_counter()
    met: Dict[str, Any] = quality(q_names, x64, heldout, problem.mixture, seed)
    if "ode_rmse" in cell["metrics"]:
        if stochastic:
            met["ode_rmse"] = None                     # not defined for stochastic samplers
        else:
            x_ref = reference_solution(cell, sde, score_fn,
                                       x_init.to(torch.float64 if source == "analytic" else dtype),
                                       out)
            met["ode_rmse"] = float(((x64 - x_ref.to(torch.float64)) ** 2).mean().sqrt())
    bkey = canonical([cell["problem"], seed, n, cell["n_heldout"], q_names, cell.get("checkpoint")])
    if bkey not in _BASELINE_CACHE:                   # the same for every sampler of a sweep
        _BASELINE_CACHE[bkey] = quality(q_names, problem.baseline_pool(n, g_base), heldout,
                                        problem.mixture, seed)
    nonfinite = int((~torch.isfinite(x64)).reshape(n, -1).any(dim=1).sum())
    peak = mem.peak / 2 ** 20 if torch.device(device).type == "cuda" else None  # CPU: blank
    res.update(nfe=nfe, wall_time=wall, peak_mem_mb=peak, t_end=t_end,
               denoised=denoised, options=options, stochastic=stochastic, nonfinite=nonfinite,
               metrics=met, baseline=dict(_BASELINE_CACHE[bkey]),
               metric_time=time.perf_counter() - t0)
    return res


def run_cell(cell: Mapping[str, Any], out_dir: Optional[Any] = None, *, problem: Problem,
             sde: Any = None, tracker: Any = None, force: bool = False,
             open_tracker: Optional[Callable[[], Any]] = None) -> Dict[str, Any]:
    """Compute one cell's record, or load it when ``out_dir`` already holds it and it was made
    with the sampler settings the cell resolves to now (``settings.resolved_settings``: grid,
    end time, denoising); a stale record is named in a warning and recomputed.

    Args:
        cell: the plain description (``cells.validate_cell``; checked first, errors raise).
        out_dir: sweep directory; the record goes atomically to ``record_path(out_dir, cell)``.
            A corrupt record file there is named in a warning and recomputed.
        problem: the ``Problem`` object the cell's ``problem`` spec describes.
        sde: the SDE object of the cell's ``sde`` spec (unused with a ``checkpoint``: the
            checkpoint's own SDE is sampled).
        tracker: a ``tracking.Tracker``; receives the record's numbers (``tracker_payload``).
        open_tracker: called (no arguments) for a tracker only when the cell is computed (not
            for a record served from disk); the caller finishes what it returned.
        force: recompute even if the record exists.
    Returns:
        the record; ``status`` "computed", "skipped" or "failed" (with ``error``): a sampler that
        refuses the SDE or fails numerically does not stop a sweep.
    """
    cell = validate_cell(cell)
    if not isinstance(problem, Problem):
        raise TypeError(f"problem must be a benchmarking.Problem, got {type(problem).__name__}")
    _check_metrics(cell, problem)
    out = Path(out_dir) if out_dir is not None else None
    path = record_path(out, cell) if out is not None else None
    device = torch.device(cell.get("device") or "cpu")
    dtype = getattr(torch, cell["dtype"])
    sde, score_fn, source = score_source(cell, problem, sde, device, dtype)  # checks shapes
    try:
        settings: Optional[Dict[str, Any]] = resolved_settings(cell, sde, problem.data_shape)
    except Exception:  # a refused / invalid sampler: its failure is recorded below
        settings = None
    if path is not None and os.path.lexists(path) and not force:
        try:
            rec = read_record(path)
            why = stale_reason(rec, settings)
            if why is None:
                rec["status"] = "skipped"
                return rec
            warnings.warn(f"stale benchmark record {str(path)!r}: {why}; recomputing it",
                          RuntimeWarning, stacklevel=2)
        except CorruptRecordError as e:
            moved = set_aside(path)
            warnings.warn(f"{e}; recomputing it" + (f" (moved aside to {str(moved)!r})"
                                                     if moved else ""), RuntimeWarning, stacklevel=2)
    if tracker is None and open_tracker is not None:
        tracker = open_tracker()
    rec: Dict[str, Any] = {
        "key": cell_key(cell), "version": RECORD_VERSION, "cell": cell, "problem": problem.name,
        "sde": sde_label(cell), "sampler": cell["sampler"]["name"],
        "steps": cell["sampler"].get("steps"), "nfe_budget": cell.get("nfe"),
        "seed": cell["seed"], "n_samples": cell["n_samples"], "source": source,
        "device": str(device), "torch": torch.__version__, "settings": settings,
        "command": shlex.join([os.path.basename(sys.executable)] + sys.argv)}
    try:
        rec.update(_compute(cell, problem, sde, score_fn, source, out, device, dtype))
        rec.update(status="computed", error=None)
    except Exception as e:  # a failing cell is recorded as failed; the sweep goes on
        refused = isinstance(e, SamplerRefusal)
        rec.update(status="failed", error=f"{'refused: ' if refused else ''}"
                   f"{type(e).__name__}: {e}", traceback=traceback.format_exc(limit=4),
                   nfe=None, wall_time=None, peak_mem_mb=None, metrics={}, baseline={},
                   stochastic=None)
    if path is not None:
        moved = set_aside(path)  # a directory or FIFO in the record's place (force=True)
        if moved is not None:
            warnings.warn(f"record path {str(path)!r} was not a file; moved it aside to "
                          f"{str(moved)!r}", RuntimeWarning, stacklevel=2)
        atomic_write(path, json.dumps(rec, indent=1, sort_keys=True, default=str))
    if tracker is not None:
        payload = tracker_payload(rec)
        tracker.log(payload, step=0)
        tracker.summary({**payload, "status": rec["status"], "error": rec.get("error") or ""})
    return rec


def tracker_payload(rec: Mapping[str, Any]) -> Dict[str, float]:
    """The scalar numbers of a record for ``Tracker.log``: nfe, wall_time, peak_mem_mb, steps,
    ``metrics/<m>`` and ``baseline/<m>`` (non-numbers dropped)."""
    flat: Dict[str, Any] = {k: rec.get(k) for k in ("nfe", "wall_time", "peak_mem_mb", "steps")}
    flat.update({f"metrics/{k}": v for k, v in (rec.get("metrics") or {}).items()})
    flat.update({f"baseline/{k}": v for k, v in (rec.get("baseline") or {}).items()})
    return {k: v for k, v in flat.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool)}


PROGRESS_EVERY_S = 10.0


def format_duration(sec: float) -> str:
    """``"1m05s"`` / ``"2h03m"``."""
    sec = int(round(max(0.0, sec)))
    return f"{sec // 3600}h{sec % 3600 // 60:02d}m" if sec >= 3600 else f"{sec // 60}m{sec % 60:02d}s"


def progress_line(done: int, total: int, elapsed: float) -> str:
    """``"k/n, elapsed 1m05s, ETA 2m10s"`` (ETA = elapsed / done * (total - done))."""
    eta = f", ETA {format_duration(elapsed / done * (total - done))}" if done > 0 else ""
    return f"{done}/{total}, elapsed {format_duration(elapsed)}{eta}"


def _check_peer_names(cells: Sequence[Mapping[str, Any]]) -> None:
    """An unknown published solver is bad input: refused before the first cell runs."""
    names = sorted({c["sampler"]["name"][len(PEER_PREFIX):] for c in cells
                    if c["sampler"]["name"].startswith(PEER_PREFIX)})
    if not names:
        return
    from .sources import _peers
    peers = _peers()
    table = getattr(peers, "PEERS", {})
    for name in names:
        if name not in table:
            hint = getattr(peers, "missing_peers_message", lambda: None)() or ""
            raise ValueError(f"unknown peer solver {name!r}; available: "
                             f"{', '.join(sorted(table)) or '(none)'}{close_match(name, table)}"
                             f"{'. ' + hint if hint else ''}")


def run_sweep(cells: Iterable[Mapping[str, Any]], out_dir: Any,
              resolve: Callable[[Mapping[str, Any]], Tuple[Problem, Any]], *,
              tracker_factory: Optional[Callable[..., Any]] = None,
              force: bool = False, progress: Optional[bool] = None) -> List[Dict[str, Any]]:
    """Run many cells into one sweep directory, with a tqdm bar (cells done, failed, ETA).

    Every cell is validated before the first one runs (a bad cell stops the sweep at once,
    naming it). ``resolve(cell) -> (problem, sde)`` builds each cell's objects (cached by
    spec); ``tracker_factory(cell, problem, sde)`` opens one tracker per computed cell (new or
    stale; none for a valid record already on disk), finished with exit code 0, or 1 for a
    failed cell."""
    from tqdm.auto import tqdm
    cells = [validate_cell(c) for c in cells]
    _check_peer_names(cells)
    cache: Dict[str, Tuple[Problem, Any]] = {}
    recs, failed = [], 0
    disable = None if progress is None else not progress
    start = last = time.monotonic()
    with tqdm(total=len(cells), desc="benchmark cells", unit="cell", disable=disable) as bar:
        for done, c in enumerate(cells):
            if bar.disable and done and time.monotonic() - last > PROGRESS_EVERY_S:
                last = time.monotonic()
                log.info("cells %s", progress_line(done, len(cells), last - start))
            k = canonical([c["problem"], c["sde"]])
            if k not in cache:
                cache[k] = resolve(c)
            problem, sde = cache[k]
            opened: List[Any] = []   # the tracker of a computed (new or stale) cell

            def open_tracker(c=c, problem=problem, sde=sde):
                opened.append(tracker_factory(c, problem, sde))
                return opened[-1]
            rec = None
            try:
                rec = run_cell(c, out_dir, problem=problem, sde=sde, force=force,
                               open_tracker=open_tracker if tracker_factory is not None else None)
            finally:
                for tracker in opened:
                    tracker.finish(exit_code=0 if rec is not None and not rec.get("error") else 1)
            failed += rec["status"] == "failed"
            recs.append(rec)
            bar.set_postfix(failed=failed, last=rec["key"].rsplit("__", 1)[0], refresh=False)
            bar.update(1)
    return recs
