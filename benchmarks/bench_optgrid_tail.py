"""Why 128 test points cannot score optimize_grid on a mixture: per-point errors of the
optimised grid and of the sampler's default, on the benchmark's 128 points and on N fresh ones.

A 10-step run sends a small fraction of points (0.1-2 %) to the wrong mode, with errors of the
order of the distance between modes; the RMS of a batch is then set by how many such points it
holds. This prints, for both grids and both batches, the RMS, the median error and the number
of points with error above ``--far`` (RESULTS.md, few-step section 13).

    env OMP_NUM_THREADS=1 PYTHONPATH=.:benchmarks python benchmarks/bench_optgrid_tail.py \\
        --problem mix16 --sde VP --half validation --fresh 4096
"""
from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import torch

from bench_suite import setup, unipc_candidates
from bench_suite_pointwise import point_errors
from sde_diffusion.analytic import problem_suite
from sde_diffusion.benchmarking.reference import data_end_reference, data_estimate
from sde_diffusion.solvers import optimize_grid, sample


def errors(sde, score, x_init, ref, **kw) -> torch.Tensor:
    """Per-point errors (``bench_suite_pointwise.point_errors``) of UniPC's data estimate."""
    x, info = sample(sde, score, sampler="unipc", x_init=x_init, progress=False, **kw)
    return point_errors(data_estimate(sde, x, float(info.t_end), bool(info.denoised)), ref)


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--problem", default="mix16")
    ap.add_argument("--sde", default="VP")
    ap.add_argument("--half", default="validation")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--n-calib", type=int, default=256)
    ap.add_argument("--n-val", type=int, default=1024)
    ap.add_argument("--fresh", type=int, default=4096)
    ap.add_argument("--far", type=float, default=0.5)
    ap.add_argument("--cache", default="outputs/suite_refs")
    a = ap.parse_args(argv)
    byname = {p.name: p for p in problem_suite(a.half)}
    if a.problem not in byname:
        raise SystemExit(f"unknown problem {a.problem!r} in half {a.half!r}; valid: {sorted(byname)}")
    p = byname[a.problem]
    sde, score, x_T, ref = setup(p, a.sde, 128, 1, Path(a.cache))
    xc = sde.prior_sample((a.n_calib, p.dim), generator=torch.Generator().manual_seed(101),
                          dtype=torch.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        g = optimize_grid(sde, score, "unipc", a.steps, xc, n_val=a.n_val,
                          candidates=unipc_candidates((1, 2, 3), True))
    m = g.made
    print(f"{p.name}/{a.sde}: from {m['start_grid']}, optimised {m['optimised']}, {m['options']}; "
          f"validation RMS {m['val_rms']:.3e} (best named grid {m['val_rms_best_named']:.3e})")
    xf = sde.prior_sample((a.fresh, p.dim), generator=torch.Generator().manual_seed(999),
                          dtype=torch.float64)
    rf = data_end_reference(sde, score, xf, rtol=1e-9, atol=1e-9)
    print("| grid | batch | RMS | median | points with error > far |")
    print("|---|---|---|---|---|")
    for name, kw in (("optimised", dict(grid=torch.tensor(g.times, dtype=torch.float64),
                                        **g.sampler_options)),
                     ("default", dict(steps=a.steps))):
        for batch, xi, r in (("benchmark 128", x_T, ref), (f"fresh {a.fresh}", xf, rf)):
            e = errors(sde, score, xi, r, **kw)
            print(f"| {name} | {batch} | {e.pow(2).mean().sqrt():.3e} | {e.median():.2e} | "
                  f"{int((e > a.far).sum())} of {len(e)} |")


if __name__ == "__main__":
    main()
