"""Read ``bench_suite.py`` records: choose defaults on the tuning half, tabulate the validation half.

    python benchmarks/bench_suite_report.py tune  benchmarks/results/suite/tuning_*.jsonl
    python benchmarks/bench_suite_report.py table benchmarks/results/suite/validation_*.jsonl

``tune``: for every (SDE, sampler row family), the configuration with the smallest worst-case
ratio rms / best-peer-rms over the tuning problems and NFE budgets (ties: geometric mean).
``table``: per (problem, SDE, NFE) the best peer (name), the best project default, every
project default as a ratio to the best peer, and the optimised-grid rows if present.
"""
from __future__ import annotations

import json
import math
import sys
from collections import defaultdict


def load(paths):
    rows = []
    for p in paths:
        with open(p) as fh:
            rows += [json.loads(line) for line in fh if line.strip()]
    return [r for r in rows if r["rms"] is not None and math.isfinite(r["rms"])]


def best_peers(rows):
    best = {}
    for r in rows:
        if r["kind"] == "peer":
            k = (r["problem"], r["sde"], r["nfe"])
            if k not in best or r["rms"] < best[k][0]:
                best[k] = (r["rms"], r["row"])
    return best


def family(row: str) -> str:
    """``unipc{"order": 3, "grid": ...}`` -> ``unipc{"order": 3}`` (the sampler and its
    constructor variant, without the tuned settings)."""
    name, _, opts = row.partition("{")
    o = json.loads("{" + opts) if opts else {}
    keep = {k: v for k, v in o.items() if k not in ("grid", "t_end", "denoise")}
    return name + json.dumps(keep, sort_keys=True)


def tune(rows, nfes=None):
    best = best_peers(rows)
    ratios = defaultdict(dict)                     # (sde, row) -> {(problem, nfe): ratio}
    for r in rows:
        if r["kind"] != "project" or (nfes and r["nfe"] not in nfes):
            continue
        k = (r["problem"], r["sde"], r["nfe"])
        if k in best:
            ratios[r["sde"], r["row"]][r["problem"], r["nfe"]] = r["rms"] / best[k][0]
    cells = defaultdict(set)
    for (p, s, n) in best:
        if not nfes or n in nfes:
            cells[s].add((p, n))
    chosen = {}
    for (sde, row), rat in ratios.items():
        if set(rat) != cells[sde]:                 # a row must cover every tuning cell
            continue
        worst = max(rat.values())
        gmean = math.exp(sum(math.log(v) for v in rat.values()) / len(rat))
        key = (sde, family(row))
        if key not in chosen or (worst, gmean) < chosen[key][1:3]:
            arg = max(rat, key=rat.get)
            chosen[key] = (row, worst, gmean, arg)
    return chosen


def table(rows):
    best = best_peers(rows)
    out = ["| problem | SDE | NFE | best peer (RMS) | best default | ratio | defaults > 2x | opt grid ratio |",
           "|---|---|---|---|---|---|---|---|"]
    by = defaultdict(list)
    for r in rows:
        if r["kind"] in ("project", "optgrid"):
            by[r["problem"], r["sde"], r["nfe"]].append(r)
    for k in sorted(best):
        peer_rms, peer = best[k]
        proj = [r for r in by[k] if r["kind"] == "project"]
        opt = [r for r in by[k] if r["kind"] == "optgrid"]
        if not proj:
            continue
        b = min(proj, key=lambda r: r["rms"])
        bad = sorted(f"{r['row']} {r['rms'] / peer_rms:.2g}x" for r in proj
                     if r["rms"] > 2 * peer_rms)
        o = f"{min(r['rms'] for r in opt) / peer_rms:.2f}" if opt else "-"
        out.append(f"| {k[0]} | {k[1]} | {k[2]} | {peer.split(':', 1)[-1]} ({peer_rms:.3g}) | "
                   f"{b['row']} ({b['rms']:.3g}) | {b['rms'] / peer_rms:.2f} | "
                   f"{'; '.join(bad) or '-'} | {o} |")
    return "\n".join(out)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    mode, paths = argv[0], argv[1:]
    rows = load(paths)
    if mode == "tune":
        chosen = tune(rows)
        print("| SDE | sampler | chosen row | worst ratio (cell) | geo-mean ratio |")
        print("|---|---|---|---|---|")
        for (sde, fam), (row, worst, gmean, arg) in sorted(chosen.items()):
            print(f"| {sde} | {fam} | {row} | {worst:.2f} ({arg[0]}, {arg[1]}) | {gmean:.2f} |")
    elif mode == "table":
        print(table(rows))
    else:
        raise SystemExit(f"unknown mode {mode!r}; valid choices: tune, table")


if __name__ == "__main__":
    main()
