"""Wall time of optimize_grid's two-sampler search by part: the shared references, UniPC's
search and iPNDM's search (the recipe's candidates), each timed apart in one process, and the
cost before the references were shared (references twice) against now (once).

    env OMP_NUM_THREADS=1 PYTHONPATH=.:benchmarks python benchmarks/bench_optgrid_cost.py \
        modes45_40d/VP modes45_40d/EDM ring14_sharp/VP ring14_sharp/EDM diag136_sharp/VP

Each cell: 256 calibration points (seed 101), optimize_grid's default 1024 held-out points,
10 NFE, 1500 evaluations; prints one Markdown row per cell (seconds).
"""
from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path

from bench_suite import RECIPE_CANDIDATES, opt_batches, setup
from sde_diffusion.analytic import suite_problem
from sde_diffusion.benchmarking.budget import steps_for_nfe
from sde_diffusion.solvers.optimized_grid import _checked, _reference_batches, _search

def timed_parts(problem: str, sde_name: str, cache: Path = Path("outputs/suite_refs")) -> dict:
    """Seconds for the references and for each sampler's search on one cell."""
    p = suite_problem(problem)
    sde, score, x_T, _ = setup(p, sde_name, 1024, 1, cache)
    xc, _ = opt_batches(sde, p.dim, 1, 256, 0)
    t = time.perf_counter()
    data = _reference_batches(sde, score, xc, None, 1024, None, None, 0.5, None)
    out = {"references": time.perf_counter() - t}
    for s, cands in RECIPE_CANDIDATES.items():
        steps = steps_for_nfe({"name": s}, 10, sde, tuple(x_T.shape[1:]))
        t = time.perf_counter()
        _search(sde, score, s, *_checked(sde, s, steps, cands, xc), data, t_end=None, t_start=None,
                max_evals=1500, starts=2, patience=30, name=None)
        out[s] = time.perf_counter() - t
    return out


def main(argv=None):
    warnings.simplefilter("ignore")
    print("| cell | references, s | UniPC's search, s | iPNDM's search, s | before, s | now, s | now / before |")
    print("|---|---|---|---|---|---|---|")
    for cell in (argv if argv is not None else sys.argv[1:]):
        problem, sde_name = cell.split("/")
        t = timed_parts(problem, sde_name)
        now, before = t["references"] + t["unipc"] + t["ipndm"], 2 * t["references"] + t["unipc"] + t["ipndm"]
        print(f"| {problem} / {sde_name} | {t['references']:.1f} | {t['unipc']:.1f} | {t['ipndm']:.1f} | "
              f"{before:.1f} | {now:.1f} | {now / before:.2f} |", flush=True)


if __name__ == "__main__":
    main()
