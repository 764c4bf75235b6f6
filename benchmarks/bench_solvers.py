"""Every sampler on two analytic mixtures at fixed NFE budgets (VP SDE, exact scores).

Metrics per (problem, sampler, NFE budget):
- RMS error of the end point against the exact PF-ODE solution from the same x_init (a tight
  RK45 solve, rtol = atol = 1e-9), deterministic samplers only, and how many of the n end
  points lie farther than 1 from the exact one (a trajectory that ended in another component);
- sliced Wasserstein-2 to fresh samples of the true mixture (all samplers), next to the
  true-vs-true floor at the same sample size;
- wall time (2-core CPU container; one thread).
A budget B maps to steps = (B - extra) // evals_per_step, extra = NFE outside the loop (the
final denoising step of stochastic samplers, torchsde's shape check). rk45 is adaptive: a
tolerance per budget, its measured NFE is reported.

Usage:  OMP_NUM_THREADS=1 python benchmarks/bench_solvers.py [--n 2000] [--out table.md]
        [--grid uniform_t] [--t-end 1e-5]   (fixed for every sampler but rk45; default: each
                                             sampler's own default grid and end time)
"""
from __future__ import annotations

import argparse
import time

import torch

from sde_diffusion.analytic import random_mixture, ring_of_gaussians
from sde_diffusion.metrics import sliced_wasserstein
from sde_diffusion.sdes import VPSDE
from sde_diffusion.solvers import SAMPLERS, sample

BUDGETS = (10, 20, 50, 100, 1000)
RK45_TOL = {10: 1e-1, 20: 1e-2, 50: 1e-3, 100: 1e-4, 1000: 1e-7}
# name, options, evals per step, NFE outside the loop
CONFIGS = [
    ("euler", {}, 1, 0),
    ("heun", {}, 2, 0),
    ("ddim", {}, 1, 0),
    ("dpm_solver2", {}, 1, 0),
    ("dpm_solver3", {}, 1, 0),
    ("rk45", {}, None, 0),
    ("euler_maruyama", {}, 1, 1),
    ("reverse_diffusion", {}, 1, 1),
    ("ancestral", {}, 1, 1),
    ("pc", {"predictor": "reverse_diffusion", "corrector": "langevin"}, 2, 1),
    ("annealed_langevin", {"n_steps": 5}, 5, 1),
    ("torchsde", {"method": "euler"}, 1, 2),
    ("torchsde", {"method": "srk"}, 10, 2),
    ("torchsde", {"method": "reversible_heun"}, 1, 3),
]


def label(name, opts):
    return name + (f"[{opts['method']}]" if name == "torchsde" else "")


def run(n: int, seed: int = 0, grid=None, t_end=None):
    torch.set_num_threads(1)
    rows = []
    sde = VPSDE()
    for pname, gm in (("ring_of_gaussians (2-D)", ring_of_gaussians()),
                      ("random_mixture (16-D)", random_mixture(dim=16))):
        score = gm.score_fn(sde)
        x_init = sde.prior_sample((n, gm.dim), generator=torch.Generator().manual_seed(seed),
                                  dtype=torch.float64)
        t0 = time.perf_counter()
        ref, rinfo = sample(sde, score, sampler="rk45", x_init=x_init, rtol=1e-9, atol=1e-9)
        print(f"{pname}: reference PF-ODE nfe={rinfo.nfe} ({time.perf_counter() - t0:.1f}s)", flush=True)
        truth = gm.sample(n, torch.Generator().manual_seed(seed + 1), dtype=torch.float64)
        floors = torch.tensor([sliced_wasserstein(
            gm.sample(n, torch.Generator().manual_seed(seed + 100 + r)), truth) for r in range(5)])
        sw_ref = sliced_wasserstein(ref, truth)
        rows.append((pname, "true samples (floor, mean ± sd of 5)", "-", "-", "-", "-", "-",
                     f"{floors.mean():.3f} ± {floors.std():.3f}", "-"))
        rows.append((pname, "exact PF-ODE (rk45 1e-9)", "-", "-", str(rinfo.nfe), "0", "0",
                     f"{sw_ref:.3f}", "-"))
        for name, opts, per_step, extra in CONFIGS:
            det = not SAMPLERS[name].stochastic
            for budget in BUDGETS:
                kw = dict(opts)
                if name != "rk45":
                    kw.update({k: v for k, v in (("grid", grid), ("t_end", t_end)) if v is not None})
                if name == "rk45":
                    steps = 1
                    kw.update(rtol=RK45_TOL[budget], atol=RK45_TOL[budget])
                else:
                    steps = (budget - extra) // per_step
                    if steps < 1:
                        continue
                g = torch.Generator().manual_seed(seed + 10 + budget)
                start = time.perf_counter()
                x, info = sample(sde, score, sampler=name, steps=steps, generator=g,
                                 x_init=x_init.clone() if det else None,
                                 shape=None if det else (n, gm.dim), dtype=torch.float64, **kw)
                wall = time.perf_counter() - start
                ok = bool(torch.isfinite(x).all())
                err = (x - ref).norm(dim=-1) if det and ok else None
                rms = float(err.pow(2).mean().sqrt()) if err is not None else None
                sw = sliced_wasserstein(x, truth) if ok else float("nan")
                rows.append((pname, label(name, opts), str(budget), str(info.steps), str(info.nfe),
                             "-" if rms is None else f"{rms:.2e}",
                             "-" if err is None else str(int((err > 1).sum())), f"{sw:.3f}", f"{wall:.2f}"))
                print(" | ".join(rows[-1]), flush=True)
    return rows


def to_markdown(rows) -> str:
    head = ("| problem | sampler | NFE budget | steps | NFE | RMS vs exact ODE | end points > 1 off "
            "| SW2 to truth | wall s |\n")
    head += "|---|---|---|---|---|---|---|---|---|\n"
    return head + "".join("| " + " | ".join(r) + " |\n" for r in rows)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000, help="samples per run")
    ap.add_argument("--out", default=None, help="write the markdown table here")
    ap.add_argument("--grid", default=None, help="grid for every sampler but rk45 (e.g. uniform_t)")
    ap.add_argument("--t-end", type=float, default=None, help="end time for every sampler but rk45")
    args = ap.parse_args()
    table = to_markdown(run(args.n, grid=args.grid, t_end=args.t_end))
    print(table)
    if args.out:
        with open(args.out, "w") as fh:
            fh.write(table)
