"""The data probe's low-rank entry (``solvers.sharp_modes``: ``is_low_rank``, ``low_rank_recipe``) on the
problem suite, VP: UniPC-5 without the step limit on the uniform-t grid down to sigma_j = c (10 / n)^p
spreads, then one step onto sigma = 0 (few-step 27).

``verdicts`` probes every problem of ``--sets`` on 1024 exact data points (``bench_sharp_modes.probe``)
and prints the problems sorted by min(R(fine), R(coarse)), with the low-rank verdict (``--pilot``:
also the verdict from the probe's pilot run, 256 samples of UniPC at 50 steps instead of data):

    env OMP_NUM_THREADS=1 PYTHONPATH=.:benchmarks python benchmarks/bench_low_rank.py verdicts \\
        --sets tuning,validation,holdout,fresh,...

``tune`` writes one record per problem of ``--problems`` (``half:name,name;half:name``): the probe's
R and spread, and per budget the RMS of every default sampler and of UniPC-3 / UniPC-5 (no step limit)
on the uniform-t grid down to sigma_j = c spreads for each c of ``--cs``, then onto 0 (rows
``u3_<c>``, ``u5_<c>``). ``fit`` interpolates each problem's log RMS in log c and prints, per budget,
the best fixed c, then the (order, c0, p) of sigma_j = c0 (10 / n)^p with the smallest geometric
mean of the best default with it in UniPC's place over without:

    ... bench_low_rank.py tune --problems "tuning:lowrank128_r12,...;validation:lowrank256,lowrank64" \\
        --nfes 5,7,10,14,20,30,50 --out <tune.jsonl>
    python benchmarks/bench_low_rank.py fit <tune.jsonl> ... --nfes 5,7,10,14,20

``collect`` writes one record per problem of ``--sets``: the verdict, and per budget every default
sampler and the package's pick (``pick@n``: the low-rank recipe where the probe takes the problem,
else UniPC's defaults, as ``SharpModes.at_steps`` gives it). ``report`` prints, per problem it
takes, the pick over UniPC's defaults and the best default with the pick over without per budget,
the geometric mean and the cells worse on every seed; with ``--peers``, the best default over the
best peer without and with the low-rank entry (elsewhere the probe's pick in both):

    ... bench_low_rank.py collect --sets fresh16 --nfes 5,7,10,14,20 --seed 1 --out <collect_s1.jsonl>
    python benchmarks/bench_low_rank.py report <collect_s1.jsonl> <collect_s2.jsonl> --peers <peers.jsonl>

``optgrid-pick`` compares ``bench_suite.py optgrid`` records without and with ``--with-pick 1`` on the
problems ``collect`` calls low-rank (few-step 29):

    python benchmarks/bench_low_rank.py optgrid-pick --without <og.jsonl> --with-pick <og_pick.jsonl> \\
        --collect <collect.jsonl> --peers <peers.jsonl>

The VP entry at 18-20 steps re-chosen (few-step 31): ``tune --orders 3,4,5 --nfes 18,19,20`` (order 3 with
the step limit, 4-5 without), then ``refit`` prints per order the best c0 of sigma_j = c0 (10 / n)^p against the
shipped entry; ``collect --alt-recipes <JSON entries>`` adds the row ``alt@n`` (the pick under those entries, e.g.
the old ones) and ``report --without-row alt`` compares the pick with it:

    ... bench_low_rank.py refit <tune.jsonl> ... --nfes 18,19,20 --current 3,0.5,1.6
    ... bench_low_rank.py collect --sets fresh19 --nfes 18,19,20 --alt-recipes '[[...], ...]' --out <c.jsonl>
    python benchmarks/bench_low_rank.py report <c.jsonl> --without-row alt --peers <peers.jsonl>

The same choices on new noise (few-step 30): ``collect --n 4096 --seed 3 --probe-seed 1`` scores the
defaults and the pick (probed on the seed-1 data) on 4096 x_T points of seed 3; ``bench_suite.py optgrid
--n 4096 --seed 3 --opt-seed 1`` the grids optimised on the seed-1 batches; ``optgrid-pick
--peers-chosen-on <seed-1 peers>`` scores, per cell, the peer configuration that was best on seed 1.

A change to a sharp-data entry (few-step 35): ``collect --sde EDM --alt-sharp-recipes <the SHARP_RECIPES
table before, JSON>`` adds ``alt@n`` (the pick under that table); ``report --taken sharp_1d`` compares over
the sharp data of one coordinate that is not ring-like (``--without-row alt``: new over old; ``--without-row
unipc [--row alt]``: the new (old) pick over UniPC's defaults, for the worst case), with per-NFE lines:

    ... bench_low_rank.py collect --sets fresh24 --sde EDM --nfes 20,21,22,23,24 --n 4096 --seed 3 \
        --probe-seed 1 --alt-sharp-recipes '[[...], ...]' --out <c.jsonl>
    python benchmarks/bench_low_rank.py report <c.jsonl> --taken sharp_1d --without-row alt

UniPC of another order for large low-rank data (few-step 39): ``tune --orders 5 --variant bh1 --with-lowrank``
rows, then ``dfit`` reads them at multiples of the VP 21-40 law's sigma_j by dimension group and makes the
choice by its pass rule; ``collect --alt-high-dim-recipes '[]'`` adds the pick without
``LOW_RANK_HIGH_DIM_RECIPES`` (the order-4 pick) as ``alt@n``:

    python benchmarks/bench_low_rank.py dfit <tune.jsonl> ... --split-dims 100,110,120,125
    ... bench_low_rank.py collect --sets "fresh27:..." --nfes 36,38,40 --alt-high-dim-recipes '[]' --out <c.jsonl>
"""
from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import math
import sys
from collections import defaultdict
from pathlib import Path
from unittest import mock

import numpy as np
import torch

from bench_sharp_modes import _in_unipcs_place, _problems, _vs_peer_table, merged_records, probe
from bench_suite import PROJECT, SDES, project_estimate, run_project, setup
from bench_suite_pointwise import trimmed_rms
from bench_suite_report import best_peers, geo_mean, load, peers_chosen_on
from sde_diffusion.benchmarking.reference import end_to_end_rms
from sde_diffusion.solvers import sharp_modes
from sde_diffusion.solvers.sharp_modes import LOW_RANK_MIN_R, PROBE_SIGMAS, has_floor, is_ill_conditioned, is_ring_like

OTHERS = tuple(s for s in PROJECT if s != "unipc")


def _sets(spec: str):
    """``half:name,name;half:name`` -> [(half, [names])]; a bare ``half`` takes all its problems."""
    out = []
    for part in spec.split(";"):
        half, _, names = part.partition(":")
        out.append((half, names.split(",") if names else None))
    return out


def _problem_list(spec: str):
    for half, names in _sets(spec):
        for p in _problems(half):
            if names is None or p.name in names:
                yield half, p


def _read(paths):
    """The JSON records of every line of ``paths``, in order."""
    return [json.loads(line) for path in paths for line in Path(path).read_text().splitlines()]


def _peers(a):
    """{cell: (RMS, row)} of each cell's best peer in ``a.peers``; with ``a.peers_chosen_on`` (records of
    the same peers on other noise) the configuration best there, scored on ``a.peers``."""
    if not a.peers:
        return {}
    return peers_chosen_on(load(a.peers_chosen_on), load(a.peers)) if a.peers_chosen_on else best_peers(load(a.peers))


