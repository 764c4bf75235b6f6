"""How many points hold a cell's squared error: per row, the RMS, the share of the squared error in
the worst ``--top`` points, and the RMS without them (few-step 25d).

    env OMP_NUM_THREADS=1 PYTHONPATH=.:benchmarks python benchmarks/bench_point_share.py \\
        --problems unequal_9d,unequal_16d --nfe 20 --seeds 1,2

Rows: project samplers with their defaults (``--samplers``; ``pick``: the data probe's pick, probed on
the data of ``--probe-seed``) and published peers (``--peers``; ``--best-peer-of``: also, per problem
and SDE, the peer configuration best in those records), from bench_suite's x_T (``--sde``, ``--n``
points) against the exact PF-ODE map. Few-step 30, the low-rank cells of fresh18 on new noise:

    ... bench_point_share.py --sde VP --n 4096 --seeds 3 --nfe 10 --samplers pick --peers "" \\
        --best-peer-of benchmarks/results/suite/fresh18_n1024_peers_vp10.jsonl --problems lowrank44_r4,...
"""
from __future__ import annotations

import argparse
from pathlib import Path

from bench_sharp_modes import probe
from bench_suite import PEER_T_ENDS, peer_estimate, peer_of_row, project_estimate, setup
from bench_suite_report import best_peers, load
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
    ap.add_argument("--best-peer-of", nargs="*", default=(), help="peer records: per cell, their best peer too")
    ap.add_argument("--top", type=int, default=5)
    ap.add_argument("--sde", choices=("VP", "EDM"), default="EDM")
    ap.add_argument("--n", type=int, default=1024, help="x_T points")
    ap.add_argument("--probe-seed", type=int, default=1, help="the data seed of the probe behind ``pick``")
    ap.add_argument("--cache", default="outputs/suite_refs")
    a = ap.parse_args(argv)
    best = best_peers(load(a.best_peer_of)) if a.best_peer_of else {}
    print(f"| problem | seed | row | RMS | share in the worst {a.top} | RMS without them |\n|---|---|---|---|---|---|")
    for name in a.problems.split(","):
        problem = suite_problem(name)
        peers = [(p, PEER_T_ENDS[a.sde][0]) for p in a.peers.split(",") if p]
        if (name, a.sde, a.nfe) in best:
            peers.append(peer_of_row(best[(name, a.sde, a.nfe)][1]))
        for seed in map(int, a.seeds.split(",")):
            sde, score, x_T, ref = setup(problem, a.sde, a.n, seed, Path(a.cache))
            rows = []
            for s in a.samplers.split(","):
                name_opts = (s, {})
                if s == "pick":
                    at = probe(problem, sde, score, 10, "data", a.probe_seed).at_steps(sde, a.nfe)
                    name_opts = (at.sampler, at.options)
                rows.append((s, project_estimate(sde, score, x_T, *name_opts, a.nfe)[0]))
            rows += [(f"peer:{p}", peer_estimate(sde, score, x_T, p, t_end, a.nfe)[0]) for p, t_end in peers]
            for row, x0 in rows:
                if x0 is not None:
                    rms, share, rest = shares(x0, ref, a.top)
                    print(f"| {name} | {seed} | {row} | {rms:.4g} | {share:.2f} | {rest:.4g} |")


if __name__ == "__main__":
    main()
