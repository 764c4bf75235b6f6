"""The benchmark report: ``report.md`` (tables with mean +- 95 % CI over seeds, noise-aware
ranks and Pareto marks, the exact-sample floor with its spread, the commands that made it),
``report.csv`` (one line per row and metric) and the plots (``plots.py``)."""
from __future__ import annotations

import csv
import io
import math
import os
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence

from ..contract import check_choice
from .quality import METRIC_NAMES
from .stats import Estimate
from .table import aggregate, metrics_present, separation

__all__ = ["build_report", "format_estimate", "SHORT_NAMES", "choose_metrics"]

SHORT_NAMES = {"sliced_wasserstein": "SW2", "mmd": "MMD²", "energy_distance": "energy",
               "nll": "|ΔNLL|", "mode_tv": "mode TV", "ode_rmse": "ODE RMSE", "frechet": "FD"}
CSV_COLUMNS = ("problem", "sde", "sampler", "budget_kind", "budget", "steps", "n_seeds", "seeds",
               "nfe_mean", "wall_time_mean_s", "wall_time_ci95_s", "peak_mem_mb_mean", "metric",
               "judged", "mean", "ci95", "raw_mean", "raw_ci95", "floor_mean", "floor_ci95",
               "rank", "tied_best", "at_floor", "pareto_nfe", "pareto_time")


def _num(v: float, digits: int = 3) -> str:
    if not math.isfinite(v):
        return "nan" if math.isnan(v) else str(v)
    if v != 0 and (abs(v) < 1e-3 or abs(v) >= 1e4):
        return f"{v:.{digits - 1}e}"
    return f"{v:.{digits}g}"


def format_estimate(e: Optional[Estimate]) -> str:
    """``mean ± half-width`` (``mean`` alone for one seed, ``–`` for none)."""
    if e is None:
        return "–"
    if e.n < 2 or not math.isfinite(e.half_width):
        return _num(e.mean)
    return f"{_num(e.mean)} ± {_num(e.half_width, 2)}"


def _name(m: str) -> str:
    return SHORT_NAMES.get(m, m)


def _budget_kind(r) -> str:
    return "nfe" if r["nfe_budget"] is not None else "steps"


def _budget_text(budgets) -> str:
    nfe = sorted(b for k, b in budgets if k == "nfe")
    steps = sorted(b for k, b in budgets if k == "steps")
    parts = ([f"NFE {', '.join(map(str, nfe))}"] if nfe else []) + \
        ([f"steps {', '.join(map(str, steps))}"] if steps else [])
    return "; ".join(parts)


def _settings_lines(records: Sequence[Mapping[str, Any]], show: int = 20) -> List[str]:
    """Which grid and end time each sampler used at each budget (``record["settings"]``), per
    SDE: one line per (SDE, grid, t_end) with its budgets and samplers; records without
    settings named as stale."""
    per: Dict[tuple, set] = {}
    stale = []
    for r in records:
        st = r.get("settings")
        if "settings" not in r:
            stale.append(str(r.get("key")))
        elif st:
            budget = (("nfe", r["nfe_budget"]) if r.get("nfe_budget") is not None
                      else ("steps", r.get("steps")))
            per.setdefault((str(r.get("sde")), str(st.get("grid")), st.get("t_end"),
                            str(r.get("sampler"))), set()).add(budget)
    groups: Dict[tuple, List[str]] = {}
    for (sde, grid, t_end, smp), budgets in per.items():
        groups.setdefault((sde, grid, t_end, _budget_text(budgets)), []).append(smp)
    lines = []
    if groups:
        lines += ["Grids and end times by budget (which grid and t_end each NFE used):", ""]
        lines += [f"- {sde}, {budgets}: grid `{grid}`, t_end {t_end!r} — {', '.join(sorted(smp))}"
                  for (sde, grid, t_end, budgets), smp in sorted(groups.items(), key=str)] + [""]
    if stale:
        more = f" and {len(stale) - show} more" if len(stale) > show else ""
        lines += [f"**Stale:** {len(stale)} records carry no resolved sampler settings (made "
                  f"with the defaults of their day: `uniform_t`, t_end 1e-5); "
                  f"re-run their sweep to recompute them: "
                  f"{', '.join(f'`{k}`' for k in sorted(stale)[:show])}{more}.", ""]
    return lines