def _done(path: Path):
    return {json.loads(line)["problem"] for line in path.read_text().splitlines()} if path.exists() else set()


def verdicts(a) -> str:
    rows = []
    sde = SDES[a.sde]()
    for half, p in _problem_list(a.sets):
        found = probe(p, sde, p.mixture.score_fn(sde), 10, "data", a.seed)
        fine, coarse = found.ratios[PROBE_SIGMAS[0]], found.ratios[PROBE_SIGMAS[1]]
        pilot = probe(p, sde, p.mixture.score_fn(sde), 10, "pilot", a.seed) if a.pilot else None
        rows.append((min(fine, coarse), half, p.name, p.dim, fine, coarse, found.sharp, found.low_rank, pilot))
    rows.sort(key=lambda r: r[:8], reverse=True)
    taken = [r for r in rows if r[7]]
    lines = [f"low-rank (min R >= {LOW_RANK_MIN_R}, not sharp): {len(taken)} of {len(rows)}"]
    if a.pilot:
        lines.append(f"the pilot run's verdict agrees on {sum(r[8].low_rank == r[7] for r in rows)} of {len(rows)}")
    extra = " pilot: R(fine), R(coarse), low-rank |" if a.pilot else ""
    lines += ["", "| set | problem | d | R(fine) | R(coarse) | sharp | low-rank |" + extra,
              "|---|---|---|---|---|---|---|" + ("---|" if a.pilot else "")]
    for _, half, name, d, fine, coarse, sharp, low, pilot in rows[:max(len(taken) + a.below, 0)]:
        more = (f" {pilot.ratios[PROBE_SIGMAS[0]]:.3f}, {pilot.ratios[PROBE_SIGMAS[1]]:.3f}, {pilot.low_rank} |"
                if pilot is not None else "")
        lines.append(f"| {half} | {name} | {d} | {fine:.3f} | {coarse:.3f} | {sharp} | {low} |" + more)
    return "\n".join(lines)


def _write_records(path, spec: str, sde_name: str, seed: int, cache: str, nfes, rows,
                   defaults: bool = True, points: int = 1024, probe_seed=None) -> None:
    """Append to ``path`` one record per problem of ``spec`` not yet there: the probe's R, spread and
    verdicts, and per budget the RMS of every default sampler and the rows ``rows(sde, score, x_T, ref,
    found, n)`` returns ({key: RMS}), on ``points`` x_T at ``seed`` (the probe's data at ``probe_seed``,
    default ``seed``)."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    done = _done(out)
    with out.open("a") as fh:
        for half, p in _problem_list(spec):
            if p.name in done:
                continue
            sde, score, x_T, ref = setup(p, sde_name, points, seed, Path(cache))
            found = probe(p, sde, score, 10, "data", seed if probe_seed is None else probe_seed)
            rec = {"problem": p.name, "half": half, "sde": sde_name, "dim": p.dim, "seed": seed,
                   "points": points, "spread": found.spread,
                   "ratios": {str(k): v for k, v in found.ratios.items()}, "sharp": found.sharp,
                   "low_rank": found.low_rank, "rms": {}}
            for n in nfes:
                for s in PROJECT if defaults else ():
                    rec["rms"][f"{s}@{n}"] = run_project(sde, score, x_T, ref, s, {}, n)[0]
                rec["rms"].update(rows(sde, score, x_T, ref, found, n))
            fh.write(json.dumps(rec) + "\n")
            fh.flush()
            print(f"# {half} {p.name}: low-rank {found.low_rank}", file=sys.stderr, flush=True)


def tune(a) -> None:
    cs = [float(v) for v in a.cs.split(",")]
    orders = [int(v) for v in a.orders.split(",") if v]
    end_orders = [int(v) for v in a.end_orders.split(",") if v]

    def rows(sde, score, x_T, ref, found, n):
        out = {}
        for order, c in itertools.product(orders, cs):
            t_j = float(sde.t_from_sigma(torch.tensor(c * found.spread, dtype=torch.float64)))
            opts = {"order": order, "step_limit": order < 4, "grid": a.grid, "t_end": t_j, "final_zero": True,
                    "variant": a.variant}
            out[f"u{order}_{c}@{n}"] = run_project(sde, score, x_T, ref, "unipc", opts, n)[0]
        for order in end_orders:         # all steps on --grid to the default end, no step onto 0
            opts = {"order": order, "step_limit": order < 4, "grid": a.grid, "variant": a.variant}
            out[f"u{order}_end@{n}"] = run_project(sde, score, x_T, ref, "unipc", opts, n)[0]
        if a.with_lowrank and found.low_rank:        # the low-rank recipe, without the floor entry
            sampler, opts = sharp_modes.low_rank_recipe(sde, n, found.spread)
            out[f"lowrank@{n}"] = run_project(sde, score, x_T, ref, sampler, opts, n)[0]
        return out

    _write_records(a.out, a.problems, a.sde, a.seed, a.cache, [int(v) for v in a.nfes.split(",")], rows,
                   defaults=not a.no_defaults, points=a.n, probe_seed=a.probe_seed)


def _cs(m, order) -> list:
    """The sigma_j values (in spreads) of ``tune``'s rows ``u<order>_<c>`` in one RMS dict (not the
    ``u<order>_end`` rows), sorted."""
    return sorted({float(k.split("@")[0].split("_")[1]) for k in m
                   if k.startswith(f"u{order}_") and not k.startswith(f"u{order}_end")})


def _best_other(m, n: int) -> float:
    """The best default sampler's RMS at budget ``n`` with UniPC's row left out (inf where none)."""
    return min([m[f"{s}@{n}"] for s in OTHERS if m.get(f"{s}@{n}") is not None], default=math.inf)


def _with_over(m, n: int, x: float, y: float) -> float:
    """The best default with RMS ``x`` in UniPC's place over with ``y``, at budget ``n``."""
    others = _best_other(m, n)
    return min(others, x) / min(others, y)


def cells_summary(v, records) -> str:
    """``geo mean | k of n | worst (problem, seed)`` of the ratios ``v`` of ``records`` (one per record), a table's
    cells for ``bench_sharp_one_dim fit`` and ``bench_rows compare``."""
    worst = max(range(len(v)), key=v.__getitem__)
    return (f"{geo_mean(v):.3f} | {sum(x < 1 for x in v)} of {len(v)} | {v[worst]:.2f} "
            f"({records[worst]['problem']}, {records[worst]['seed']})")


def log_interp(xs, rms, x: float) -> float:
    """The RMS at ``x`` from runs at the sorted ``xs``: piecewise linear in log RMS over log x, clamped to them."""
    ys = np.log(rms)
    return math.exp(float(np.interp(math.log(min(max(x, xs[0]), xs[-1])), np.log(xs), ys)))


def _at_c(m, n, order, c, cs):
    """``tune``'s RMS at sigma_j = c spreads (``log_interp`` over its rows u<order>_<c>)."""
    return log_interp(cs, [m[f"u{order}_{x}@{n}"] for x in cs], c)


