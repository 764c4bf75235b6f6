"""Read ``bench_suite.py`` records: choose defaults on the tuning half, tabulate the validation half.

    python benchmarks/bench_suite_report.py tune  benchmarks/results/suite/tuning_*.jsonl \
        --problems=aniso_gauss64,clusters1d,full32,full8_cond2000,grid25,modes100_2d,unequal_2d \
        --nfes=5,10,20
    python benchmarks/bench_suite_report.py families benchmarks/results/suite/tuning_*.jsonl \
        --problems=... --nfes=5,10,20     (the same filters)
    python benchmarks/bench_suite_report.py table benchmarks/results/suite/validation_*.jsonl
    python benchmarks/bench_suite_report.py summary benchmarks/results/suite/validation_*.jsonl

``per-sampler``: the per-(SDE, sampler) grid and ending (``SDE.sampler_defaults``), see
:func:`per_sampler`.
``tune``: for every (SDE, sampler row family), the configuration with the smallest worst-case
ratio rms / best-peer-rms over the tuning problems and NFE budgets (ties: geometric mean).
``table``: per (problem, SDE, NFE) the best peer (name), the best project default, every
project default as a ratio to the best peer, and the optimised-grid rows if present.
"""
from __future__ import annotations

import json
import math
import sys
from collections import defaultdict


def load(paths):
    """The records of ``paths`` with a finite RMS (a run that failed or diverged is left out).
    An RMS <= 0 is refused: no sampler meets the exact reference exactly, so it is a broken
    record, and every ratio and geometric mean below divides by it or takes its log."""
    rows = []
    for p in paths:
        with open(p) as fh:
            rows += [json.loads(line) for line in fh if line.strip()]
    rows = [r for r in rows if r["rms"] is not None and math.isfinite(r["rms"])]
    bad = next((r for r in rows if r["rms"] <= 0), None)
    if bad is not None:
        raise ValueError(f"record with rms {bad['rms']!r} <= 0: {bad['problem']} / {bad['sde']} / "
                         f"{bad['nfe']} NFE / {bad['row']}; an end-to-end error is positive")
    return rows


def geo_mean(v) -> float:
    """exp(mean log v) of positive ratios."""
    v = list(v)
    return math.exp(sum(map(math.log, v)) / len(v))


def is_default_row(row: str) -> bool:
    """A project row run with the sampler's own defaults (no constructor variant)."""
    return row.endswith("{}")


def best_peers(rows):
    best = {}
    for r in rows:
        if r["kind"] == "peer":
            k = (r["problem"], r["sde"], r["nfe"])
            if k not in best or r["rms"] < best[k][0]:
                best[k] = (r["rms"], r["row"])
    return best


def peers_chosen_on(select_rows, score_rows):
    """{cell: (RMS on the scoring batch, row)} of the peer configuration with the smallest RMS on
    another batch (``select_rows``: the same peers run from other noise). The best peer as a
    search must find it, chosen on points it is not scored on; ``best_peers`` picks it on the
    scoring points themselves, which favours a configuration that is lucky on them."""
    cell = lambda r: (r["problem"], r["sde"], r["nfe"])
    score = {(cell(r), r["row"]): r["rms"] for r in score_rows
             if r["kind"] == "peer" and r["rms"] is not None and math.isfinite(r["rms"])}
    chosen = {}
    for r in select_rows:
        k = (cell(r), r["row"])
        if r["kind"] == "peer" and r["rms"] is not None and k in score:
            if cell(r) not in chosen or r["rms"] < chosen[cell(r)][0]:
                chosen[cell(r)] = (r["rms"], r["row"])
    return {c: (score[(c, row)], row) for c, (_, row) in chosen.items()}


def family(row: str) -> str:
    """``unipc{"order": 3, "grid": ...}`` -> ``unipc{"order": 3}`` (the sampler and its
    constructor variant, without the tuned settings)."""
    name, _, opts = row.partition("{")
    o = json.loads("{" + opts) if opts else {}
    keep = {k: v for k, v in o.items() if k not in ("grid", "t_end", "denoise")}
    return name + json.dumps(keep, sort_keys=True)