def choose_metrics(records: Sequence[Mapping[str, Any]]) -> tuple:
    """(metrics, scores): every metric the records hold, led by the one with the most
    significant pairwise differences between samplers (``table.separation``; ties broken by
    the order of ``METRIC_NAMES``), then the others in that order; scores = {m: (sig, pairs)}."""
    have = metrics_present(records, METRIC_NAMES)
    if not have:
        return [], {}
    rows = aggregate(records, have)
    scores = {m: separation(rows, m) for m in have}
    lead = max(have, key=lambda m: (scores[m][0], -have.index(m)))
    return [lead] + [m for m in have if m != lead], scores


def _made_by(records: Sequence[Mapping[str, Any]], commands: Sequence[str], show: int = 5
             ) -> List[str]:
    """The sweep command(s) stored in the records (most cells first), then ``commands``."""
    counts: Dict[str, int] = {}
    for r in records:
        c = r.get("command")
        if isinstance(c, str) and c:
            counts[c] = counts.get(c, 0) + 1
    sweep = sorted(counts, key=lambda c: (-counts[c], c))
    lines = [f"{c}    # {counts[c]} cells" for c in sweep[:show]]
    if len(sweep) > show:
        lines.append(f"# ... and {len(sweep) - show} more commands")
    if not sweep and records:
        lines.append("# (the records name no sweep command: made before commands were recorded)")
    return lines + [c for c in commands if c not in counts]


def _lead_lines(metrics, scores, auto: bool) -> List[str]:
    if not scores:
        return []
    how = ("chosen by the data" if auto else "chosen by --metrics")
    counts = "; ".join(f"{_name(m)} {scores[m][0]}/{scores[m][1]}" for m in metrics if m in scores)
    return [f"**Lead metric: {_name(metrics[0])} ({metrics[0]})**, {how}. Pairs of samplers "
            f"(same problem, SDE and budget) whose paired 95 % CI of the difference over seeds "
            f"excludes 0, per metric: {counts}. The default report leads with the metric "
            f"separating the most pairs at this sample size and lists the others after it.", ""]


def _markdown(rows, metrics, failed, corrupt, commands, title, settings=(), lead=()) -> str:
    seeds = sorted({s for r in rows for s in r["seeds"]})
    n_recs = sum(len(r["recs"]) for r in rows)
    lines = [f"# {title}", ""]
    if commands:
        lines += ["Made by:", "", "```bash", *commands, "```", ""]
    lines += [f"{n_recs} cells in {len(rows)} rows, seeds {seeds} (n = {len(seeds)}); "
              f"{len(failed)} cells failed, {len(corrupt)} corrupt record files skipped.", "",
              *lead, *settings,
              "How to read it: each entry is the mean over seeds ± the half-width of its 95 % "
              "confidence interval (Student t, n − 1 degrees of freedom). Seed s fixes the "
              "prior noise and the held-out set for every sampler, so rows are compared paired "
              "by seed. **Bold** = best in its column within the noise (no other row is "
              "significantly better); `*` = on the Pareto front in (NFE, metric), `†` = in "
              "(wall time, metric): significantly better than every cheaper row; `≈` = not "
              "significantly worse than independent exact samples (the floor). |ΔNLL| = the "
              "distance of the samples' NLL from the exact samples' NLL (lower-is-better NLL "
              "would reward under-dispersed samplers).", ""]
    panels: Dict[tuple, List[Mapping]] = {}
    for r in rows:
        panels.setdefault((r["problem"], r["sde"]), []).append(r)
    for m in metrics:
        lines.append(f"## {_name(m)} ({m})\n")
        for (prob, sde), rs in sorted(panels.items()):
            rs = [r for r in rs if m in r["stats"]]
            if not rs:
                continue
            for kind in ("nfe", "steps"):
                part = [r for r in rs if _budget_kind(r) == kind]
                if part:
                    lines += _panel(part, m, prob, sde, kind)
    if failed:
        lines.append("## Cells that failed\n")
        for r in sorted(failed, key=lambda r: (r["problem"], r["sde"], r["sampler"],
                                               str(r.get("steps")), r["seed"])):
            budget = (f"NFE budget {r['nfe_budget']}" if r.get("nfe_budget") is not None
                      else f"steps {r.get('steps')}")
            lines.append(f"- {r['problem']} / {r['sde']} / {r['sampler']} ({budget}, seed "
                         f"{r['seed']}): {r['error']}")
        lines.append("")
    if corrupt:
        lines.append("## Corrupt record files (skipped; re-run their cells)\n")
        lines += [f"- `{p}`" for p in corrupt] + [""]
    return "\n".join(lines) + "\n"