def fit(a) -> str:
    recs = merged_records(a.records)
    cs = _cs(recs[0]["rms"], 5)
    nfes = [int(v) for v in a.nfes.split(",")]

    def ratio(r, n, order, c):
        m = {**r["rms"], f"pick@{n}": _at_c(r["rms"], n, order, c, cs)}
        return _in_unipcs_place(m, n, "pick")[1]

    lines = [f"{len(recs)} problems; c in {cs}", "", "| NFE | order | best fixed c | best default with it / without: "
             "geo-mean | worst |", "|---|---|---|---|---|"]
    for n, order in itertools.product(nfes, (3, 5)):
        g, c = min((geo_mean([ratio(r, n, order, c) for r in recs]), c) for c in cs)
        lines.append(f"| {n} | {order} | {c} | {g:.3f} | {max(ratio(r, n, order, c) for r in recs):.2f} |")
    lines += ["", "sigma_j = c0 (10 / n)^p spreads; UniPC-5 (no step limit) up to the split, UniPC-3 above:", "",
              "| split | c0 | p | geo-mean over every cell | worst | per NFE: geo-mean / worst |", "|---|---|---|---|---|---|"]
    for split in (int(v) for v in a.splits.split(",")):
        def cells_at(c0, p, n):
            return [ratio(r, n, 5 if n <= split else 3, c0 * (10 / n) ** p) for r in recs]
        best = min((geo_mean([v for n in nfes for v in cells_at(c0, p, n)]), float(c0), float(p))
                   for c0 in np.exp(np.linspace(math.log(0.1), math.log(1.1), 25))
                   for p in np.linspace(0.0, a.pmax, round(a.pmax * 10) + 1))
        g, c0, p = best
        per = [cells_at(c0, p, n) for n in nfes]
        lines.append(f"| {split} | {c0:.3f} | {p:.1f} | {g:.3f} | {max(map(max, per)):.2f} | "
                     + "; ".join(f"{n}: {geo_mean(v):.3f} / {max(v):.2f}" for n, v in zip(nfes, per)) + " |")
    return "\n".join(lines)


def cfit(a) -> str:
    """The VP 21-40 entry's sigma_j (few-step 37a): per budget n, the best default with UniPC-4 (B(h) = h) at
    sigma_j = mult x the 18-20 law's, c0 = 0.54 (10 / n)^1.6 spreads, over with it at c0 (each problem's log RMS
    of the ``tune`` rows u4_<c> interpolated in log c), then the same for sigma_j = c (10 / n)^p with c fixed by
    the law's value at 20 steps, c = 0.54 * 2^(p - 1.6). A sigma_j outside a problem's rows leaves it out."""
    recs = merged_records([*a.defaults, *a.records])
    nfes = [int(v) for v in a.nfes.split(",")]
    c_law, p_law = 0.54, 1.6                     # the 18-20 law, sigma_j = c_law (10 / n)^p_law spreads

    def ratios(n, c_of):
        c0 = c_law * (10.0 / n) ** p_law
        c = c_of(c0)
        out = []
        for r in recs:
            m = r["rms"]
            cs = [x for x in _cs(m, 4) if f"u4_{x}@{n}" in m]
            if len(cs) < 2 or not cs[0] * (1 - 1e-9) <= c <= cs[-1] * (1 + 1e-9):   # outside the rows: not read
                continue
            out.append(_with_over(m, n, _at_c(m, n, 4, c, cs), _at_c(m, n, 4, c0, cs)))
        return out

    lines = ["| sigma_j over the 18-20 law's | " + " | ".join(f"{n} steps" for n in nfes) + " |",
             "|---|" + "---|" * len(nfes)]
    for mult in (float(v) for v in a.mults.split(",")):
        cells = [ratios(n, lambda c0: mult * c0) for n in nfes]
        lines.append(f"| {mult:g}x | " + " | ".join(f"{geo_mean(v):.3f} ({max(v):.2f}), {len(v)}" if v else "-"
                                                     for v in cells) + " |")
    lines += ["", "| p (c) | " + " | ".join(str(n) for n in nfes) + " | mean |", "|---|" + "---|" * (len(nfes) + 1)]
    for p in (float(v) for v in a.ps.split(",")):
        c = c_law * 2.0 ** (p - p_law)
        gms = [geo_mean(ratios(n, lambda c0, n=n: c * (10.0 / n) ** p)) for n in nfes]
        lines.append(f"| {p:g} ({c:.2f}) | " + " | ".join(f"{g:.3f}" for g in gms) + f" | {geo_mean(gms):.3f} |")
    return "\n".join(lines)


LAW_21_40 = next((c, p) for lo, hi, *_, c, p in sharp_modes.LOW_RANK_RECIPES["VPSDE"] if lo <= 21 <= hi)
"""The VP low-rank entry's sigma_j law at 21-40 steps, (c, p) of sigma_j = c (10 / n)^p spreads, as shipped
(``LOW_RANK_RECIPES``; few-step 37a)."""


def dfit(a) -> str:
    """UniPC of another order for large low-rank data (few-step 39 at 30-40 steps, 40 at 43-50): per budget n,
    multiple k of the 21-40 law's sigma_j (``--mults``; carried on past 40) and dimension group (split at each
    of ``--split-dims``), the best default with UniPC-<order> at sigma_j = k c (10 / n)^p spreads (the
    ``tune`` rows u<order>_<c>, read by ``_at_c``) in the place of the pick's row ``lowrank@n`` over with it:
    geometric mean, cells below 1, worst. A sigma_j more than 2 % outside a problem's rows leaves it out
    there (within, clamped). A group *passes* where its mean is at most ``--max-mean`` and at least
    ``--min-share`` of its cells are below 1; the choice, at ``--mult``: the budgets from the smallest n from
    which every budget of the records passes at some split, and the largest of those budgets' smallest
    passing splits (a budget that does not pass at that split is named)."""
    recs = merged_records(a.records, by_seed=True)     # other budgets, other c
    nfes = sorted({int(k.split("@")[1]) for r in recs for k in r["rms"] if k.startswith("lowrank@")})
    splits = [int(v) for v in a.split_dims.split(",")]
    c_law, p_law = LAW_21_40

    def cells(n, k, keep):
        out = []
        c = k * c_law * (10.0 / n) ** p_law
        for r in recs:
            m = r["rms"]
            cs = [x for x in _cs(m, a.order) if f"u{a.order}_{x}@{n}" in m]
            if not keep(r["dim"]) or f"lowrank@{n}" not in m or not cs or not cs[0] / 1.02 <= c <= cs[-1] * 1.02:
                continue
            y = _at_c(m, n, a.order, c, cs) if len(cs) > 1 else m[f"u{a.order}_{cs[0]}@{n}"]
            out.append(_with_over(m, n, y, m[f"lowrank@{n}"]))
        return out

    passes = lambda v: _passes(v, a)
    show = lambda v: f"{geo_mean(v):.3f} ({sum(x < 1 for x in v)}/{len(v)}, {max(v):.2f})" if v else "-"
    lines = [f"{len(recs)} records; UniPC-{a.order} at k x {c_law} (10 / n)^{p_law} spreads over the pick; "
             f"per group: geo-mean (below 1 / cells, worst); pass: mean <= {a.max_mean}, share below 1 >= "
             f"{a.min_share}", "", "| NFE | k | " + " | ".join(f"d < {s} | d >= {s}" for s in splits) + " |",
             "|---|---|" + "---|---|" * len(splits)]
    for n, k in itertools.product(nfes, (float(v) for v in a.mults.split(","))):
        row = []
        for s in splits:
            lo, hi = cells(n, k, lambda d: d < s), cells(n, k, lambda d: d >= s)
            row += [show(lo), show(hi) + (" pass" if passes(hi) else "")]
        lines.append(f"| {n} | {k:g} | " + " | ".join(row) + " |")
    ok = {n: [s for s in splits if passes(cells(n, a.mult, lambda d, s=s: d >= s))] for n in nfes}
    start = next((n for i, n in enumerate(nfes) if all(ok[m] for m in nfes[i:])), None)
    if start is None:
        return "\n".join(lines + ["", f"chosen at k = {a.mult:g}: none (the largest budget fails at every split)"])
    split = max(min(ok[n]) for n in nfes if n >= start)
    common = [n for n in nfes if n >= start and split not in ok[n]]
    lines += ["", f"chosen at k = {a.mult:g}: budgets {start}-{nfes[-1]}, d >= {split}"
              + (f" (but not passing at that split at {common})" if common else "")]
    return "\n".join(lines)


