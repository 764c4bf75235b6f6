"""Candidates measured and not adopted (few-step sections 15e and 16e): UniPC with a per-sample
order test. On a step where the order rule gives p >= 3 (and, with ``--min-step H``, h > H), the
predictions P_q of orders q = p - 2, p - 1, p are formed from the same denoiser history. Where

    |P_p - P_{p-1}| >= C |P_{p-1} - P_{p-2}|      (per sample, over its coordinates)

the sample takes order p - 1 for that step and its corrector: its extrapolation series has
stopped shrinking. With ``--stat corrector`` the test is instead

    |x_corrected - x_predicted| >= C |P_q - P_{q-1}|      (the step before, at its order q)

the corrector moved the last step by more than its predictor's top-order term claimed. The sampler's loop is swapped in for this run only (``candidate_run``); it is
UniPC's own loop with the weights of every order kept. ``C = inf`` reproduces the shipped sampler
bit for bit. Each (C, problem, SDE, NFE) row is appended to ``--out``; the report sets the rows
against UniPC's shipped rows of ``bench_order4_limit`` (limit 1.5) and applies section 12's rule.

    env OMP_NUM_THREADS=1 PYTHONPATH=.:benchmarks python benchmarks/bench_unipc_order_test.py --half tuning \\
        --tests 2,1,0.5,0.25 [--min-step 0.8] [--stat corrector] --out benchmarks/results/suite/unipc_order_test_tuning_n1024[_long].jsonl
"""
from __future__ import annotations

import argparse
import json
import math
from collections import defaultdict
from pathlib import Path
from unittest import mock

import torch

from bench_suite import run_project, setup
from bench_suite_report import best_peers, budget_cells, choose, geo_mean, load
from sde_diffusion.analytic import problem_suite
from sde_diffusion.solvers import unipc
from sde_diffusion.solvers.order import check_increasing, step_orders


def _pick(choice: torch.Tensor, vals: dict) -> torch.Tensor:
    """Per sample, the value of the order it chose."""
    out = None
    for q, v in vals.items():
        m = (choice == q).view(-1, *([1] * (v.dim() - 1)))
        out = v if out is None else torch.where(m, v, out)
    return out


def candidate_run(test: float, min_step: float, stat: str = "ratio"):
    """UniPCSampler.run with the per-sample order test (``test`` = C, ``min_step`` = H).
    ``stat="ratio"``: |P_p - P_{p-1}| >= C |P_{p-1} - P_{p-2}| on this step (15e);
    ``stat="corrector"``: |x_corrected - x_predicted| >= C |P_q - P_{q-1}| of the step before
    (order q >= 2), i.e. the corrector moved the last step by more than the predictor's own
    top-order term claimed (Milne's device; 16e)."""
    def run(self, ctx, x):
        check_increasing(ctx.lam, self.name, ctx.sde)
        orders = step_orders(ctx.lam, self.order, self.lower_order_final, corrected=self.corrector)
        pred, corr = [], []
        for i, p in enumerate(orders):
            final = ctx.s[i + 1] == 0.0
            qs = range(max(1, p - 2), p + 1)
            pred.append(None if final else {q: self._weights(ctx, i, q, False) for q in qs})
            corr.append(None if final or not self.corrector
                        else {q: self._weights(ctx, i, q, True) for q in qs})
        hist, prev, moved, claimed = [], None, None, None
        for i in ctx.loop(x):
            x0 = ctx.x0(x, i)
            moved = None
            if prev is not None:
                x_prev, weights, choice = prev
                x_pred = x
                x = _pick(choice, {q: unipc._weighted(*weights[q][:1], x_prev, weights[q][1],
                                                      hist[:len(weights[q][1]) - 1] + [x0])
                                   for q in set(choice.tolist())})
                moved = (x - x_pred).flatten(1).norm(dim=1)
            hist.insert(0, x0)
            del hist[self.order:]
            if ctx.s[i + 1] == 0.0:
                x = ctx.finish_step(ctx.m[i + 1] * x0, i + 1)
                continue
            p, h = orders[i], ctx.lam[i + 1] - ctx.lam[i]
            P = {q: unipc._weighted(wx, x, w, hist[:len(w)]) for q, (wx, w) in pred[i].items()}
            choice = torch.full((x.shape[0],), p, dtype=torch.long)
            if p >= 3 and math.isfinite(test) and h > min_step:
                if stat == "ratio":
                    top = (P[p] - P[p - 1]).flatten(1).norm(dim=1)
                    below = (P[p - 1] - P[p - 2]).flatten(1).norm(dim=1)
                    choice = torch.where(top >= test * below, p - 1, p)
                elif moved is not None and claimed is not None:
                    choice = torch.where(moved >= test * claimed, p - 1, p)
            tops = {q: (P[q] - P[q - 1]).flatten(1).norm(dim=1) for q in P if q - 1 in P}
            claimed = _pick(choice, tops) if set(choice.tolist()) <= set(tops) else None
            prev = None if corr[i] is None else (x, corr[i], choice)
            x = ctx.finish_step(_pick(choice, {q: P[q] for q in set(choice.tolist())}), i + 1)
        return x
    return run


