"""Few-step samplers on the problem suite, scored end to end (``benchmarking.reference``).

Every row starts from the same x_T = sde.prior_sample (seed ``--seed``, ``--n`` samples,
float64) at T and is scored by the RMS (per coordinate) of its data estimate against the exact
PF-ODE map to the data end. One JSON line per (problem, SDE, NFE, row) is appended to ``--out``;
rows already there are skipped, so a run can be resumed or extended.

    nice -n 10 env OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/bench_suite.py peers \\
        --half tuning --out benchmarks/results/suite/tuning.jsonl
    ... bench_suite.py configs  --half tuning --tends none --denoise none   # grids per sampler
    ... bench_suite.py configs  --half tuning --samplers unipc --grids log_snr  # end x denoise
    ... bench_suite.py defaults --half validation  # project samplers with their defaults
    ... bench_suite.py optgrid  --half validation  # optimize_grid / AYS / GITS on fresh noise
    ... bench_suite.py optgrid  ... --n 4096 --seed 3 --opt-seed 1   # the seed-1 grids on new noise

Rows: ``peer:<name>@t_end`` (``benchmarking.peers.PEERS``; VP tables end at t = 1e-3, DDPM's
first step; EDM's at sigma_min),
``<sampler>{options}`` (project samplers, ``budget.steps_for_nfe`` steps within the budget).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
import warnings
from pathlib import Path

import torch

from sde_diffusion.analytic import problem_suite
from sde_diffusion.analytic.suite import SUITE_HALVES
from sde_diffusion.benchmarking.budget import steps_for_nfe
from sde_diffusion.benchmarking.reference import data_end_reference, data_estimate, end_to_end_rms
from sde_diffusion.sdes import EDMSDE, VPSDE
from sde_diffusion.solvers import SAMPLERS, sample
from sde_diffusion.solvers.grids import GRIDS

SDES = {"VP": VPSDE, "EDM": EDMSDE}
NFES = (5, 10, 20, 50)
PROJECT = ("euler", "heun", "ddim", "dpm_solver2", "dpm_solver3", "dpm_solver_2s",
           "dpm_solver_3s", "unipc", "deis", "edm_heun", "ipndm", "ipndm_v")
VARIANTS = {"unipc": [{"order": 3}, {"order": 2}, {"variant": "bh1"}], "deis": [{"order": 2}],
            "ipndm": [{"order": 3}, {"afs": False}]}
T_ENDS = {"VP": (None, 1e-3, 1e-4, 1e-5), "EDM": (None, 0.002, 0.005)}
PEER_T_ENDS = {"VP": (1e-3,), "EDM": (0.002,)}
REF = {"method": "DOP853", "rtol": 1e-9, "atol": 1e-9}


class Counted:
    def __init__(self, fn):
        self.fn, self.n = fn, 0

    def __call__(self, x, t):
        self.n += 1
        return self.fn(x, t)


def setup(problem, sname, n, seed, cache: Path):
    """(sde, score_fn, x_T, x0_ref) with the reference cached on disk (weights-only tensor)."""
    sde = SDES[sname]()
    score = problem.mixture.score_fn(sde)
    x_T = sde.prior_sample((n, problem.dim), generator=torch.Generator().manual_seed(seed),
                           dtype=torch.float64)
    path = cache / f"{problem.name}-{sname}-n{n}-s{seed}.pt"
    if path.exists():
        ref = torch.load(path, weights_only=True)
    else:
        t0 = time.time()
        c = Counted(score)
        ref = data_end_reference(sde, c, x_T, **REF)
        print(f"# reference {problem.name}/{sname}: {c.n} NFE, {time.time() - t0:.0f} s",
              file=sys.stderr, flush=True)
        cache.mkdir(parents=True, exist_ok=True)
        torch.save(ref, path)
    return sde, score, x_T, ref


def project_estimate(sde, score, x_T, name, opts, nfe):
    """(data estimate or None, NFE spent, steps, why None) of a project sampler within an NFE
    budget."""
    ctor = {k: v for k, v in opts.items() if k not in ("grid", "t_end", "denoise", "final_zero")}
    kw = {k: v for k, v in opts.items() if k in ("grid", "t_end", "denoise") and v is not None}
    spec = {"name": name, "options": {**ctor, **kw}}
    steps = steps_for_nfe(spec, nfe, sde, tuple(x_T.shape[1:]))
    if opts.get("final_zero") and steps > 1:      # steps - 1 on the default grid, then to t = 0
        smp = SAMPLERS[name](**ctor)
        times = smp.make_times(sde, steps - 1, kw.get("grid"), kw.get("t_end"), None)
        kw["grid"] = torch.cat([times, torch.zeros(1, dtype=torch.float64)])
    c = Counted(score)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            x, info = sample(sde, c, sampler=name, steps=steps, x_init=x_T, progress=False,
                             **ctor, **kw)
    except (ValueError, RuntimeError) as e:
        return None, 0, steps, f"{type(e).__name__}: {e}"[:200]
    if c.n > nfe:
        return None, c.n, steps, "over budget"
    return data_estimate(sde, x, float(info.t_end), bool(info.denoised)), c.n, steps, None


def run_project(sde, score, x_T, ref, name, opts, nfe):
    """(rms, nfe spent, steps, why None) of a project sampler within an NFE budget."""
    x0, used, steps, why = project_estimate(sde, score, x_T, name, opts, nfe)
    return (None if x0 is None else end_to_end_rms(x0, ref)), used, steps, why


def peer_estimate(sde, score, x_T, peer, t_end, nfe):
    """(data estimate or None, NFE spent, why None) of a published peer within an NFE budget."""
    from sde_diffusion.benchmarking.peers import PEERS
    c = Counted(score)
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            x0 = PEERS[peer](sde, c, x_T.clone(), nfe, t_end)
    except Exception as e:  # a peer configuration that diffusers refuses is skipped, not fatal
        return None, 0, f"{type(e).__name__}: {e}"[:200]
    if c.n > nfe:
        return None, c.n, "over budget"
    return x0, c.n, None


def peer_of_row(row: str):
    """``peer:<name>@<t_end>`` (a peer row of these records) -> (name, t_end)."""
    name, t_end = row.split(":", 1)[1].rsplit("@", 1)
    return name, float(t_end)


def run_peer(sde, score, x_T, ref, peer, t_end, nfe):
    x0, used, why = peer_estimate(sde, score, x_T, peer, t_end, nfe)
    return (None if x0 is None else end_to_end_rms(x0, ref)), used, why


def _parse(v):
    v = v.strip()
    if v in ("none", "default"):
        return None
    if v in ("true", "false"):
        return v == "true"
    try:
        return float(v)
    except ValueError:
        return v


def project_rows(mode, sname, a):
    """(name, options) rows: ``defaults`` (every sampler as shipped, with its variants) or
    ``configs`` (the product of ``--grids``, ``--tends`` and ``--denoise`` per sampler)."""
    rows = []
    names = a.samplers.split(",") if a.samplers else PROJECT
    for name in names:
        if name not in SAMPLERS:
            continue
        extra = json.loads(a.options) if a.options else []
        for v in [{}] + (VARIANTS.get(name, []) if a.variants else []) + extra:
            if mode == "defaults":
                rows.append((name, dict(v)))
                continue
            grids = [_parse(g) for g in a.grids.split(",")] if a.grids else [None] + list(GRIDS)
            tends = [_parse(t) for t in a.tends.split(",")] if a.tends else T_ENDS[sname]
            dens = [_parse(d) for d in a.denoise.split(",")] if a.denoise else (False, True)
            for grid in grids:
                for t_end in tends:
                    for den in dens:
                        o = {**v, "grid": grid, "t_end": t_end, "denoise": den}
                        if a.final_zero:
                            o["final_zero"] = True
                        rows.append((name, {k: x for k, x in o.items() if x is not None}))
    return rows


def unipc_candidates(orders, with_zero: bool):
    """optimize_grid's option sets for UniPC: every order, also with a last step onto sigma = 0."""
    return [{"order": o, **z} for o in orders
            for z in ([{}, {"final_zero": True}] if with_zero else [{}])]


