"""Inverse problems against the exact posterior: DPS, PiGDM and replacement vs the exact score.

For a Gaussian-mixture prior and y = A x_0 + sigma n the posterior p(x_0 | y) is a mixture
(``GaussianMixture.posterior``), so each approximate conditional sampler can be scored against
exact posterior samples:

- sliced Wasserstein-2 to 2000 exact posterior samples (the floor: exact vs exact);
- mode-weight TV 0.5 sum_k |w_hat_k - w_k|, w_hat_k = mean_i r_k(x_i) the responsibilities
  under the exact posterior (for a noiseless posterior at t = eps, where its density exists);
- mean error |mean(x) - E[x_0 | y]|.

Problems: ``ring8`` (2-D, 8 Gaussians) and ``full16`` (16-D, 5 overlapping components with full
covariances). Measurements: ``inpaint`` (observe the first half of the coordinates, noiseless)
and ``project`` (a seeded Gaussian matrix A, 2/sqrt(d) N(0, 1) entries, max(1, d/4) rows: 1 in
2-D, 4 in 16-D; noise_std 0.5).
The true x_0 is the seeded draw, among the first 20, whose posterior has the largest mode
entropy (so mode weights matter). All samplers: Euler-Maruyama on the VP SDE with the final
Tweedie step, NFE = steps + 1; every method uses one score evaluation per step (DPS and PiGDM
also a backward pass through it, except with ``jacobian="gaussian"``: see the wall-time column).

    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/bench_conditional.py [--out benchmarks/results/conditional.json]
"""
from __future__ import annotations

import argparse
import json
import math
import time

import torch

from sde_diffusion.analytic import random_full_mixture, ring_of_gaussians
from sde_diffusion.conditional import LinearMeasurement, posterior_score, replacement
from sde_diffusion.metrics import sliced_wasserstein
from sde_diffusion.sdes import VPSDE
from sde_diffusion.solvers import sample

STEPS = (25, 50, 100, 200, 400)
N = 2000


def problems():
    return {"ring8": ring_of_gaussians(), "full16": random_full_mixture(dim=16, k=5, seed=0, spread=0.5)}


