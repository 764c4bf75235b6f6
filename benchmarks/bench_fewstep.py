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
    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/bench_fewstep.py unipc_peer  # UniPC vs diffusers
    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/bench_fewstep.py orders  # every sampler's order
    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/bench_fewstep.py monotone  # error vs NFE
    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/bench_fewstep.py final_zero  # last step to 0
    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/bench_fewstep.py ipndm_peer <dir>  # diff-sampler
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
    from sde_diffusion.benchmarking.peers import peers_to_run
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
            for peer in peers_to_run():
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
    from sde_diffusion.benchmarking.peers import peers_to_run
    from sde_diffusion.solvers import load_grid
    peers = peers_to_run()
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
    from sde_diffusion.benchmarking.peers import peers_to_run
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
    for peer in peers_to_run():
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


def diffusers_unipc_times(sde, steps, t_end, order):
    """The time grid diffusers' UniPCMultistepScheduler steps on in ``peers.diffusers_unipc``
    (its sigmas mapped back to t, clamped to [t_end, T])."""
    import diffusers
    import numpy as np
    n_train = 1000
    m_T = float(sde.marginal(torch.tensor([sde.T], dtype=torch.float64))[0][0])
    if m_T < 0.999:
        sig = sde.sigma(torch.linspace(t_end, sde.T, n_train, dtype=torch.float64)).numpy()
    else:
        lo, hi = (float(sde.sigma(torch.tensor([v], dtype=torch.float64))[0]) for v in (t_end, sde.T))
        sig = np.exp(np.linspace(math.log(lo), math.log(hi), n_train))
    abar = 1.0 / (1.0 + sig ** 2)
    betas = 1.0 - abar / np.concatenate([[1.0], abar[:-1]])
    sched = diffusers.UniPCMultistepScheduler(num_train_timesteps=n_train, trained_betas=betas,
                                              solver_order=order, final_sigmas_type="sigma_min")
    sched.set_timesteps(int(steps))
    t = sde.t_from_sigma(sched.sigmas.to(torch.float64)).clamp(t_end, sde.T)
    t[0], t[-1] = sde.T, t_end
    return t