RECIPE_CANDIDATES = {"unipc": unipc_candidates([1, 2, 3], True), "ipndm": [{"order": o} for o in (2, 3, 4)]}
"""The docs' optimize_grid recipe over UniPC and iPNDM (few-step 16g): each search's option sets."""


def opt_batches(sde, dim: int, seed: int, n_calib: int, n_val: int):
    """optimize_grid's calibration batch (``n_calib`` prior samples at seed + 100) and, with
    ``n_val``, its held-out batch (``n_val`` at seed + 200; else None: optimize_grid's own)."""
    draw = lambda n, s: sde.prior_sample((n, dim), generator=torch.Generator().manual_seed(s),
                                         dtype=torch.float64)
    return draw(n_calib, seed + 100), (draw(n_val, seed + 200) if n_val else None)


def opt_rows(sde, score, x_T, ref, problem, nfe, a):
    """optimize_grid (calibration noise: seed s + 100, ``a.n_calib`` samples, with s = ``a.opt_seed``,
    default ``a.seed``; held-out batch: ``a.n_val`` samples at seed s + 200, else optimize_grid's
    default), AYS and
    GITS grids, each for ``a.opt_sampler`` at ``nfe`` steps, scored on x_T. Several samplers
    (``unipc,ipndm``): optimize_grid keeps the one with the smaller held-out RMS; AYS and GITS run
    with the first."""
    from sde_diffusion.solvers import optimize_grid
    from sde_diffusion.solvers.optimized_grid import ays_gaussian_grid, gits_grid
    names = a.opt_sampler.split(",")
    name, several = names[0], len(names) > 1
    per_steps = {n: steps_for_nfe({"name": n}, nfe, sde, tuple(x_T.shape[1:])) for n in names}
    steps = per_steps[name]
    seed = a.seed if a.opt_seed is None else a.opt_seed    # its batches' seed, not x_T's
    xc, xv = opt_batches(sde, problem.dim, seed, a.n_calib, a.n_val)
    c = Counted(score)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cands = {"unipc": unipc_candidates(a.cand_orders, a.zero_candidates)} if "unipc" in names else {}
        if a.with_pick and "unipc" in names:     # the probe's low-rank pick joins UniPC's candidates
            from bench_sharp_modes import probe
            found = probe(problem, sde, score, per_steps["unipc"], "data", seed)
            if found.low_rank:
                cands["unipc"].append(dict(found.options))
        if "ipndm" in names and a.ipndm_orders:
            cands["ipndm"] = [{"order": o} for o in a.ipndm_orders]
        g = optimize_grid(sde, c, tuple(names) if several else name, per_steps if several else steps,
                          xc, x_val=xv, max_evals=a.max_evals, starts=a.starts,
                          candidates=cands if several else cands.get(name))
        data_std = math.sqrt(problem.mixture.covariance_trace() / problem.dim)
        grids = {"optgrid": (torch.tensor(g.times, dtype=torch.float64), g.sampler_options),
                 "ays": (ays_gaussian_grid(sde, steps, data_std), {}),
                 "gits": (gits_grid(sde, score, steps, xc[: a.n_calib // 2]), {})}
    out = []
    for kind, (times, opts) in grids.items():
        smp = g.sampler if kind == "optgrid" else name
        x, info = sample(sde, score, sampler=smp, x_init=x_T, grid=times, progress=False, **opts)
        err = end_to_end_rms(data_estimate(sde, x, float(info.t_end), bool(info.denoised)), ref)
        made = {**{k: g.made[k] for k in ("nfe", "val_gain", "val_rms", "rms", "start_grid", "optimised",
                                          "options", "val_rms_by_sampler") if k in g.made},
                "sampler": g.sampler} if kind == "optgrid" else {}
        out.append((f"{kind}:{a.opt_sampler if kind == 'optgrid' else name}", kind, err,
                    int(info.nfe), g.steps if kind == "optgrid" else steps, made))
    return out


def _check_peers(names) -> dict:
    """``peers_to_run`` for ``--peers`` (comma-separated; empty: all), its errors as the CLI's exit
    message, before any run."""
    from sde_diffusion.benchmarking.peers import peers_to_run
    try:
        return peers_to_run(names.split(",") if names else None)
    except ImportError as e:
        raise SystemExit(f"{e}; or name the peers to run with --peers") from None
    except ValueError as e:
        raise SystemExit(f"--peers: {e}") from None


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=("peers", "configs", "defaults", "optgrid"))
    ap.add_argument("--peers", default=None, help="comma-separated subset of PEERS")
    ap.add_argument("--opt-sampler", default="unipc")
    ap.add_argument("--n-calib", type=int, default=256)
    ap.add_argument("--max-evals", type=int, default=200)
    ap.add_argument("--zero-candidates", type=int, default=0,
                    help="optgrid: also every order with a last step onto sigma = 0")
    ap.add_argument("--cand-orders", default="1,2,3", type=lambda v: [int(o) for o in v.split(",")],
                    help="optgrid with unipc: the orders among its candidates")
    ap.add_argument("--ipndm-orders", default=None, type=lambda v: [int(o) for o in v.split(",")],
                    help="optgrid with ipndm: its orders as candidates (default: its own options)")
    ap.add_argument("--with-pick", type=int, default=0,
                    help="optgrid: where the probe (1024 data points) calls the data low-rank, its pick "
                         "(grids.ZeroEnded) joins UniPC's candidates")
    ap.add_argument("--opt-seed", type=int, default=None,
                    help="optgrid: the seed of its calibration / held-out batches and of the pick's "
                         "probe (default --seed); with another --seed and --n, the same grids are "
                         "scored on new noise")
    ap.add_argument("--starts", type=int, default=2, help="optgrid: searches from the best "
                    "this many (options, named grid) pairs")
    ap.add_argument("--n-val", type=int, default=0,
                    help="optgrid: held-out batch of this size (seed + 200) instead of half of "
                         "the calibration batch")
    ap.add_argument("--half", default="tuning", choices=SUITE_HALVES)
    ap.add_argument("--problems", default=None, help="comma-separated subset of the half")
    ap.add_argument("--sdes", default="VP,EDM")
    ap.add_argument("--nfes", default=",".join(map(str, NFES)))
    ap.add_argument("--n", type=int, default=64)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", required=True)
    ap.add_argument("--cache", default="outputs/suite_refs")
    ap.add_argument("--samplers", default=None, help="comma-separated project samplers")
    ap.add_argument("--variants", type=int, default=1, help="also the VARIANTS orders/types")
    ap.add_argument("--grids", default=None, help="configs: grid names ('none': default)")
    ap.add_argument("--tends", default=None, help="configs: end times ('none': default)")
    ap.add_argument("--denoise", default=None, help="configs: true,false ('none': default)")
    ap.add_argument("--options", default=None,
                    help='configs: JSON list of extra constructor options, e.g. [{"order": 3}]')
    ap.add_argument("--final-zero", type=int, default=0,
                    help="configs: rows that end with a step onto t = 0 (sigma = 0) instead")
    ap.add_argument("--final-long-step", type=float, default=None,
                    help="override solvers.order.FINAL_LONG_STEP (0: lower the k-th last step "
                         "at every length, the rule before)")
    ap.add_argument("--raw-defaults", type=int, default=0,
                    help="configs: run with every SDE's sampler_defaults empty, so that a row "
                         "without a grid is the SDE's default grid and every row stops at t_end "
                         "unless it has final_zero (the candidates of per-sampler, unconfounded "
                         "by the entries being chosen)")
    a = ap.parse_args(argv)
    run_peers = _check_peers(a.peers) if a.mode == "peers" else {}
    if a.raw_defaults:                            # the one reader of SDE.sampler_defaults
        from sde_diffusion.solvers.base import Sampler
        Sampler.tuned_on = lambda self, sde: {}
    if a.final_long_step is not None:
        from sde_diffusion.solvers import order
        order.FINAL_LONG_STEP = a.final_long_step
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    done = set()
    if out.exists():
        for line in out.read_text().splitlines():
            r = json.loads(line)
            done.add((r["problem"], r["sde"], r["nfe"], r["row"], r["n"], r["seed"]))
    nfes = [int(v) for v in a.nfes.split(",")]
    probs = problem_suite(a.half)
    if a.problems:                                # in the order given (e.g. cheap first)
        order = a.problems.split(",")
        probs = sorted((p for p in probs if p.name in order), key=lambda p: order.index(p.name))
    with out.open("a") as fh:
        for sname in a.sdes.split(","):
            for p in probs:
                sde, score, x_T, ref = setup(p, sname, a.n, a.seed, Path(a.cache))
                t0 = time.time()
                for nfe in nfes:
                    if a.mode == "optgrid":
                        tag = (f"optgrid:{a.opt_sampler}" + ("/pick" if a.with_pick else "")
                               + (f"/val{a.n_val}" if a.n_val else ""))
                        if (p.name, sname, nfe, tag, a.n, a.seed) in done:
                            continue
                        for row, kind, err, used, steps, made in opt_rows(sde, score, x_T, ref,
                                                                          p, nfe, a):
                            if a.with_pick and kind == "optgrid":
                                row = row + "/pick"
                            if a.n_val:
                                row = row + f"/val{a.n_val}"
                            rec = {"problem": p.name, "sde": sname, "nfe": nfe, "row": row,
                                   "kind": kind, "rms": err, "nfe_used": used, "steps": steps,
                                   "n": a.n, "seed": a.seed, "error": None, "made": made}
                            if a.opt_seed is not None:
                                rec["opt_seed"] = a.opt_seed
                            fh.write(json.dumps(rec) + "\n")
                            fh.flush()
                        continue
                    if a.mode == "peers":
                        jobs = [(f"peer:{k}@{te:g}", ("peer", k, te)) for k in run_peers
                                for te in PEER_T_ENDS[sname]]
                    else:
                        jobs = [(f"{nm}{json.dumps(o, sort_keys=True)}", ("project", nm, o))
                                for nm, o in project_rows(a.mode, sname, a)]
                    for row, job in jobs:
                        if (p.name, sname, nfe, row, a.n, a.seed) in done:
                            continue
                        if job[0] == "peer":
                            err, used, why = run_peer(sde, score, x_T, ref, job[1], job[2], nfe)
                            steps = None
                        else:
                            err, used, steps, why = run_project(sde, score, x_T, ref, job[1],
                                                                job[2], nfe)
                        rec = {"problem": p.name, "sde": sname, "nfe": nfe, "row": row,
                               "kind": job[0], "rms": err, "nfe_used": used, "steps": steps,
                               "n": a.n, "seed": a.seed, "error": why}
                        fh.write(json.dumps(rec) + "\n")
                        fh.flush()
                print(f"# {a.mode} {p.name}/{sname}: {time.time() - t0:.0f} s", file=sys.stderr,
                      flush=True)


if __name__ == "__main__":
    main()
