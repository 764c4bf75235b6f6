"""Per-NFE cost of two versions of the package's samplers, in one process, runs alternating.

Both package trees are copied into a temporary folder under the names ``sde_a`` (``--old``,
e.g. a ``git worktree`` or ``git archive`` of an earlier commit) and ``sde_b`` (this tree) and
imported side by side, so a change of the machine's load hits both alike. Trivial model
(score = -x), batch 64 x 2, VP, 1000 steps, one thread, best of ``--repeats``; a bare Euler loop
on the same PF-ODE as the reference.

    OMP_NUM_THREADS=1 python benchmarks/bench_overhead_ab.py --old /tmp/old_tree [--samplers euler,unipc]
"""
from __future__ import annotations

import argparse
import importlib
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--old", required=True, help="root of the other tree (holds sde_diffusion/)")
    ap.add_argument("--samplers", default="euler,dpm_solver2,unipc,ipndm,heun")
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=15)
    args = ap.parse_args()
    torch.set_num_threads(1)
    tmp = Path(tempfile.mkdtemp())
    shutil.copytree(Path(args.old) / "sde_diffusion", tmp / "sde_a")
    shutil.copytree(ROOT / "sde_diffusion", tmp / "sde_b")
    sys.path.insert(0, str(tmp))
    pkgs = {k: (importlib.import_module(f"sde_{k}.solvers"), importlib.import_module(f"sde_{k}.sdes"))
            for k in ("a", "b")}
    x0 = torch.randn(64, 2, generator=torch.Generator().manual_seed(0))
    n = args.steps

    def score(x, t):
        return -x

    def bare():
        sde = pkgs["a"][1].VPSDE()
        times = torch.linspace(sde.T, sde.eps, n + 1, dtype=torch.float64)
        f, g, t = sde.drift_coeff(times).tolist(), sde.diffusion(times).tolist(), times.tolist()
        x = x0
        for i in range(n):
            tt = torch.full((x.shape[0],), t[i], dtype=x.dtype)
            x = x + (t[i + 1] - t[i]) * (f[i] * x - (0.5 * g[i] * g[i]) * score(x, tt))

    runs = {"bare Euler loop": bare}
    for name in args.samplers.split(","):
        for k, label in (("a", "old"), ("b", "new")):
            solvers, sdes = pkgs[k]
            runs[f"{label} {name}"] = (lambda s=solvers, d=sdes, nm=name: s.sample(
                d.VPSDE(), score, sampler=nm, steps=n, x_init=x0, progress=False, denoise=False))
    best = {}
    for _ in range(args.repeats):
        for key, fn in runs.items():
            t0 = time.perf_counter()
            fn()
            best[key] = min(best.get(key, float("inf")), (time.perf_counter() - t0) / n * 1e6)
    print(f"# {n} steps, batch (64, 2), best of {args.repeats}, us per step")
    print("| sampler | old | new | new / old |")
    print("|---|---:|---:|---:|")
    print(f"| bare Euler loop | {best['bare Euler loop']:.1f} | | |")
    for name in args.samplers.split(","):
        a, b = best[f"old {name}"], best[f"new {name}"]
        print(f"| {name} | {a:.1f} | {b:.1f} | {b / a:.2f} |")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