def measurement(gm, kind: str, seed: int):
    d = gm.dim
    g = torch.Generator().manual_seed(1000 + seed)
    x0 = gm.sample(1, generator=g, dtype=torch.float64)[0]
    if kind == "inpaint":
        mask = (torch.arange(d) < d // 2).double()
        return LinearMeasurement.inpainting(mask, x0 * mask)
    m = max(1, d // 4)
    A = torch.randn(m, d, generator=torch.Generator().manual_seed(7), dtype=torch.float64) / math.sqrt(d) * 2
    y = A @ x0 + 0.5 * torch.randn(m, generator=g, dtype=torch.float64)
    return LinearMeasurement(A, y, 0.5)


def pick_measurement(gm, kind: str):
    """The seed (of 20) whose exact posterior has the most spread-out mode weights."""
    best = None
    for seed in range(20):
        meas = measurement(gm, kind, seed)
        w = gm.posterior(meas).weights
        ent = float(-(w * torch.log(w.clamp_min(1e-300))).sum())
        if best is None or ent > best[0]:
            best = (ent, seed, meas)
    return best[1], best[2]


def metrics(x, post, ref, sde):
    singular = bool((post.evals < 1e-12).any())
    r = post.responsibilities(x, sde, sde.eps) if singular else post.responsibilities(x)
    tv = 0.5 * float((r.mean(0) - post.weights).abs().sum())
    return {"sw": sliced_wasserstein(x, ref), "tv": tv,
            "mean_err": float((x.mean(0) - post.mean().reshape(-1)).norm())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="benchmarks/results/conditional.json")
    ap.add_argument("--dps-noise", type=float, default=0.1,
                    help="sigma DPS uses for the noiseless inpainting likelihood")
    ap.add_argument("--plot", default="docs/conditional_posterior.png")
    ap.add_argument("--plot-only", action="store_true", help="redraw the plot from --out")
    args = ap.parse_args()
    if args.plot_only:
        with open(args.out) as f:
            return plot(json.load(f), args.plot)
    sde, rows = VPSDE(), []
    for pname, gm in problems().items():
        data_var = gm.covariance_trace() / gm.dim
        for kind in ("inpaint", "project"):
            seed, meas = pick_measurement(gm, kind)
            post = gm.posterior(meas)
            g = torch.Generator().manual_seed(0)
            ref, ref2 = post.sample(N, generator=g, dtype=torch.float64), post.sample(N, generator=g, dtype=torch.float64)
            floor = metrics(ref2, post, ref, sde)
            print(f"{pname}/{kind}: seed {seed}, posterior weights {[round(float(w), 3) for w in post.weights]}, "
                  f"floor sw {floor['sw']:.4f} tv {floor['tv']:.4f}", flush=True)
            rows.append(dict(problem=pname, measurement=kind, method="floor (exact samples)", nfe=0,
                             seconds=0.0, weights=post.weights.tolist(), **floor))
            prior = gm.score_fn(sde)
            methods = {
                "exact score": (post.score_fn(sde), None),
                "dps": (posterior_score(sde, prior, meas, "dps", dps_noise=args.dps_noise), None),
                "pigdm": (posterior_score(sde, prior, meas, "pigdm", data_var=data_var), None),
                "replacement": (prior, replacement(sde, meas)),
                "dps (gaussian J)": (posterior_score(sde, prior, meas, "dps", dps_noise=args.dps_noise,
                                                     data_var=data_var, jacobian="gaussian"), None),
                "pigdm (gaussian J)": (posterior_score(sde, prior, meas, "pigdm", data_var=data_var,
                                                       jacobian="gaussian"), None),
            }
            for mname, (fn, hook) in methods.items():
                for steps in STEPS:
                    t0 = time.perf_counter()
                    try:
                        x, info = sample(sde, fn, (N, gm.dim), sampler="euler_maruyama", steps=steps,
                                         generator=torch.Generator().manual_seed(steps),
                                         dtype=torch.float64, after_step=hook)
                        res = metrics(x, post, ref, sde)
                    except ValueError as e:  # a diverging approximation: record it
                        res, info = {"sw": float("nan"), "tv": float("nan"), "mean_err": float("nan"),
                                     "error": str(e)[:80]}, None
                    row = dict(problem=pname, measurement=kind, method=mname,
                               nfe=info.nfe if info else steps + 1,
                               seconds=round(time.perf_counter() - t0, 2), **res)
                    rows.append(row)
                    print(f"  {mname:12s} nfe {row['nfe']:4d}  sw {row['sw']:.4f}  tv {row['tv']:.4f}  "
                          f"mean_err {row['mean_err']:.4f}  {row['seconds']:.1f}s", flush=True)
    with open(args.out, "w") as f:
        json.dump(rows, f, indent=1)
    plot(rows, args.plot)


def plot(rows, path: str) -> None:
    import matplotlib
    import matplotlib.ticker
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    cases = sorted({(r["problem"], r["measurement"]) for r in rows})
    fig, axes = plt.subplots(2, len(cases), figsize=(4 * len(cases), 6.5), squeeze=False)
    for j, case in enumerate(cases):
        sub = [r for r in rows if (r["problem"], r["measurement"]) == case]
        floor = [r for r in sub if r["method"].startswith("floor")][0]
        for i, key in enumerate(("sw", "tv")):
            ax = axes[i, j]
            for m in ("exact score", "dps", "pigdm", "replacement", "dps (gaussian J)",
                      "pigdm (gaussian J)"):
                pts = [(r["nfe"], r[key]) for r in sub if r["method"] == m]
                ax.plot(*zip(*pts), marker="o", label=m)
            ax.axhline(floor[key], color="k", ls="--", lw=1, label="floor")
            ax.set_xscale("log"), ax.set_yscale("log")
            ax.set_xticks([s + 1 for s in STEPS], [str(s + 1) for s in STEPS], minor=False)
            ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
            ax.set_title(f"{case[0]} / {case[1]}: {'sliced W2' if key == 'sw' else 'mode TV'}")
            ax.set_xlabel("NFE")
        axes[0, j].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print("wrote", path)


if __name__ == "__main__":
    main()
