"""Aggregate a sweep's records into rows (one per problem, SDE, sampler settings and budget)
with the spread over seeds, noise-aware ranks and Pareto marks.

Per row and metric m the seeds' values v_s give mean +- 95 % CI (``stats.estimate``). The
value judged is v_s itself (lower is better), except for ``nll``, judged as the distance
|NLL_s - NLL_s(exact samples)| from the exact samples' NLL of the same seed (a sampler with an
NLL *below* the exact samples' is under-dispersed, not better). Within one (problem, SDE,
budget) column a row's **rank** is 1 + the number of rows significantly better than it (paired
by seed, ``stats.significantly_less``), so rows inside each other's noise share a rank. A row
is on the **Pareto front** in (cost, metric) when it is significantly better than every
cheaper row and no row that costs no more is significantly better than it. ``at_floor``: the row is not significantly worse than independent exact
samples (the Monte Carlo floor).
"""
from __future__ import annotations

import math
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from .cells import canonical
from .stats import Estimate, by_seed, estimate, significantly_less

__all__ = ["judged", "aggregate", "Row", "separation", "metrics_present"]

Row = Dict[str, Any]


def judged(metric: str, rec: Mapping[str, Any]) -> Optional[float]:
    """The value of ``metric`` the report ranks (lower is better): |NLL - NLL_exact| for
    ``nll``, the metric itself otherwise; None when the record lacks it."""
    v = (rec.get("metrics") or {}).get(metric)
    if v is None:
        return None
    if metric == "nll":
        b = (rec.get("baseline") or {}).get("nll")
        return None if b is None else abs(float(v) - float(b))
    return float(v)


def _floor(metric: str, rec: Mapping[str, Any]) -> Optional[float]:
    if metric == "ode_rmse":
        return None
    if metric == "nll":                       # exact samples are at distance 0 from themselves
        return 0.0 if (rec.get("baseline") or {}).get("nll") is not None else None
    return (rec.get("baseline") or {}).get(metric)


def _labels(rows: List[Row]) -> None:
    """A sampler run with several option sets gets labels naming the options that vary."""
    by_name: Dict[str, List[Row]] = {}
    for r in rows:
        by_name.setdefault(r["sampler"], []).append(r)
    for name, rs in by_name.items():
        keys = sorted({k for r in rs for k in r["options"]})
        vary = [k for k in keys if len({canonical(r["options"].get(k)) for r in rs}) > 1]
        for r in rs:
            opts = ",".join(f"{k}={r['options'].get(k)}" for k in vary)
            r["label"] = f"{name}[{opts}]" if vary else name


def aggregate(records: Sequence[Mapping[str, Any]], metrics: Sequence[str]) -> List[Row]:
    """Rows of the successful records, grouped over seeds, with per-metric statistics:
    ``row["stats"][m]`` = {"est", "floor", "raw", "rank", "tied_best", "pareto_nfe",
    "pareto_time", "at_floor", "seeds"}."""
    groups: Dict[Tuple, Row] = {}
    for r in records:
        if r.get("error"):
            continue
        opts = (r.get("cell") or {}).get("sampler", {}).get("options") or {}
        k = (r["problem"], r["sde"], r["sampler"], r.get("nfe_budget"),
             r["steps"] if r.get("nfe_budget") is None else None, canonical(opts))
        row = groups.setdefault(k, {"problem": r["problem"], "sde": r["sde"],
                                    "sampler": r["sampler"], "nfe_budget": r.get("nfe_budget"),
                                    "options": opts, "stochastic": r.get("stochastic"),
                                    "recs": []})
        row["recs"].append(r)
    rows = list(groups.values())
    for row in rows:
        rs = row["recs"]
        row["steps"] = sorted({r["steps"] for r in rs})
        row["budget"] = row["nfe_budget"] if row["nfe_budget"] is not None else row["steps"][0]
        row["seeds"] = sorted({int(r["seed"]) for r in rs})
        row["nfe"] = estimate([r.get("nfe") for r in rs])
        row["wall_time"] = estimate([r.get("wall_time") for r in rs])
        row["peak_mem_mb"] = estimate([r.get("peak_mem_mb") for r in rs])
        row["stats"] = {}
        for m in metrics:
            vals = by_seed(rs, lambda rec, m=m: judged(m, rec))
            if not vals:
                continue
            row["stats"][m] = {"by_seed": vals, "est": estimate(list(vals.values())),
                               "floor_by_seed": by_seed(rs, lambda rec, m=m: _floor(m, rec)),
                               "raw": estimate([(r.get("metrics") or {}).get(m) for r in rs])}
            row["stats"][m]["floor"] = estimate(list(row["stats"][m]["floor_by_seed"].values()))
    _labels(rows)
    _rank(rows, metrics)
    rows.sort(key=lambda r: (r["problem"], r["sde"], r["label"], r["nfe"].mean if r["nfe"]
                             else 0))
    return rows


