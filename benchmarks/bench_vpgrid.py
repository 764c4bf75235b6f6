"""VP default grid: candidate grids on ring8 / mix16 (VP) at 5/10/15/20 NFE, every default sampler.

    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/bench_vpgrid.py survey  > vpgrid.json  # VPGRID_ONLY=a,b: only those grids
    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/bench_vpgrid.py where   # where the error is made
    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/bench_vpgrid.py tend    # end time x grid
    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/bench_vpgrid.py seeds   # 5 prior draws vs peers
    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/bench_vpgrid.py digits <run dir>     # digits model
    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/bench_vpgrid.py digits_fd <run dir>  # FD, opt. grid
Results and the rule: benchmarks/RESULTS.md, "Few-step sampling" section 2a.
"""
import json
import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(__file__))
import bench_fewstep as B  # noqa: E402
from sde_diffusion.solvers import sample  # noqa: E402
from sde_diffusion.solvers.grids import default_t_end, karras, make_grid  # noqa: E402

# best published peer per (problem, NFE) on VP, from fewstep.md section 1
PEER = {"ring8": {5: 0.285, 10: 0.123, 15: 0.0483, 20: 0.0292},
        "mix16": {5: 2.61, 10: 0.648, 15: 0.124, 20: 0.0699}}


def power_t(p):
    def g(sde, steps, t_end, t_start):
        t0 = float(sde.T if t_start is None else t_start)
        u = torch.linspace(0.0, 1.0, steps + 1, dtype=torch.float64)
        out = (t0 ** (1 / p) + u * (t_end ** (1 / p) - t0 ** (1 / p))) ** p
        out[0], out[-1] = t0, t_end
        return out
    return g


def karras_rho(rho):
    return lambda sde, steps, t_end, t_start: karras(sde, steps, t_end, t_start, rho=rho)


def blend(w):
    """Uniform in phi = (1 - w) (T - t)/(T - t_end) + w (lam(t) - lam(T))/(lam(t_end) - lam(T)):
    uniform-t at w = 0, log-SNR at w = 1 (inverted on a fine table)."""
    def g(sde, steps, t_end, t_start):
        t0 = float(sde.T if t_start is None else t_start)
        tt = torch.exp(torch.linspace(math.log(t0), math.log(t_end), 200001, dtype=torch.float64))
        lam = sde.log_snr(tt).to(torch.float64)
        phi = (1 - w) * (t0 - tt) / (t0 - t_end) + w * (lam - lam[0]) / (lam[-1] - lam[0])
        u = torch.linspace(0.0, 1.0, steps + 1, dtype=torch.float64)
        idx = torch.searchsorted(phi.contiguous(), u).clamp(1, len(tt) - 1)
        a, b = phi[idx - 1], phi[idx]
        out = tt[idx - 1] + (u - a) / (b - a) * (tt[idx] - tt[idx - 1])
        out[0], out[-1] = t0, t_end
        return out
    return g


CANDIDATES = {"uniform_t": "uniform_t", "time_quadratic": "time_quadratic", "log_snr": "log_snr",
              "karras7": "karras"}
for _p in (1.1, 1.2, 1.25, 1.3, 1.4, 1.5, 1.75):
    CANDIDATES[f"power{_p}"] = power_t(_p)
for _w in (0.1, 0.2, 0.3, 0.5):
    CANDIDATES[f"blend{_w}"] = blend(_w)
for _r in (2.0, 3.0, 4.0):
    CANDIDATES[f"karras{_r:g}"] = karras_rho(_r)


def survey():
    rows = []
    only = os.environ.get("VPGRID_ONLY", ",".join(CANDIDATES)).split(",")
    for p in ("ring8", "mix16"):
        for gname, g in CANDIDATES.items():
            if gname not in only:
                continue
            for name, opts in B.PROJECT:
                for nfe in B.NFES:
                    e, n = B.run_project(p, "VP", name, opts, g, nfe)
                    rows.append({"problem": p, "grid": gname, "sampler": name, "nfe": nfe,
                                 "rms": e, "ratio": e / PEER[p][nfe]})
            print(f"# {p} {gname}", file=sys.stderr, flush=True)
    json.dump(rows, sys.stdout, indent=0)


