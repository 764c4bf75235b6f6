"""Quality-vs-cost plots of a benchmark: one panel per (problem, SDE); each sampler a line with
95 % CI error bars over seeds; the exact-sample floor as a grey band (mean +- CI); the
noise-aware Pareto front circled. Print quality: >= 150 dpi, 10-pt ticks, log axes with
plain-number labels."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Dict, List, Mapping, Sequence

__all__ = ["plot_metric"]

_MARKERS = "os^vD<>pPhX*8d"


def _panels(rows: Sequence[Mapping]) -> Dict[tuple, List[Mapping]]:
    out: Dict[tuple, List[Mapping]] = {}
    for r in rows:
        out.setdefault((r["problem"], r["sde"]), []).append(r)
    return out


def plot_metric(rows: Sequence[Mapping], metric: str, axis: str, path: Path,
                dpi: int = 200) -> None:
    """Write ``path`` (PNG): ``metric`` (judged value, mean +- 95 % CI) against ``axis``
    ("nfe" or "wall_time") for every row that has it."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import LogLocator, ScalarFormatter

    from .report import SHORT_NAMES
    panels = {k: [r for r in rs if metric in r["stats"]] for k, rs in _panels(rows).items()}
    panels = {k: rs for k, rs in panels.items() if rs}
    keys = sorted(panels)
    ncol = 2 if len(keys) == 4 else min(3, len(keys))
    nrow = math.ceil(len(keys) / ncol)
    plt.rcParams.update({"font.size": 10, "xtick.labelsize": 9, "ytick.labelsize": 9})
    fig, axes = plt.subplots(nrow, ncol, figsize=(5.6 * ncol, 4.4 * nrow), squeeze=False)
    labels = sorted({r["label"] for rs in panels.values() for r in rs})
    cmap = plt.get_cmap("tab20")
    order = list(range(0, 20, 2)) + list(range(1, 20, 2))      # distinct hues first
    colors = {s: cmap(order[i % 20]) for i, s in enumerate(labels)}
    key = "pareto_nfe" if axis == "nfe" else "pareto_time"
    for ax, k in zip(axes.flat, keys):
        rs = panels[k]
        for j, lab in enumerate(labels):
            pts = sorted((r[axis].mean, r["stats"][metric]["est"]) for r in rs
                         if r["label"] == lab and r[axis] is not None
                         and math.isfinite(r["stats"][metric]["est"].mean)
                         and r["stats"][metric]["est"].mean > 0)
            if not pts:
                continue
            xs = [p[0] for p in pts]
            ys = [p[1].mean for p in pts]
            lo = [min(p[1].half_width, 0.95 * p[1].mean) if math.isfinite(p[1].half_width)
                  else 0.0 for p in pts]           # a CI below 0 cannot be drawn on log axes
            hi = [p[1].half_width if math.isfinite(p[1].half_width) else 0.0 for p in pts]
            stoch = any(r["stochastic"] for r in rs if r["label"] == lab)
            ax.errorbar(xs, ys, yerr=[lo, hi], marker=_MARKERS[j % len(_MARKERS)], ms=4, lw=1.2,
                        capsize=2, color=colors[lab], label=lab, ls="--" if stoch else "-")
        front = sorted((r[axis].mean, r["stats"][metric]["est"].mean) for r in rs
                       if r["stats"][metric].get(key) and r["stats"][metric]["est"].mean > 0)
        if front:
            ax.scatter(*zip(*front), s=90, facecolors="none", edgecolors="k", lw=1.3, zorder=4,
                       label="Pareto front (beyond noise)")
        floors = [r["stats"][metric]["floor"] for r in rs if r["stats"][metric]["floor"]]
        floors = [f for f in floors if f.mean > 0 and math.isfinite(f.mean)]
        if floors:
            f = max(floors, key=lambda e: e.n)
            ax.axhline(f.mean, color="0.35", ls=":", lw=1.2, label="exact samples (floor)")
            if math.isfinite(f.half_width):
                ax.axhspan(max(f.mean - f.half_width, f.mean * 0.05), f.mean + f.half_width,
                           color="0.6", alpha=0.25, lw=0)
        x_lo, x_hi = ax.dataLim.intervalx
        if 0 < x_lo == x_hi:                  # one budget: widen it, a log axis needs a range
            ax.set_xlim(x_lo / 1.5, x_hi * 1.5)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0), numticks=8))
        fmt = ScalarFormatter()
        fmt.set_scientific(False)
        if axis == "nfe":
            ax.xaxis.set_major_formatter(fmt)
        ax.xaxis.set_minor_formatter(plt.NullFormatter())
        ax.set_title(f"{k[0]} / {k[1]}", fontsize=11)
        ax.set_xlabel("NFE" if axis == "nfe" else "wall time (s)")
        ax.set_ylabel(f"{SHORT_NAMES.get(metric, metric)} (mean ± 95% CI)")
        ax.grid(True, which="major", alpha=0.3)
        ax.grid(True, which="minor", alpha=0.08)
    for ax in list(axes.flat)[len(keys):]:
        ax.axis("off")
    handles, names = [], []
    for ax in axes.flat:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in names:
                handles.append(h)
                names.append(lab)
    fig.legend(handles, names, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=9)
    n = max((len(r["seeds"]) for rs in panels.values() for r in rs), default=0)
    fig.suptitle(f"{SHORT_NAMES.get(metric, metric)} vs "
                 f"{'NFE' if axis == 'nfe' else 'wall time'} — {n} seeds "
                 f"(solid: deterministic, dashed: stochastic)", fontsize=12)
    fig.tight_layout()
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    plt.close(fig)
