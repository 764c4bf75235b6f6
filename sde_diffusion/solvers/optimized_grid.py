"""Optimised time grids: the ``steps + 1`` times that minimise a sampler's end-to-end error,
chosen so that they generalise to fresh noise.

``optimize_grid(sde, score_fn, sampler, steps, x_calib)`` minimises on the calibration batch
``x_calib`` and validates on a separate held-out batch: ``x_val`` if given, else ``n_val`` = 1024
fresh prior samples at T (drawn from ``generator``, default seed 0); with ``n_val=0`` or a
start before T it holds out a ``val_fraction`` of ``x_calib`` instead. Use >= 256 calibration
samples. Both sizes were chosen on the problem suite's tuning half, scored on 1024 fresh points
(``benchmarks/RESULTS.md``, "Few-step defaults on the problem suite", section 13): a grid that
is better for the typical point can send a rare one (< 1 %) to the wrong mode, which 256
validation points often do not contain; against 64 / 256 points the optimised grid was worse
than the sampler's default on fresh noise in 6 of 26 tuning cells (worst 1.9x), with 256 / 1024
in 2 (worst 1.14x), and its geometric-mean error fell from 0.52x to 0.38x the default's.
The loss is

    L(grid) = log RMS || x0_sampler(x_T; grid) - x0_ref(x_T) ||

where x0_sampler is the sampler's data estimate (x/m at its end time, or its denoised output)
and x0_ref the exact PF-ODE map to the data end (tight ``rk45`` to ``sde.eps`` + the Tweedie
step), the same end-to-end score as the benchmark. The interior points are the softmax of
``steps`` logits as gaps in normalised half log-SNR, so every parameter vector is a valid
strictly decreasing grid (end points fixed: T and ``default_t_end``).

Generalisation: every named grid (``grids.GRIDS``) and every sampler option set in
``candidates`` (e.g. orders, variants) is scored on both parts; the search (Nelder-Mead) starts
from the ``starts`` best of them on the calibration part; after every iteration the current
point is scored on the validation part (a point counts as better when it lowers the validation
RMS by more than 0.1 %) and the search stops when that has not improved for ``patience``
iterations (early stopping). The returned grid is the one with the lowest
validation error among the optimised points and the named grids, so it is never worse than the
best named grid on the validation batch. ``grid.made`` reports the cost (``nfe``: every score
evaluation, references included), the calibration and validation RMS of every named grid and
of the result, and ``val_gain`` = best named validation RMS / result validation RMS (>= 1).

Published schedule optimisers as comparison rows: ``ays_gaussian_grid`` (Align Your Steps'
closed form for Gaussian data) and ``gits_grid`` (GITS: dynamic programming over a fine grid).

The result is an :class:`OptimizedGrid`: times, the SDE's spec (its ``repr``), sampler,
steps, and how it was made; ``.save(path)`` writes JSON (plain numbers and strings, nothing
executable); ``load_grid(path)`` reads it back and validates it; ``sample(..., grid=g)`` or
``grid="<path>.json"`` uses it, and raises ValueError when the SDE or step count differ.
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import stat
import tempfile
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Union

import numpy as np
import torch

from ..contract import LIMITS, as_int, check_finite

__all__ = ["OptimizedGrid", "optimize_grid", "load_grid", "GRID_FORMAT", "ays_gaussian_grid",
           "gits_grid"]

GRID_FORMAT = "sde_diffusion.optimized_grid/1"


@dataclass
class OptimizedGrid:
    """A named, saved time grid (decreasing float64 times, ``steps + 1`` of them)."""

    name: str
    times: List[float]
    sde: str
    sampler: str
    steps: int
    sampler_options: Dict[str, Any] = field(default_factory=dict)
    made: Dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        t = [float(v) for v in self.times]
        if len(t) != int(self.steps) + 1 or len(t) < 2:
            raise ValueError(f"grid {self.name!r}: {len(t)} times for steps={self.steps!r} "
                             f"(need steps + 1)")
        if not all(math.isfinite(v) and v >= 0 for v in t) or any(b >= a for a, b in zip(t, t[1:])):
            raise ValueError(f"grid {self.name!r}: times must be finite, >= 0 and strictly "
                             f"decreasing, got {t}")
        self.times, self.steps = t, int(self.steps)

    def times_for(self, sde, steps: int) -> torch.Tensor:
        """The times as a float64 tensor, after checking ``sde`` and ``steps`` fit."""
        if repr(sde) != self.sde:
            raise ValueError(f"grid {self.name!r} was made for SDE {self.sde} with {self.steps} "
                             f"steps, not for {sde!r}")
        if int(steps) != self.steps:
            raise ValueError(f"grid {self.name!r} was made for steps={self.steps} (SDE "
                             f"{self.sde}); this call asks for steps={steps!r}: pass "
                             f"steps={self.steps}")
        return torch.tensor(self.times, dtype=torch.float64)

    def save(self, path: os.PathLike) -> None:
        """Write JSON atomically (a temporary file beside ``path``, then a rename)."""
        text = json.dumps({"format": GRID_FORMAT, **asdict(self)}, indent=1)
        path = os.fspath(path)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(path)),
                                   prefix=f".{os.path.basename(path)}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(text)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise


def _read_text(path: os.PathLike) -> str:
    """The text of a regular file of at most ``LIMITS.max_text_bytes``; opened without blocking
    (a FIFO is refused, not waited on), checked on the open descriptor, read with a bound."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except IsADirectoryError:
        raise ValueError(f"{path!s} is not a saved grid (a directory)") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        kind = "a directory" if stat.S_ISDIR(mode) else "not a regular file"
        raise ValueError(f"{path!s} is not a saved grid ({kind})")
    with os.fdopen(fd, "rb") as fh:
        limit = LIMITS.max_text_bytes
        raw = fh.read(limit + 1)
    if len(raw) > limit:
        raise ValueError(f"{path!s} is not a saved grid (larger than {limit} bytes; raise the "
                         f"limit with {LIMITS.env('max_text_bytes')})")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{path!s} is not a saved grid (binary, not UTF-8 text)") from None