def _floor_of(rs, m) -> Optional[Estimate]:
    """The exact-sample floor of a panel (the estimate over the most seeds); none for |ΔNLL|
    (0 by definition) and ODE RMSE."""
    floors = [r["stats"][m]["floor"] for r in rs if r["stats"][m]["floor"] is not None]
    if not floors or m == "nll":
        return None
    return max(floors, key=lambda e: e.n)


def _cell_text(r, m) -> str:
    st = r["stats"][m]
    txt = format_estimate(st["est"])
    if st.get("tied_best"):
        txt = f"**{txt}**"
    marks = ("\\*" if st.get("pareto_nfe") else "") + ("†" if st.get("pareto_time") else "") \
        + ("≈" if st.get("at_floor") else "")
    return txt + (f" {marks}" if marks else "")


def _panel(rs, m, prob, sde, kind) -> List[str]:
    if kind == "steps":     # fixed step counts or adaptive solvers: one line each, NFE measured
        lines = [f"**{prob} / {sde}** — {_name(m)}; without an NFE budget (NFE measured)\n",
                 f"| sampler | steps | NFE | {_name(m)} |", "|---|---:|---:|---:|"]
        floor = _floor_of(rs, m)
        if floor is not None:
            lines.append(f"| *exact samples (floor)* | – | – | {format_estimate(floor)} |")
        for r in sorted(rs, key=lambda r: (r["label"], r["budget"])):
            lines.append(f"| {r['label']} | {'/'.join(map(str, r['steps']))} | "
                         f"{format_estimate(r['nfe'])} | {_cell_text(r, m)} |")
        return lines + [""]
    budgets = sorted({r["budget"] for r in rs})
    lines = [f"**{prob} / {sde}** — {_name(m)}; columns: NFE budget\n",
             "| sampler | " + " | ".join(str(b) for b in budgets) + " |",
             "|---|" + "---:|" * len(budgets)]
    floor = _floor_of(rs, m)
    if floor is not None:
        lines.append("| *exact samples (floor)* | " + " | ".join(
            [format_estimate(floor)] * len(budgets)) + " |")
    by_label: Dict[str, Dict[Any, Mapping]] = {}
    for r in rs:
        by_label.setdefault(r["label"], {})[r["budget"]] = r
    for label in sorted(by_label):
        cells = []
        for b in budgets:
            r = by_label[label].get(b)
            if r is None:
                cells.append("")
                continue
            txt = _cell_text(r, m)
            if kind == "nfe" and r["nfe"] is not None and round(r["nfe"].mean) != b:
                txt += f" (NFE {_num(r['nfe'].mean)})"
            cells.append(txt)
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return lines + [""]


def _csv(rows, metrics) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    f = lambda e, a: "" if e is None else f"{getattr(e, a):.6g}"
    for r in rows:
        for m in metrics:
            st = r["stats"].get(m)
            if st is None:
                continue
            w.writerow([r["problem"], r["sde"], r["label"], _budget_kind(r), r["budget"],
                        "/".join(map(str, r["steps"])), len(r["seeds"]),
                        " ".join(map(str, r["seeds"])), f(r["nfe"], "mean"),
                        f(r["wall_time"], "mean"), f(r["wall_time"], "half_width"),
                        f(r["peak_mem_mb"], "mean"), m,
                        "abs(nll - nll_exact)" if m == "nll" else m,
                        f(st["est"], "mean"), f(st["est"], "half_width"),
                        f(st["raw"], "mean"), f(st["raw"], "half_width"),
                        f(st["floor"], "mean"), f(st["floor"], "half_width"),
                        st.get("rank") or "", int(bool(st.get("tied_best"))),
                        int(bool(st.get("at_floor"))), int(bool(st.get("pareto_nfe"))),
                        int(bool(st.get("pareto_time")))])
    return buf.getvalue()


