"""EDM's samplers against the others on the analytic mixtures (exact scores), ~35 NFE.

For each problem (ring of 8 Gaussians in 2-D; random 5-component mixture in 16-D) and SDE
(EDMSDE sigma in [0.002, 80]; VPSDE linear beta), every sampler gets about 35 score
evaluations (EDM's Heun at 18 steps = 35 NFE) and, for context, about 100. Reported: sliced
Wasserstein-2 to fresh true samples (with the true-vs-true floor at the same n), RMS distance
of deterministic samplers' end points to a 512-step EDM-Heun solution of the PF-ODE from the
same x_init, and wall time (2-core CPU container, one thread).

Usage:  OMP_NUM_THREADS=1 python benchmarks/bench_edm.py [--n 2000]
"""
from __future__ import annotations

import argparse
import time

import torch

from sde_diffusion.analytic import random_mixture, ring_of_gaussians
from sde_diffusion.metrics import sliced_wasserstein
from sde_diffusion.sdes import EDMSDE, VPSDE
from sde_diffusion.solvers import SAMPLERS, sample

# name, options, steps for ~35 NFE, steps for ~100 NFE (NFE includes any final denoising)
CONFIGS = [
    ("edm_heun", {}, 18, 51),
    ("edm", {"S_churn": 40.0, "S_tmin": 0.05, "S_tmax": 50.0, "S_noise": 1.003}, 18, 51),
    ("edm", {"S_churn": 10.0, "S_tmin": 0.0, "S_tmax": 1e9, "S_noise": 1.0}, 18, 51),
    ("heun", {}, 17, 50),
    ("heun", {"grid": "karras"}, 17, 50),
    ("dpm_solver3", {}, 35, 100),
    ("ddim", {}, 35, 100),
    ("euler", {"grid": "karras"}, 35, 100),
    ("euler_maruyama", {}, 34, 99),
    ("ancestral", {}, 34, 99),
    ("pc", {}, 17, 49),
]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    args = ap.parse_args()
    problems = {"ring8 (2-D)": ring_of_gaussians(), "mix16 (16-D)": random_mixture(dim=16, k=5, seed=0)}
    sdes = {"EDMSDE": EDMSDE(), "VPSDE": VPSDE()}
    print("| problem | SDE | sampler | options | NFE | SW2 | SW2 floor | RMS to PF-ODE | wall s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for pname, gm in problems.items():
        ref = gm.sample(args.n, torch.Generator().manual_seed(100))
        floor = float(sliced_wasserstein(gm.sample(args.n, torch.Generator().manual_seed(101)), ref))
        for sname, sde in sdes.items():
            score = gm.score_fn(sde)
            x_init = sde.prior_sample((args.n,) + gm.data_shape, generator=torch.Generator().manual_seed(7))
            exact, _ = sample(sde, score, sampler="edm_heun", steps=512, x_init=x_init.double())
            for name, opts, s35, s100 in CONFIGS:
                if name not in SAMPLERS:
                    continue
                for steps in (s35, s100):
                    stochastic = SAMPLERS[name].stochastic
                    t0 = time.perf_counter()
                    if stochastic:
                        x, info = sample(sde, score, x_init.shape, sampler=name, steps=steps,
                                         generator=torch.Generator().manual_seed(7), **opts)
                    else:
                        x, info = sample(sde, score, sampler=name, steps=steps, x_init=x_init, **opts)
                    wall = time.perf_counter() - t0
                    sw = float(sliced_wasserstein(x, ref))
                    rms = "" if stochastic else f"{float((x.double() - exact).pow(2).sum(-1).mean().sqrt()):.4f}"
                    o = ", ".join(f"{k}={v}" for k, v in opts.items())
                    print(f"| {pname} | {sname} | {name} | {o} | {info.nfe} | {sw:.4f} | {floor:.4f} | "
                          f"{rms} | {wall:.2f} |", flush=True)


if __name__ == "__main__":
    main()
