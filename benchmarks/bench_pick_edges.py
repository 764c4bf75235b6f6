"""Does the probe's pick get worse when the budget grows by one step?  (few-step 59)

The pick (``SharpModes.at_steps``) changes entry at fixed step counts (``sharp_modes``' tables); where the entry
after an edge is worse than the one before it, the error rises with NFE. ``collect`` scores the pick at every
step count of ``--nfes`` (default 5-50) on each problem of ``--sets`` (no default samplers, so it is cheap) and
writes one record per problem: the probe's verdict (``kind``), per step count the RMS and the pick it made
(sampler, options without the end time). ``report`` prints, per (SDE, kind, n -> n + 1), the geometric mean
of pick(n + 1) / pick(n) over the problems, how many rose by more than ``--tol`` and the worst, marking the
step counts where the pick changes entry (``edge``); ``--all`` also lists the steps inside an entry.
``collect --alt '{"TABLE": [entries]}'`` also scores the pick under other entries of ``sharp_modes``' tables for
this SDE (row ``alt``), and ``compare`` prints pick / alt per (SDE, kind, n):

    nice -n 10 env OMP_NUM_THREADS=1 PYTHONPATH=.:benchmarks python benchmarks/bench_pick_edges.py collect \\
        --sets "fresh30;fresh31" --sde EDM --seed 2 --out benchmarks/results/suite/pick_edges_edm_s2.jsonl
    python benchmarks/bench_pick_edges.py report benchmarks/results/suite/pick_edges_*.jsonl
    ... bench_pick_edges.py collect ... --nfes 24-30 --alt '{"SHARP_ONE_DIM_RECIPES": [...]}' --out <c.jsonl>
    python benchmarks/bench_pick_edges.py compare <c.jsonl> --kind sharp_1d

``ending`` scores default samplers at ``--nfes`` and, from ``--stop-from`` steps, the same run stopped at the default
end t_end(n) (row ``<sampler>_stop@n``) instead of stepping onto sigma = 0 where ``sde.sampler_defaults`` names
``zero_from`` (few-step 59a):

    ... bench_pick_edges.py ending --sets <spec> --sde VP --samplers unipc --nfes 40,45,48,49,50,51,55,60 --out <e.jsonl>
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from collections import defaultdict
from pathlib import Path

from bench_low_rank import _done, _problem_list, _read, at_steps_under
from bench_sharp_modes import probe
from bench_suite import SDES, run_project, setup
from bench_suite_report import geo_mean
from sde_diffusion.solvers import sharp_modes
from sde_diffusion.solvers.grids import ZeroEnded, default_t_end
from sde_diffusion.solvers.sharp_modes import has_floor

KINDS = ("sharp_1d", "sharp", "low_rank_floor", "low_rank", "ill_conditioned", "none")
"""The probe's verdict in the order ``SharpModes.at_steps`` reads it (sharp data of one coordinate apart)."""


def kind_of(found, dim: int) -> str:
    """Which of ``KINDS`` the probe's verdict ``found`` (a ``SharpModes``) is, on data of ``dim`` coordinates."""
    if found.sharp:
        return "sharp_1d" if dim == 1 else "sharp"
    if found.low_rank:
        return "low_rank_floor" if has_floor(found.ratios) else "low_rank"
    if found.reads_ill_conditioned:
        return "ill_conditioned"
    return "none"


def made(found) -> str:
    """The pick's sampler and options without the end time (which moves with n inside one entry); a grid
    that steps onto 0 (``ZeroEnded``) by its named grid."""
    opts = {k: (f"zero_ended:{v.grid}" if isinstance(v, ZeroEnded) else v)
            for k, v in sorted(found.options.items()) if k != "t_end"}
    return f"{found.sampler}{json.dumps(opts, sort_keys=True)}"


