"""How many points hold a cell's squared error: per row, the RMS, the share of the squared error in
the worst ``--top`` points, and the RMS without them (few-step 25d).

    env OMP_NUM_THREADS=1 PYTHONPATH=.:benchmarks python benchmarks/bench_point_share.py \\
        --problems unequal_9d,unequal_16d --nfe 20 --seeds 1,2

Rows: project samplers with their defaults (``--samplers``) and published peers (``--peers``),
from bench_suite's x_T (EDM, 1024 points) against the exact PF-ODE map.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from bench_suite import peer_estimate, project_estimate, setup
from sde_diffusion.analytic import suite_problem


def shares(x0, ref, top: int):
    """(RMS, share of sum_i e_i^2 in the ``top`` largest e_i^2, RMS without those points)."""
    e2 = (x0 - ref).pow(2).mean(1)
    worst = e2.sort(descending=True).values
    return (float(e2.mean().sqrt()), float(worst[:top].sum() / e2.sum()), float(worst[top:].mean().sqrt()))


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--problems", required=True)
    ap.add_argument("--nfe", type=int, default=20)
    ap.add_argument("--seeds", default="1,2")
    ap.add_argument("--samplers", default="unipc,deis,ipndm")
    ap.add_argument("--peers", default="diffusers_unipc4_linspace_zero,diffusers_unipc2_linspace_karras")
    ap.add_argument("--top", type=int, default=5)
    ap.add_argument("--cache", default="outputs/suite_refs")
    a = ap.parse_args(argv)
    print(f"| problem | seed | row | RMS | share in the worst {a.top} | RMS without them |\n|---|---|---|---|---|---|")
    for name in a.problems.split(","):
        for seed in map(int, a.seeds.split(",")):
            sde, score, x_T, ref = setup(suite_problem(name), "EDM", 1024, seed, Path(a.cache))
            rows = [(s, project_estimate(sde, score, x_T, s, {}, a.nfe)[0]) for s in a.samplers.split(",")]
            rows += [(f"peer:{p}", peer_estimate(sde, score, x_T, p, 0.002, a.nfe)[0]) for p in a.peers.split(",")]
            for row, x0 in rows:
                if x0 is not None:
                    rms, share, rest = shares(x0, ref, a.top)
                    print(f"| {name} | {seed} | {row} | {rms:.4g} | {share:.2f} | {rest:.4g} |")


if __name__ == "__main__":
    main()