def refit(a) -> str:
    """The low-rank entry for the budgets of ``--nfes`` re-chosen on ``tune`` records: per UniPC order
    of ``--orders`` and each c0 of sigma_j = c0 (10 / n)^p spreads (``p`` fixed), the best default with
    it in the pick's place over with the shipped entry (``--current order,c0,p``), both interpolated
    in c (``_at_c``): geometric mean over problems x budgets, worst cell, cells worse by more than
    ``--harm``. A cell worse than that counts as harmed unless a ``--recheck`` record of the problem
    (other x_T points) has the same budget not worse than ``--harm``: on low-rank mixtures a few
    points sent towards the wrong component set a cell's RMS (few-step 30). The choice: the smallest
    geometric mean with no harmed cell."""
    recs = [r for r in merged_records(a.records) if r["low_rank"]]    # where the entry applies
    rechecks = {r["problem"]: r for r in merged_records(a.recheck)}
    nfes = [int(v) for v in a.nfes.split(",")]
    cur_order, cur_c0, cur_p = (float(v) for v in a.current.split(","))

    def ratio(r, n, order, c0):
        m = r["rms"]
        return _with_over(m, n, _at_c(m, n, order, c0 * (10 / n) ** a.p, _cs(m, order)),
                          _at_c(m, n, int(cur_order), cur_c0 * (10 / n) ** cur_p, _cs(m, int(cur_order))))

    def harmed(r, n, order, c0, v):
        if v <= a.harm:
            return False
        again = rechecks.get(r["problem"])
        has = lambda o: any(k.startswith(f"u{o}_") and k.endswith(f"@{n}") for k in again["rms"])
        return again is None or not (has(order) and has(int(cur_order))) or ratio(again, n, order, c0) > a.harm

    def cells(order, c0):
        return [(v, harmed(r, n, order, c0, v)) for r in recs for n in nfes for v in [ratio(r, n, order, c0)]]

    cs = _cs(recs[0]["rms"], int(cur_order))
    lines = [f"{len(recs)} problems x NFE {nfes}; c in {cs}; p = {a.p}; against the shipped entry "
             f"(UniPC-{int(cur_order)}, c0 {cur_c0}, p {cur_p}); rechecked on other points: "
             f"{', '.join(sorted(rechecks)) or 'none'}", "",
             "| order | best c0 | geo-mean | worst | worse than the shipped entry by > harm | of them harmed on the "
             "recheck too |", "|---|---|---|---|---|---|"]
    choice = None
    for order in (int(v) for v in a.orders.split(",")):
        lo, hi = _cs(recs[0]["rms"], order)[0], _cs(recs[0]["rms"], order)[-1]
        # c0 such that c at the largest budget runs over tune's c range, 31 points evenly in log c
        c0s = [float(c) * (max(nfes) / 10) ** a.p for c in np.exp(np.linspace(math.log(lo), math.log(hi), 31))]
        fits = []
        for c0 in c0s:
            v = cells(order, c0)
            fits.append((geo_mean([x for x, _ in v]), max(x for x, _ in v), sum(x > a.harm for x, _ in v),
                         sum(h for _, h in v), c0))
        g, worst, over, bad, c0 = min(fits, key=lambda f: (f[3] > 0, f[0]))
        lines.append(f"| {order} | {c0:.3f} | {g:.3f} | {worst:.2f} | {over} | {bad} |")
        if bad == 0 and (choice is None or g < choice[0]):
            choice = (g, order, c0)
    lines += ["", "chosen: " + ("none (every order has a cell worse than the harm bound)" if choice is None
                                else f"UniPC-{choice[1]}, c0 {choice[2]:.3f}, p {a.p} (geo-mean {choice[0]:.3f})")]
    return "\n".join(lines)


def _passes(v, a) -> bool:
    """The rule of few-step 44a on the ratios ``v`` of one budget: geometric mean at most ``a.max_mean`` and at least
    ``a.min_share`` of them below 1 (``dfit``, ``ifit``). With ``a.ties_apart`` (few-step 54a) a tie, a ratio of
    exactly 1 (another default sampler best with and without), counts neither way: at least ``a.min_share`` of the
    other cells below 1, and at least half of all."""
    below = sum(x < 1 for x in v)
    if getattr(a, "ties_apart", False):
        return bool(v) and geo_mean(v) <= a.max_mean and below >= a.min_share * sum(x != 1 for x in v) \
            and below >= 0.5 * len(v)
    return bool(v) and geo_mean(v) <= a.max_mean and below >= a.min_share * len(v)