def collect(a) -> None:
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    done = _done(out)
    nfes = _steps(a.nfes)
    alt = _alt_tables(a.alt)
    with out.open("a") as fh:
        for half, p in _problem_list(a.sets):
            if p.name in done:
                continue
            sde, score, x_T, ref = setup(p, a.sde, a.n, a.seed, Path(a.cache))
            found = probe(p, sde, score, 10, "data", a.seed)
            rec = {"problem": p.name, "half": half, "sde": a.sde, "dim": p.dim, "seed": a.seed, "points": a.n,
                   "kind": kind_of(found, p.dim), "rms": {}, "made": {}}
            for n in nfes:
                at_n = found.at_steps(sde, n)
                rec["rms"][str(n)] = run_project(sde, score, x_T, ref, at_n.sampler, at_n.options, n)[0]
                rec["made"][str(n)] = made(at_n)
                if alt:
                    at_n = at_steps_under(found, sde, n, alt)
                    rec.setdefault("alt", {})[str(n)] = run_project(sde, score, x_T, ref, at_n.sampler, at_n.options,
                                                                    n)[0]
                    rec.setdefault("alt_made", {})[str(n)] = made(at_n)
            fh.write(json.dumps(rec) + "\n")
            fh.flush()
            print(f"# {half} {p.name} ({a.sde}): {rec['kind']}", file=sys.stderr, flush=True)


def ending(a) -> None:
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    done = _done(out)
    with out.open("a") as fh:
        for half, p in _problem_list(a.sets):
            if p.name in done:
                continue
            sde, score, x_T, ref = setup(p, a.sde, a.n, a.seed, Path(a.cache))
            rec = {"problem": p.name, "half": half, "sde": a.sde, "dim": p.dim, "seed": a.seed, "rms": {}}
            for s in a.samplers.split(","):
                for n in _steps(a.nfes):
                    rec["rms"][f"{s}@{n}"] = run_project(sde, score, x_T, ref, s, {}, n)[0]
                    if n >= a.stop_from:
                        rec["rms"][f"{s}_stop@{n}"] = run_project(sde, score, x_T, ref, s,
                                                                  {"t_end": default_t_end(sde, n)}, n)[0]
            fh.write(json.dumps(rec) + "\n")
            fh.flush()
            print(f"# {half} {p.name} ({a.sde})", file=sys.stderr, flush=True)


def _alt_tables(text):
    """``--alt`` JSON {table name: [entries]} -> {table: tuple of tuple entries}; None or '' -> {}."""
    if not text:
        return {}
    tables = json.loads(text)
    for name in tables:
        if not (name.isupper() and isinstance(getattr(sharp_modes, name, None), dict)):
            raise SystemExit(f"--alt: {name!r} is not a table of sharp_modes")
    return {name: tuple(tuple(e) for e in entries) for name, entries in tables.items()}


def compare(a) -> str:
    """pick / alt per (SDE, kind, n) over the records that have ``alt`` (``--kind``: only that kind)."""
    by = defaultdict(list)
    for r in _read(a.records):
        if "alt" not in r or (a.kind and r["kind"] != a.kind):
            continue
        for s, v in r["rms"].items():
            w = r["alt"].get(s)
            if _finite(v) and _finite(w):
                by[(r["sde"], r["kind"], int(s))].append((v / w, r["problem"], r["seed"]))
    lines = ["| SDE | kind | n | cells | pick / alt (geo mean) | below 1 | ties (within 1 %) | worst |",
             "|---|---|---|---|---|---|---|---|"]
    for (sde, kind, n), v in sorted(by.items()):
        worst = max(v)
        lines.append(f"| {sde} | {kind} | {n} | {len(v)} | {geo_mean([x for x, _, _ in v]):.3f} | "
                     f"{sum(x < 0.99 for x, _, _ in v)} | {sum(0.99 <= x <= 1.01 for x, _, _ in v)} | "
                     f"{worst[0]:.2f} ({worst[1]}, s{worst[2]}) |")
    return "\n".join(lines)


def _steps(text: str):
    """``5-50`` or ``5,7,10`` -> step counts."""
    if "-" in text:
        lo, hi = (int(v) for v in text.split("-"))
        return list(range(lo, hi + 1))
    return [int(v) for v in text.split(",")]


def _finite(v) -> bool:
    """A score that was made: a finite, positive RMS (None: the run failed or was not made)."""
    return bool(v) and math.isfinite(v)