def where(sampler="unipc", nfe=10):
    """Error of the run restarted from the exact state x(t_k) on the rest of the grid, k = 0..N-1:
    E(0) is the full error; E(k) - E(k+1) is roughly what step k adds."""
    for p in ("ring8", "mix16"):
        gm, sde, sf, x_T = B.setup(p, "VP")
        t_end = default_t_end(sde, nfe)
        ref = B.reference(p, "VP", t_end)
        for gname in ("uniform_t", "time_quadratic"):
            times = make_grid(sde, gname, nfe, t_end)
            errs = []
            for k in range(nfe):
                if k == 0:
                    xk = x_T
                else:
                    xk, _ = sample(sde, sf, sampler="rk45", x_init=x_T, t_end=float(times[k]),
                                   rtol=1e-10, atol=1e-10, method="DOP853")
                x, _ = sample(sde, sf, sampler=sampler, x_init=xk, grid=times[k:], denoise=False,
                              steps=nfe - k)
                errs.append(B.rms(x, ref))
            sig = sde.sigma(times)
            print(f"{p} {gname} t: " + " ".join(f"{float(t):.3g}" for t in times))
            print(f"{p} {gname} sigma: " + " ".join(f"{float(s):.3g}" for s in sig))
            print(f"{p} {gname} E(k): " + " ".join(f"{e:.3g}" for e in errs), flush=True)


def tend():
    """Error against the exact map to 1e-5 by grid and end time (unipc, 10 NFE)."""
    for p in ("ring8", "mix16"):
        gm, sde, sf, x_T = B.setup(p, "VP")
        ref = B.reference(p, "VP", 1e-5)
        for gname in ("uniform_t", "time_quadratic", "power1.5", "log_snr"):
            row = []
            for te in (1e-5, 1e-4, 1e-3, 3e-3):
                x, _ = sample(sde, B.setup(p, "VP")[2], sampler="unipc", steps=10, x_init=x_T,
                              t_end=te, grid=CANDIDATES[gname])
                row.append(f"{B.rms(x, ref):.3g}")
            print(f"| {p} | {gname} | " + " | ".join(row) + " |", flush=True)


DIGITS_PEER = {5: 1.27, 10: 0.573, 20: 0.235}  # best peer per NFE (fewstep.md section 4)


