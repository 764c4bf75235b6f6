"""The sharp-modes probe (``solvers.sharp_modes``) on the problem suite: does UniPC with the probe's
options beat UniPC with its defaults where it fires, and cost nothing where it does not?

``collect`` probes every problem of a set twice, on 1024 exact data points (seed + 300; the
noise seed + 301) and on a 256-point pilot run (seed + 302), then runs each probe's pick (its
sampler and options) from ``bench_suite``'s x_T (seed ``--seed``) and scores it end to end like
every row there. Rows ``unipc+probe:data{}`` and ``unipc+probe:pilot{}`` (kind ``project``) carry the
probe's ratios, verdict and options:

    env OMP_NUM_THREADS=1 PYTHONPATH=.:benchmarks python benchmarks/bench_sharp_modes.py collect \\
        --half fresh7 --sdes EDM --nfes 10,20 --n 1024 --seed 1 --out <probe.jsonl>
    python benchmarks/bench_sharp_modes.py report <peers.jsonl> <defaults.jsonl> <probe.jsonl>

``report`` prints per cell the probe's ratios and verdict, UniPC's RMS with its defaults and
with the probe, and the cell's best default without and with the probe (UniPC's default row
replaced by the probe's), each over the best peer; then the geometric means and the cells at
<= 1.0x.

``tune`` and ``rule`` are how the rule and the recipe's step range were chosen (few-step 22): on
every set seen before ``FRESH10`` and on the ad-hoc problems of new kinds in ``EXTRA`` (seeds
999 for the tuning half, 1 elsewhere), one record per problem with R at six levels, every
default sampler and the recipe at each budget; ``rule`` prints, per budget, what the rule
R(fine) - R(coarse) >= ``MERGE_THRESHOLD`` does to UniPC's error and to the cell's best default:

    ... bench_sharp_modes.py tune --sets tuning,validation,holdout,fresh,fresh2,fresh3,fresh4,fresh5,\\
        fresh6,fresh7,fresh8,fresh9,extra --nfes 10,20 --out <tune.jsonl>
    python benchmarks/bench_sharp_modes.py rule <tune.jsonl> ...

``tune --candidates --sharp-only`` also runs the settings of ``CANDIDATES`` on the problems the
rule calls sharp, and ``candidates`` puts each in UniPC's place (few-step 22e).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from collections import defaultdict
from dataclasses import replace
from pathlib import Path
from typing import Optional

import torch

from bench_suite import PROJECT, SDES, run_project, setup
from bench_suite_report import best_peers, geo_mean, is_default_row, load
from sde_diffusion.analytic import GaussianMixture, SuiteProblem, problem_suite
from sde_diffusion.analytic.problems import ring_of_gaussians
from sde_diffusion.analytic.suite import SUITE_HALVES, _embedded_modes, _embedded_ring, _lattice, _line
from sde_diffusion.sdes import EDMSDE
from sde_diffusion.solvers.sharp_modes import (PROBE_SIGMAS, SHARP_RECIPES, SharpModes, denoising_ratio,
                                               is_ring_like, is_sharp, principal_basis, probe_sharp_modes, ratio_drop)

PROBES = ("data", "pilot")
RECIPE = next(opts for _, _, which, _, opts in SHARP_RECIPES["EDMSDE"] if which == "any")
"""The 7-12-step recipe for any sharp data (UniPC-2, log-SNR grid to sigma 0.005, no final denoising):
``tune``'s "recipe" rows."""
TUNE_LEVELS = (0.025, 0.05, 0.1, 0.2, 0.4, 0.8)


def _few(k, d, std, seed):
    g = torch.Generator().manual_seed(seed)
    return GaussianMixture(torch.randn(k, d, generator=g, dtype=torch.float64), torch.full((k,), std), None)


def _two_rings():
    a, b = ring_of_gaussians(6, 1.0, 0.02).means, ring_of_gaussians(12, 2.2, 0.03).means
    return GaussianMixture(torch.cat([a, b]), torch.cat([torch.full((6,), 0.02), torch.full((12,), 0.03)]), None)


