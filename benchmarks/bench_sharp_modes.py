"""The sharp-modes probe (``sharp_modes_probe.py``) on the problem suite: does UniPC with the probe's
options beat UniPC with its defaults where it fires, and cost nothing where it does not?

``collect`` probes every problem of a set twice, on 1024 exact data points (seed + 300; the
noise seed + 301) and on a 256-point pilot run (seed + 302), then runs UniPC with each probe's
options from ``bench_suite``'s x_T (seed ``--seed``) and scores it end to end like every row
there. Rows ``unipc+probe:data{}`` and ``unipc+probe:pilot{}`` (kind ``project``) carry the
probe's ratios, verdict and options:

    env OMP_NUM_THREADS=1 PYTHONPATH=.:benchmarks python benchmarks/bench_sharp_modes.py collect \\
        --half fresh7 --sdes EDM --nfes 10,20 --n 1024 --seed 1 --out <probe.jsonl>
    python benchmarks/bench_sharp_modes.py report <peers.jsonl> <defaults.jsonl> <probe.jsonl>

``report`` prints per cell the probe's ratios and verdict, UniPC's RMS with its defaults and
with the probe, and the cell's best default without and with the probe (UniPC's default row
replaced by the probe's), each over the best peer; then the geometric means and the cells at
<= 1.0x.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

import torch

from bench_suite import SDES, run_project, setup
from bench_suite_report import best_peers, geo_mean, is_default_row, load
from sde_diffusion.analytic import problem_suite
from sde_diffusion.analytic.suite import SUITE_HALVES
from sharp_modes_probe import probe_sharp_modes, sharp_recipe

PROBES = ("data", "pilot")


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
                        found = replace(probes[how], options=sharp_recipe(sde, nfe) if probes[how].sharp else {})
                        err, used, steps, why = run_project(sde, score, x_T, ref, "unipc", found.options, nfe)
                        rec = {"problem": p.name, "sde": sname, "nfe": nfe, "row": row, "kind": "project",
                               "rms": err, "nfe_used": used, "steps": steps, "n": a.n, "seed": a.seed,
                               "error": why, "sharp": found.sharp,
                               "ratios": {str(k): v for k, v in found.ratios.items()},
                               "options": found.options, "probe_nfe": found.nfe}
                        fh.write(json.dumps(rec) + "\n")
                        fh.flush()
                        print(f"# {p.name}/{sname}/{nfe} {how}: R {found.ratios} sharp {found.sharp}",
                              file=sys.stderr, flush=True)


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
    lines = [f"| problem | SDE | NFE | R(0.1) | R(0.4) | sharp | UniPC / best peer | with the probe | "
             f"best default / best peer | with the probe |", "|---|---|---|---|---|---|---|---|---|---|"]
    before, after = defaultdict(list), defaultdict(list)
    for k in cells:
        r, peer = probed[k], peers[k][0]
        b = min(others[k], unipc[k]) / peer
        c = min(others[k], r["rms"]) / peer
        before[k[1:]].append(b)
        after[k[1:]].append(c)
        lines.append(f"| {k[0]} | {k[1]} | {k[2]} | {r['ratios']['0.1']:.3f} | {r['ratios']['0.4']:.3f} | "
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
    r = sub.add_parser("report")
    r.add_argument("records", nargs="+")
    r.add_argument("--probe", default="data", choices=PROBES)
    a = ap.parse_args(argv)
    if a.mode == "collect":
        collect(a)
    else:
        print(report(load(a.records), a.probe))


if __name__ == "__main__":
    main()