def ratios_to_best_peer(rows, kind="project", nfes=None):
    """{(sde, row): {(problem, nfe): rms / best peer rms}} for the rows of ``kind``."""
    best = best_peers(rows)
    out = defaultdict(dict)
    for r in rows:
        k = (r["problem"], r["sde"], r["nfe"])
        if r["kind"] == kind and k in best and not (nfes and r["nfe"] not in nfes):
            out[r["sde"], r["row"]][r["problem"], r["nfe"]] = r["rms"] / best[k][0]
    return out


def tune(rows, nfes=None):
    ratios = ratios_to_best_peer(rows, nfes=nfes)  # (sde, row) -> {(problem, nfe): ratio}
    cells = defaultdict(set)                       # the cells some project row covers
    for (sde, _), rat in ratios.items():
        cells[sde] |= set(rat)
    chosen = {}
    for (sde, row), rat in ratios.items():
        if set(rat) != cells[sde]:                 # a row must cover every tuning cell
            continue
        worst = max(rat.values())
        gmean = geo_mean(rat.values())
        key = (sde, family(row))
        if key not in chosen or (worst, gmean) < chosen[key][1:3]:
            arg = max(rat, key=rat.get)
            chosen[key] = (row, worst, gmean, arg)
    return chosen


def families(rows, top=4):
    """Per (SDE, sampler family), the ``top`` rows covering every tuning cell, by geometric-mean
    ratio to the best peer (with the worst case)."""
    rat = ratios_to_best_peer(rows)
    full = defaultdict(int)
    for (sde, _), v in rat.items():
        full[sde] = max(full[sde], len(v))
    out = []
    for sde in sorted(full):
        fam = defaultdict(list)
        for (s, row), v in rat.items():
            if s == sde and len(v) == full[sde]:
                g = math.exp(sum(math.log(x) for x in v.values()) / len(v))
                fam[family(row)].append((g, max(v.values()), row))
        out.append(f"== {sde}: {full[sde]} cells")
        for f in sorted(fam):
            out.append(f + "  " + " | ".join(f"{row[len(f.split('{')[0]):]} geo {g:.2f} worst {w:.1f}"
                                               for g, w, row in sorted(fam[f])[:top]))
    return "\n".join(out)


def _short(row: str) -> str:
    """``unipc{"order": 3}`` -> ``unipc o3``; ``ipndm{"afs": true}`` -> ``ipndm afs``."""
    name, _, opts = row.partition("{")
    o = json.loads("{" + opts) if opts else {}
    tags = [(("afs" if v else "no afs") if k == "afs" else f"o{v}" if k == "order" else str(v))
            for k, v in sorted(o.items())]
    return " ".join([name] + tags)