def ifit(a) -> str:
    """An early-ending entry for ill-conditioned data chosen on ``tune`` records (few-step 53): the records the probe
    calls ill-conditioned (``is_ill_conditioned``; ``--taken low_rank``: low-rank, few-step 56), one cell per problem,
    x_T seed and budget of ``--nfes``, in the place of UniPC's defaults (``--against``: another row, e.g. ``lowrank``).
    Per UniPC order of ``--orders`` and each (c0, p) of sigma_j = c0 (10 / n)^p spreads (c0 on 31 points evenly in log
    over the rows' c range, p of ``--ps``), the best default with it in UniPC's place over without (``_at_c``); the law
    with the smallest geometric mean over all cells, then per budget its cells (and the ``u<order>_end`` rows): a budget
    passes where the mean is at most ``--max-mean`` and ``--min-share`` of its cells are below 1, and not where the
    law's sigma_j lies more than 2 % outside the rows' c (its cells read off the nearest row). ``--defaults``: the
    default samplers' rows from other records of the same problems and seeds (``tune --no-defaults``)."""
    recs = [r for r in merged_records(a.records, by_seed=True) if _TAKES[getattr(a, "taken", "ill_conditioned")](r)]
    defaults = {(r["problem"], r["seed"]): r["rms"] for r in merged_records(a.defaults, by_seed=True)}
    for r in recs:            # the default samplers' rows from --defaults, never a tune row u<order>_...
        r["rms"].update({k: v for k, v in defaults.get((r["problem"], r["seed"]), {}).items()
                         if not (k[:1] == "u" and k[1:2].isdigit())})
    nfes = [int(v) for v in a.nfes.split(",")]
    orders = [int(v) for v in a.orders.split(",")]
    against = getattr(a, "against", "unipc")   # the row the entry replaces: UniPC's defaults, or the pick before it

    rows_at = {}                             # (record, budget, order) -> the c of its tune rows, found once

    def rows(i, n, order):
        if (i, n, order) not in rows_at:
            rows_at[i, n, order] = _cs({k: v for k, v in recs[i]["rms"].items() if k.endswith(f"@{n}")}, order)
        return rows_at[i, n, order]

    def cells(order, c0, p, n):
        return [_with_over(r["rms"], n, _at_c(r["rms"], n, order, c0 * (10 / n) ** p, rows(i, n, order)),
                           r["rms"][f"{against}@{n}"]) for i, r in enumerate(recs)]

    fits = []
    if getattr(a, "law", None):              # one law read, not fitted: "order,c0,p"
        order, c0, p = (f(v) for f, v in zip((int, float, float), a.law.split(",")))
        fits.append((geo_mean([x for n in nfes for x in cells(order, c0, p, n)]), order, c0, p))
    for order in ([] if fits else orders):
        cs = _cs(recs[0]["rms"], order)
        for c, p in itertools.product(np.exp(np.linspace(math.log(cs[0]), math.log(cs[-1]), 31)),
                                      (float(v) for v in a.ps.split(","))):
            fits.append((geo_mean([x for n in nfes for x in cells(order, float(c), p, n)]), order, float(c), p))
    g, order, c0, p = min(fits)
    taken = getattr(a, "taken", "ill_conditioned").replace("_", "-")
    lines = [f"{len(recs)} records called {taken}; NFE {nfes}; c in {_cs(recs[0]['rms'], orders[0])}",
             f"{'read' if getattr(a, 'law', None) else 'chosen'}: UniPC-{order}, sigma_j = {c0:.4f} (10 / n)^{p:g} "
             f"spreads (geo-mean over every cell {g:.3f})", "",
             "| NFE | sigma_j (spreads) | the law: geo-mean | cells below 1 | worst | passes | ties | "
             + " | ".join(f"u{o}_end: geo-mean | below 1 | worst" for o in orders) + " |",
             "|---|---|---|---|---|---|---|" + "---|---|---|" * len(orders)]
    for n in nfes:
        v = cells(order, c0, p, n)
        inside = rows(0, n, order)[0] / 1.02 <= c0 * (10 / n) ** p <= rows(0, n, order)[-1] * 1.02  # else the nearest
        ok = inside and _passes(v, a)
        ends = [cells_summary([_with_over(r["rms"], n, r["rms"][f"u{o}_end@{n}"], r["rms"][f"{against}@{n}"])
                               for r in recs], recs) if f"u{o}_end@{n}" in recs[0]["rms"] else "- | - | -"
                for o in orders]
        verdict = "yes" if ok else "no" if inside else "no (sigma_j outside the rows)"
        lines.append(f"| {n} | {c0 * (10 / n) ** p:.3f} | {cells_summary(v, recs)} | {verdict} | "
                     f"{sum(x == 1 for x in v)} | "
                     + " | ".join(ends) + " |")
    return "\n".join(lines)


def rows_vs(a) -> str:
    """Per problem of the records (where ``--where``: low-rank, or with a floor, ``has_floor``) and budget:
    row ``--row`` over row ``--against``, and the best default with ``--row`` in the place of ``--against``
    over with it; geometric means and the count below 1 (few-step 32a). Rows of ``collect --trim``
    (``<row>_trim``) have no best default (the default samplers' rows are not trimmed)."""
    trimmed = a.row.endswith("_trim") or a.against.endswith("_trim")
    recs = [r for r in merged_records(a.records) if r["low_rank"]
            and (a.where == "low_rank" or has_floor(_ratios(r)))]
    nfes = [int(v) for v in a.nfes.split(",")]
    lines = [f"{len(recs)} problems ({a.where}); {a.row} against {a.against}", "",
             "| problem | R rise | " + " | ".join(f"{n} NFE: row / against, best default" for n in nfes) + " |",
             "|---|---|" + "---|" * len(nfes)]
    flat, flat_best = [], []
    for r in sorted(recs, key=lambda r: r["problem"]):
        m, cells = r["rms"], []
        for n in nfes:
            x, y = m[f"{a.row}@{n}"], m[f"{a.against}@{n}"]
            flat.append(x / y)
            if trimmed:
                cells.append(f"{x / y:.2f}, -")
                continue
            flat_best.append(_with_over(m, n, x, y))
            cells.append(f"{x / y:.2f}, {flat_best[-1]:.2f}")
        rise = r["ratios"][str(PROBE_SIGMAS[1])] - r["ratios"][str(PROBE_SIGMAS[0])]
        lines.append(f"| {r['problem']} | {rise:+.3f} | " + " | ".join(cells) + " |")
    lines += ["", f"over {len(flat)} cells: row / against {geo_mean(flat):.3f} (below 1 in {sum(v < 1 for v in flat)}, "
              f"worst {max(flat):.2f})" + ("" if trimmed else
                                            f"; best default {geo_mean(flat_best):.3f}, worst {max(flat_best):.2f}")]
    return "\n".join(lines)


_ENTRY_FIELDS = {"--alt-recipes": ("LOW_RANK_RECIPES", "[min steps, max steps, sampler, options, grid, c, p]",
                                    (int, int, str, dict, str, (int, float), (int, float))),
                 "--alt-floor-recipes": ("LOW_RANK_FLOOR_RECIPES",
                                         "[min steps, max steps, sampler, options, grid or null(, c, p)]",
                                         (int, int, str, dict, (str, type(None)))),
                 "--alt-sharp-recipes": ("SHARP_RECIPES", "[min steps, max steps, which data, sampler, options]",
                                         (int, int, str, str, dict)),
                 "--alt-high-dim-recipes": ("LOW_RANK_HIGH_DIM_RECIPES",
                                            "[min steps, max steps, min dimension, sampler, options, grid, c, p]",
                                            (int, int, int, str, dict, str, (int, float), (int, float))),
                 "--alt-one-dim-recipes": ("SHARP_ONE_DIM_RECIPES", "[min steps, max steps, sampler, options, c, p]",
                                           (int, int, str, dict, (int, float), (int, float))),
                 "--alt-ill-recipes": ("ILL_CONDITIONED_RECIPES",
                                       "[min steps, max steps, sampler, options, grid, c, p]",
                                       (int, int, str, dict, str, (int, float), (int, float))),
                 "--alt-ill-high-dim-recipes": ("ILL_CONDITIONED_HIGH_DIM_RECIPES",
                                                "[min steps, max steps, min dimension, sampler, options, grid, c, p]",
                                                (int, int, int, str, dict, str, (int, float), (int, float)))}
"""``collect``'s ``--alt-*`` flags -> (the ``sharp_modes`` table whose entry for ``--sde``'s class they replace in
the row alt@n, the entries' fields, their types)."""
_ENTRY_TAILS = {"--alt-floor-recipes": ((int, float), (int, float))}
"""Fields an entry may carry after those of ``_ENTRY_FIELDS``: a floor entry with c, p steps onto 0 (few-step 56a)."""


