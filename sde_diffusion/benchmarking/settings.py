"""The sampler settings a cell resolves to: the time grid, end time and final denoising the
sampler will actually use, with its defaults filled in (``sde.default_grid``,
``solvers.grids.default_t_end``, the sampler's own ``default_grid`` / ``default_denoise``).

A cell that leaves these to the defaults describes different computations when the defaults
change (a new default grid or end time), so a record stores the settings it was computed with and the runner recomputes a cached
record whose settings differ from what the cell resolves to now (``records_stale``).

    {"grid": "time_power", "t_end": 0.001, "denoise": False, "times": "<sha1 of the grid>"}

``grid`` is the grid's name (an explicit ``grid`` option, else the sampler's, else the SDE's
default), or ``"<sampler> own grid"`` when the sampler builds its own times (rk45 and
dpm_adaptive: end points only; edm: its rho-grid; ancestral(discrete=True); peer solvers);
``times`` hashes the grid rounded to 12 significant digits, so any change of the times counts.
"""
from __future__ import annotations

import hashlib
from typing import Any, Dict, Mapping, Optional

from .budget import steps_for_nfe
from .cells import PEER_PREFIX, canonical, sampler_parts

__all__ = ["resolved_settings", "stale_reason"]


def _digest(times) -> str:
    rounded = [float(f"{float(t):.12g}") for t in times]
    return hashlib.sha1(canonical(rounded).encode()).hexdigest()[:12]


def resolved_settings(cell: Mapping[str, Any], sde, data_shape=(1,)) -> Dict[str, Any]:
    """{"grid", "t_end", "denoise", "times"} the cell's sampler uses on ``sde`` (the SDE that is
    sampled: the checkpoint's own for checkpoint cells). Raises what the sampler raises for a
    cell it refuses (the caller records such cells as failed)."""
    from ..solvers import get_sampler
    from ..solvers.grids import make_grid
    name, ctor, sample_kw = sampler_parts(cell["sampler"])
    if name.startswith(PEER_PREFIX):
        t_end = float(sample_kw.get("t_end", getattr(sde, "eps", 1e-3)))
        return {"grid": f"{name} own grid", "t_end": t_end, "denoise": False, "times": None}
    steps = (steps_for_nfe(cell["sampler"], cell["nfe"], sde, data_shape)
             if cell.get("nfe") is not None else int(cell["sampler"]["steps"]))
    smp = get_sampler(name)(**ctor)
    grid, t_end, t_start = sample_kw.get("grid"), sample_kw.get("t_end"), sample_kw.get("t_start")
    times = smp.make_times(sde, steps, grid, t_end, t_start)
    if grid is not None:
        label = grid if isinstance(grid, str) else "explicit times"
    else:
        label = f"{name} own grid"
        default = smp.default_grid_on(sde)
        try:
            if make_grid(sde, default, steps, t_end, t_start).tolist() == times.tolist():
                label = default
            elif (float(times[-1]) == 0.0 and len(times) > 2
                  and make_grid(sde, default, steps - 1, float(times[-2]), t_start)
                  .tolist() == times[:-1].tolist()):
                label = f"{default}, then sigma = 0"
        except ValueError:
            pass
    denoise = sample_kw.get("denoise")
    return {"grid": str(label), "t_end": float(times[-1]),
            "denoise": bool(smp.default_denoise if denoise is None else denoise),
            "times": _digest(times.tolist())}


def stale_reason(record: Mapping[str, Any], now: Optional[Mapping[str, Any]]) -> Optional[str]:
    """Why a cached record no longer describes its cell (None: it still does). A record without
    ``settings`` predates them (made with the defaults of its day: unknown, so stale)."""
    if "settings" not in record:
        return "it records no resolved sampler settings (made before records stored their settings)"
    old = record.get("settings")
    if old == now:
        return None
    return f"it was made with {_show(old)}; the sampler now uses {_show(now)}"


def _show(s: Optional[Mapping[str, Any]]) -> str:
    if not s:
        return "none"
    return f"grid {s.get('grid')}, t_end {s.get('t_end')!r}, denoise {s.get('denoise')}"