def table(rows):
    """Markdown: one line per validation cell (best default = best row without options; best
    variant = best row with any constructor option, e.g. an order), then each row's worst ratio
    per (SDE, NFE) and a summary of the goals (over the rows without options)."""
    best = best_peers(rows)
    out = ["| problem | SDE | NFE | best peer (RMS) | best default (RMS) | ratio | best variant "
           "| defaults > 2x | optimize_grid | AYS | GITS |",
           "|---|---|---|---|---|---|---|---|---|---|---|"]
    by = defaultdict(list)
    for r in rows:
        by[r["problem"], r["sde"], r["nfe"]].append(r)
    worst = defaultdict(dict)                      # (sde, nfe) -> sampler -> worst ratio
    goal = defaultdict(int)
    for k in sorted(best, key=lambda k: (k[1], k[2], k[0])):
        peer_rms, peer = best[k]
        allp = [r for r in by[k] if r["kind"] == "project"]
        proj = [r for r in allp if is_default_row(r["row"])]   # as shipped: no options
        if not proj:
            continue
        b = min(proj, key=lambda r: r["rms"])
        bv = min(allp, key=lambda r: r["rms"])
        for r in allp:
            w = worst[k[1], k[2]]
            w[r["row"]] = max(w.get(r["row"], 0.0), r["rms"] / peer_rms)
        bad = sorted(f"{_short(r['row'])} {r['rms'] / peer_rms:.2g}x" for r in proj
                     if r["rms"] > 2 * peer_rms)
        extra, opt = [], None
        for kind in ("optgrid", "ays", "gits"):
            o = [r for r in by[k] if r["kind"] == kind]
            extra.append(f"{o[0]['rms'] / peer_rms:.2f}" if o else "-")
            if kind == "optgrid" and o:
                opt = o[0]["rms"] / peer_rms
        ratio = b["rms"] / peer_rms
        goal["cells"] += 1
        goal["best<=1"] += ratio <= 1.0
        goal["all<=2"] += not bad
        goal["opt<=0.5"] += opt is not None and opt <= 0.5      # unrounded, as in summary
        goal["opt cells"] += opt is not None
        out.append(f"| {k[0]} | {k[1]} | {k[2]} | {peer.split(':', 1)[-1]} ({peer_rms:.3g}) | "
                   f"{_short(b['row'])} ({b['rms']:.3g}) | {ratio:.2f} | "
                   f"{_short(bv['row'])} {bv['rms'] / peer_rms:.2f} | "
                   f"{'; '.join(bad) or '-'} | " + " | ".join(extra) + " |")
    names = sorted({n for w in worst.values() for n in w})
    out += ["", "Worst ratio to the best peer over the validation problems, per default sampler:",
            "", "| SDE | NFE | " + " | ".join(_short(n) for n in names) + " |",
            "|---|---|" + "---|" * len(names)]
    for (sde, nfe), w in sorted(worst.items()):
        out.append(f"| {sde} | {nfe} | " + " | ".join(f"{w[n]:.2g}" if n in w else "-"
                                                     for n in names) + " |")
    out += ["", f"Goals: best default <= 1.0x in {goal['best<=1']} of {goal['cells']} cells; "
                f"every default <= 2x in {goal['all<=2']} of {goal['cells']}; optimize_grid "
                f"<= 0.5x in {goal['opt<=0.5']} of {goal['opt cells']}."]
    return "\n".join(out)