def _alt_recipes(text, flag="--alt-recipes"):
    """``--alt-recipes`` / ``--alt-floor-recipes`` / ``--alt-sharp-recipes`` / ``--alt-high-dim-recipes`` /
    ``--alt-one-dim-recipes`` / ``--alt-ill-recipes`` / ``--alt-ill-high-dim-recipes``: a JSON list of entries as in
    ``LOW_RANK_RECIPES`` / ``LOW_RANK_FLOOR_RECIPES`` / ``SHARP_RECIPES`` / ``LOW_RANK_HIGH_DIM_RECIPES`` /
    ``SHARP_ONE_DIM_RECIPES`` / ``ILL_CONDITIONED_RECIPES`` / ``ILL_CONDITIONED_HIGH_DIM_RECIPES`` (``[]``: none); a
    clear stop otherwise."""
    try:
        entries = json.loads(text)
    except json.JSONDecodeError as e:
        raise SystemExit(f"{flag} is not JSON: {e}") from None
    _, names, shape = _ENTRY_FIELDS[flag]
    tail = _ENTRY_TAILS.get(flag, ())

    def fits(e):
        return isinstance(e, list) and len(e) in (len(shape), len(shape) + len(tail)) and all(
            isinstance(v, t) for v, t in zip(e, shape + tail))
    if not isinstance(entries, list) or not all(fits(e) for e in entries):
        raise SystemExit(f"{flag} must be a JSON list of {names}, got {text!r}")
    return tuple(map(tuple, entries))


def at_steps_under(found, sde, steps: int, tables):
    """``found.at_steps(sde, steps)`` with ``sharp_modes``' tables {name: entries} replaced for this SDE."""
    with contextlib.ExitStack() as stack:
        for table, entries in tables.items():
            stack.enter_context(mock.patch.dict(getattr(sharp_modes, table), {type(sde).__name__: entries}))
        return found.at_steps(sde, steps)


def collect(a) -> None:
    alts = {table: _alt_recipes(text, flag) for flag, (table, _, _) in _ENTRY_FIELDS.items()
            if (text := getattr(a, flag[2:].replace("-", "_")))}      # table name -> entries ('[]': none)

    def run(key, sde, score, x_T, ref, at_n, n):
        """{key@n: RMS}, and with ``--trim`` k also {key_trim@n: RMS without the row's worst k points}."""
        if not a.trim:
            return {f"{key}@{n}": run_project(sde, score, x_T, ref, at_n.sampler, at_n.options, n)[0]}
        x0 = project_estimate(sde, score, x_T, at_n.sampler, at_n.options, n)[0]
        if x0 is None:
            return {f"{key}@{n}": None, f"{key}_trim@{n}": None}
        return {f"{key}@{n}": end_to_end_rms(x0, ref), f"{key}_trim@{n}": trimmed_rms(x0, ref, a.trim)}

    def rows(sde, score, x_T, ref, found, n):
        out = run("pick", sde, score, x_T, ref, found.at_steps(sde, n), n)
        if alts:                                                      # the pick under other entries
            out.update(run("alt", sde, score, x_T, ref, at_steps_under(found, sde, n, alts), n))
        return out

    _write_records(a.out, a.sets, a.sde, a.seed, a.cache, [int(v) for v in a.nfes.split(",")], rows,
                   points=a.n, probe_seed=a.probe_seed)


def _in_place_of(m, n: int, without: str, row: str = "pick"):
    """(the ``row`` / the row ``without``, the best default with ``row`` / with ``without``) in one cell;
    ``without="unipc"``: ``row`` (the pick) in UniPC's place."""
    pick, other = m[f"{row}@{n}"], m[f"{without}@{n}"]
    return pick / other, _with_over(m, n, pick, other)


def _ratios(r):
    """A record's probe ratios {sigma / spread: R} with float keys (JSON keeps them as strings)."""
    return {float(k): v for k, v in r["ratios"].items()}


_TAKES = {"low_rank": lambda r: r["low_rank"],
          "low_rank_no_floor": lambda r: r["low_rank"] and not has_floor(_ratios(r)),
          "sharp_1d": lambda r: r["sharp"] and r["dim"] == 1 and not is_ring_like(_ratios(r)),
          "ill_conditioned": lambda r: is_ill_conditioned(_ratios(r))}
"""``report --taken``: which records the entry under test takes (low-rank data; low-rank data without a
noise floor, the VP entry at 21-40 steps; sharp data of one coordinate that is not ring-like,
``SHARP_RECIPES``' ``"one_dim"`` entry)."""
_TAKEN_BY = {"low_rank": "low-rank entry", "low_rank_no_floor": "low-rank entry without a noise floor",
             "sharp_1d": "one-coordinate sharp entry", "ill_conditioned": "ill-conditioned entry"}


def report(a) -> str:
    recs = _read(a.records)
    peers = _peers(a)
    chosen = {(r["problem"], r.get("sde", "VP")): r["rms"] for r in _read(a.defaults_chosen_on)}
    by = defaultdict(dict)                   # problem -> seed -> record
    for r in recs:
        by[r["problem"]][r["seed"]] = r
    seeds = sorted({r["seed"] for r in recs})
    nfes = sorted({int(k.split("@")[1]) for k in recs[0]["rms"]})
    which, placed = getattr(a, "taken", "low_rank"), getattr(a, "row", "pick")   # args built by older callers
    taken = [name for name, s in sorted(by.items()) if any(_TAKES[which](r) for r in s.values())]
    lines = [f"the {_TAKEN_BY[which]} takes {len(taken)} of {len(by)} problems: {', '.join(taken)}", "",
             f"| problem | seed | R(fine), R(coarse) | per NFE: {placed} / "
             + ("UniPC's default" if a.without_row == "unipc" else f"the {a.without_row} row")
             + ", best default with / without |",
             "|---|---|---|---|"]
    cells = defaultdict(list)                # (problem, n) -> [best default ratio per seed]
    for name in taken:
        for seed in seeds:
            r = by[name].get(seed)
            if r is None:
                continue
            row = []
            for n in nfes:
                u, b = _in_place_of(r["rms"], n, a.without_row, placed)
                cells[name, n].append(b)
                row.append(f"{n}: {u:.2f} / {b:.2f}")
            fine, coarse = (r["ratios"][str(x)] for x in PROBE_SIGMAS)
            lines.append(f"| {name} | {seed} | {fine:.3f}, {coarse:.3f} | {'; '.join(row)} |")
    flat = [v for vs in cells.values() for v in vs]
    if flat:
        worse = [(k, vs) for k, vs in cells.items() if min(vs) > a.harm]
        lines += ["", f"over {len(flat)} cells: geometric mean {geo_mean(flat):.3f}, below 1 in "
                  f"{sum(v < 1 for v in flat)}, ties (the same best default with and without) "
                  f"{sum(v == 1 for v in flat)}, worst {max(flat):.2f}; worse by more than {a.harm:g}x on every "
                  f"seed: {len(worse)}" + "".join(f" ({k[0]} at {k[1]}: {', '.join(f'{v:.2f}' for v in vs)})"
                                                  for k, vs in worse)]
        per_nfe = defaultdict(list)
        for (_, n), vs in cells.items():
            per_nfe[n] += vs
        lines += [f"at {n} NFE: geometric mean {geo_mean(vs):.3f}, worst {max(vs):.2f}, below 1 in "
                  f"{sum(v < 1 for v in vs)} of {len(vs)}, ties {sum(v == 1 for v in vs)}"
                  for n, vs in sorted(per_nfe.items())]
    vs_peer = defaultdict(list)             # NFE -> [(best default / best peer without the entry, with it)]
    misses = defaultdict(list)              # NFE -> ["problem ratio"] above 1.0x with the entry
    for n in nfes:
        for name, s in sorted(by.items()):
            r = s[min(s)]
            m, key = r["rms"], (name, r.get("sde", "VP"), n)
            if key in peers:
                others = [f"{x}@{n}" for x in OTHERS if m.get(f"{x}@{n}") is not None]
                # without the entry under test the pick is the row ``without_row`` where the entry takes
                # the data, and the same pick elsewhere
                without = f"{a.without_row}@{n}" if name in taken else f"pick@{n}"
                on = chosen.get(key[:2], {}) if chosen else m    # the rows are chosen here
                if not all(on.get(k) is not None for k in others + [without, f"pick@{n}"]):
                    raise SystemExit(f"--defaults-chosen-on has no complete record of {name} / {key[1]} at {n} NFE")
                best = lambda keys: m[min(keys, key=lambda k: on[k])]
                vs_peer[n].append((best(others + [without]) / peers[key][0], best(others + [f"pick@{n}"]) / peers[key][0]))
                if vs_peer[n][-1][1] > 1.0:
                    misses[n].append(f"{name} {vs_peer[n][-1][1]:.2f}")
    lines += _vs_peer_table(vs_peer)
    lines += [f"above 1.0x at {n} NFE with the new pick: {', '.join(v)}" for n, v in sorted(misses.items())]
    return "\n".join(lines)


