"""Likelihood benchmarks on analytic problems (exact scores, no training).

Tables (markdown on stdout, pasted into benchmarks/RESULTS.md, section "Likelihood"):
  1. PF-ODE accuracy and NFE against rtol (RK45) and against steps (Heun), exact divergence;
  2. continuous ELBO: estimator spread for uniform / importance t, with / without control variate;
  3. discrete bound against the number of steps (10 -> 1000), exact posterior mean.

Error of the ODE = max over points of |log p_model - reference| / d, reference = log p_eps(x)
+ log pi(x_T) - log p_T(x_T) (the exact model density: the ODE maps p_eps to p_T, the prior
pi replaces p_T). Run: OMP_NUM_THREADS=1 python benchmarks/bench_likelihood.py [--quick]
"""
from __future__ import annotations

import argparse
import math
import time

import torch

from sde_diffusion.analytic import GaussianMixture, ring_of_gaussians
from sde_diffusion.likelihood import discrete_elbo, elbo, log_likelihood
from sde_diffusion.sdes import VESDE, VPSDE


def problems():
    gauss = GaussianMixture(torch.tensor([[0.5, -1.0]]), torch.tensor([[0.7, 0.4]]))
    return {"gaussian-2d": gauss, "ring-8": ring_of_gaussians()}


def sdes():
    return {"VP": VPSDE(), "VE(50)": VESDE(sigma_max=50.0)}


def ode_table(n_points: int, quick: bool) -> None:
    print("| problem | SDE | solver | setting | NFE | max err (nats/dim) | mean NLL - true NLL | wall (s) |")
    print("|---|---|---|---|---|---|---|---|")
    rtols = [1e-3, 1e-4, 1e-5] if quick else [1e-3, 1e-4, 1e-5, 1e-6]
    steps = [10, 50, 200] if quick else [10, 25, 50, 100, 200, 400]
    for pname, gm in problems().items():
        x = gm.sample(n_points, torch.Generator().manual_seed(0), dtype=torch.float64)
        for sname, sde in sdes().items():
            truth = gm.log_prob(x, sde, sde.eps)
            runs = [("rk45", f"rtol=atol={r:g}", dict(method="rk45", rtol=r, atol=r)) for r in rtols]
            runs += [("heun", f"steps={n}", dict(method="heun", steps=n)) for n in steps]
            for solver, label, kw in runs:
                t0 = time.perf_counter()
                res = log_likelihood(sde, gm.score_fn(sde), x, **kw)
                wall = time.perf_counter() - t0
                ref = truth + res.prior_logp - gm.log_prob(res.z, sde, sde.T)
                err = float((res.logp - ref).abs().max()) / res.dim
                bias = float(gm.log_prob(x).mean() - res.logp.mean())
                print(f"| {pname} | {sname} | {solver} | {label} | {res.nfe} | {err:.2e} | "
                      f"{bias:+.4f} | {wall:.2f} |")


def elbo_table(n_points: int, n_samples: int) -> None:
    print("\n| problem | SDE | t sampling | control variate | mean SE per point (nats) | "
          "per-draw std | mean(ELBO - log p - mismatch) |")
    print("|---|---|---|---|---|---|---|")
    for pname, gm in problems().items():
        x = gm.sample(n_points, torch.Generator().manual_seed(1), dtype=torch.float64)
        for sname, sde in sdes().items():
            m, s = sde.marginal(sde.T)  # prior mismatch by Monte Carlo (no score calls)
            g = torch.Generator().manual_seed(2)
            xT = m * x.repeat_interleave(2000, 0) + s * torch.randn(n_points * 2000, 2, generator=g,
                                                                    dtype=torch.float64)
            mism = (sde.prior_logp(xT) - gm.log_prob(xT, sde, sde.T)).reshape(n_points, -1).mean(1)
            target = gm.log_prob(x) + mism
            for ts in ("uniform", "importance"):
                for cv in (False, True):
                    r = elbo(sde, gm.score_fn(sde), x, n_samples=n_samples, t_sampling=ts,
                             control_variate=cv, generator=torch.Generator().manual_seed(3))
                    se_mean = float(r.se.pow(2).sum().sqrt()) / n_points
                    print(f"| {pname} | {sname} | {ts} | {'yes' if cv else 'no'} | "
                          f"{float(r.se.mean()):.3f} | {float(r.per_draw.std(1).mean()):.1f} | "
                          f"{float((r.elbo - target).mean()):+.3f} ± {se_mean:.3f} |")


def discrete_table(n_points: int, n_samples: int, quick: bool) -> None:
    print("\n| steps N | variance | mean(bound - log p) (nats) | ± SE | model calls | wall (s) |")
    print("|---|---|---|---|---|---|")
    gm = problems()["gaussian-2d"]
    sde = VPSDE()
    x = gm.sample(n_points, torch.Generator().manual_seed(4), dtype=torch.float64)
    lp = gm.log_prob(x)
    for N in ([10, 100, 1000] if quick else [10, 30, 100, 300, 1000]):
        for var in ("beta", "beta_tilde"):
            t0 = time.perf_counter()
            r = discrete_elbo(sde, gm.denoiser_fn(sde), x, num_steps=N, prediction="x0", variance=var,
                              n_samples=n_samples, generator=torch.Generator().manual_seed(5))
            gap = r.elbo - lp
            print(f"| {N} | {var} | {float(gap.mean()):+.4f} | {float(gap.std()) / math.sqrt(n_points):.4f} | "
                  f"{r.n_model_calls} | {time.perf_counter() - t0:.2f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer settings (smoke run)")
    ap.add_argument("--points", type=int, default=64)
    args = ap.parse_args()
    torch.set_num_threads(1)
    ode_table(args.points, args.quick)
    elbo_table(16, 1000 if args.quick else 4000)
    discrete_table(args.points, 16 if args.quick else 64, args.quick)


if __name__ == "__main__":
    main()