def summary(rows, select_rows=None):
    """Markdown: per (SDE, NFE) the validation goals - best default <= 1.0x (count, median,
    worst problem), best row with variants <= 1.0x, every default <= 2x, optimize_grid <= 0.5x;
    against the best peer on these points, or with ``select_rows`` the one chosen on those
    (``peers_chosen_on``)."""
    best = peers_chosen_on(select_rows, rows) if select_rows else best_peers(rows)
    by = defaultdict(list)
    for r in rows:
        by[r["problem"], r["sde"], r["nfe"]].append(r)
    acc = defaultdict(lambda: defaultdict(list))
    for k, (peer_rms, _) in best.items():
        allp = [r for r in by[k] if r["kind"] == "project"]
        proj = [r for r in allp if is_default_row(r["row"])]
        if not proj:
            continue
        a = acc[k[1], k[2]]
        a["best"].append((min(r["rms"] for r in proj) / peer_rms, k[0]))
        a["variant"].append(min(r["rms"] for r in allp) / peer_rms)
        a["all2"].append(max(r["rms"] for r in proj) <= 2 * peer_rms)
        a["opt"] += [r["rms"] / peer_rms for r in by[k] if r["kind"] == "optgrid"]
    out = ["| SDE | NFE | best default <= 1.0x | median | worst (problem) | best row incl. "
           "variants <= 1.0x | every default <= 2x | optimize_grid <= 0.5x |",
           "|---|---|---|---|---|---|---|---|"]
    for (sde, nfe), a in sorted(acc.items()):
        b = sorted(a["best"])
        n = len(b)
        med = b[n // 2][0] if n % 2 else 0.5 * (b[n // 2 - 1][0] + b[n // 2][0])
        opt = f"{sum(v <= 0.5 for v in a['opt'])} / {len(a['opt'])}" if a["opt"] else "-"
        out.append(f"| {sde} | {nfe} | {sum(v <= 1.0 for v, _ in b)} / {n} | {med:.2f} | "
                   f"{b[-1][0]:.2f} ({b[-1][1]}) | {sum(v <= 1.0 for v in a['variant'])} / {n} | "
                   f"{sum(a['all2'])} / {n} | {opt} |")
    return "\n".join(out)


def budget_cells(triples, sdes=("EDM", "VP"), nfes=(5, 10, 20, 50)):
    """Per budget (SDE x NFE, in that order) of ``(sde, nfe, ratio)`` triples, the table cell
    "geo-mean / worst / cells <= 1x" ("-" where a budget has none)."""
    by = defaultdict(list)
    for sde, nfe, r in triples:
        by[sde, nfe].append(r)
    return [f"{geo_mean(v):.2f} / {max(v):.1f} / {sum(x <= 1 for x in v)}" if v else "-"
            for v in (by[s, n] for s in sdes for n in nfes)]


def before_after(peer_rows, before_rows, after_rows):
    """Markdown: the default rows whose RMS differs between two runs of the same cells (a change
    reported on a set), per (SDE, NFE, sampler) the geometric-mean ratio to the best peer before
    -> after, cells <= 1x and <= 2x; then per budget that holds a moved row the count of cells
    whose best default is <= 1.0x, before -> after. Raises unless both runs cover the same rows."""
    best = best_peers(peer_rows)
    key = lambda r: (r["problem"], r["sde"], r["nfe"], r["row"])
    a = {key(r): r["rms"] for r in before_rows if r["kind"] == "project" and is_default_row(r["row"])}
    b = {key(r): r["rms"] for r in after_rows if r["kind"] == "project" and is_default_row(r["row"])}
    if a.keys() != b.keys():
        raise ValueError(f"the two runs cover different rows: {len(a.keys() ^ b.keys())} differ")
    same = lambda u, v: u == v or (u != u and v != v)
    moved = defaultdict(list)                      # (sde, nfe, row) -> [(before, after) ratios]
    for k in sorted(a):
        if not same(a[k], b[k]) and k[:3] in best:
            moved[k[1], k[2], k[3]].append((a[k] / best[k[:3]][0], b[k] / best[k[:3]][0]))
    out = ["| SDE | NFE | sampler | cells | geo-mean ratio before -> after | <= 1x | <= 2x |",
           "|---|---|---|---|---|---|---|"]
    for (sde, nfe, row), v in sorted(moved.items()):
        bf, af = [x for x, _ in v], [y for _, y in v]
        out.append(f"| {sde} | {nfe} | {row.split('{')[0]} | {len(v)} | {geo_mean(bf):.3f} -> "
                   f"{geo_mean(af):.3f} | {sum(x <= 1 for x in bf)} -> {sum(x <= 1 for x in af)} | "
                   f"{sum(x <= 2 for x in bf)} -> {sum(x <= 2 for x in af)} |")
    allv = [x for v in moved.values() for x in v]
    if allv:
        out.append(f"| all moved | | | {len(allv)} | {geo_mean([x for x, _ in allv]):.3f} -> "
                   f"{geo_mean([y for _, y in allv]):.3f} | | |")
    out += ["", "| SDE | NFE | best default <= 1.0x: before -> after |", "|---|---|---|"]
    for sde, nfe in sorted({(s, n) for s, n, _ in moved}):
        cells = [c for c in best if c[1:] == (sde, nfe)]
        count = lambda d: sum(min(v for k, v in d.items() if k[:3] == c and v == v) <= best[c][0]
                              for c in cells)
        out.append(f"| {sde} | {nfe} | {count(a)} -> {count(b)} of {len(cells)} |")
    return "\n".join(out)


ZERO_FROM = (10, 20, 50)   # candidate step counts from which a run ends with a step onto 0


def choose(cands, tie=2.0, per_budget=True, clip=0.0, budget=lambda cell: cell[-1]):
    """The choice rule of the tuning half. ``cands``: {key: {cell: ratio to the best peer}},
    every candidate on the same cells. Score: the worst ratio; with ``per_budget``, per budget
    (``budget(cell)``, the NFE by default) the worst ratio divided by the smallest any candidate
    reaches there, and the largest of those quotients (1 for a candidate that is the most robust
    at every budget), so one budget's hard cell cannot decide another budget. Candidates within
    a factor ``tie`` of the smallest score tie; the smallest geometric mean of max(ratio,
    ``clip``) among them wins (``clip`` > 0: a cell already ``1 / clip`` times ahead of the
    best peer counts no further). Returns the chosen key."""
    keys = list(cands)
    if per_budget:
        worst_at = [defaultdict(float) for _ in keys]
        for w, k in zip(worst_at, keys):
            for cell, r in cands[k].items():
                w[budget(cell)] = max(w[budget(cell)], r)
        floor = {b: min(w[b] for w in worst_at) for b in worst_at[0]}
        score = [max(w[b] / floor[b] for b in floor) for w in worst_at]
    else:
        score = [max(cands[k].values()) for k in keys]
    w = min(score)
    gm = lambda v: sum(math.log(max(x, clip)) for x in v) / len(v)
    return min((k for k, s in zip(keys, score) if s <= tie * w), key=lambda k: gm(cands[k].values()))


def per_sampler(rows, tie=2.0, per_budget=True, clip=0.0):
    """The per-(SDE, sampler) defaults (``SDE.sampler_defaults``): for every sampler and SDE,
    candidates are (constructor variant, grid, ending), the ending "stop" (at the default t_end)
    or "zero from N" (the rows with ``final_zero`` at N NFE and above, N in ``ZERO_FROM``);
    each must cover every tuning cell; the rule is :func:`choose` (cells (problem, NFE), the
    budget the NFE). Returns {(sde, sampler): (variant, grid, ending, worst, gmean, shipped
    worst, shipped gmean)}, shipped = the sampler's class defaults, the SDE's default grid,
    stop."""
    best = best_peers(rows)
    rat = defaultdict(dict)                        # (sde, variant, grid, ending) -> {cell: ratio}
    for r in rows:
        k = (r["problem"], r["sde"], r["nfe"])
        if r["kind"] != "project" or k not in best:
            continue
        name, _, opts = r["row"].partition("{")
        o = json.loads("{" + opts) if opts else {}
        grid, zero = o.pop("grid", "default"), o.pop("final_zero", False)
        o.pop("denoise", None)
        variant = name + (json.dumps(o, sort_keys=True) if o else "")
        rat[r["sde"], variant, grid, "zero" if zero else "stop"][r["problem"], r["nfe"]] = \
            r["rms"] / best[k][0]
    cells = {sde: set().union(*(d for (s, *_), d in rat.items() if s == sde))
             for sde in {k[0] for k in rat}}
    out = defaultdict(dict)                        # (sde, sampler) -> {(variant, grid, ending): d}
    for (sde, variant, grid, ending), stop in rat.items():
        if ending != "stop" or set(stop) != cells[sde]:
            continue
        zero = rat.get((sde, variant, grid, "zero"), {})
        rules = {"stop": stop}
        for n in ZERO_FROM:
            d = {c: (zero if c[1] >= n else stop).get(c) for c in stop}
            if None not in d.values():
                rules[f"zero from {n}"] = d
        for ending_rule, d in rules.items():
            out[sde, variant.split("{")[0]][variant, grid, ending_rule] = d
    chosen = {}
    for key, cands in out.items():
        pick = choose(cands, tie, per_budget, clip)
        v = list(cands[pick].values())
        shipped = cands.get((key[1], "default", "stop"))
        chosen[key] = pick + (max(v), geo_mean(v)) + ((max(shipped.values()), geo_mean(list(shipped.values())))
                                                if shipped else (math.nan, math.nan))
    return chosen


CONFIG_TOKENS = {"leading", "linspace", "trailing", "karras", "zero", "nozero", "logsnr"}


def peer_family(row: str) -> str:
    """``peer:diffusers_unipc3_linspace_karras_zero@0.002`` -> ``diffusers_unipc3`` (the solver
    and its order, without spacing, sigmas and final step)."""
    name = row.split(":", 1)[-1].split("@")[0]
    return "_".join(t for t in name.split("_") if t not in CONFIG_TOKENS)


def fixed_peers(tuning_rows, tie=2.0):
    """Each published solver (family) on its best configuration *chosen on the tuning half*,
    by the rule of :func:`per_sampler` (worst case, ties within ``tie`` by geometric mean),
    per SDE: {(sde, family): peer row}. The same footing as the project's defaults."""
    rat = ratios_to_best_peer(tuning_rows, kind="peer")
    cells = defaultdict(set)
    for (sde, _), d in rat.items():
        cells[sde] |= set(d)
    cands = defaultdict(list)
    for (sde, row), d in rat.items():
        if set(d) == cells[sde]:
            v = list(d.values())
            cands[sde, peer_family(row)].append(
                (max(v), geo_mean(v), row))
    out = {}
    for key, c in cands.items():
        w = min(x[0] for x in c)
        out[key] = min((x for x in c if x[0] <= tie * w), key=lambda x: x[1])[2]
    return out


def fixed_peer_summary(tuning_rows, rows):
    """Per (SDE, NFE) of the validation records: the best default against the best of the
    peers each on its tuning-chosen configuration (instead of the best configuration per cell)."""
    chosen = fixed_peers(tuning_rows)
    keep = {(sde, row) for (sde, _), row in chosen.items()}
    by = defaultdict(list)
    for r in rows:
        by[r["problem"], r["sde"], r["nfe"]].append(r)
    acc = defaultdict(list)
    for k, rs in by.items():
        peer = [r["rms"] for r in rs if r["kind"] == "peer" and (k[1], r["row"]) in keep]
        proj = [r["rms"] for r in rs if r["kind"] == "project" and r["row"].endswith("{}")]
        if peer and proj:
            acc[k[1], k[2]].append(min(proj) / min(peer))
    out = ["| SDE | NFE | best default <= 1.0x | median | worst |", "|---|---|---|---|---|"]
    for (sde, nfe), v in sorted(acc.items()):
        v.sort()
        n = len(v)
        med = v[n // 2] if n % 2 else 0.5 * (v[n // 2 - 1] + v[n // 2])
        out.append(f"| {sde} | {nfe} | {sum(x <= 1.0 for x in v)} / {n} | {med:.2f} | {v[-1]:.2f} |")
    out.append("")
    out.append("Peer configurations (chosen on the tuning half): " + "; ".join(
        f"{sde} {fam}: {row.split(':', 1)[-1]}" for (sde, fam), row in sorted(chosen.items())))
    return "\n".join(out)


def optgrid_summary(peer_rows, paths):
    """Per optimize_grid record file: cells, geometric-mean and worst ratio of its fresh-noise
    RMS to the best peer of the cell, and the cells at <= 0.5x / <= 1x."""
    best = best_peers(peer_rows)
    out = ["| records | cells | geo-mean | worst | <= 0.5x | <= 1.0x |", "|---|---|---|---|---|---|"]
    for p in paths:
        v = [r["rms"] / best[k][0] for r in load([p]) if r["kind"] == "optgrid"
             for k in [(r["problem"], r["sde"], r["nfe"])] if k in best]
        if v:
            out.append(f"| {p} | {len(v)} | {geo_mean(v):.2f} | {max(v):.1f} | {sum(x <= 0.5 for x in v)} "
                       f"| {sum(x <= 1.0 for x in v)} |")
    return "\n".join(out)


def best_defaults(rows, key=lambda r: (r["problem"], r["sde"], r["nfe"])):
    """{key(row): the smallest RMS of the project rows run with their defaults} (the cell's best
    default sampler)."""
    best = {}
    for r in rows:
        if r["kind"] == "project" and r["rms"] is not None and is_default_row(r["row"]):
            best[key(r)] = min(best.get(key(r), math.inf), r["rms"])
    return best


def optgrid_pick(peer_rows, rows, names, default_rows=None, select_rows=None):
    """optimize_grid run with several samplers (``names``: record rows such as
    ``optgrid:unipc/val1024``), on the cells every one covers: per row and for the row with the
    smallest held-out RMS (``made.val_rms``, what a search can see), the geometric-mean and worst
    ratio of the fresh-noise RMS to the best peer, cells <= 0.5x and <= 1x; with
    ``default_rows``, also the geometric-mean and worst ratio to the cell's best default; with
    ``select_rows`` (the peers from other noise), the best peer is the configuration chosen on
    those (``peers_chosen_on``), else the best on the scoring points."""
    best = peers_chosen_on(select_rows, peer_rows) if select_rows else best_peers(peer_rows)
    bdef = best_defaults(default_rows or [])
    got = defaultdict(dict)                        # cell -> row -> (rms, held-out rms)
    for r in rows:
        k = (r["problem"], r["sde"], r["nfe"])
        if r["kind"] == "optgrid" and r["row"] in names and k in best:
            got[k][r["row"]] = (r["rms"], r["made"]["val_rms"])
    cells = sorted(k for k, v in got.items() if len(v) == len(names))
    missing = [k for k in cells if default_rows and k not in bdef]
    if missing:
        raise ValueError(f"no default row for the optimize_grid cells {missing}; run the defaults on them, "
                         "or leave out --defaults")
    out = ["| optimize_grid | cells | geo-mean | worst | <= 0.5x | <= 1.0x |"
           + (" vs best default: geo-mean | worst |" if default_rows else ""),
           "|---|---|---|---|---|---|" + ("---|---|" if default_rows else "")]
    pick = lambda k: min(got[k].values(), key=lambda rv: rv[1])[0]
    for name, rms in [(n, lambda k, n=n: got[k][n][0]) for n in names] + [("smallest held-out RMS", pick)]:
        v = [rms(k) / best[k][0] for k in cells]
        if v:
            line = (f"| {name} | {len(v)} | {geo_mean(v):.3f} | {max(v):.2f} | {sum(x <= 0.5 for x in v)} | "
                    f"{sum(x <= 1.0 for x in v)} |")
            if default_rows:
                d = [rms(k) / bdef[k] for k in cells]
                line += f" {geo_mean(d):.3f} | {max(d):.2f} |"
            out.append(line)
    return "\n".join(out)


def optgrid_vs_defaults(default_rows, paths, sampler="unipc"):
    """Per optimize_grid setting (record file and row tag, e.g. ``/val1024``): the geometric-mean
    and worst ratio of its fresh-noise RMS to the same sampler's default run on the same points,
    the cells where it is worse than that default by > 5 %, and the same against the cell's best
    default sampler (cells at <= 0.5x). The tuning view of section 13: no peers needed."""
    cell = lambda r: (r["problem"], r["sde"], r["nfe"], r["n"], r["seed"])
    best = best_defaults(default_rows, cell)
    own = {cell(r): r["rms"] for r in default_rows
           if r["kind"] == "project" and r["rms"] is not None and r["row"] == sampler + "{}"}
    out = ["| records | setting | cells | vs default: geo-mean | worst | > 1.05x | vs best default: "
           "geo-mean | worst | <= 0.5x |", "|---|---|---|---|---|---|---|---|---|"]
    for p in paths:
        sets = {}
        for r in load([p]):
            k = cell(r)
            if r["kind"] == "optgrid" and k in own:
                tag = r["row"].split("/", 1)[1] if "/" in r["row"] else "default"
                sets.setdefault(tag, []).append((r["rms"] / own[k], r["rms"] / best[k]))
        for tag, v in sorted(sets.items()):
            a, b = [x for x, _ in v], [y for _, y in v]
            out.append(f"| {p} | {tag} | {len(v)} | {geo_mean(a):.3f} | {max(a):.2f} | "
                       f"{sum(x > 1.05 for x in a)} | {geo_mean(b):.3f} | {max(b):.2f} | "
                       f"{sum(y <= 0.5 for y in b)} |")
    return "\n".join(out)


def row_ratios(rows, row: str) -> str:
    """Markdown: every cell where the project row ``row`` ran, its RMS over the cell's best peer and
    over its best default (both from ``rows``; "-" where the records hold none), then their
    geometric means and worst."""
    peers, defaults = best_peers(rows), best_defaults(rows)
    lines = ["| problem | SDE | NFE | RMS | / best peer | / best default |", "|---|---|---|---|---|---|"]
    to_peer, to_default = [], []
    fmt = lambda v: "-" if v is None else f"{v:.2f}"
    for r in sorted((r for r in rows if r["kind"] == "project" and r["row"] == row),
                    key=lambda r: (r["sde"], r["nfe"], r["problem"])):
        cell = (r["problem"], r["sde"], r["nfe"])
        rp = r["rms"] / peers[cell][0] if cell in peers else None
        rd = r["rms"] / defaults[cell] if cell in defaults else None
        to_peer += [rp] if rp is not None else []
        to_default += [rd] if rd is not None else []
        lines.append(f"| {r['problem']} | {r['sde']} | {r['nfe']} | {r['rms']:.4g} | {fmt(rp)} | {fmt(rd)} |")
    if not to_peer and not to_default:
        raise SystemExit(f"no cell of the records ran row {row!r} beside a peer or a default")
    agg = lambda v: f"{geo_mean(v):.2f} (worst {max(v):.2f})" if v else "-"
    lines.append(f"| geo-mean | | | | {agg(to_peer)} | {agg(to_default)} |")
    return "\n".join(lines)


def _option(argv, name, default=None):
    """The value of ``--name=value`` in ``argv``, else ``default``."""
    return next((o.split("=", 1)[1] for o in argv if o.startswith(f"--{name}=")), default)


def _records(path):
    """The records of one file, or None without one."""
    return load([path]) if path else None


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    mode, paths = argv[0], [p for p in argv[1:] if not p.startswith("--")]
    rows = load(paths)
    for opt in argv[1:]:                          # --problems=a,b  --nfes=5,10
        if opt.startswith("--problems="):
            keep = set(opt.split("=", 1)[1].split(","))
            rows = [r for r in rows if r["problem"] in keep]
        elif opt.startswith("--nfes="):
            keep = {int(v) for v in opt.split("=", 1)[1].split(",")}
            rows = [r for r in rows if r["nfe"] in keep]
    if mode == "tune":
        chosen = tune(rows)
        print("| SDE | sampler | chosen row | worst ratio (cell) | geo-mean ratio |")
        print("|---|---|---|---|---|")
        for (sde, fam), (row, worst, gmean, arg) in sorted(chosen.items()):
            print(f"| {sde} | {fam} | {row} | {worst:.2f} ({arg[0]}, {arg[1]}) | {gmean:.2f} |")
    elif mode == "per-sampler":
        print("| SDE | sampler | variant | grid | ending | worst | geo-mean | before: worst | "
              "before: geo-mean |")
        print("|---|---|---|---|---|---|---|---|---|")
        rule = {"per_budget": "--all-budgets" not in argv,    # --all-budgets: the rule of round 3
                "clip": float(_option(argv, "clip", 0))}
        for (sde, name), c in sorted(per_sampler(rows, **rule).items()):
            print(f"| {sde} | {name} | {c[0]} | {c[1]} | {c[2]} | {c[3]:.3g} | {c[4]:.2f} | "
                  f"{c[5]:.3g} | {c[6]:.2f} |")
    elif mode == "fixed-peers":   # fixed-peers <tuning peers.jsonl> <validation records...>
        print(fixed_peer_summary(load(paths[:1]), load(paths[1:])))
    elif mode == "optgrid":                       # optgrid <peers.jsonl> <optgrid records...>
        print(optgrid_summary(load(paths[:1]), paths[1:]))
    elif mode == "optgrid-defaults":              # optgrid-defaults <defaults.jsonl> <optgrid records...>
        print(optgrid_vs_defaults(load(paths[:1]), paths[1:]))
    elif mode == "optgrid-pick":   # optgrid-pick <peers.jsonl> <optgrid records...> --rows=a,b [--select-peers=f]
        names = _option(argv, "rows").split(",")
        print(optgrid_pick(load(paths[:1]), load(paths[1:]), names, _records(_option(argv, "defaults")),
                           _records(_option(argv, "select-peers"))))
    elif mode == "before-after":                 # before-after <peers.jsonl> <before.jsonl> <after.jsonl>
        print(before_after(*(load([p]) for p in paths[:3])))
    elif mode == "families":
        print(families(rows))
    elif mode == "table":
        print(table(rows))
    elif mode == "summary":                      # summary <records...> [--select-peers=f]
        print(summary(rows, _records(_option(argv, "select-peers"))))
    elif mode == "row-ratios":                   # row-ratios <records...> --row=<project row>
        print(row_ratios(rows, _option(argv, "row")))
    else:
        raise SystemExit(f"unknown mode {mode!r}; valid choices: tune, per-sampler, fixed-peers, optgrid, "
                         f"optgrid-defaults, optgrid-pick, before-after, families, "
                         f"table, summary, row-ratios")


if __name__ == "__main__":
    main()