def optgrid_pick(a) -> str:
    """optimize_grid's recipe without and with the probe's low-rank pick (``bench_suite.py optgrid``
    records, ``--with-pick 0 / 1``) on the problems ``collect`` records call low-rank: per cell the
    optimised grid over the best default (the pick included) without and with, with over without,
    and over the best peer (with ``--peers-chosen-on``: the peer configuration best on those records,
    other noise, scored on ``--peers``); then the geometric means and the cells worse with the pick by
    more than ``--harm``."""
    def rows(paths):
        return {(r["problem"], r["sde"], r["nfe"]): r for r in load(paths) if r["kind"] == "optgrid"}
    without, with_ = rows(a.without), rows(a.with_pick)
    recs = {(r["problem"], r.get("sde", "VP")): r for r in _read(a.collect)}
    peers = _peers(a)
    lines = ["| problem | SDE | optimize_grid / best default: without the pick | with it | with / without | "
             "best peer: without -> with | pick's search kept |", "|---|---|---|---|---|---|---|"]
    cells = []
    for key in sorted(with_, key=lambda k: (k[1], k[0], k[2])):
        name, sde, n = key
        rec = recs.get((name, sde))
        if key not in without or rec is None or not rec["low_rank"]:
            continue
        best = min(v for k, v in rec["rms"].items() if k.endswith(f"@{n}") and v is not None)
        wo, wi = without[key]["rms"], with_[key]["rms"]
        peer = peers.get(key, (math.nan,))[0]
        kept = "zero_start" in (with_[key].get("made") or {}).get("options", {})
        cells.append((wo / best, wi / best, wi / wo, wo / peer, wi / peer))
        lines.append(f"| {name} | {sde} | {wo / best:.2f} | {wi / best:.2f} | {wi / wo:.2f} | "
                     f"{wo / peer:.2f} -> {wi / peer:.2f} | {'yes' if kept else 'no'} |")
    if not cells:
        return "\n".join(lines + ["", "no low-rank cell in both records"])
    col = lambda i: [c[i] for c in cells]
    worse = sum(c[2] > a.harm for c in cells)
    lines += ["", f"over {len(cells)} cells: with the pick over without {geo_mean(col(2)):.3f}; over the best "
              f"default without {geo_mean(col(0)):.3f}, with {geo_mean(col(1)):.3f}; worse with the pick by more "
              f"than {a.harm:g}x: {worse}"]
    vp = [c for c in cells if math.isfinite(c[3])]
    if vp:
        lines.append(f"against the best peer ({len(vp)} cells): {geo_mean([c[3] for c in vp]):.3f} -> "
                     f"{geo_mean([c[4] for c in vp]):.3f}, <= 0.5x in {sum(c[3] <= 0.5 for c in vp)} -> "
                     f"{sum(c[4] <= 0.5 for c in vp)}")
    return "\n".join(lines)


def _run_parser(sub, name: str, spec_flag: str, nfes: str):
    """A subcommand that writes records (``tune``, ``collect``): the problems, budgets, x_T seed, cache, out."""
    p = sub.add_parser(name)
    p.add_argument(spec_flag, required=True, help="half:name,...;half (a bare half: all its problems)")
    p.add_argument("--nfes", default=nfes)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--n", type=int, default=1024, help="x_T points")
    p.add_argument("--probe-seed", type=int, default=None, help="the probe's data seed (default --seed)")
    p.add_argument("--sde", choices=sorted(SDES), default="VP")
    p.add_argument("--cache", default="outputs/suite_refs")
    p.add_argument("--out", required=True)
    return p