def run(a):
    out = Path(a.out)
    with out.open("a") as fh:
        for sname in a.sdes.split(","):
            for prob in problem_suite(a.half):
                sde, score, x_T, ref = setup(prob, sname, a.n, a.seed, Path(a.cache))
                for c in map(float, a.tests.split(",")):
                    with mock.patch.object(unipc.UniPCSampler, "run", candidate_run(c, a.min_step, a.stat)):
                        for nfe in map(int, a.nfes.split(",")):
                            rms = run_project(sde, score, x_T, ref, "unipc", {}, nfe)[0]
                            fh.write(json.dumps({"test": c, "min_step": a.min_step, "stat": a.stat, "row": "unipc{}",
                                                 "problem": prob.name, "sde": sname, "nfe": nfe,
                                                 "rms": rms}) + "\n")
                            fh.flush()


def report(records, shipped, peer_rows) -> str:
    """Per C (``inf``: the shipped rows) the budget cells "geo-mean / worst / <= 1x" of the ratio
    to the best peer, the geometric means and section 12's pick."""
    best = best_peers(peer_rows)
    by = defaultdict(dict)
    for r in shipped:
        if r["limit"] == "1.5" and r["sampler"] == "unipc":
            by["inf"][r["problem"], r["sde"], r["nfe"]] = r["rms"]
    for r in records:
        by[f"{r['test']:g}"][r["problem"], r["sde"], r["nfe"]] = r["rms"]
    rat = {c: {k: v / best[k][0] for k, v in rows.items() if k in best and v is not None}
           for c, rows in by.items()}
    full = max(len(v) for v in rat.values())
    rat = {c: v for c, v in rat.items() if len(v) == full}
    pick = choose(rat, clip=0.5, budget=lambda cell: cell[1:])
    lines = ["| C | " + " | ".join(f"{s} {n}" for s in ("EDM", "VP") for n in (5, 10, 20, 50))
             + " | geo-mean | clipped geo-mean | <= 1x | chosen |", "|---|" + "---|" * 12]
    for c, v in rat.items():
        clipped = math.exp(sum(math.log(max(x, 0.5)) for x in v.values()) / len(v))
        lines.append(f"| {c} | " + " | ".join(budget_cells((sd, n, x) for (_, sd, n), x in v.items()))
                     + f" | {geo_mean(list(v.values())):.3f} | {clipped:.4f} | "
                     + f"{sum(x <= 1 for x in v.values())} | "
                     + ("**yes**" if c == pick else "") + " |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--half", default="tuning", choices=("tuning",))
    ap.add_argument("--sdes", default="VP,EDM")
    ap.add_argument("--nfes", default="5,10,20,50")
    ap.add_argument("--tests", default="2,1,0.5,0.25", help="comma-separated C")
    ap.add_argument("--min-step", type=float, default=0.0, help="H: the test only on steps h > H")
    ap.add_argument("--stat", default="ratio", choices=("ratio", "corrector"),
                    help="the statistic: successive prediction differences, or the corrector's change")
    ap.add_argument("--n", type=int, default=1024)
    ap.add_argument("--seed", type=int, default=999)
    ap.add_argument("--cache", default="outputs/suite_refs")
    ap.add_argument("--shipped", default="benchmarks/results/suite/order4_limit_tuning_n1024.jsonl")
    ap.add_argument("--peers", default="benchmarks/results/suite/tuning_n1024_peers.jsonl")
    ap.add_argument("--out", required=True)
    ap.add_argument("--report-only", action="store_true")
    a = ap.parse_args(argv)
    if not a.report_only:
        run(a)
    print(report(load([a.out]), load([a.shipped]), load([a.peers])))


if __name__ == "__main__":
    main()