def rises(recs):
    """{(sde, kind, n): (ratios pick(n + 1) / pick(n) over the problems with (problem, seed), the pick's changes
    {(made(n), made(n + 1))})}; n -> n + 1 is an edge where the pick changes on some problem."""
    out = defaultdict(lambda: ([], set()))
    for r in recs:
        rms, mk = r["rms"], r["made"]
        for s in rms:
            nxt = str(int(s) + 1)
            if not (_finite(rms[s]) and _finite(rms.get(nxt))):
                continue
            ratios, moves = out[(r["sde"], r["kind"], int(s))]
            ratios.append((rms[nxt] / rms[s], r["problem"], r["seed"]))
            if mk[s] != mk[nxt]:
                moves.add((mk[s], mk[nxt]))
    return out


def report(a) -> str:
    recs = _read(a.records)
    lines = [f"{len(recs)} records; pick(n + 1) / pick(n) per (SDE, kind, n): geometric mean, rises above "
             f"{a.tol:g}x, worst (problem, seed)", "",
             "| SDE | kind | n -> n + 1 | edge | problems | geo mean | > tol | worst |", "|---|---|---|---|---|---|---|---|"]
    flagged = []
    for (sde, kind, n), (ratios, moves) in sorted(rises(recs).items()):
        edge = bool(moves)
        g = geo_mean([v for v, _, _ in ratios])
        worst = max(ratios)
        up = sum(v > a.tol for v, _, _ in ratios)
        if edge or a.all or g > a.tol:
            lines.append(f"| {sde} | {kind} | {n} -> {n + 1} | {'yes' if edge else ''} | {len(ratios)} | {g:.3f} | "
                         f"{up} | {worst[0]:.2f} ({worst[1]}, s{worst[2]}) |")
        if g > a.tol:
            flagged.append((g, sde, kind, n, edge, sorted(moves)))
    lines += ["", f"rises in geometric mean above {a.tol:g}x: {len(flagged)}"]
    for g, sde, kind, n, edge, moves in sorted(flagged, reverse=True):
        lines.append(f"- {sde} {kind} {n} -> {n + 1}: {g:.3f}{' (edge)' if edge else ''}")
        for before, after in moves:
            lines.append(f"    {before} -> {after}")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="mode", required=True)
    c = sub.add_parser("collect")
    c.add_argument("--sets", required=True, help="half:name,...;half (a bare half: all its problems)")
    c.add_argument("--nfes", default="5-50", help="lo-hi or a comma list of step counts")
    c.add_argument("--seed", type=int, default=2)
    c.add_argument("--n", type=int, default=1024, help="x_T points")
    c.add_argument("--sde", choices=sorted(SDES), default="VP")
    c.add_argument("--cache", default="outputs/suite_refs")
    c.add_argument("--out", required=True)
    c.add_argument("--alt", default=None, help="JSON {table: [entries]}: also the pick under these entries")
    e = sub.add_parser("ending")
    e.add_argument("--sets", required=True, help="half:name,...;half (a bare half: all its problems)")
    e.add_argument("--nfes", default="40,45,48,49,50,51,55,60", help="lo-hi or a comma list of step counts")
    e.add_argument("--samplers", default="unipc")
    e.add_argument("--stop-from", type=int, default=50, help="also the run stopped at t_end(n) from this many steps")
    e.add_argument("--seed", type=int, default=2)
    e.add_argument("--n", type=int, default=1024, help="x_T points")
    e.add_argument("--sde", choices=sorted(SDES), default="VP")
    e.add_argument("--cache", default="outputs/suite_refs")
    e.add_argument("--out", required=True)
    m = sub.add_parser("compare")
    m.add_argument("records", nargs="+")
    m.add_argument("--kind", default=None, choices=KINDS)
    r = sub.add_parser("report")
    r.add_argument("records", nargs="+")
    r.add_argument("--tol", type=float, default=1.05)
    r.add_argument("--all", action="store_true", help="also the steps inside an entry")
    a = ap.parse_args(argv)
    if a.mode == "collect":
        collect(a)
    elif a.mode == "ending":
        ending(a)
    elif a.mode == "compare":
        print(compare(a))
    else:
        print(report(a))


if __name__ == "__main__":
    main()
