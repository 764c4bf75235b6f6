"""Few-step sampling: RMS end-point error against the exact PF-ODE map at 5/10/15/20 NFE.

Exact mixture scores (sde_diffusion.analytic), so the only error is the solver's; the
reference is DOP853 at rtol = atol = 1e-10 from the same x_T to the same end time t_end
(the grid rule ``default_t_end``: VP ends at 1e-3 below 25 steps). Problems: ring8 (2-D) and
mix16 (16-D), under VPSDE() and EDMSDE(); 500 prior samples, float64.

    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/bench_fewstep.py survey  > survey.json
    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/bench_fewstep.py table   # the main table
    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/bench_fewstep.py tend    # VP end time
    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/bench_fewstep.py optgrid 10 # optimised grids at 10 NFE
    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/bench_fewstep.py digits  # trained digits model
"""
import json
import math
import sys
import time
import warnings

import torch

from sde_diffusion.analytic import random_mixture, ring_of_gaussians
from sde_diffusion.sdes import EDMSDE, VPSDE
from sde_diffusion.solvers import SAMPLERS, sample, optimize_grid
from sde_diffusion.solvers.grids import GRIDS, default_t_end

NFES = (5, 10, 15, 20)
N = 500
PROJECT = [("ddim", {}), ("dpm_solver2", {}), ("dpm_solver3", {}), ("heun", {}),
           ("unipc", {}), ("deis", {}), ("dpm_solver_2s", {}), ("dpm_solver_3s", {})]
SURVEY = [("unipc", {"order": o, "variant": v}) for o in (1, 2, 3) for v in ("bh1", "bh2")] + \
    [("deis", {"order": o}) for o in (1, 2, 3)] + \
    [("dpm_solver2", {}), ("dpm_solver3", {}), ("dpm_solver_2s", {}), ("dpm_solver_3s", {}),
     ("heun", {}), ("ddim", {})]


def problems():
    return {"ring8": ring_of_gaussians(), "mix16": random_mixture(16)}


def sdes():
    return {"VP": VPSDE(), "EDM": EDMSDE()}


_REF = {}


def setup(pname, sname, seed=1):
    gm, sde = problems()[pname], sdes()[sname]
    x_T = sde.prior_sample((N, gm.dim), generator=torch.Generator().manual_seed(seed),
                           dtype=torch.float64)
    return gm, sde, gm.score_fn(sde), x_T


def reference(pname, sname, t_end, seed=1):
    key = (pname, sname, t_end, seed)
    if key not in _REF:
        gm, sde, sf, x_T = setup(pname, sname, seed)
        _REF[key], _ = sample(sde, sf, sampler="rk45", x_init=x_T, t_end=t_end, rtol=1e-10,
                              atol=1e-10, method="DOP853")
    return _REF[key]


def rms(x, ref):
    return float((x - ref).pow(2).sum(1).mean().sqrt())


