"""Optimised time grids: the ``steps + 1`` times that minimise a sampler's end-point error.

``optimize_grid(sde, score_fn, sampler, steps, x_calib)`` fixes the end points (t_start = T,
t_end = ``default_t_end``) and moves the interior points to minimise

    L(grid) = log RMS_n || x_sampler(x_calib_n; grid) - x_ref(x_calib_n) ||

where x_ref is a tight reference solution of the PF-ODE from the same x_calib (``rk45``,
DOP853, rtol = atol = 1e-9 by default). The interior points are parameterised by the
softmax of ``steps`` logits as gaps in normalised half-log-SNR u = (lambda - lambda_T) /
(lambda_end - lambda_T), so every parameter vector is a valid strictly decreasing grid; the
search (derivative-free, scipy Nelder-Mead then Powell) starts from the best of the named
grids on the calibration batch. Every score evaluation is counted: ``grid.made["nfe"]``.

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
from typing import Any, Callable, Dict, List, Optional

import numpy as np
import torch

from ..contract import LIMITS, as_int, check_finite

__all__ = ["OptimizedGrid", "optimize_grid", "load_grid", "GRID_FORMAT"]

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


def optimize_grid(sde, score_fn, sampler: str, steps: int, x_calib: torch.Tensor, *,
                  sampler_options: Optional[Dict[str, Any]] = None,
                  t_end: Optional[float] = None, t_start: Optional[float] = None,
                  reference: Optional[Dict[str, Any]] = None, max_evals: int = 1500,
                  name: Optional[str] = None) -> OptimizedGrid:
    """Optimise the grid of ``sampler`` at ``steps`` on the batch ``x_calib`` (prior samples at
    t_start, shape (N, ...)); returns an :class:`OptimizedGrid` (see the module docstring)."""
    from scipy.optimize import minimize

    from .base import _build, as_steps, sample
    from .grids import GRIDS, default_t_end

    steps = as_steps(steps, maximum=LIMITS.max_steps)
    max_evals = as_int(max_evals, "max_evals", minimum=2)
    opts = dict(sampler_options or {})
    _build(sampler, opts).check_sde(sde)  # unknown sampler / option / SDE: fail before any work
    if steps < 2:
        raise ValueError(f"optimize_grid needs steps >= 2 (an interior point), got {steps}")
    if not torch.is_tensor(x_calib) or x_calib.ndim < 2 or x_calib.shape[0] < 1:
        raise ValueError(f"x_calib must be a (N, ...) tensor of prior samples, got "
                         f"{getattr(x_calib, 'shape', type(x_calib).__name__)}")
    score = _Counted(score_fn)
    t0 = float(sde.T if t_start is None else t_start)
    t1 = float(default_t_end(sde, steps) if t_end is None else t_end)
    ref_opts = {"rtol": 1e-9, "atol": 1e-9, "method": "DOP853", **(reference or {})}
    check_finite("x_calib", x_calib)  # runs in x_calib's dtype: float64 for analytic scores
    x_ref, _ = sample(sde, score, sampler="rk45", x_init=x_calib, t_end=t1, t_start=t0,
                      **ref_opts)
    ref_nfe = score.nfe
    lam = sde.log_snr(torch.tensor([t0, t1], dtype=torch.float64)) / 2
    l0, l1 = float(lam[0]), float(lam[1])

    def loss_of(times: torch.Tensor) -> float:
        try:
            x, _ = sample(sde, score, sampler=sampler, x_init=x_calib, grid=times, **opts)
        except (ValueError, FloatingPointError):
            return 50.0
        err = float((x - x_ref).pow(2).flatten(1).sum(1).mean().sqrt())
        return math.log(err) if err > 0 and math.isfinite(err) else (50.0 if err else -50.0)

    def times_of(theta: np.ndarray) -> torch.Tensor:
        g = np.exp(theta - theta.max())
        u = np.cumsum(g / g.sum())[:-1]
        inner = sde.t_from_log_snr(2 * torch.tensor(l0 + u * (l1 - l0), dtype=torch.float64))
        t = torch.cat([torch.tensor([t0], dtype=torch.float64), inner.to(torch.float64),
                       torch.tensor([t1], dtype=torch.float64)])
        return t

    fixed = {}
    for gname, fn in GRIDS.items():
        try:
            fixed[gname] = loss_of(fn(sde, steps, t_end=t1, t_start=t0))
        except ValueError:
            continue
    best = min(fixed, key=fixed.get)
    tb = GRIDS[best](sde, steps, t_end=t1, t_start=t0)
    ub = (sde.log_snr(tb) / 2 - l0).numpy() / (l1 - l0)
    theta0 = np.log(np.clip(np.diff(ub), 1e-12, None))
    f = lambda th: loss_of(times_of(th))  # noqa: E731
    res = minimize(f, theta0, method="Nelder-Mead",
                   options={"maxfev": max_evals // 2, "xatol": 1e-4, "fatol": 1e-5})
    res = minimize(f, res.x, method="Powell", options={"maxfev": max_evals // 2, "xtol": 1e-3})
    times = times_of(res.x)
    final = loss_of(times)
    if final > fixed[best]:  # never worse than the start on the calibration batch
        times, final = tb, fixed[best]
    made = {"method": "Nelder-Mead + Powell on softmax gaps in log-SNR",
            "reference": {"sampler": "rk45", **ref_opts}, "reference_nfe": ref_nfe,
            "nfe": score.nfe, "n_calib": int(x_calib.shape[0]), "start_grid": best,
            "rms_fixed": {k: math.exp(v) for k, v in fixed.items()}, "rms": math.exp(final),
            "t_end": t1, "t_start": t0}
    return OptimizedGrid(name=name or f"{sampler}-{steps}-{type(sde).__name__}",
                         times=times.tolist(), sde=repr(sde), sampler=sampler, steps=steps,
                         sampler_options=opts, made=made)
