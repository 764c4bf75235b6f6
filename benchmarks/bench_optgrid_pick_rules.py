"""Which of optimize_grid's two searches (UniPC, iPNDM) to keep: rules that look at the spread of
the held-out errors, not only their RMS, scored against the best published peer per cell.

    # the two searches per cell (the docs' recipe), their per-point held-out and scored errors
    env OMP_NUM_THREADS=1 PYTHONPATH=.:benchmarks python benchmarks/bench_optgrid_pick_rules.py collect \
        --half tuning --problems <13 names> --sde VP --seed 999 --out <file>.pt
    # every rule's ratio to the best peer, from one or more collected files
    ... bench_optgrid_pick_rules.py report benchmarks/results/suite/tuning_n1024_peers.jsonl <file>.pt ...

Each cell as ``bench_suite.py optgrid --n-calib 256 --n-val 1024 --max-evals 1500``: calibration
noise at seed + 100, the held-out batch at seed + 200, scored on ``--n`` points at ``--seed``; the
searches are the two-sampler call's own (``_search`` on one ``_reference_batches``: the same
batches, references and grids, bit for bit), kept apart so that both grids are seen. A rule
sees only the held-out per-point errors e_i of both searches.
"""
from __future__ import annotations

import argparse
import math
import sys
import time
import warnings
from pathlib import Path
from typing import Callable, Dict

import torch

from bench_suite import RECIPE_CANDIDATES, opt_batches, setup
from bench_suite_pointwise import bootstrap_interval, point_errors
from bench_suite_report import best_peers, load
from sde_diffusion.analytic import problem_suite, suite_problem
from sde_diffusion.analytic.suite import SUITE_HALVES
from sde_diffusion.benchmarking.budget import steps_for_nfe
from sde_diffusion.benchmarking.reference import data_estimate
from sde_diffusion.solvers import sample
from sde_diffusion.solvers.optimized_grid import _checked, _reference_batches, _search

SAMPLERS = tuple(RECIPE_CANDIDATES)


def _rms(e: torch.Tensor) -> float:
    return float(e.pow(2).mean().sqrt())


def by_rms(cell) -> str:
    """The shipped rule: the smaller held-out RMS."""
    return min(SAMPLERS, key=lambda s: _rms(cell[s]["val_e"]))


def by_median(cell) -> str:
    """The smaller held-out median point error."""
    return min(SAMPLERS, key=lambda s: float(cell[s]["val_e"].median()))


def rms_if_resolved(level: float) -> Callable:
    """The smaller RMS when the paired bootstrap interval (at ``level``) of RMS(UniPC) / RMS(iPNDM)
    excludes 1, else the smaller median."""
    def rule(cell) -> str:
        lo, hi = bootstrap_interval(cell["unipc"]["val_e"], cell["ipndm"]["val_e"], level=level)
        return by_rms(cell) if lo > 1 or hi < 1 else by_median(cell)
    return rule


def rms_without_largest(k: int) -> Callable:
    """The smaller RMS with each side's ``k`` largest point errors left out."""
    return lambda cell: min(SAMPLERS, key=lambda s: _rms(torch.sort(cell[s]["val_e"]).values[:-k]))


def prefer_unless_resolved(preferred: str) -> Callable:
    """``preferred`` unless the other's 95 % interval of its RMS ratio lies below 1."""
    other = [s for s in SAMPLERS if s != preferred][0]
    def rule(cell) -> str:
        lo, hi = bootstrap_interval(cell[other]["val_e"], cell[preferred]["val_e"])
        return other if hi < 1 else preferred
    return rule


RULES: Dict[str, Callable] = {
    "the smaller held-out RMS (shipped)": by_rms,
    "the smaller held-out median": by_median,
    "RMS if its 95 % interval excludes 1, else median": rms_if_resolved(0.95),
    "RMS if its 68 % interval excludes 1, else median": rms_if_resolved(0.68),
    "RMS without each side's 10 largest of 1024": rms_without_largest(10),
    "RMS without each side's largest": rms_without_largest(1),
    "iPNDM unless UniPC is resolved better": prefer_unless_resolved("ipndm"),
    "UniPC unless iPNDM is resolved better": prefer_unless_resolved("unipc"),
    "always iPNDM": lambda cell: "ipndm",
    "always UniPC": lambda cell: "unipc",
}


