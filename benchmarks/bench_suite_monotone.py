"""Error against NFE on the problem suite: end-to-end RMS of every default deterministic sampler
at n = 10, 20, 40, 80 steps (48 points, seed 0, the set-up of
``tests/solvers/test_suite_monotone.py``), with optional sampler options applied to every row.
One JSON line per (problem, SDE, sampler, options) is appended to ``--out``; rows already there
are skipped.

    nice -n 10 env OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/bench_suite_monotone.py \\
        --half all --out benchmarks/results/suite/monotone.jsonl
    python benchmarks/bench_suite_monotone.py --report benchmarks/results/suite/monotone.jsonl
    python benchmarks/bench_suite_monotone.py --split ring8_sharp --sdes VP --samplers deis,heun

``--split``: each run's end-to-end error beside its two parts, the floor (the exact flow stopped
at the run's t_end, scored like a sampler) and the discretisation error (distance to that exact
state, per coordinate, in x/m).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import torch

from sde_diffusion.analytic import problem_suite, suite_split
from sde_diffusion.analytic.suite import SUITE_HALVES
from sde_diffusion.benchmarking.reference import (data_end_reference, data_estimate, end_to_end_errors,
                                                  end_to_end_rms)
from sde_diffusion.sdes import EDMSDE, VPSDE
from sde_diffusion.solvers import SAMPLERS, sample

FEW_STEP = ("euler", "heun", "ddim", "dpm_solver2", "dpm_solver3", "dpm_solver_2s",
            "dpm_solver_3s", "unipc", "deis", "edm_heun", "ipndm", "ipndm_v")
SDES = {"VP": VPSDE, "EDM": EDMSDE}
STEPS = (10, 20, 40, 80)


def rms_by_steps(problem, sname, sampler, opts, n=48, ref_cache=None):
    sde = SDES[sname]()
    sf = problem.mixture.score_fn(sde)
    x_T = sde.prior_sample((n, problem.dim), generator=torch.Generator().manual_seed(0),
                           dtype=torch.float64)
    key = (problem.name, sname)
    if ref_cache is not None and key in ref_cache:
        ref = ref_cache[key]
    else:
        ref = data_end_reference(sde, sf, x_T)
        if ref_cache is not None:
            ref_cache[key] = ref
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return end_to_end_errors(sde, sf, x_T, sampler, STEPS, ref=ref, **opts)


def report(paths, tol=1.05, show_all=False):
    recs = [json.loads(l) for p in paths for l in Path(p).read_text().splitlines()]
    half = {n: h for h, names in suite_split().items() for n in names}
    bad = 0
    for r in recs:
        e = {int(k): v for k, v in r["rms"].items()}
        worst = max(e[2 * n] / e[n] for n in (10, 20, 40))
        flag = "*" if worst > tol else " "
        bad += worst > tol
        if worst > tol or show_all:
            print(f"{flag} {half.get(r['problem'], 'added'):10s} {r['problem']:16s} {r['sde']:4s} "
                  f"{r['sampler']:14s} {json.dumps(r['options']):30s} worst {worst:6.2f}  "
                  + " / ".join(f"{e[n]:.3g}" for n in STEPS))
    print(f"{bad} of {len(recs)} rows with RMS(2n) > {tol} RMS(n)")


def split(problem, sname, samplers, n=48):
    from sde_diffusion.solvers.grids import default_t_end
    sde = SDES[sname]()
    sf = problem.mixture.score_fn(sde)
    x_T = sde.prior_sample((n, problem.dim), generator=torch.Generator().manual_seed(0),
                           dtype=torch.float64)
    ref = data_end_reference(sde, sf, x_T)
    exact = {}
    for k in STEPS:
        te = default_t_end(sde, k)
        xe, _ = sample(sde, sf, sampler="rk45", x_init=x_T, t_end=te, progress=False,
                       method="DOP853", rtol=1e-10, atol=1e-10)
        exact[k] = (te, xe)
    print(f"{problem.name}/{sname}: floor at {STEPS} steps: " + " / ".join(
        f"{end_to_end_rms(data_estimate(sde, xe, te, False), ref):.2g}" for te, xe in exact.values()))
    for s in samplers:
        parts = []
        for k in STEPS:
            te, xe = exact[k]
            x, info = sample(sde, sf, sampler=s, steps=k, x_init=x_T, progress=False)
            m = float(sde.marginal(torch.tensor([te], dtype=torch.float64))[0])
            parts.append(f"{end_to_end_rms(x / m, xe / m):.2g} "
                         f"({end_to_end_rms(data_estimate(sde, x, info.t_end, info.denoised), ref):.2g})")
        print(f"  {s:14s} discretisation (end to end): " + " / ".join(parts))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--half", default="all", choices=SUITE_HALVES)
    ap.add_argument("--problems", default=None)
    ap.add_argument("--sdes", default="VP,EDM")
    ap.add_argument("--samplers", default=None)
    ap.add_argument("--options", default="{}", help="JSON sampler options for every row")
    ap.add_argument("--out", default=None)
    ap.add_argument("--report", nargs="*", default=None)
    ap.add_argument("--all", action="store_true", help="report: every row, not only rises")
    ap.add_argument("--split", default=None, help="a problem: floor and discretisation error")
    a = ap.parse_args()
    if a.report is not None:
        return report(a.report, show_all=a.all)
    if a.split:
        from sde_diffusion.analytic import suite_problem
        for sname in a.sdes.split(","):
            split(suite_problem(a.split), sname, (a.samplers or "unipc").split(","))
        return
    opts = json.loads(a.options)
    out = Path(a.out)
    done = set()
    if out.exists():
        done = {(r["problem"], r["sde"], r["sampler"], json.dumps(r["options"], sort_keys=True))
                for r in map(json.loads, out.read_text().splitlines())}
    probs = problem_suite(a.half)
    if a.problems:
        probs = [p for p in probs if p.name in a.problems.split(",")]
    names = [s for s in (a.samplers.split(",") if a.samplers else FEW_STEP)
             if s in SAMPLERS and not SAMPLERS[s].stochastic]
    cache = {}
    with out.open("a") as fh:
        for sname in a.sdes.split(","):
            for p in probs:
                t0 = time.time()
                for s in names:
                    key = (p.name, sname, s, json.dumps(opts, sort_keys=True))
                    if key in done:
                        continue
                    try:
                        e = rms_by_steps(p, sname, s, opts, ref_cache=cache)
                    except ValueError as exc:
                        if "SDE" in str(exc) or "sde" in str(exc):
                            continue
                        raise
                    fh.write(json.dumps({"problem": p.name, "sde": sname, "sampler": s,
                                         "options": opts, "rms": e}) + "\n")
                    fh.flush()
                print(f"# {p.name}/{sname}: {time.time() - t0:.0f} s", file=sys.stderr,
                      flush=True)


if __name__ == "__main__":
    main()