def _uneq_ring():
    w = torch.linspace(1, 5, 9, dtype=torch.float64)
    return GaussianMixture(ring_of_gaussians(9, 2.0, 0.03).means, torch.full((9,), 0.03), w / w.sum())


def _spiral(n, std):
    t = torch.linspace(0.5, 3 * math.pi, n, dtype=torch.float64)
    return GaussianMixture(torch.stack([t * torch.cos(t), t * torch.sin(t)], 1) / 3, torch.full((n,), std), None)


EXTRA = {"x_line6": lambda: _line(6, 0.6, 0.02, 0.2), "x_line12": lambda: _line(12, 0.3, 0.015, 0.2),
         "x_spiral15": lambda: _spiral(15, 0.03), "x_ring10_8d": lambda: _embedded_ring(10, 1.5, 0.025, 8),
         "x_ring20_2d": lambda: ring_of_gaussians(20, 3.0, 0.03), "x_few3_10d": lambda: _few(3, 10, 0.05, 3),
         "x_few6_4d": lambda: _few(6, 4, 0.04, 6), "x_two_rings": _two_rings, "x_uneq_ring9": _uneq_ring,
         "x_ring24": lambda: ring_of_gaussians(24, 2.5, 0.02), "x_ring3": lambda: ring_of_gaussians(3, 1.0, 0.03)}
"""Ad-hoc tuning problems of kinds no set had when the rule was chosen (sharp modes on a line, a
spiral, two rings, unequal weights on a ring, rings in 8-D, few modes in 4-D and 10-D): tuning
data only, never a report set."""


EXTRA2 = {"x_ring8_4d": lambda: _embedded_ring(8, 1.2, 0.03, 4),
          "x_ring12_10d": lambda: _embedded_ring(12, 2.0, 0.03, 10),
          "x_ring16_16d": lambda: _embedded_ring(16, 2.5, 0.02, 16),
          "x_ring6_5d": lambda: _embedded_ring(6, 1.0, 0.04, 5),
          "x_lattice9_6d": lambda: _embedded_modes(_lattice(3, 0.8, 0.03).means, 0.03, 6),
          "x_line7_5d": lambda: _embedded_modes(_line(7, 0.5, 0.02, 0.3).means, 0.02, 5),
          "x_spiral12_6d": lambda: _embedded_modes(_spiral(12, 0.03).means, 0.03, 6),
          "x_few4_12d": lambda: _few(4, 12, 0.05, 4), "x_few5_8d": lambda: _few(5, 8, 0.04, 5),
          "x_few3_6d": lambda: _few(3, 6, 0.06, 7)}
"""Ad-hoc tuning problems for the probe on embedded data (few-step 25): sharp 2-D data in the first
two of 4-16 coordinates, and few modes in 6-12 dimensions (whose means span a low-dimensional
affine plane); tuning data only, never a report set."""


def probe(p, sde, score, steps: int, how: str, seed: int):
    """``probe_sharp_modes`` on 1024 exact data points or on a 256-point pilot run."""
    if how == "data":
        x = p.mixture.sample(1024, generator=torch.Generator().manual_seed(seed + 300)).to(torch.float64)
        return probe_sharp_modes(sde, score, steps, x, generator=torch.Generator().manual_seed(seed + 301))
    return probe_sharp_modes(sde, score, steps, shape=(p.dim,), pilot=256, dtype=torch.float64,
                             generator=torch.Generator().manual_seed(seed + 302))


