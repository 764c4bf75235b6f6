"""Few-step sampling: RMS end-point error against the exact PF-ODE map at 5/10/15/20 NFE.

Exact mixture scores (sde_diffusion.analytic), so the only error is the solver's; the
reference is DOP853 at rtol = atol = 1e-10 from the same x_T to the same end time t_end
(the grid rule ``default_t_end``: VP ends at 1e-3 below 15 steps). Problems: ring8 (2-D) and
mix16 (16-D), under VPSDE() and EDMSDE(); 500 prior samples, float64.

    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/bench_fewstep.py survey  > survey.json
    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/bench_fewstep.py table   # the main table
    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/bench_fewstep.py tend    # VP end time
    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/bench_fewstep.py optgrid # optimised grids
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
    from sde_diffusion.peers_tmp import PEERS
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
    from sde_diffusion.peers_tmp import available_peers
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


if __name__ == "__main__":
    mode = sys.argv[1] if len(sys.argv) > 1 else "table"
    {"survey": survey, "tend": tend}[mode]()