def digits(run_dir="runs/digits3000", n=200):
    """Trained digits model (VP): RMS against RK45 (rtol = atol = 1e-5) from the same noise
    (seed 1, as bench_fewstep.py digits), per grid, for unipc / deis / dpm_solver3."""
    import time
    from sde_diffusion.solvers import SAMPLERS
    from sde_diffusion.io import load_model
    model, cfg, meta = load_model(run_dir)
    sde = model.sde
    x_T = sde.prior_sample((n,) + tuple(meta.data_shape),
                           generator=torch.Generator().manual_seed(1))
    t0 = time.time()
    with torch.no_grad():
        ref, info = sample(sde, model, sampler="rk45", x_init=x_T, t_end=1e-3, rtol=1e-5,
                           atol=1e-5, method="DOP853")
    print(f"# reference {info.nfe} NFE {time.time() - t0:.0f} s", flush=True)
    grids = os.environ.get("VPGRID_ONLY", "uniform_t,time_quadratic,log_snr,power1.3,power1.4,"
                           "power1.5").split(",")
    for name in ("unipc", "deis", "dpm_solver3"):
        for g in grids:
            cells = []
            for k in (5, 10, 20):
                steps = max(1, k // SAMPLERS[name].evals_per_step)
                with torch.no_grad():
                    x, _ = sample(sde, model, sampler=name, steps=steps, x_init=x_T,
                                  grid=CANDIDATES[g], denoise=False, t_end=1e-3)
                e = float((x - ref).pow(2).flatten(1).sum(1).mean().sqrt())
                cells.append(f"{e:.3g} ({e / DIGITS_PEER[k]:.2f}x)")
            print(f"| {name} | {g} | " + " | ".join(cells) + " |", flush=True)


def seeds(nfe=10):
    """Robustness over 5 prior draws (seeds 0-4, 500 samples each): best default sampler per
    grid vs the best of 4 peers, per seed, at 10 NFE, t_end 1e-3 for everyone."""
    peers = ("diffusers_unipc2_linspace", "diffusers_deis3_linspace_karras",
             "diffusers_dpmpp2_linspace", "kdiff_lms_karras")
    grids = tuple(os.environ.get("VPGRID_ONLY", "uniform_t,time_quadratic,power1.3,power1.4").split(","))
    names = ("unipc", "deis", "dpm_solver3", "dpm_solver2")
    print("| problem | seed | best peer | " + " | ".join(
        f"{g}: best default (unipc)" for g in grids) + " |")
    print("|---|---|---|" + "---|" * len(grids))
    for p in ("ring8", "mix16"):
        for seed in range(5):
            bp = min((B.run_peer(p, "VP", q, nfe, seed)[0], q) for q in peers)
            cells = []
            for g in grids:
                errs = {n: B.run_project(p, "VP", n, {}, CANDIDATES[g], nfe, seed)[0] for n in names}
                best = min(errs, key=errs.get)
                cells.append(f"{errs[best] / bp[0]:.2f}x {best} ({errs['unipc'] / bp[0]:.2f}x)")
            print(f"| {p} | {seed} | {bp[0]:.3g} {bp[1]} | " + " | ".join(cells) + " |", flush=True)


def digits_fd(run_dir="runs/digits3000", n=200):
    """Frechet distance (bench_digits.py's classifier features, 360 held-out digits) of UniPC
    samples on the optimised 10-NFE grid and on VP's default grid, same noise as ``digits``."""
    from bench_digits import train_classifier
    from sde_diffusion.data import digits as digits_data
    from sde_diffusion.metrics import frechet_distance
    from sde_diffusion.solvers import load_grid
    from sde_diffusion.io import load_model
    model, cfg, meta = load_model(run_dir)
    sde = model.sde
    data = digits_data()
    feat, _, acc = train_classifier(data)
    fd = lambda x: frechet_distance(feat(x.float()).detach(), feat(data.test).detach())  # noqa: E731
    x_T = sde.prior_sample((n,) + tuple(meta.data_shape),
                           generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ref, _ = sample(sde, model, sampler="rk45", x_init=x_T, t_end=1e-3, rtol=1e-5,
                        atol=1e-5, method="DOP853")
        print(f"classifier accuracy {acc:.3f}; reference FD {fd(ref):.2f}", flush=True)
        rows = [("optimised grid (unipc-10-VP-digits.json)", None,
                 load_grid("benchmarks/results/grids/unipc-10-VP-digits.json"))]
        rows += [(f"default grid, {k} NFE", k, None) for k in (5, 10, 20)]
        for label, k, grid in rows:
            x, info = sample(sde, model, sampler="unipc", steps=k, x_init=x_T, grid=grid)
            e = float((x - ref).pow(2).flatten(1).sum(1).mean().sqrt()) if info.t_end == 1e-3 else float("nan")
            print(f"| unipc, {label} | {info.nfe} | {e:.3g} | {fd(x):.2f} |", flush=True)

if __name__ == "__main__":
    {"survey": survey, "where": where, "tend": tend, "seeds": seeds,
     "digits_fd": lambda: digits_fd(*sys.argv[2:]),
     "digits": lambda: digits(*sys.argv[2:])}[sys.argv[1]]()