def collect(a) -> None:
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    done = set()
    if out.exists():
        done = {(r["problem"], r["sde"], r["nfe"], r["row"]) for r in load([out])}
    probs = problem_suite(a.half)
    if a.problems:
        probs = [p for p in probs if p.name in a.problems.split(",")]
    with out.open("a") as fh:
        for sname in a.sdes.split(","):
            for p in probs:
                sde, score, x_T, ref = setup(p, sname, a.n, a.seed, Path(a.cache))
                probes = {}                 # the ratios do not depend on the budget: probe once
                for nfe in [int(v) for v in a.nfes.split(",")]:
                    for how in PROBES:
                        row = f"unipc+probe:{how}{{}}"
                        if (p.name, sname, nfe, row) in done:
                            continue
                        if how not in probes:
                            probes[how] = probe(p, sde, score, nfe, how, a.seed)
                        found = probes[how].at_steps(sde, nfe)
                        err, used, steps, why = run_project(sde, score, x_T, ref, found.sampler, found.options, nfe)
                        rec = {"problem": p.name, "sde": sname, "nfe": nfe, "row": row, "kind": "project",
                               "rms": err, "nfe_used": used, "steps": steps, "n": a.n, "seed": a.seed,
                               "error": why, "sharp": found.sharp,
                               "ratios": {str(k): v for k, v in found.ratios.items()},
                               "options": found.options, "sampler": found.sampler,
                               "ring_like": found.ring_like, "probe_nfe": found.nfe}
                        fh.write(json.dumps(rec) + "\n")
                        fh.flush()
                        print(f"# {p.name}/{sname}/{nfe} {how}: R {found.ratios} sharp {found.sharp}",
                              file=sys.stderr, flush=True)


CANDIDATES = {
    "unipc2_logsnr_005": ("unipc", {"order": 2, "grid": "log_snr", "t_end": 0.005, "denoise": False}),
    "unipc3_logsnr_005": ("unipc", {"order": 3, "grid": "log_snr", "t_end": 0.005, "denoise": False}),
    "unipc2_logsnr": ("unipc", {"order": 2, "grid": "log_snr"}),
    "unipc3_logsnr": ("unipc", {"order": 3, "grid": "log_snr"}),
    "unipc2_karras_005": ("unipc", {"order": 2, "grid": "karras", "t_end": 0.005, "denoise": False}),
    "deis3_logsnr": ("deis", {"order": 3, "grid": "log_snr"}),
    "deis2_logsnr": ("deis", {"order": 2, "grid": "log_snr"}),
    "deis3_logsnr_005": ("deis", {"order": 3, "grid": "log_snr", "t_end": 0.005, "denoise": False}),
    "ipndm_logsnr": ("ipndm", {"grid": "log_snr"}),
    "ipndm3_logsnr": ("ipndm", {"order": 3, "grid": "log_snr"}),
    "dpm2_logsnr": ("dpm_solver2", {"grid": "log_snr"}),
    "dpm3_logsnr": ("dpm_solver3", {"grid": "log_snr"}),
}
"""Settings tried for sharp data beyond 12 steps (``tune --candidates``, few-step 22e): the recipe
and its variants, and the other multistep samplers on the log-SNR grid (for EDM the diffusers
peers' log-sigma table)."""


def _problems(half: str):
    """The problems of a suite half or reserved set, or of ``EXTRA`` / ``EXTRA2`` ("extra", "extra2")."""
    extra = {"extra": EXTRA, "extra2": EXTRA2}.get(half)
    return [SuiteProblem(n, b(), ()) for n, b in extra.items()] if extra is not None else problem_suite(half)


def _pick(found: SharpModes, n: int, lines: bool = True) -> str:
    """The tune-record key of the setting ``found`` picks at n steps on EDM (``lines=False``: without
    section 26's entry for line-like data)."""
    if not lines and found.subspace == 1:
        found = replace(found, subspace=None)
    at_n = found.at_steps(EDMSDE(), n)
    sampler, opts = at_n.sampler, at_n.options
    if sampler == "unipc" and not opts:
        return "unipc"
    if (sampler, opts) == ("unipc", RECIPE):
        return "recipe"
    return next(c for c, (name, o) in CANDIDATES.items() if (name, o) == (sampler, opts))