def run_project(pname, sname, name, opts, grid, nfe, seed=1):
    """(rms, nfe spent) of a project sampler at an NFE budget (steps = nfe // evals_per_step)."""
    gm, sde, sf, x_T = setup(pname, sname, seed)
    steps = max(1, nfe // SAMPLERS[name].evals_per_step)
    t_end = default_t_end(sde, steps)
    try:
        x, info = sample(sde, sf, sampler=name, steps=steps, x_init=x_T, grid=grid,
                         denoise=False, **opts)
    except ValueError:
        return math.inf, 0
    return rms(x, reference(pname, sname, t_end, seed)), info.nfe


def run_peer(pname, sname, peer, nfe, seed=1):
    from sde_diffusion.benchmarking.peers import PEERS
    gm, sde, sf, x_T = setup(pname, sname, seed)
    t_end = default_t_end(sde, nfe)
    count = [0]

    def counted(x, t):
        count[0] += 1
        return sf(x, t)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            x = PEERS[peer](sde, counted, x_T, nfe, t_end)
        except Exception:  # a peer that fails at this budget is skipped  # noqa: BLE001
            return math.inf, 0
    return rms(x, reference(pname, sname, t_end, seed)), count[0]


def survey():
    from sde_diffusion.benchmarking.peers import available_peers
    rows = []
    for p in problems():
        for s in sdes():
            for name, opts in SURVEY:
                for g in GRIDS:
                    for nfe in NFES:
                        e, n = run_project(p, s, name, opts, g, nfe)
                        rows.append({"problem": p, "sde": s, "who": "project", "sampler": name,
                                     "options": opts, "grid": g, "nfe_budget": nfe, "nfe": n,
                                     "rms": e})
            for peer in available_peers():
                for nfe in NFES:
                    e, n = run_peer(p, s, peer, nfe)
                    rows.append({"problem": p, "sde": s, "who": "peer", "sampler": peer,
                                 "nfe_budget": nfe, "nfe": n, "rms": e})
            print(f"# {p} {s} done", file=sys.stderr, flush=True)
    json.dump(rows, sys.stdout, indent=0)


def tend():
    """VP: error of the few-step result against the exact map to eps = 1e-5, by end time."""
    print("| problem | sampler | NFE | t_end=1e-5 | 1e-4 | 1e-3 |")
    print("|---|---|---|---|---|---|")
    for p in problems():
        gm, sde, sf, x_T = setup(p, "VP")
        ref = reference(p, "VP", 1e-5)
        for name in ("unipc", "dpm_solver3", "deis"):
            for nfe in NFES:
                row = []
                for te in (1e-5, 1e-4, 1e-3):
                    x, _ = sample(sde, sf, sampler=name, steps=nfe, x_init=x_T, t_end=te)
                    row.append(f"{rms(x, ref):.2e}")
                print(f"| {p} | {name} | {nfe} | " + " | ".join(row) + " |", flush=True)


OPT = {"VP": ("unipc", {}), "EDM": ("unipc", {})}
BEST_CANDIDATES = [("unipc", {}), ("unipc", {"order": 1, "variant": "bh1"}), ("deis", {}),
                   ("deis", {"basis": "t"}), ("dpm_solver2", {}), ("dpm_solver3", {}),
                   ("dpm_solver_2s", {})]
GRID_DIR = "benchmarks/results/grids"
OPT_NFES = (tuple(int(v) for v in sys.argv[2].split(","))
            if len(sys.argv) > 2 and sys.argv[1].startswith("optgrid") else (10,))


def neighbour(pname):
    """A neighbouring problem: the ring with 6 modes at radius 3.5, std 0.35; another 16-D draw."""
    return ring_of_gaussians(n=6, radius=3.5, std=0.35) if pname == "ring8" else random_mixture(16, seed=1)


def optgrid():
    """Optimise the grid of the OPT sampler per problem x SDE x NFE on a calibration batch
    (seed 0, 256 samples); save it; report fresh-noise (seed 1) and neighbour errors."""
    import os
    os.makedirs(GRID_DIR, exist_ok=True)
    print("| problem | SDE | sampler | NFE | optimisation NFE (batch 256) | best fixed grid: calib / fresh | optimised: calib / fresh | gain fresh | neighbour: best fixed / optimised |")
    print("|---|---|---|---|---|---|---|---|---|")
    for p in problems():
        for s in sdes():
            name, opts = OPT[s]
            for nfe in OPT_NFES:
                gm, sde, sf, _ = setup(p, s)
                xc = sde.prior_sample((256, gm.dim), generator=torch.Generator().manual_seed(0),
                                      dtype=torch.float64)
                t0 = time.time()
                g = optimize_grid(sde, sf, name, nfe, xc, sampler_options=opts, max_evals=1000,
                                  name=f"{name}-{nfe}-{s}-{p}")
                g.save(f"{GRID_DIR}/{g.name}.json")
                fixed = {gn: run_project(p, s, name, opts, gn, nfe)[0] for gn in GRIDS}
                bestg = min(fixed, key=fixed.get)
                fresh = run_project(p, s, name, opts, g, nfe)[0]
                # neighbouring problem, fresh noise
                nb = neighbour(p)
                x_T = sde.prior_sample((N, nb.dim), generator=torch.Generator().manual_seed(1),
                                       dtype=torch.float64)
                te = default_t_end(sde, nfe)
                ref, _ = sample(sde, nb.score_fn(sde), sampler="rk45", x_init=x_T, t_end=te,
                                rtol=1e-10, atol=1e-10, method="DOP853")
                nbf = {}
                for gn in list(GRIDS) + [g]:
                    x, _ = sample(sde, nb.score_fn(sde), sampler=name, steps=nfe, x_init=x_T,
                                  grid=gn, **opts)
                    nbf[getattr(gn, "name", gn)] = rms(x, ref)
                nb_fixed = min(v for k, v in nbf.items() if k in GRIDS)
                mf = g.made["rms_fixed"]
                print(f"| {p} | {s} | {name} | {nfe} | {g.made['nfe']} ({time.time() - t0:.0f} s) | "
                      f"{bestg}: {mf[bestg]:.3g} / {fixed[bestg]:.3g} | {g.made['rms']:.3g} / {fresh:.3g} | "
                      f"{fixed[bestg] / fresh:.1f}x | {nb_fixed:.3g} / {nbf[g.name]:.3g} ({nb_fixed / nbf[g.name]:.1f}x) |",
                      flush=True)


def optgrid_big(p="mix16", s="EDM", n_calib=1024):
    """mix16 / EDM with a 1024-sample calibration batch (256 over-fits there)."""
    gm, sde, sf, _ = setup(p, s)
    xc = sde.prior_sample((n_calib, gm.dim), generator=torch.Generator().manual_seed(0),
                          dtype=torch.float64)
    t0 = time.time()
    g = optimize_grid(sde, sf, "unipc", 10, xc, max_evals=600,
                      name=f"unipc-10-{s}-{p}-calib{n_calib}")
    g.save(f"{GRID_DIR}/{g.name}.json")
    fixed = {gn: run_project(p, s, "unipc", {}, gn, 10)[0] for gn in GRIDS}
    print(f"{p} {s}: {g.made['nfe']} NFE on {n_calib} samples ({time.time() - t0:.0f} s); calib "
          f"{g.made['rms']:.3g} (fixed {g.made['rms_fixed']}); fresh {run_project(p, s, 'unipc', {}, g, 10)[0]:.3g} "
          f"(fixed {fixed})")


def table():
    """The main table: project defaults, project best (fixed settings and optimised grid), best peer."""
    from sde_diffusion.benchmarking.peers import available_peers
    from sde_diffusion.solvers import load_grid
    peers = available_peers()
    best_names = {}
    print("| problem | SDE | row | " + " | ".join(f"{n} NFE" for n in NFES) + " | vs best peer at 10 |")
    print("|---|---|---|" + "---|" * len(NFES) + "---|")
    for p in problems():
        for s in sdes():
            rows = {}
            for name, opts in PROJECT:
                rows[f"{name} (defaults)"] = [run_project(p, s, name, opts, None, n)[0] for n in NFES]
            cands = [(nm, o, g) for nm, o in BEST_CANDIDATES for g in GRIDS]
            best = []
            for n in NFES:
                e, j = min((run_project(p, s, nm, o, g, n)[0], j) for j, (nm, o, g) in enumerate(cands))
                nm, o, g = cands[j]
                best.append(e)
                label = f"{nm}{o or ''} {g}"
                best_names.setdefault((p, s), []).append(label)
            rows["best fixed settings (named below)"] = best
            on, oo = OPT[s]
            opt = []
            for n in NFES:
                try:
                    g = load_grid(f"{GRID_DIR}/{on}-{n}-{s}-{p}.json")
                    opt.append(run_project(p, s, on, oo, g, n)[0])
                except FileNotFoundError:
                    opt.append(math.nan)
            rows[f"best: {on} {oo} optimised grid (fresh noise)"] = opt
            pr = {k: [run_peer(p, s, k, n)[0] for n in NFES] for k in peers}
            best_peer = [min((v[j], k) for k, v in pr.items()) for j in range(len(NFES))] if pr else []
            ref10 = best_peer[1][0] if pr else math.nan
            for k, v in rows.items():
                print(f"| {p} | {s} | {k} | " + " | ".join(f"{e:.3g}" for e in v) +
                      f" | {v[1] / ref10:.2f}x |")
            if pr:
                print(f"| {p} | {s} | **best peer** | " + " | ".join(f"{e:.3g} ({k})" for e, k in best_peer) + " | 1 |")
                b10 = min(pr, key=lambda k: pr[k][1])
                print(f"| {p} | {s} | best peer at 10 NFE: {b10} | " + " | ".join(f"{e:.3g}" for e in pr[b10]) + " | 1.00x |", flush=True)
            print(f"| {p} | {s} | (best fixed settings) | " + " | ".join(best_names[(p, s)]) + " | |", flush=True)


def digits_cmp(run_dir="runs/digits3000", n=200):
    """Trained digits model (VP): RMS against a tight RK45 reference (rtol = atol = 1e-5,
    DOP853) from the same noise, and the Frechet distance of the samples to held-out digits in
    the feature space of bench_digits.py's classifier, at 5 / 10 / 20 NFE."""
    import os
    sys.path.insert(0, os.path.dirname(__file__))
    from bench_digits import train_classifier
    from sde_diffusion.data import digits
    from sde_diffusion.metrics import frechet_distance
    from sde_diffusion.benchmarking.peers import available_peers
    from sde_diffusion.io import load_model
    model, cfg, meta = load_model(run_dir)
    sde = model.sde
    data = digits()
    feat, _, acc = train_classifier(data)
    test = data.test
    fd = lambda x: frechet_distance(feat(x.float()).detach(), feat(test).detach())  # noqa: E731
    shape = (n,) + tuple(meta.data_shape)
    x_T = sde.prior_sample(shape, generator=torch.Generator().manual_seed(1))
    refs = {}

    def ref(te):
        if te not in refs:
            t0 = time.time()
            refs[te], info = sample(sde, model, sampler="rk45", x_init=x_T, t_end=te, rtol=1e-5,
                                    atol=1e-5, method="DOP853")
            print(f"# reference to t_end={te}: {info.nfe} NFE, {time.time() - t0:.0f} s, "
                  f"FD {fd(refs[te]):.3f}", flush=True)
        return refs[te]

    def err(x, te):
        return float((x - ref(te)).pow(2).flatten(1).sum(1).mean().sqrt())

    nf = (5, 10, 20)
    print(f"classifier held-out accuracy {acc:.3f}; {n} samples; model {run_dir}")
    print("| row | " + " | ".join(f"{k} NFE: RMS / FD" for k in nf) + " |")
    print("|---|" + "---|" * len(nf))
    rows = [(nm, o, None) for nm, o in PROJECT if nm != "heun"] + [("heun", {}, None),
            ("deis", {"order": 3}, "uniform_t"), ("unipc", {}, "log_snr")]
    for name, opts, grid in rows:
        cells = []
        for k in nf:
            steps = max(1, k // SAMPLERS[name].evals_per_step)
            te = default_t_end(sde, steps)
            with torch.no_grad():
                x, info = sample(sde, model, sampler=name, steps=steps, x_init=x_T, grid=grid,
                                 denoise=False, **opts)
            cells.append(f"{err(x, te):.3g} / {fd(x):.2f}")
        print(f"| {name} {opts} grid={grid or 'default'} | " + " | ".join(cells) + " |", flush=True)
    from sde_diffusion.benchmarking.peers import PEERS
    for peer in available_peers():
        cells = []
        for k in nf:
            te = default_t_end(sde, k)
            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                x = PEERS[peer](sde, model, x_T, k, te)
            cells.append(f"{err(x, te):.3g} / {fd(x):.2f}")
        print(f"| peer {peer} | " + " | ".join(cells) + " |", flush=True)


def digits_opt(run_dir="runs/digits3000", n=200, n_calib=64, max_evals=150):
    """Optimised UniPC grid at 10 NFE for the digits model: calibrated on 64 samples (seed 0)
    against RK45 (rtol = atol = 1e-5), tested on the 200 fresh samples of ``digits``."""
    from sde_diffusion.io import load_model
    model, cfg, meta = load_model(run_dir)
    sde = model.sde
    shape = tuple(meta.data_shape)
    xc = sde.prior_sample((n_calib,) + shape, generator=torch.Generator().manual_seed(0))
    t0 = time.time()
    g = optimize_grid(sde, model, "unipc", 10, xc, max_evals=max_evals,
                      reference={"rtol": 1e-5, "atol": 1e-5}, name="unipc-10-VP-digits")
    g.save(f"{GRID_DIR}/{g.name}.json")
    x_T = sde.prior_sample((n,) + shape, generator=torch.Generator().manual_seed(1))
    ref, _ = sample(sde, model, sampler="rk45", x_init=x_T, t_end=g.made["t_end"], rtol=1e-5,
                    atol=1e-5, method="DOP853")
    out = {}
    for grid in list(GRIDS) + [g]:
        x, _ = sample(sde, model, sampler="unipc", steps=10, x_init=x_T, grid=grid)
        out[getattr(grid, "name", grid)] = float((x - ref).pow(2).flatten(1).sum(1).mean().sqrt())
    print(f"optimisation {g.made['nfe']} NFE on {n_calib} samples, {time.time() - t0:.0f} s; "
          f"calib rms fixed {g.made['rms_fixed']} -> {g.made['rms']:.3g}; fresh: {out}")


if __name__ == "__main__":
    mode = sys.argv[1] if len(sys.argv) > 1 else "table"
    {"survey": survey, "tend": tend, "optgrid": optgrid, "table": table, "digits": digits_cmp,
     "digits_opt": digits_opt, "optgrid_big": optgrid_big}[mode]()
