"""A step-length limit for convergence order q (``--q 4``: UniPC-3 with its corrector, iPNDM-4;
``--q 5``: UniPC-4 with its corrector, whose limit q = 6, UniPC-5, shares), measured on
the problem suite: for each H in ``--limits`` (``inf``: no limit) the order rule takes q only on
steps h <= H (``order.MAX_STEP[q] = H``), and ``--samplers`` run every cell of the sets ``--half``
names, comma-separated (``bench_suite``'s set-up: each SDE's default grid and ending), scored by
RMS. One JSON line per (limit, problem, SDE, NFE, sampler) is appended to ``--out`` (rows already
there are skipped). Report: ``bench_suite_report.choose`` over the limits (per-budget worst ratio to the
best peer, the budgets being SDE x NFE; ties within 2x by the geometric mean of max(ratio, 0.5)),
per sampler and jointly for all of them (one limit serves every sampler: the shipped choice).

    env OMP_NUM_THREADS=1 PYTHONPATH=.:benchmarks python benchmarks/bench_order4_limit.py --half tuning \\
        --n 1024 --seed 999 --out benchmarks/results/suite/order4_limit_tuning_n1024.jsonl \\
        --peers benchmarks/results/suite/tuning_n1024_peers.jsonl
"""
from __future__ import annotations

import argparse
import json
import math
from collections import defaultdict
from pathlib import Path
from unittest import mock

from bench_suite import run_project, setup
from bench_suite_report import best_peers, budget_cells, choose, geo_mean, load
from sde_diffusion.analytic import problem_suite
from sde_diffusion.solvers import order


def run(a):
    out = Path(a.out)
    done = {(r["limit"], r["problem"], r["sde"], r["nfe"], r["sampler"]) for r in load([out])
            if r.get("q", 4) == a.q and r["seed"] == a.seed} if out.exists() else set()
    patch = {4: (4,), 5: (5, 6)}[a.q]
    with out.open("a") as fh:
        for sname in a.sdes.split(","):
            for prob in (p for half in a.half.split(",") for p in problem_suite(half)):
                sde, score, x_T, ref = setup(prob, sname, a.n, a.seed, Path(a.cache))
                for lim in a.limits.split(","):
                    # "inf": q on every step
                    with mock.patch.dict(order.MAX_STEP, {q: float(lim) for q in patch}):
                        for nfe in map(int, a.nfes.split(",")):
                            for smp in a.samplers.split(","):
                                if (lim, prob.name, sname, nfe, smp) in done:
                                    continue
                                rms, used, steps, why = run_project(sde, score, x_T, ref, smp, {}, nfe)
                                fh.write(json.dumps({"limit": lim, "problem": prob.name, "sde": sname,
                                                     "nfe": nfe, "sampler": smp, "rms": rms,
                                                     "nfe_used": used, "n": a.n, "seed": a.seed, "q": a.q,
                                                     "error": why}) + "\n")
                                fh.flush()


def report(records, peer_rows) -> str:
    best = best_peers(peer_rows)
    by = defaultdict(lambda: defaultdict(dict))    # sampler or "all" -> limit -> {cell: ratio}
    for r in records:
        k = (r["problem"], r["sde"], r["nfe"])
        if r["rms"] is not None and k in best:
            for group in (r["sampler"], "all"):    # a cell: (sampler, problem, SDE, NFE)
                by[group][r["limit"]][(r["sampler"],) + k] = r["rms"] / best[k][0]
    lines = ["| sampler | limit H | " + " | ".join(f"{s} {n}" for s in ("EDM", "VP") for n in (5, 10, 20, 50))
             + " | all: geo-mean | chosen |", "|---|---|" + "---|" * 10]
    for smp, lims in sorted(by.items()):
        pick = choose(dict(lims), clip=0.5, budget=lambda cell: cell[2:])
        for lim, rat in lims.items():
            cells = budget_cells((sd, nn, x) for (_, _, sd, nn), x in rat.items())
            lines.append(f"| {smp} | {lim} | " + " | ".join(cells) + f" | {geo_mean(list(rat.values())):.3f} | "
                         f"{'**yes**' if lim == pick else ''} |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--half", default="tuning", help="comma-separated suite halves / reserved sets")
    ap.add_argument("--q", type=int, default=4, choices=(4, 5), help="the convergence order limited")
    ap.add_argument("--sdes", default="VP,EDM")
    ap.add_argument("--nfes", default="5,10,20,50")
    ap.add_argument("--samplers", default="unipc,ipndm")
    ap.add_argument("--limits", default="inf,1.5,1.2,1.0,0.8,0.6")
    ap.add_argument("--n", type=int, default=1024)
    ap.add_argument("--seed", type=int, default=999)
    ap.add_argument("--cache", default="outputs/suite_refs")
    ap.add_argument("--peers", default=None, help="comma-separated peer records of the half "
                    "(the report; none: only run)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--report-only", action="store_true")
    a = ap.parse_args(argv)
    if not a.report_only:
        run(a)
    if a.peers:
        print(report(load([a.out]), load(a.peers.split(","))))


if __name__ == "__main__":
    main()