def embedded(a) -> str:
    """Where the probe measures R in the data's principal subspace (``principal_basis``), against R
    over all coordinates: per problem of ``--sets`` whose verdict changes, k, the tail
    fraction, both (R(fine), R(coarse)) and verdicts, and from ``--tune`` records (with
    ``--candidates``) per budget the new pick's RMS over the old pick's and the best default with
    the new pick over with the old; with ``--peers``, per budget over every problem of the sets,
    the best default over the best peer with the old pick and with the new."""
    recs = {r["problem"]: r for r in load_tune(a.tune)} if a.tune else {}
    peers = best_peers(load(a.peers)) if a.peers else {}
    vs_peer = defaultdict(list)     # NFE -> [(best default / best peer with the old pick, with the new)]
    sde = EDMSDE()
    lines = ["| problem | d | k | tail | R all coordinates | verdict | R in the subspace | verdict | "
             "per NFE: new pick / old pick, best default new / old |", "|---|---|---|---|---|---|---|---|---|"]
    changed = total = 0
    for half in a.sets.split(","):
        for p in _problems(half):
            total += 1
            x = p.mixture.sample(1024, generator=torch.Generator().manual_seed(a.seed + 300)).to(torch.float64)
            basis, tail = principal_basis(x)
            score = p.mixture.score_fn(sde)
            new = probe(p, sde, score, 10, "data", a.seed)
            whole = denoising_ratio(sde, score, x, PROBE_SIGMAS, generator=torch.Generator().manual_seed(a.seed + 301))
            old = SharpModes(sharp=is_sharp(whole), ratios=whole, spread=0.0,
                             ring_like=is_ring_like(whole))
            cells = _cells(p.name, recs.get(p.name, {}).get("rms", {}), lambda n: _pick(old, n, lines=False),
                           lambda n: _pick(new, n, lines=False), peers, vs_peer)
            if (new.sharp, new.sharp and new.ring_like) == (old.sharp, old.sharp and old.ring_like):
                continue
            changed += 1
            verdict = (lambda f: "ring" if f.sharp and f.ring_like else "sharp" if f.sharp else "no")
            fine, coarse = PROBE_SIGMAS
            lines.append(f"| {p.name} | {p.dim} | {new.subspace or p.dim} | {tail:.1e} | "
                         f"{whole[fine]:.3f}, {whole[coarse]:.3f} | {verdict(old)} | "
                         f"{new.ratios[fine]:.3f}, {new.ratios[coarse]:.3f} | {verdict(new)} | {'; '.join(cells)} |")
    return "\n".join([f"the verdict changes on {changed} of {total} problems", ""] + lines + _vs_peer_table(vs_peer))


def _cells(name, m, old_pick, new_pick, peers, vs_peer):
    """Per budget of a ``tune`` record's RMS dict ``m``: "n: new pick / old pick, best default new / old"
    (``old_pick``, ``new_pick``: n -> tune key); with the cell's best peer in ``peers`` the best default
    over it, old and new, is appended to ``vs_peer[n]``."""
    cells = []
    for n in sorted({int(k.split("@")[1]) for k in m}):
        po, pn = old_pick(n), new_pick(n)
        if m.get(f"{po}@{n}") is None or m.get(f"{pn}@{n}") is None:
            continue
        others = min(m[f"{s}@{n}"] for s in PROJECT if s != "unipc" and m.get(f"{s}@{n}") is not None)
        b_old, b_new = min(others, m[f"{po}@{n}"]), min(others, m[f"{pn}@{n}"])
        cells.append(f"{n}: {m[f'{pn}@{n}'] / m[f'{po}@{n}']:.2f} / {b_new / b_old:.2f}")
        if (name, "EDM", n) in peers:
            vs_peer[n].append((b_old / peers[name, "EDM", n][0], b_new / peers[name, "EDM", n][0]))
    return cells


def _vs_peer_table(vs_peer):
    if not vs_peer:
        return []
    out = ["", "| NFE | problems | best default / best peer, old pick: geo-mean | <= 1.0x | "
           "new pick: geo-mean | <= 1.0x |", "|---|---|---|---|---|---|"]
    for n, v in sorted(vs_peer.items()):
        o, w = [x for x, _ in v], [y for _, y in v]
        out.append(f"| {n} | {len(v)} | {geo_mean(o):.3f} | {sum(x <= 1.0 for x in o)} | {geo_mean(w):.3f} | "
                   f"{sum(y <= 1.0 for y in w)} |")
    return out