def load_grid(path: os.PathLike) -> OptimizedGrid:
    """Read a grid saved by ``OptimizedGrid.save`` (JSON; validated, nothing executed)."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"load_grid takes a path, got {type(path).__name__}")
    try:
        data = json.loads(_read_text(path))
    except json.JSONDecodeError as e:
        raise ValueError(f"{path!s} is not a saved grid (invalid JSON: {e})") from None
    except RecursionError:
        raise ValueError(f"{path!s} is not a saved grid (JSON nested too deeply)") from None
    if not isinstance(data, dict) or data.get("format") != GRID_FORMAT:
        raise ValueError(f"{path!s} is not a saved grid (format must be {GRID_FORMAT!r})")
    kinds = {"name": str, "times": list, "sde": str, "sampler": str, "steps": int,
             "sampler_options": dict, "made": dict}
    for k, typ in kinds.items():
        if not isinstance(data.get(k), typ) or (typ is int and isinstance(data[k], bool)):
            raise ValueError(f"{path!s}: field {k!r} must be {typ.__name__}, got {data.get(k)!r}")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in data["times"]):
        raise ValueError(f"{path!s}: times must be numbers")
    return OptimizedGrid(**{k: data[k] for k in kinds})


class _Counted:
    def __init__(self, fn: Callable):
        self.fn, self.nfe = fn, 0

    def __call__(self, x, t):
        self.nfe += 1
        return self.fn(x, t)


def _m(sde, t: float) -> float:
    return float(sde.marginal(torch.tensor([float(t)], dtype=torch.float64))[0].reshape(-1)[0])


def _data_end(sde, score, x_T, ref_opts) -> torch.Tensor:
    """The exact PF-ODE map of x_T to the data end: rk45 to eps, then the Tweedie step."""
    from .base import sample
    x, _ = sample(sde, score, sampler="rk45", x_init=x_T, t_end=float(sde.eps), denoise=True,
                  progress=False, **ref_opts)
    return x


def _split(x_calib: torch.Tensor, x_val: Optional[torch.Tensor], val_fraction: float):
    if x_val is not None:
        check_finite("x_val", x_val)
        if not torch.is_tensor(x_val) or tuple(x_val.shape[1:]) != tuple(x_calib.shape[1:]) \
                or x_val.shape[0] < 1:
            raise ValueError(f"x_val must be a (M, {', '.join(map(str, x_calib.shape[1:]))}) "
                             f"tensor of prior samples, got {tuple(getattr(x_val, 'shape', ()))}")
        return x_calib, x_val
    if not 0.0 < float(val_fraction) < 1.0:
        raise ValueError(f"val_fraction must lie in (0, 1), got {val_fraction!r}")
    if x_calib.shape[0] < 2:
        raise ValueError(f"x_calib needs >= 2 samples to hold out a validation part, got "
                         f"{x_calib.shape[0]} (or pass x_val)")
    n_val = min(x_calib.shape[0] - 1, max(1, round(float(val_fraction) * x_calib.shape[0])))
    return x_calib[n_val:], x_calib[:n_val]


def _held_out(sde, x_calib, x_val, n_val, generator, t_start) -> Optional[torch.Tensor]:
    """``x_val`` if given; else, for a run from T, ``n_val`` fresh prior samples at T shaped like
    ``x_calib`` (from ``generator``, seed 0 when None); else None (part of x_calib is held out)."""
    n_val = as_int(n_val, "n_val", minimum=0,
                   maximum=LIMITS.max_elements // max(1, x_calib[0].numel()))
    if x_val is None and n_val > 0 and (t_start is None or float(t_start) >= sde.T):
        x_val = sde.prior_sample((n_val,) + tuple(x_calib.shape[1:]), dtype=x_calib.dtype,
                                 device=x_calib.device,
                                 generator=generator or torch.Generator().manual_seed(0))
    return x_val


def optimize_grid(sde, score_fn, sampler: Union[str, Sequence[str]],
                  steps: Union[int, Dict[str, int]],
                  x_calib: torch.Tensor, *,
                  sampler_options: Optional[Dict[str, Any]] = None,
                  candidates: Optional[Union[Sequence[Dict[str, Any]],
                                             Dict[str, Sequence[Dict[str, Any]]]]] = None,
                  x_val: Optional[torch.Tensor] = None, n_val: int = 1024,
                  generator: Optional[torch.Generator] = None, val_fraction: float = 0.5,
                  t_end: Optional[float] = None, t_start: Optional[float] = None,
                  reference: Optional[Dict[str, Any]] = None, max_evals: int = 1500,
                  starts: int = 2, patience: int = 30,
                  name: Optional[str] = None) -> OptimizedGrid:
    """Optimise the grid of ``sampler`` at ``steps`` (see the module docstring).

    Args:
        x_calib: (N, ...) prior samples at t_start, all used for calibration unless the
            validation batch comes from them. x_val: (M, ...) held-out prior samples; default
            ``n_val`` fresh prior samples at T from ``generator`` (seed 0 when None); with
            ``n_val=0`` or a ``t_start`` before T, a ``val_fraction`` of ``x_calib`` is held out.
        sampler: a name, or several (e.g. ``("unipc", "ipndm")``): one search each on the same
            calibration and held-out batches, and the grid with the smaller held-out RMS is
            returned (``made["val_rms_by_sampler"]``). The batches' exact references are solved
            once for all searches; ``made["nfe"]`` counts every search and the references once.
        steps: the step count; with several samplers also a dict sampler -> steps (one NFE
            budget can mean different step counts, e.g. iPNDM's last step onto sigma = 0 is free).
        sampler_options: constructor options; ``candidates``: a list of option sets to choose
            from (default: just ``sampler_options``), or with several samplers a dict sampler ->
            list (a sampler missing from it searches with its own defaults); ``"final_zero":
            True`` in a set makes its grid end with a step onto t = 0 (sigma = 0) after steps - 1
            searched steps, for a sampler that ``lands_on_zero`` (the returned
            ``sampler_options`` omit the flag); with ``"zero_start": t`` that step starts at time t
            (the searched steps end there) instead of the default end. A set may also name a
            ``grids.ZeroEnded`` as its ``"grid"`` (the probe's low-rank pick, ``found.options``):
            it means ``final_zero`` from the ZeroEnded's start, and its ``bands`` (``"zero_bands"``:
            [[time, steps], ...]) shape every named start of that set, so the pick is among the grids the
            result is never worse than on the validation batch; a named grid there (the pick for
            low-rank data with a noise floor) is already among every search's starts.
        max_evals: sampler runs on the calibration part, over all starts.
        starts: how many of the best (options, named grid) pairs to start a search from.
        patience: iterations without a validation improvement before a search stops.
    Returns:
        :class:`OptimizedGrid`; ``made`` holds the cost in NFE and the validation gain.
    """
    if not isinstance(sampler, str):
        return _over_samplers(sde, score_fn, sampler, steps, x_calib, sampler_options=sampler_options,
                              candidates=candidates, x_val=x_val, n_val=n_val, generator=generator,
                              val_fraction=val_fraction, t_end=t_end, t_start=t_start,
                              reference=reference, max_evals=max_evals, starts=starts,
                              patience=patience, name=name)
    if isinstance(candidates, dict) or isinstance(steps, dict):
        raise ValueError(f"candidates or steps as a dict (keyed by sampler) need several "
                         f"samplers; for sampler {sampler!r} pass a list of option sets and an int")
    max_evals = as_int(max_evals, "max_evals", minimum=1)
    steps, cands = _checked(sde, sampler, steps, candidates or [sampler_options or {}], x_calib)
    data = _reference_batches(sde, score_fn, x_calib, x_val, n_val, generator, t_start,
                              val_fraction, reference)
    return _search(sde, score_fn, sampler, steps, cands, data, t_end=t_end, t_start=t_start,
                   max_evals=max_evals, starts=starts, patience=patience, name=name)


def _checked(sde, sampler: str, steps, cands, x_calib):
    """Fail before any work: unknown sampler / option / SDE, too few steps, a bad x_calib."""
    from .base import _build, as_steps
    steps = as_steps(steps, maximum=LIMITS.max_steps)
    cands = [_zero_ended_candidate(sde, dict(c)) for c in cands]
    for c in cands:
        smp = _build(sampler, {k: v for k, v in _run_options(c).items() if k != "denoise"})
        smp.check_sde(sde)
        if c.get("final_zero") and not smp.lands_on_zero:
            raise ValueError(f"candidate {c}: sampler {sampler!r} cannot end with a step onto "
                             f"sigma = 0 (final_zero needs a sampler that lands_on_zero)")
    if steps < 2:
        raise ValueError(f"optimize_grid needs steps >= 2 (an interior point), got {steps}")
    if not torch.is_tensor(x_calib) or x_calib.ndim < 2 or x_calib.shape[0] < 1:
        raise ValueError(f"x_calib must be a (N, ...) tensor of prior samples, got "
                         f"{getattr(x_calib, 'shape', type(x_calib).__name__)}")
    check_finite("x_calib", x_calib)  # runs in x_calib's dtype: float64 for analytic scores
    return steps, cands


SEARCH_KEYS = ("final_zero", "zero_start", "zero_bands")
"""Candidate keys that shape the searched grid (its step onto t = 0, where it starts, and the bands
of a ``grids.ZeroEnded`` the named starts keep); never passed to the sampler."""


def _run_options(opts: Dict[str, Any]) -> Dict[str, Any]:
    """A candidate's options without ``SEARCH_KEYS``: what ``sample`` gets."""
    return {k: v for k, v in opts.items() if k not in SEARCH_KEYS}


def _zero_ended_candidate(sde, c: Dict[str, Any]) -> Dict[str, Any]:
    """A candidate with a ``grids.ZeroEnded`` grid as ``final_zero`` from its start; a named grid
    (the probe's floor pick, ``found.options``) dropped, as every search starts from every named grid
    with each candidate's options; ``zero_start`` checked (a time strictly inside (0, T), with
    ``final_zero``), and ``zero_bands`` (with ``zero_start``, as ``ZeroEnded``'s bands); any other grid
    or end refused."""
    from .grids import GRIDS, ZeroEnded
    grid = c.pop("grid", None)
    if isinstance(grid, ZeroEnded):
        c.update(final_zero=True, zero_start=float(grid.start))
        if grid.bands:
            c["zero_bands"] = [[float(t), int(n)] for t, n in grid.bands]
    elif (grid is not None and not (isinstance(grid, str) and grid in GRIDS)) or "t_end" in c:
        bad = f"grid={grid!r}" if grid is not None else f"t_end={c['t_end']!r}"
        raise ValueError(f"candidate {c}: optimize_grid searches the grid itself; a candidate may name only "
                         f"a grids.ZeroEnded grid (where its step onto sigma = 0 starts), a named grid "
                         f"({', '.join(sorted(GRIDS))}; every search starts from each) or 'zero_start', got {bad}")
    if "zero_start" in c:
        z = c["zero_start"]
        if isinstance(z, bool) or not isinstance(z, (int, float)) or not 0.0 < float(z) < float(sde.T):
            raise ValueError(f"candidate {c}: zero_start must be a time in (0, T = {float(sde.T):g}), got {z!r}")
        if not c.get("final_zero"):
            raise ValueError(f"candidate {c}: zero_start needs final_zero=True (it is where the step onto "
                             f"sigma = 0 starts)")
        c["zero_start"] = float(z)
    if "zero_bands" in c:
        if "zero_start" not in c:
            raise ValueError(f"candidate {c}: zero_bands needs final_zero=True and zero_start (the bands end there)")
        try:
            ZeroEnded("uniform_t", c["zero_start"], tuple(tuple(b) for b in c["zero_bands"]))
        except (TypeError, ValueError) as err:
            raise ValueError(f"candidate {c}: bad zero_bands: {err}") from None
    return c


def _reference_batches(sde, score_fn, x_calib, x_val, n_val, generator, t_start, val_fraction,
                       reference) -> Dict[str, Any]:
    """The calibration and held-out batches and their exact data ends (``_data_end``), computed
    once and shared by every sampler's search; ``nfe`` counts the references' score calls."""
    x_val = _held_out(sde, x_calib, x_val, n_val, generator, t_start)
    xc, xv = _split(x_calib, x_val, val_fraction)
    score = _Counted(score_fn)
    ref_opts = {"rtol": 1e-9, "atol": 1e-9, "method": "DOP853", **(reference or {})}
    refs = {"calib": _data_end(sde, score, xc, ref_opts), "val": _data_end(sde, score, xv, ref_opts)}
    return {"batches": {"calib": xc, "val": xv}, "refs": refs, "ref_opts": ref_opts, "nfe": score.nfe}


def _search(sde, score_fn, sampler: str, steps: int, cands: List[Dict[str, Any]],
            data: Dict[str, Any], *, t_end, t_start, max_evals, starts, patience,
            name) -> OptimizedGrid:
    """One sampler's search over the named grids and ``cands`` on ``data``'s batches."""
    from scipy.optimize import minimize

    from .base import sample
    from .grids import GRIDS, ZeroEnded, default_t_end

    batches, refs, ref_opts, ref_nfe = data["batches"], data["refs"], data["ref_opts"], data["nfe"]
    xc, xv = batches["calib"], batches["val"]
    score = _Counted(score_fn)
    t0 = float(sde.T if t_start is None else t_start)
    t1 = float(default_t_end(sde, steps) if t_end is None else t_end)

    # the searched part of a candidate's grid: (steps, end time, half log-SNR at the end);
    # with "final_zero", steps - 1 steps to "zero_start" (default: their own default end), then
    # one onto t = 0
    zero_t1 = float(default_t_end(sde, steps - 1) if t_end is None else t_end)
    half_lam = lambda t: float(sde.log_snr(torch.tensor(t, dtype=torch.float64))) / 2

    def ends(opts: Dict[str, Any]):
        n, end = (steps - 1, opts.get("zero_start", zero_t1)) if opts.get("final_zero") else (steps, t1)
        return n, end, half_lam(end)

    def finish(times: torch.Tensor, opts: Dict[str, Any]) -> torch.Tensor:
        return torch.cat([times, times.new_zeros(1)]) if opts.get("final_zero") else times

    def loss_of(times: torch.Tensor, opts: Dict[str, Any], part: str) -> float:
        run = _run_options(opts)
        try:
            x, info = sample(sde, score, sampler=sampler, x_init=batches[part], grid=times,
                             progress=False, **run)
        except (ValueError, FloatingPointError):
            return 50.0
        x0 = x if info.denoised else x / _m(sde, float(info.t_end))
        err = float((x0 - refs[part]).pow(2).mean().sqrt())
        return math.log(err) if err > 0 and math.isfinite(err) else (50.0 if err else -50.0)

    l0 = half_lam(t0)

    def times_of(theta: np.ndarray, opts: Dict[str, Any]) -> torch.Tensor:
        _, end, la = ends(opts)
        g = np.exp(theta - theta.max())
        u = np.cumsum(g / g.sum())[:-1]
        inner = sde.t_from_log_snr(2 * torch.tensor(l0 + u * (la - l0), dtype=torch.float64))
        return finish(torch.cat([torch.tensor([t0], dtype=torch.float64), inner.to(torch.float64),
                                 torch.tensor([end], dtype=torch.float64)]), opts)

    def searched_part(gname: str, opts: Dict[str, Any]) -> torch.Tensor:
        """A named start without its step onto 0; with ``zero_bands``, the named grid within those
        bands (``grids.ZeroEnded``): the probe's banded pick is then the uniform-t start, bit for bit."""
        n, end, _ = ends(opts)
        if opts.get("zero_bands"):
            bands = tuple((float(t), int(k)) for t, k in opts["zero_bands"])
            return ZeroEnded(gname, end, bands)(sde, steps, t_start=t0)[:-1]
        return GRIDS[gname](sde, n, t_end=end, t_start=t0)

    def named_grid(gname: str, opts: Dict[str, Any]) -> torch.Tensor:
        return finish(searched_part(gname, opts), opts)

    named = []                                   # (calib loss, val loss, cand index, grid name)
    for ci, opts in enumerate(cands):
        for gname in GRIDS:
            try:
                tg = named_grid(gname, opts)
            except ValueError:
                continue
            named.append((loss_of(tg, opts, "calib"), loss_of(tg, opts, "val"), ci, gname))
    if not named:
        raise ValueError(f"no candidate's grid fits between t_start = {t0:g} and its end (a zero_start at or "
                         f"above t_start?): {cands}")
    best_named = min(named, key=lambda r: r[1])
    best = {"val": best_named[1], "calib": best_named[0], "ci": best_named[2],
            "times": named_grid(best_named[3], cands[best_named[2]]), "from": best_named[3],
            "optimised": False}
    n_starts = max(1, min(int(starts), len(named)))
    budget = max(1, int(max_evals) // n_starts)
    iters = 0
    for lc, lv, ci, gname in sorted(named)[:n_starts]:
        opts = cands[ci]
        n, end, la = ends(opts)
        tb = searched_part(gname, opts)
        ub = (sde.log_snr(tb) / 2 - l0).numpy() / (la - l0)
        theta0 = np.log(np.clip(np.diff(ub), 1e-12, None))
        since = [0]

        def watch(xk, *_):
            nonlocal iters
            iters += 1
            times = times_of(np.asarray(xk), opts)
            v = loss_of(times, opts, "val")
            if v < best["val"] - 1e-3:               # a validation gain of > 0.1 %
                best.update(val=v, calib=loss_of(times, opts, "calib"), ci=ci, times=times,
                            **{"from": gname, "optimised": True})
                since[0] = 0
            else:
                since[0] += 1
            if since[0] >= patience:
                raise StopIteration

        minimize(lambda th: loss_of(times_of(th, opts), opts, "calib"), theta0, method="Nelder-Mead",
                 callback=watch, options={"maxfev": budget, "xatol": 1e-4, "fatol": 1e-5})
    opts = cands[best["ci"]]
    made = {"method": "Nelder-Mead on softmax gaps in half log-SNR, early-stopped on a "
                      "held-out validation batch",
            "reference": {"sampler": "rk45", "t_end": float(sde.eps), "denoise": True, **ref_opts},
            "reference_nfe": ref_nfe, "nfe": ref_nfe + score.nfe, "iterations": iters,
            "n_calib": int(xc.shape[0]), "n_val": int(xv.shape[0]), "start_grid": best["from"],
            "optimised": best["optimised"], "options": opts,
            "rms_fixed": {g: math.exp(c) for c, v, ci, g in named if ci == best["ci"]},
            "val_rms_fixed": {g: math.exp(v) for c, v, ci, g in named if ci == best["ci"]},
            "rms": math.exp(best["calib"]), "val_rms": math.exp(best["val"]),
            "val_rms_best_named": math.exp(best_named[1]),
            "val_gain": math.exp(best_named[1] - best["val"]),
            "t_end": float(best["times"][-1]), "t_start": t0}
    return OptimizedGrid(name=name or f"{sampler}-{steps}-{type(sde).__name__}",
                         times=best["times"].tolist(), sde=repr(sde), sampler=sampler, steps=steps,
                         sampler_options=_run_options(opts),
                         made=made)


def _over_samplers(sde, score_fn, samplers, steps, x_calib, *, sampler_options, candidates, x_val,
                   n_val, generator, val_fraction, t_start, reference, max_evals,
                   **kw) -> OptimizedGrid:
    """``optimize_grid`` for each of several samplers on one calibration and held-out batch, whose
    references are computed once; the grid with the smallest held-out RMS, its ``made`` holding
    every search's held-out RMS and the NFE of all (the references counted once)."""
    names = list(samplers)
    if not names or not all(isinstance(n, str) for n in names) or len(set(names)) != len(names):
        raise ValueError(f"sampler must be a name or a sequence of distinct names, got {samplers!r}")
    if sampler_options is not None:
        raise ValueError("with several samplers, give their options as candidates={sampler: "
                         "[option sets]}, not sampler_options")
    per = candidates if candidates is not None else {}
    if not isinstance(per, dict) or set(per) - set(names):
        raise ValueError(f"with several samplers, candidates must be a dict keyed by some of "
                         f"{names}, got {candidates!r}")
    steps_of = steps if isinstance(steps, dict) else {n: steps for n in names}
    if set(steps_of) != set(names):
        raise ValueError(f"steps as a dict must give every sampler of {names} its step count, "
                         f"got {steps!r}")
    max_evals = as_int(max_evals, "max_evals", minimum=1)
    plans = {n: _checked(sde, n, steps_of[n], per.get(n) or [{}], x_calib) for n in names}
    data = _reference_batches(sde, score_fn, x_calib, x_val, n_val, generator, t_start,
                              val_fraction, reference)
    grids = [_search(sde, score_fn, n, *plans[n], data, t_start=t_start, max_evals=max_evals, **kw)
             for n in names]
    best = min(grids, key=lambda g: g.made["val_rms"])
    best.made = {**best.made, "nfe": data["nfe"] + sum(g.made["nfe"] - data["nfe"] for g in grids),
                 "val_rms_by_sampler": {g.sampler: g.made["val_rms"] for g in grids}}
    return best


def ays_gaussian_grid(sde, steps: int, data_std: float, t_end: Optional[float] = None,
                      t_start: Optional[float] = None) -> torch.Tensor:
    """Align Your Steps' closed form for Gaussian data N(mu, c^2 I) (Sabour et al. 2024):
    sigma_i = c tan((1 - i/N) atan(sigma_max / c) + (i/N) atan(sigma_min / c)), i.e. uniform in
    atan(sigma / c), mapped to t; c = ``data_std`` (for other data: the per-coordinate RMS
    spread, sqrt(trace Cov / d)). Shape (steps + 1,), from t_start (T) to t_end."""
    from .base import as_steps
    from .grids import default_t_end
    steps = as_steps(steps)
    if not (isinstance(data_std, (int, float)) and math.isfinite(data_std) and data_std > 0):
        raise ValueError(f"data_std must be a finite number > 0, got {data_std!r}")
    t0 = float(sde.T if t_start is None else t_start)
    t1 = float(default_t_end(sde, steps) if t_end is None else t_end)
    sig = sde.sigma(torch.tensor([t0, t1], dtype=torch.float64))
    a, b = math.atan(float(sig[0]) / data_std), math.atan(float(sig[1]) / data_std)
    u = torch.linspace(0.0, 1.0, steps + 1, dtype=torch.float64)
    grid = sde.t_from_sigma(data_std * torch.tan(a + u * (b - a))).to(torch.float64).clamp(t1, t0)
    grid[0], grid[-1] = t0, t1
    return grid


def gits_grid(sde, score_fn, steps: int, x_T: torch.Tensor, *, fine: int = 64,
              base_grid: str = "log_snr", t_end: Optional[float] = None,
              t_start: Optional[float] = None) -> torch.Tensor:
    """GITS (Chen et al. 2024): the ``steps``-step subsequence of a ``fine``-step grid that
    minimises the summed local error of one first-order (DDIM) step along the teacher
    trajectory, found by dynamic programming.

    The teacher is DDIM on the fine grid from the warm-up batch x_T (``fine`` NFE); the cost of
    a jump i -> j is RMS || DDIM(x_i; t_i -> t_j) - x_j || (one NFE per start point i, shared by
    all j through the exact DDIM map). DP: C[k, j] = min_i C[k-1, i] + cost(i, j)."""
    from .base import as_steps, sample
    from .grids import default_t_end, make_grid
    steps, fine = as_steps(steps), as_steps(fine, name="fine")
    if steps > fine:
        raise ValueError(f"gits_grid needs fine >= steps, got fine={fine}, steps={steps}")
    t1 = float(default_t_end(sde, steps) if t_end is None else t_end)
    tf = make_grid(sde, base_grid, fine, t_end=t1, t_start=t_start)
    _, info = sample(sde, score_fn, sampler="ddim", x_init=x_T, grid=tf, return_trajectory=True,
                     progress=False)
    traj = info.trajectory                               # (fine + 1, N, ...)
    M = fine
    cost = torch.full((M + 1, M + 1), math.inf, dtype=torch.float64)
    m, s = sde.marginal(tf)
    for i in range(M):
        x_i = traj[i]
        x0 = (x_i + s[i] ** 2 * score_fn(x_i, torch.full((x_i.shape[0],), float(tf[i]),
                                                         dtype=x_i.dtype))) / m[i]
        eps = (x_i - m[i] * x0) / s[i]
        for j in range(i + 1, M + 1):
            step = m[j] * x0 + s[j] * eps                    # exact DDIM map t_i -> t_j
            cost[i, j] = float((step - traj[j]).pow(2).mean().sqrt())
    return tf[torch.tensor(shortest_path(cost, steps))].clone()


def shortest_path(cost: torch.Tensor, steps: int) -> List[int]:
    """Indices 0 = i_0 < i_1 < ... < i_steps = M minimising sum_k cost[i_{k-1}, i_k] for an
    (M+1, M+1) cost matrix (inf where a jump is not allowed): C[k, j] = min_i C[k-1, i] +
    cost[i, j], then backtracking."""
    M = cost.shape[0] - 1
    C = torch.full((steps + 1, M + 1), math.inf, dtype=torch.float64)
    arg = torch.zeros((steps + 1, M + 1), dtype=torch.long)
    C[0, 0] = 0.0
    for k in range(1, steps + 1):
        C[k], arg[k] = (C[k - 1][:, None] + cost.to(torch.float64)).min(0)
    path = [M]
    for k in range(steps, 0, -1):
        path.append(int(arg[k, path[-1]]))
    return path[::-1]