def build_report(records: Sequence[Mapping[str, Any]], out_dir: os.PathLike,
                 metrics: Optional[Sequence[str]] = None, *, tracker: Any = None,
                 plot_prefix: str = "", commands: Sequence[str] = (),
                 corrupt: Sequence[os.PathLike] = (), title: str = "Solver benchmark",
                 dpi: int = 200, progress: Optional[Callable[[str], None]] = None
                 ) -> Dict[str, Any]:
    """Write ``report.md``, ``report.csv`` and ``<prefix><metric>_vs_{nfe,time}.png`` into
    ``out_dir`` from a sweep's records (failed records listed, not plotted).

    ``metrics``: None (default) = every metric the records hold, led by the one that separates
    the samplers most (``choose_metrics``); or a list, the first primary. ``commands``: command
    lines that made the report (printed under the sweep commands the records name).
    ``corrupt``: record files that were skipped (listed). ``progress``: called with a line per
    stage (rows, each plot). Returns the paths, the markdown, the rows, the failed records and
    the metrics in report order."""
    from .plots import plot_metric
    say = progress or (lambda msg: None)
    records = list(records)
    failed = [r for r in records if r.get("error")]
    auto = metrics is None
    if auto:
        metrics, scores = choose_metrics(records)
        if not metrics:
            raise ValueError(f"no successful record with a metric in this sweep "
                             f"({len(records)} records, {len(failed)} failed)")
    else:
        if isinstance(metrics, str):
            metrics = [metrics]
        metrics = list(metrics)
        if not metrics:
            raise ValueError("give at least one report metric; valid choices: "
                             + ", ".join(METRIC_NAMES))
        for m in metrics:
            check_choice("report metric", m, METRIC_NAMES)
        scores = None
    if not isinstance(dpi, int) or isinstance(dpi, bool) or dpi < 150:
        raise ValueError(f"dpi must be an integer >= 150 (print quality), got {dpi!r}")
    say(f"aggregating {len(records)} records")
    rows = aggregate(records, metrics)
    missing = [m for m in metrics if not any(m in r["stats"] for r in rows)]
    if not rows or missing:
        raise ValueError(f"no successful record in this sweep has the metric(s) "
                         f"{', '.join(missing or metrics)} ({len(records)} records, "
                         f"{len(failed)} failed)")
    if scores is None:
        scores = {m: separation(rows, m) for m in metrics}
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    md = _markdown(rows, metrics, failed, [str(p) for p in corrupt],
                   _made_by(records, list(commands)), title, _settings_lines(records),
                   _lead_lines(metrics, scores, auto))
    plots: Dict[str, Path] = {}
    todo = [(m, axis, tag) for m in metrics for axis, tag in (("nfe", "nfe"), ("wall_time", "time"))]
    for k, (m, axis, tag) in enumerate(todo, 1):
        say(f"plot {k}/{len(todo)}: {m} vs {tag}")
        p = out / f"{plot_prefix}{m}_vs_{tag}.png"
        plot_metric(rows, m, axis, p, dpi=dpi)
        plots[f"{m}_vs_{tag}"] = p
    md += "\n## Plots\n\n" + "\n".join(f"![{k}]({p.name})" for k, p in plots.items()) + "\n"
    (out / "report.md").write_text(md)
    (out / "report.csv").write_text(_csv(rows, metrics))
    if tracker is not None:
        _log(tracker, rows, metrics, plots)
    return {"markdown": md, "report": out / "report.md", "csv": out / "report.csv",
            "plots": plots, "rows": rows, "failed": failed, "metrics": metrics,
            "separation": scores}


def _log(tracker, rows, metrics, plots) -> None:
    """The plots as images and a summary through the tracker's interface."""
    for name, p in plots.items():
        tracker.log_image(f"benchmark/{name}", str(p), step=0, caption=name)
    tracker.summary({"benchmark/rows": len(rows), "benchmark/metrics": ",".join(metrics)})