def line_entry(a) -> str:
    """Section 26's entry for line-like sharp data (``SHARP_RECIPES``' ``"line"`` entry: a principal
    subspace of one dimension) against the pick without it: per problem of ``--sets`` that it takes,
    k, R in the subspace and, from ``--tune`` records (with ``--candidates``), per budget the pick's
    RMS with it over without and the best default with it over without; with ``--peers``, per
    budget over every problem of the sets, the best default over the best peer without and with it."""
    recs = {r["problem"]: r for r in load_tune(a.tune)} if a.tune else {}
    peers = best_peers(load(a.peers)) if a.peers else {}
    vs_peer = defaultdict(list)
    sde = EDMSDE()
    lines = ["| problem | d | k | R in the subspace | per NFE: new pick / old pick, best default new / old |",
             "|---|---|---|---|---|"]
    taken = total = 0
    for half in a.sets.split(","):
        for p in _problems(half):
            total += 1
            found = probe(p, sde, p.mixture.score_fn(sde), 10, "data", a.seed)
            cells = _cells(p.name, recs.get(p.name, {}).get("rms", {}), lambda n: _pick(found, n, lines=False),
                           lambda n: _pick(found, n), peers, vs_peer)
            if not (found.sharp and found.subspace == 1):
                continue
            taken += 1
            fine, coarse = PROBE_SIGMAS
            lines.append(f"| {p.name} | {p.dim} | 1 | {found.ratios[fine]:.3f}, {found.ratios[coarse]:.3f} | "
                         f"{'; '.join(cells)} |")
    return "\n".join([f"the line entry takes {taken} of {total} problems", ""] + lines + _vs_peer_table(vs_peer))


def tune(a) -> None:
    """One record per problem: R at ``TUNE_LEVELS`` on 1024 exact data points, and the RMS of every
    default sampler and of the recipe (on ``--recipe-grid``) at each budget (EDM, 1024 points,
    bench_suite's x_T)."""
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    done = {r["problem"] for r in load_tune([out])} if out.exists() else set()
    nfes = [int(v) for v in a.nfes.split(",")]
    recipe = {**RECIPE, "grid": a.recipe_grid}   # at every budget, in range or not
    with out.open("a") as fh:
        for half in a.sets.split(","):
            seed = a.seed if a.seed is not None else 999 if half == "tuning" else 1
            for p in _problems(half):
                if p.name in done:
                    continue
                sde, score, x_T, ref = setup(p, "EDM", 1024, seed, Path(a.cache))
                x = p.mixture.sample(1024, generator=torch.Generator().manual_seed(seed + 300)).to(torch.float64)
                rat = denoising_ratio(sde, score, x, TUNE_LEVELS, generator=torch.Generator().manual_seed(seed + 301))
                if a.sharp_only and not is_sharp(rat):
                    continue
                rec = {"problem": p.name, "half": half, "dim": p.dim, "ratios": {str(k): v for k, v in rat.items()},
                       "rms": {}}
                for nfe in nfes:
                    for name in PROJECT:
                        rec["rms"][f"{name}@{nfe}"] = run_project(sde, score, x_T, ref, name, {}, nfe)[0]
                    rec["rms"][f"recipe@{nfe}"] = run_project(sde, score, x_T, ref, "unipc", recipe, nfe)[0]
                    for c, (name, opts) in (CANDIDATES.items() if a.candidates else ()):
                        rec["rms"][f"{c}@{nfe}"] = run_project(sde, score, x_T, ref, name, opts, nfe)[0]
                fh.write(json.dumps(rec) + "\n")
                fh.flush()
                print(f"# {half} {p.name}", file=sys.stderr, flush=True)


def _in_unipcs_place(m, n: int, setting: str):
    """(``setting`` / UniPC's default, the best default with ``setting`` in UniPC's place / without)
    in one cell of a ``tune`` record's RMS dict ``m`` at budget ``n``; None where either is missing.
    The best default is over the default samplers (``PROJECT``)."""
    if m.get(f"{setting}@{n}") is None or m.get(f"unipc@{n}") is None:
        return None
    others = min(m[f"{s}@{n}"] for s in PROJECT if s != "unipc" and m.get(f"{s}@{n}") is not None)
    return m[f"{setting}@{n}"] / m[f"unipc@{n}"], min(others, m[f"{setting}@{n}"]) / min(others, m[f"unipc@{n}"])