def collect_cell(problem, sde_name: str, n: int, seed: int, cache: Path, nfe: int = 10) -> dict:
    """Both searches on one cell: per sampler the held-out and scored per-point errors."""
    sde, score, x_T, ref = setup(problem, sde_name, n, seed, cache)
    xc, xv = opt_batches(sde, problem.dim, seed, 256, 1024)
    data = _reference_batches(sde, score, xc, xv, 1024, None, None, 0.5, None)
    ref_val = data["refs"]["val"]
    cell = {}
    for s in SAMPLERS:
        steps = steps_for_nfe({"name": s}, nfe, sde, tuple(x_T.shape[1:]))
        g = _search(sde, score, s, *_checked(sde, s, steps, RECIPE_CANDIDATES[s], xc), data, t_end=None,
                    t_start=None, max_evals=1500, starts=2, patience=30, name=None)
        times = torch.tensor(g.times, dtype=torch.float64)
        e = {}
        for part, x_in, r in (("val_e", xv, ref_val), ("score_e", x_T, ref)):
            x, info = sample(sde, score, sampler=s, x_init=x_in, grid=times, progress=False, **g.sampler_options)
            e[part] = point_errors(data_estimate(sde, x, float(info.t_end), bool(info.denoised)), r)
        if not math.isclose(_rms(e["val_e"]), g.made["val_rms"], rel_tol=1e-9):
            raise SystemExit(f"{problem.name}/{sde_name}/{s}: held-out RMS {_rms(e['val_e']):.6g} != "
                             f"the search's {g.made['val_rms']:.6g}")
        cell[s] = {**e, "options": g.sampler_options, "times": g.times}
    return cell


def report(peer_records, cells: dict, nfe: int = 10) -> str:
    """Markdown: per rule the geometric mean, worst, and counts at <= 0.5x / <= 1x of the picked
    search's scored RMS over the best peer, then the per-cell best of the two (no rule beats it)."""
    peers = best_peers(peer_records)
    rules = {**RULES, "the better of the two on the scored points (no rule can beat it)":
             lambda c: min(SAMPLERS, key=lambda s: _rms(c[s]["score_e"]))}
    lines = ["| rule | geo-mean | worst | <= 0.5x | <= 1x | cells keeping iPNDM |", "|---|---|---|---|---|---|"]
    for name, rule in rules.items():
        ratios, ipndm = [], 0
        for (prob, sde_name), cell in sorted(cells.items()):
            pick = rule(cell)
            ipndm += pick == "ipndm"
            ratios.append(_rms(cell[pick]["score_e"]) / peers[prob, sde_name, nfe][0])
        gm = math.exp(sum(map(math.log, ratios)) / len(ratios))
        lines.append(f"| {name} | {gm:.3f} | {max(ratios):.2f} | {sum(r <= 0.5 for r in ratios)} | "
                     f"{sum(r <= 1 for r in ratios)} | {ipndm} of {len(ratios)} |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=("collect", "report"))
    ap.add_argument("files", nargs="*", help="report: the peer record, then collected .pt files")
    ap.add_argument("--half", choices=SUITE_HALVES, default="tuning")
    ap.add_argument("--problems", default=None)
    ap.add_argument("--sde", choices=("VP", "EDM"), default="VP")
    ap.add_argument("--n", type=int, default=1024)
    ap.add_argument("--seed", type=int, default=999)
    ap.add_argument("--cache", default="outputs/suite_refs")
    ap.add_argument("--out", default=None)
    a = ap.parse_args(argv)
    if a.mode == "report":
        cells = {}
        for f in a.files[1:]:
            cells.update(torch.load(f, weights_only=True))
        print(report(load([a.files[0]]), cells))
        return
    if not a.out:
        ap.error("collect needs --out")
    names = a.problems.split(",") if a.problems else [p.name for p in problem_suite(a.half)]
    cells = {}
    warnings.simplefilter("ignore")
    for name in names:
        t = time.time()
        cells[name, a.sde] = collect_cell(suite_problem(name), a.sde, a.n, a.seed, Path(a.cache))
        torch.save(cells, a.out)
        print(f"# {name}/{a.sde}: {time.time() - t:.0f} s", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