def _finite(e: Optional[Estimate]) -> bool:
    return e is not None and math.isfinite(e.mean)


def _rank(rows: List[Row], metrics: Sequence[str]) -> None:
    panels: Dict[Tuple[str, str], List[Row]] = {}
    for r in rows:
        panels.setdefault((r["problem"], r["sde"]), []).append(r)
    for rs in panels.values():
        for m in metrics:
            have = [r for r in rs if m in r["stats"]]
            for r in have:
                st = r["stats"][m]
                col = [q for q in have if q["budget"] == r["budget"]
                       and (q["nfe_budget"] is None) == (r["nfe_budget"] is None)]
                if not _finite(st["est"]):
                    st.update(rank=None, tied_best=False, at_floor=False,
                              pareto_nfe=False, pareto_time=False)
                    continue
                better = [q for q in col if q is not r and _finite(q["stats"][m]["est"])
                          and significantly_less(q["stats"][m]["by_seed"], st["by_seed"])]
                st["rank"] = 1 + len(better)
                st["tied_best"] = not better
                st["at_floor"] = bool(st["floor_by_seed"]) and not significantly_less(
                    st["floor_by_seed"], st["by_seed"])
                for axis in ("nfe", "wall_time"):
                    st["pareto_" + ("nfe" if axis == "nfe" else "time")] = _on_front(
                        r, [q for q in have if q is not r and _finite(q["stats"][m]["est"])],
                        m, axis)


def _on_front(r: Row, others: List[Row], m: str, axis: str) -> bool:
    """r is on the noise-aware Pareto front in (cost, metric m): no row that costs no more is
    significantly better, and r is significantly better than every row that costs less."""
    cost = r[axis].mean if r[axis] is not None else math.nan
    if not math.isfinite(cost):
        return False
    mine = r["stats"][m]["by_seed"]
    for q in others:
        if q[axis] is None or not math.isfinite(q[axis].mean) or q[axis].mean > cost:
            continue
        theirs = q["stats"][m]["by_seed"]
        if significantly_less(theirs, mine):
            return False
        if q[axis].mean < cost and not significantly_less(mine, theirs):
            return False
    return True


def separation(rows: Sequence[Row], metric: str) -> Tuple[int, int]:
    """(significant, compared): over every (problem, SDE, budget) column, the pairs of rows
    with ``metric`` whose paired 95 % CI of the difference over seeds excludes 0, out of all
    pairs of rows in the column (pairs where a row lacks the metric count as compared, not
    significant, so a metric defined for fewer samplers is not favoured)."""
    cols: Dict[Tuple, List[Row]] = {}
    for r in rows:
        cols.setdefault((r["problem"], r["sde"], r["budget"], r["nfe_budget"] is None), []).append(r)
    sig = total = 0
    for rs in cols.values():
        for i, a in enumerate(rs):
            for b in rs[i + 1:]:
                total += 1
                sa, sb = a["stats"].get(metric), b["stats"].get(metric)
                if sa is None or sb is None or not (_finite(sa["est"]) and _finite(sb["est"])):
                    continue
                if (significantly_less(sa["by_seed"], sb["by_seed"])
                        or significantly_less(sb["by_seed"], sa["by_seed"])):
                    sig += 1
    return sig, total


def metrics_present(records: Sequence[Mapping[str, Any]], order: Sequence[str]) -> List[str]:
    """The metrics (in ``order``) that some successful record has a value for."""
    have = {m for r in records if not r.get("error")
            for m, v in (r.get("metrics") or {}).items() if v is not None}
    return [m for m in order if m in have]