def candidates(recs) -> str:
    """Per budget and setting (the recipe and ``CANDIDATES``), over the records: its RMS over UniPC's
    default (geo-mean), and the cell's best default with it in place of UniPC's row over without
    (geo-mean, worst cell)."""
    lines = ["| NFE | setting | / UniPC's default: geo-mean | best default with it in UniPC's place: geo-mean | worst |",
             "|---|---|---|---|---|"]
    nfes = sorted({int(k.split("@")[1]) for r in recs for k in r["rms"]})
    for n in nfes:
        rows = []
        for c in ["recipe", *CANDIDATES]:
            uni, best = [], []
            for r in recs:
                cell = _in_unipcs_place(r["rms"], n, c)
                if cell is not None:
                    uni.append(cell[0])
                    best.append((cell[1], r["problem"]))
            if uni:
                w = max(best)
                rows.append((geo_mean([v for v, _ in best]), c, geo_mean(uni), w))
        for g, c, u, w in sorted(rows):
            lines.append(f"| {n} | {c} | {u:.3f} | {g:.3f} | {w[0]:.2f} ({w[1]}) |")
    return "\n".join(lines)


def branch(rows, sampler: str = "deis", ring_like: Optional[bool] = None) -> str:
    """Few-step 23b's tests of the probe's ``sampler`` branch, from ``bench_suite defaults`` and
    ``collect`` records of one or more x_T seeds: over the cells where the data probe picks
    ``sampler``, (Q1) the problems it takes, (Q2) the pick over UniPC's defaults (geo-mean, share
    better), (Q3) the best default with the pick in UniPC's place over without (geo-mean, and the
    (problem, NFE) worse by more than 1.5x on every seed). ``ring_like``: only cells the probe
    called ring-like (True) or not (False); the pick must have options (not UniPC's defaults)."""
    dft, picks = defaultdict(dict), {}
    for r in rows:
        key = (r["problem"], r["nfe"], r.get("seed"))
        if r["kind"] != "project" or r["rms"] is None:
            continue
        if r["row"] == "unipc+probe:data{}":
            if r.get("sampler") == sampler and r.get("options") and (ring_like is None or r.get("ring_like") == ring_like):
                picks[key] = r["rms"]
        elif is_default_row(r["row"]) and not r["row"].startswith("unipc+probe:"):
            dft[key][r["row"][:-2]] = r["rms"]
    lines = ["| problem | NFE | seed | pick / UniPC | best default with / without |", "|---|---|---|---|---|"]
    uni, best, worse = [], [], defaultdict(list)
    for key in sorted(k for k in picks if "unipc" in dft[k]):
        d = dft[key]
        others = min(v for s, v in d.items() if s != "unipc")
        u, b = picks[key] / d["unipc"], min(others, picks[key]) / min(others, d["unipc"])
        uni.append(u)
        best.append(b)
        worse[key[:2]].append(b > 1.5)
        lines.append(f"| {key[0]} | {key[1]} | {key[2]} | {u:.3f} | {b:.3f} |")
    if not uni:
        return f"the probe picks {sampler} in no cell"
    both = sorted(k for k, v in worse.items() if all(v))
    lines += ["", f"(Q1) problems taken: {len({k[0] for k in picks})}",
              f"(Q2) pick / UniPC: geo-mean {geo_mean(uni):.3f}, better in {sum(u < 1 for u in uni)} of {len(uni)}",
              f"(Q3) best default with / without: geo-mean {geo_mean(best):.3f}; worse by > 1.5x on every "
              f"seed: {both if both else 'none'}"]
    return "\n".join(lines)