def unipc_peer():
    """UniPC-2/3 side by side with diffusers' UniPCMultistepScheduler on its own time grid, from
    the same x_T, scored against the exact PF-ODE map to the same t_end. The package (whatever
    ``sde_diffusion`` is on the path: run it at two commits for before / after) and the peer."""
    from sde_diffusion.benchmarking.peers import PEERS
    print("| problem | SDE | order | steps | package RMS | diffusers RMS | max abs diff |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for p in problems():
        for s in sdes():
            gm, sde, sf, x_T = setup(p, s)
            for order, peer in ((2, "diffusers_unipc2_linspace"), (3, "diffusers_unipc3_linspace")):
                for steps in (10, 15, 20, 30):
                    t_end = default_t_end(sde, steps)
                    ref = reference(p, s, t_end)
                    grid = diffusers_unipc_times(sde, steps, t_end, order)
                    x, _ = sample(sde, sf, sampler="unipc", order=order, x_init=x_T, grid=grid,
                                  denoise=False)
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        y = PEERS[peer](sde, sf, x_T, steps, t_end)
                    print(f"| {p} | {s} | {order} | {steps} | {rms(x, ref):.3g} | {rms(y, ref):.3g} "
                          f"| {float((x - y).abs().max()):.1e} |", flush=True)


ORDER_ROWS = [("euler", {}, 1), ("heun", {}, 2), ("ddim", {}, 1), ("dpm_solver2", {}, 2),
              ("dpm_solver3", {}, 3), ("unipc", {"order": 1}, 2), ("unipc", {"order": 2}, 3),
              ("unipc", {"order": 3}, 4), ("deis", {"order": 2}, 2), ("deis", {"order": 3}, 3),
              ("dpm_solver_2s", {}, 2), ("dpm_solver_3s", {}, 3), ("ipndm", {"order": 2}, 2),
              ("ipndm", {"order": 4}, 4), ("ipndm_v", {"order": 2}, 2),
              ("ipndm_v", {"order": 3}, 3), ("ipndm_v", {"order": 4}, 4),
              ("edm_heun", {}, 2)]


def orders():
    """Measured order of every deterministic sampler: log2 RMS(N)/RMS(2N) against DOP853 at
    1e-12, N = 32, 64, 128 steps, VP, log-SNR grid to t_end = 1e-3 (edm_heun: its own grid),
    the 3-component 2-D mixture of tests/solvers/test_fewstep.py; the scheme itself (the k-th-last-step
    cap off where the sampler has one)."""
    import inspect
    from sde_diffusion.analytic import GaussianMixture
    gm = GaussianMixture(torch.tensor([[-1.0, 0.5], [1.0, -0.5], [0.5, 1.5]]),
                         torch.tensor([0.5, 0.4, 0.6]))
    sde = VPSDE()
    x = sde.prior_sample((100, 2), generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    ref, _ = sample(sde, gm.score_fn(sde), sampler="rk45", x_init=x, t_end=1e-3, rtol=1e-12,
                    atol=1e-12, method="DOP853")
    print("| sampler | options | theory | slope 32->64 | slope 64->128 |")
    print("|---|---|---:|---:|---:|")
    for name, opts, theory in ORDER_ROWS:
        if "lower_order_final" in inspect.signature(SAMPLERS[name].__init__).parameters:
            opts = {"lower_order_final": False, **opts}
        errs = []
        for n in (32, 64, 128):
            grid = None if name == "edm_heun" else "log_snr"
            y, _ = sample(sde, gm.score_fn(sde), sampler=name, steps=n, x_init=x, grid=grid,
                          t_end=1e-3, denoise=False, **opts)
            errs.append(rms(y, ref))
        sl = [math.log2(errs[k] / errs[k + 1]) for k in range(2)]
        print(f"| {name} | {opts} | {theory} | {sl[0]:.2f} | {sl[1]:.2f} |", flush=True)


def monotone():
    """End-to-end RMS at 10/20/40/80 NFE of every deterministic sampler with its defaults (the
    cells of tests/solvers/test_order_rule.py): from x_T at T, denoised at the default end, against the
    exact PF-ODE map (DOP853 1e-10 to eps, denoised); 200 samples, seed 1. '*' marks a rise
    (RMS(2n) > 1.05 RMS(n) + 1e-6)."""
    from sde_diffusion.sdes import VESDE
    names = ["euler", "heun", "ddim", "dpm_solver2", "dpm_solver3", "unipc", "deis",
             "dpm_solver_2s", "dpm_solver_3s", "edm_heun", "ipndm", "ipndm_v"]
    nfes = (10, 20, 40, 80)
    print("| problem | SDE | sampler | " + " | ".join(f"{n} NFE" for n in nfes) + " |")
    print("|---|---|---|" + "---:|" * len(nfes))
    for p, gm in problems().items():
        for s, sde in (("VP", VPSDE()), ("VE", VESDE()), ("EDM", EDMSDE())):
            sf = gm.score_fn(sde)
            x_T = sde.prior_sample((200, gm.dim), generator=torch.Generator().manual_seed(1),
                                   dtype=torch.float64)
            ref, _ = sample(sde, sf, sampler="rk45", x_init=x_T, t_end=sde.eps, rtol=1e-10,
                            atol=1e-10, method="DOP853", denoise=True)
            for name in [n for n in names if n in SAMPLERS]:
                errs = []
                for nfe in nfes:
                    x, _ = sample(sde, sf, sampler=name, x_init=x_T, denoise=True,
                                  steps=nfe // SAMPLERS[name].evals_per_step)
                    errs.append(rms(x, ref))
                cells = [f"{errs[0]:.3g}"] + [f"{e:.3g}" + ("*" if e > 1.05 * errs[k] + 1e-6 else "")
                                              for k, e in enumerate(errs[1:])]
                print(f"| {p} | {s} | {name} | " + " | ".join(cells) + " |", flush=True)


def ipndm_peer(solvers_dir=None):
    """iPNDM / iPNDM-v side by side with diff-sampler's ``ipndm_sampler`` / ``ipndm_v_sampler``
    (``solvers_dir``: a folder holding diff-sampler's diff-solvers-main/solvers.py and
    solver_utils.py; torch-only code): EDM, Karras rho = 7 grid 80 -> 0.002, order 4, no
    final-order cap (diff-sampler has none), the exact denoiser as the network."""
    solvers_dir = solvers_dir or sys.argv[2]
    sys.path.insert(0, solvers_dir)
    import solvers as ds  # diff-sampler's module
    sde = EDMSDE()
    print("| problem | sampler | order | steps | afs | NFE | RMS package | RMS diff-sampler | max abs diff |")
    print("|---|---|---:|---:|---|---:|---:|---:|---:|")
    for p, gm in problems().items():
        def net(x, t, class_labels=None, gm=gm):
            return gm.posterior_mean(x, sde, torch.as_tensor(t, dtype=torch.float64).expand(x.shape[0]))
        z = torch.randn(200, gm.dim, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
        ref, _ = sample(sde, gm.score_fn(sde), sampler="rk45", x_init=80.0 * z, t_end=0.002,
                        rtol=1e-10, atol=1e-10, method="DOP853")
        for name, fn in (("ipndm", ds.ipndm_sampler), ("ipndm_v", ds.ipndm_v_sampler)):
            for order in (2, 3, 4):
                for n in (5, 10, 20):
                    for afs in (False, True):
                        theirs = fn(net, z, num_steps=n + 1, sigma_min=0.002, sigma_max=80.0,
                                    schedule_type="polynomial", schedule_rho=7, afs=afs,
                                    max_order=order)
                        ours, info = sample(sde, gm.score_fn(sde), sampler=name, order=order,
                                            steps=n, x_init=80.0 * z, grid="karras", t_end=0.002,
                                            lower_order_final=False, afs=afs, denoise=False)
                        print(f"| {p} | {name} | {order} | {n} | {afs} | {info.nfe} | "
                              f"{rms(ours, ref):.3g} | {rms(theirs, ref):.3g} | "
                              f"{float((ours - theirs).abs().max()):.1e} |", flush=True)


def final_zero():
    """Same NFE, two ways to reach the data: n - 1 steps on the SDE's default grid then the
    denoiser at t_end (``denoise=True``), or the same grid plus a last step to t = 0 (sigma = 0,
    diffusers' ``final_sigmas_type="zero"``; the order rule then treats the step into t_end
    as the second-last). RMS against DOP853 1e-10 to eps, denoised; 200 samples."""
    from sde_diffusion.sdes import VESDE
    from sde_diffusion.solvers.grids import make_grid
    print("| problem | SDE | sampler | NFE | denoise at t_end | last step to sigma = 0 |")
    print("|---|---|---|---:|---:|---:|")
    for p, gm in problems().items():
        for s, sde in (("VP", VPSDE()), ("VE", VESDE()), ("EDM", EDMSDE())):
            sf = gm.score_fn(sde)
            x = sde.prior_sample((200, gm.dim), generator=torch.Generator().manual_seed(1),
                                 dtype=torch.float64)
            ref, _ = sample(sde, sf, sampler="rk45", x_init=x, t_end=sde.eps, rtol=1e-10,
                            atol=1e-10, method="DOP853", denoise=True)
            for name in ("dpm_solver2", "dpm_solver3", "unipc", "deis", "ipndm"):
                for n in (10, 20):
                    g = make_grid(sde, sde.default_grid, n - 1)
                    gz = torch.cat([g, torch.zeros(1, dtype=torch.float64)])
                    a, _ = sample(sde, sf, sampler=name, x_init=x, grid=g, denoise=True)
                    b, _ = sample(sde, sf, sampler=name, x_init=x, grid=gz, denoise=False)
                    print(f"| {p} | {s} | {name} | {n} | {rms(a, ref):.3g} | {rms(b, ref):.3g} |",
                          flush=True)


if __name__ == "__main__":
    mode = sys.argv[1] if len(sys.argv) > 1 else "table"
    {"survey": survey, "tend": tend, "optgrid": optgrid, "table": table, "digits": digits_cmp,
     "digits_opt": digits_opt, "optgrid_big": optgrid_big, "unipc_peer": unipc_peer,
     "orders": orders, "monotone": monotone, "ipndm_peer": ipndm_peer,
     "final_zero": final_zero}[mode]()