def main(argv=None):
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="mode", required=True)
    v = sub.add_parser("verdicts")
    v.add_argument("--sets", required=True, help="half:name,...;half (a bare half: all its problems)")
    v.add_argument("--seed", type=int, default=1)
    v.add_argument("--sde", choices=sorted(SDES), default="VP")
    v.add_argument("--below", type=int, default=5, help="also list this many problems below the bound")
    v.add_argument("--pilot", action="store_true", help="also the verdict from a 256-sample pilot run (no data)")
    t = _run_parser(sub, "tune", "--problems", "5,7,10,14,20,30,50")
    t.add_argument("--cs", default="0.05,0.07,0.1,0.14,0.2,0.28,0.4,0.56,0.8,1.1")
    t.add_argument("--orders", default="3,5", help="UniPC orders (3 and below with the step limit, 4-5 without)")
    t.add_argument("--end-orders", default="", help="also UniPC of these orders to the default end, no step "
                   "onto 0 (rows u<order>_end)")
    t.add_argument("--with-lowrank", action="store_true", help="also the low-rank recipe without the floor "
                   "entry (row lowrank), where the probe calls the data low-rank")
    t.add_argument("--grid", default="uniform_t", help="the grid of the steps down to sigma_j")
    t.add_argument("--variant", default="bh2", choices=("bh1", "bh2"), help="UniPC's B(h) in these rows")
    t.add_argument("--no-defaults", action="store_true", help="leave out the default samplers' rows "
                   "(fit merges them from another file of the same problems)")
    f = sub.add_parser("fit")
    f.add_argument("records", nargs="+")
    f.add_argument("--nfes", default="5,7,10,12,14,17,20")
    f.add_argument("--splits", default="20,17,14,12,10", help="UniPC-5 up to this many steps, UniPC-3 above")
    f.add_argument("--pmax", type=float, default=2.0, help="p runs over 0, 0.1, ..., pmax")
    c = _run_parser(sub, "collect", "--sets", "5,7,10,12,14,17,20")
    c.add_argument("--trim", type=int, default=0, help="also <row>_trim@n: each row's RMS without its worst "
                   "this many points (pick and alt)")
    c.add_argument("--alt-recipes", default=None, help="JSON list of low-rank entries (as LOW_RANK_RECIPES') "
                   "for --sde's class: adds the row alt@n, the pick under them (few-step 31)")
    c.add_argument("--alt-floor-recipes", default=None, help="the same for LOW_RANK_FLOOR_RECIPES ('[]': none; "
                   "a null grid: the sampler's defaults; few-step 32, 36)")
    c.add_argument("--alt-sharp-recipes", default=None, help="the same for SHARP_RECIPES (few-step 35)")
    c.add_argument("--alt-high-dim-recipes", default=None, help="the same for LOW_RANK_HIGH_DIM_RECIPES ('[]': "
                   "none, the order-4 pick of few-step 37; few-step 39)")
    c.add_argument("--alt-one-dim-recipes", default=None, help="the same for SHARP_ONE_DIM_RECIPES ('[]': none, "
                   "UniPC's defaults at 25-50 steps; few-step 44)")
    c.add_argument("--alt-ill-recipes", default=None, help="the same for ILL_CONDITIONED_RECIPES ('[]': none, "
                   "UniPC's defaults; few-step 50)")
    c.add_argument("--alt-ill-high-dim-recipes", default=None, help="the same for ILL_CONDITIONED_HIGH_DIM_RECIPES "
                   "('[]': none, the order-4 entry; few-step 51)")
    rv = sub.add_parser("rows")
    rv.add_argument("records", nargs="+")
    rv.add_argument("--row", required=True)
    rv.add_argument("--against", default="lowrank")
    rv.add_argument("--nfes", default="18,19,20")
    rv.add_argument("--where", choices=("low_rank", "floor"), default="floor")
    cf = sub.add_parser("cfit")
    cf.add_argument("records", nargs="+", help="tune records with rows u4_<c>")
    cf.add_argument("--defaults", nargs="*", default=(), help="records of the same problems with the defaults' rows")
    cf.add_argument("--nfes", default="25,30,35,40")
    cf.add_argument("--mults", default="0.8,1.15,1.3,1.45,1.6")
    cf.add_argument("--ps", default="0.9,1.0,1.1,1.2,1.4")
    df = sub.add_parser("dfit")
    df.add_argument("records", nargs="+", help="tune records with rows u<order>_<c> and lowrank@n")
    df.add_argument("--order", type=int, default=5)
    df.add_argument("--mults", default="1.0,1.2,1.4", help="multiples of the 21-40 law's sigma_j")
    df.add_argument("--mult", type=float, default=1.2, help="the multiple the choice is made at")
    df.add_argument("--split-dims", default="60,80,100,110,120,130")
    df.add_argument("--max-mean", type=float, default=0.9)
    df.add_argument("--min-share", type=float, default=0.8)
    fi = sub.add_parser("ifit")
    fi.add_argument("records", nargs="+", help="tune records with rows u<order>_<c> (and u<order>_end)")
    fi.add_argument("--defaults", nargs="*", default=(),
                    help="records of the same problems and seeds with the default samplers' rows (tune --no-defaults)")
    fi.add_argument("--nfes", default="5,6,7,8")
    fi.add_argument("--orders", default="3,4,5")
    fi.add_argument("--ps", default="0,0.5,1,1.5,2,2.5,3")
    fi.add_argument("--max-mean", type=float, default=0.9)
    fi.add_argument("--min-share", type=float, default=0.8)
    fi.add_argument("--law", default=None, help="order,c0,p: read this law instead of fitting one (few-step 54g)")
    fi.add_argument("--taken", choices=sorted(_TAKES), default="ill_conditioned",
                    help="the records the entry takes (few-step 56: low_rank)")
    fi.add_argument("--against", default="unipc", help="the row the entry takes the place of (few-step 56: lowrank, "
                    "the pick before it, from tune --with-lowrank)")
    fi.add_argument("--ties-apart", action="store_true",
                    help="count the share below 1 over the cells that are not ties (few-step 54a)")
    rf = sub.add_parser("refit")
    rf.add_argument("records", nargs="+")
    rf.add_argument("--nfes", default="18,19,20")
    rf.add_argument("--orders", default="3,4,5")
    rf.add_argument("--p", type=float, default=1.6, help="sigma_j = c0 (10 / n)^p spreads")
    rf.add_argument("--current", default="3,0.5,1.6", help="the shipped entry: order,c0,p")
    rf.add_argument("--harm", type=float, default=1.5)
    rf.add_argument("--recheck", nargs="*", default=(), help="tune records on other x_T points (harmed cells only)")
    r = sub.add_parser("report")
    r.add_argument("records", nargs="+")
    r.add_argument("--peers", nargs="*", default=())
    r.add_argument("--peers-chosen-on", nargs="*", default=(),
                   help="peer records on other noise: each cell's peer is the one best there (few-step 30)")
    r.add_argument("--defaults-chosen-on", nargs="*", default=(),
                   help="collect records on other noise: each cell's best default is the row best there")
    r.add_argument("--harm", type=float, default=1.5, help="count cells worse by more than this on every seed")
    r.add_argument("--without-row", default="unipc", choices=("unipc", "alt"),
                   help="what the pick replaces: UniPC's defaults, or the pick under collect's --alt-recipes")
    r.add_argument("--row", default="pick", choices=("pick", "alt"),
                   help="the row in --without-row's place in the per-cell table (alt: the entries before a change)")
    r.add_argument("--taken", default="low_rank", choices=sorted(_TAKES),
                   help="the records the entry under test takes (few-step 35: sharp_1d; 36: low_rank_no_floor)")
    o = sub.add_parser("optgrid-pick")
    o.add_argument("--without", nargs="+", required=True, help="bench_suite.py optgrid records without the pick")
    o.add_argument("--with-pick", nargs="+", required=True, help="... with --with-pick 1")
    o.add_argument("--collect", nargs="+", required=True, help="collect records (the verdicts, the best default)")
    o.add_argument("--peers", nargs="*", default=())
    o.add_argument("--peers-chosen-on", nargs="*", default=(),
                   help="peer records on other noise: each cell's peer is the one best there (few-step 30)")
    o.add_argument("--harm", type=float, default=1.5)
    a = ap.parse_args(argv)
    if a.mode == "optgrid-pick":
        print(optgrid_pick(a))
    elif a.mode == "verdicts":
        print(verdicts(a))
    elif a.mode == "tune":
        tune(a)
    elif a.mode == "fit":
        print(fit(a))
    elif a.mode == "cfit":
        print(cfit(a))
    elif a.mode == "dfit":
        print(dfit(a))
    elif a.mode == "ifit":
        print(ifit(a))
    elif a.mode == "refit":
        print(refit(a))
    elif a.mode == "rows":
        print(rows_vs(a))
    elif a.mode == "collect":
        collect(a)
    else:
        print(report(a))


if __name__ == "__main__":
    main()