def merged_records(paths, by_seed: bool = False):
    """The JSON-lines records of several files (other budgets of the same runs) merged: one per problem
    (``by_seed``: per problem and x_T seed), the first record's fields with every file's ``rms`` entries."""
    merged = {}
    for path in paths:
        for line in Path(path).read_text().splitlines():
            r = json.loads(line)
            key = (r["problem"], r["seed"]) if by_seed else r["problem"]
            merged.setdefault(key, {**r, "rms": {}})["rms"].update(r["rms"])
    return list(merged.values())


def load_tune(paths):
    """``tune`` records, one per problem, the budgets of several files merged (ratios from the first,
    keyed by float sigma / spread as ``denoising_ratio`` returns them; JSON keys are strings)."""
    return [{**r, "ratios": {float(k): v for k, v in r["ratios"].items()}} for r in merged_records(paths)]


def rule(recs) -> str:
    """Per budget: where R(fine) - R(coarse) >= ``MERGE_THRESHOLD`` fires, the recipe's RMS over
    UniPC's default and the cell's best default with it over without (geo-mean, worst cells)."""
    fine, coarse = PROBE_SIGMAS
    merge = {r["problem"]: ratio_drop(r["ratios"]) for r in recs}
    fired = [r for r in recs if is_sharp(r["ratios"])]
    nfes = sorted({int(k.split("@")[1]) for r in recs for k in r["rms"]})
    lines = [f"fires on {len(fired)} of {len(recs)} problems; R({fine}) - R({coarse}) of the nearest: "
             f"below {max((merge[r['problem']] for r in recs if not is_sharp(r['ratios'])), default=math.nan):.3f}, "
             f"above {min((merge[r['problem']] for r in fired), default=math.nan):.3f}", "",
             "| NFE | UniPC with the recipe / default: geo-mean | worst | best default with / without: geo-mean | worst |",
             "|---|---|---|---|---|"]
    for n in nfes:
        uni, best = [], []
        for r in fired:
            cell = _in_unipcs_place(r["rms"], n, "recipe")
            if cell is None:                    # a problem run at other budgets only
                continue
            uni.append((cell[0], r["problem"]))
            best.append((cell[1], r["problem"]))
        wu, wb = max(uni), max(best)
        lines.append(f"| {n} | {geo_mean([v for v, _ in uni]):.3f} | {wu[0]:.2f} ({wu[1]}) | "
                     f"{geo_mean([v for v, _ in best]):.3f} | {wb[0]:.2f} ({wb[1]}) |")
    return "\n".join(lines)


def report(rows, how: str = "data") -> str:
    """Markdown table of the probe ``how`` against UniPC's defaults and the cell's best default."""
    peers = best_peers(rows)
    cell = lambda r: (r["problem"], r["sde"], r["nfe"])
    unipc, others, probed = {}, defaultdict(lambda: math.inf), {}
    for r in rows:
        if r["kind"] != "project" or r["rms"] is None or not is_default_row(r["row"]):
            continue
        if r["row"] == "unipc{}":
            unipc[cell(r)] = r["rms"]
        elif r["row"] == f"unipc+probe:{how}{{}}":
            probed[cell(r)] = r
        elif not r["row"].startswith("unipc+probe:"):
            others[cell(r)] = min(others[cell(r)], r["rms"])
    cells = sorted((k for k in probed if k in unipc and k in peers), key=lambda k: (k[1], k[2], k[0]))
    if not cells:
        raise SystemExit(f"no cell holds a peer, unipc{{}} and unipc+probe:{how}{{}}")
    fine, coarse = (str(v) for v in PROBE_SIGMAS)
    lines = [f"| problem | SDE | NFE | R({fine}) | R({coarse}) | sharp | UniPC / best peer | with the probe | "
             f"best default / best peer | with the probe |", "|---|---|---|---|---|---|---|---|---|---|"]
    before, after = defaultdict(list), defaultdict(list)
    for k in cells:
        r, peer = probed[k], peers[k][0]
        b = min(others[k], unipc[k]) / peer
        c = min(others[k], r["rms"]) / peer
        before[k[1:]].append(b)
        after[k[1:]].append(c)
        lines.append(f"| {k[0]} | {k[1]} | {k[2]} | {r['ratios'][fine]:.3f} | {r['ratios'][coarse]:.3f} | "
                     f"{'yes' if r['sharp'] else 'no'} | {unipc[k] / peer:.2f} | {r['rms'] / peer:.2f} | "
                     f"{b:.2f} | {c:.2f} |")
    lines += ["", "| SDE | NFE | cells | best default: geo-mean / best peer | <= 1.0x | with the probe: geo-mean | <= 1.0x |",
              "|---|---|---|---|---|---|---|"]
    for sn in sorted(before):
        b, c = before[sn], after[sn]
        lines.append(f"| {sn[0]} | {sn[1]} | {len(b)} | {geo_mean(b):.3f} | {sum(v <= 1.0 for v in b)} | "
                     f"{geo_mean(c):.3f} | {sum(v <= 1.0 for v in c)} |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="mode", required=True)
    c = sub.add_parser("collect")
    c.add_argument("--half", default="tuning", choices=SUITE_HALVES)
    c.add_argument("--problems", default=None)
    c.add_argument("--sdes", default="EDM", help=f"comma-separated, of {sorted(SDES)}")
    c.add_argument("--nfes", default="10,20")
    c.add_argument("--n", type=int, default=1024)
    c.add_argument("--seed", type=int, default=1)
    c.add_argument("--cache", default="outputs/suite_refs")
    c.add_argument("--out", required=True)
    t = sub.add_parser("tune")
    t.add_argument("--sets", required=True, help=f"comma-separated, of {SUITE_HALVES}, 'extra' and 'extra2'")
    t.add_argument("--nfes", default="10,20")
    t.add_argument("--recipe-grid", default="log_snr", help="the recipe's grid (17e's variant for 17-24 steps: karras)")
    t.add_argument("--candidates", action="store_true", help="also run CANDIDATES")
    t.add_argument("--seed", type=int, default=None, help="x_T's seed (default: 999 on the tuning half, else 1)")
    t.add_argument("--sharp-only", action="store_true", help="only the problems the rule calls sharp")
    t.add_argument("--cache", default="outputs/suite_refs")
    t.add_argument("--out", required=True)
    u = sub.add_parser("rule")
    u.add_argument("records", nargs="+")
    v = sub.add_parser("candidates")
    v.add_argument("records", nargs="+")
    w = sub.add_parser("branch")
    w.add_argument("records", nargs="+", help="bench_suite defaults and collect records")
    w.add_argument("--sampler", default="deis")
    w.add_argument("--ring-like", default=None, choices=("yes", "no"))
    ln = sub.add_parser("lines")
    ln.add_argument("--sets", required=True, help=f"comma-separated, of {SUITE_HALVES}, 'extra' and 'extra2'")
    ln.add_argument("--tune", nargs="*", default=(), help="tune --candidates records of those problems")
    ln.add_argument("--seed", type=int, default=1)
    ln.add_argument("--peers", nargs="*", default=(), help="bench_suite peers records (best default / best peer)")
    e = sub.add_parser("embedded")
    e.add_argument("--sets", required=True, help=f"comma-separated, of {SUITE_HALVES}, 'extra' and 'extra2'")
    e.add_argument("--tune", nargs="*", default=(), help="tune --candidates records of those problems")
    e.add_argument("--seed", type=int, default=1)
    e.add_argument("--peers", nargs="*", default=(), help="bench_suite peers records (best default / best peer)")
    r = sub.add_parser("report")
    r.add_argument("records", nargs="+")
    r.add_argument("--probe", default="data", choices=PROBES)
    a = ap.parse_args(argv)
    if a.mode == "collect":
        collect(a)
    elif a.mode == "tune":
        tune(a)
    elif a.mode == "rule":
        print(rule(load_tune(a.records)))
    elif a.mode == "candidates":
        print(candidates(load_tune(a.records)))
    elif a.mode == "lines":
        print(line_entry(a))
    elif a.mode == "embedded":
        print(embedded(a))
    elif a.mode == "branch":
        print(branch(load(a.records), a.sampler, None if a.ring_like is None else a.ring_like == "yes"))
    else:
        print(report(load(a.records), a.probe))


if __name__ == "__main__":
    main()
