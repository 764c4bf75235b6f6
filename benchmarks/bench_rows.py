"""Named sampler settings beside every default on suite problems, and how each would do in UniPC's place
(few-step 48: leads that did not become entries are measured here, so that they can be read again).

``spec`` prints the problems of the sets fixed before ``--before`` as ``set:name;...`` (each once), filtered by
dimension and tags (``--exclude-tags``, ``--tag``, ``--min-dim``), optionally a random half. ``run`` writes
``bench_low_rank``'s records (the probe's verdict and spread, every default sampler per budget) with one row per
named setting (``--rows``: JSON ``{"name": [sampler, options]}``; a grid ``["zero", grid, t]`` is ``ZeroEnded(grid,
t)``) and one per published peer (``--peers``, rows ``P<peer>``, ending at ``--peer-t-end``, default the SDE's eps):

    env OMP_NUM_THREADS=1 PYTHONPATH=.:benchmarks python benchmarks/bench_rows.py run --sde VP \\
        --sets "$(... bench_rows.py spec --before fresh36 --dim 1)" --nfes 8,10,12 --seed 2 --n 4096 \\
        --rows '{"m2u": ["dpm_solver2", {"grid": "uniform_t"}]}' --peers diffusers_dpmpp2_linspace --out <r.jsonl>

``compare`` prints per budget and row, over the records ``--taken`` takes (``bench_low_rank``'s keys, or
``smooth``: neither sharp nor low-rank; ``all``; ``--min-dim``, ``--tag``: of that many coordinates, that tag), the
best default with the row in the place of ``--against`` (UniPC's defaults) over with it: geometric mean, cells below
1, worst cell; and that best default over the best of the peer rows (geometric mean, cells above 1).
"""
from __future__ import annotations

import argparse
import json
import random
import sys

from bench_low_rank import _TAKES, _best_other, _problems, _read, _with_over, _write_records, cells_summary
from bench_suite import peer_estimate, run_project
from bench_suite_report import geo_mean
from sde_diffusion.analytic.suite import SUITE_HALVES, suite_problem
from sde_diffusion.benchmarking.reference import end_to_end_rms
from sde_diffusion.solvers.grids import ZeroEnded

TAKES = {**_TAKES, "smooth": lambda r: not r["sharp"] and not r["low_rank"], "all": lambda r: True}
"""``compare --taken``: which records are read."""


def spec(before: str, dim: str = "any", exclude_tags=(), half_seed=None, tag=None, min_dim: int = 1) -> str:
    """The problems of the sets before ``before`` (each name once): ``dim`` "1", "2+" or "any", at least ``min_dim``
    coordinates; none tagged with ``exclude_tags``; with ``tag``, only those tagged so; with ``half_seed`` a random
    half (``random.Random(half_seed)`` shuffles the list)."""
    out, names = [], set()
    for half in [h for h in SUITE_HALVES[:SUITE_HALVES.index(before)] if h != "all"]:
        for p in _problems(half):
            keep = ({"1": p.dim == 1, "2+": p.dim > 1, "any": True}[dim] and p.dim >= min_dim
                    and not set(exclude_tags) & set(p.tags) and (tag is None or tag in p.tags))
            if keep and p.name not in names:
                names.add(p.name)
                out.append(f"{half}:{p.name}")
    if half_seed is not None:
        random.Random(half_seed).shuffle(out)
        out = out[:len(out) // 2]
    return ";".join(out)


def parse_rows(text: str) -> dict:
    """``--rows`` JSON -> {name: (sampler, options)}; a grid ``["zero", grid, t]`` becomes ``ZeroEnded(grid, t)``."""
    rows = json.loads(text)
    if not isinstance(rows, dict) or not all(isinstance(v, list) and len(v) == 2 and isinstance(v[1], dict)
                                             for v in rows.values()):
        raise SystemExit('--rows must be a JSON object {"name": [sampler, {options}]}')
    out = {}
    for name, (sampler, opts) in rows.items():
        if not name or name[0] == "P" or "@" in name:
            raise SystemExit(f"--rows: the name {name!r} must not be empty, start with P (peer rows) or hold @")
        grid = opts.get("grid")
        if isinstance(grid, list):
            if len(grid) != 3 or grid[0] != "zero":
                raise SystemExit(f'--rows {name}: a grid list must be ["zero", grid, t], got {grid!r}')
            opts = {**opts, "grid": ZeroEnded(grid[1], float(grid[2]))}
        out[name] = (sampler, opts)
    return out


def run(a) -> None:
    rows_of, peers = parse_rows(a.rows), [p for p in a.peers.split(",") if p]

    def rows(sde, score, x_T, ref, found, n):
        out = {f"{k}@{n}": run_project(sde, score, x_T, ref, s, o, n)[0] for k, (s, o) in rows_of.items()}
        for peer in peers:
            x0, _, _ = peer_estimate(sde, score, x_T, peer, float(sde.eps if a.peer_t_end is None else a.peer_t_end), n)
            out[f"P{peer}@{n}"] = None if x0 is None else end_to_end_rms(x0, ref)
        return out

    _write_records(a.out, a.sets, a.sde, a.seed, a.cache, [int(v) for v in a.nfes.split(",")], rows,
                   points=a.n, probe_seed=1)


def _best_peer_row(m, n: int):
    """The least RMS of a record's peer rows ``P<peer>@n``, or None where it has none."""
    return min([x for k, x in m.items() if k[0] == "P" and k.endswith(f"@{n}") and x is not None], default=None)


def compare(a) -> str:
    taken = [r for r in _read(a.records) if TAKES[a.taken](r) and r["dim"] >= a.min_dim
             and (a.tag is None or a.tag in suite_problem(r["problem"]).tags)]
    if not taken:
        raise SystemExit(f"no record is taken by --taken {a.taken} --min-dim {a.min_dim} --tag {a.tag}")
    nfes = sorted({int(k.split("@")[1]) for k in taken[0]["rms"]})
    asked = [v for v in a.rows.split(",") if v]
    names = sorted({k.split("@")[0] for r in taken for k in r["rms"]} & set(asked))
    if len(names) < len(set(asked)):
        raise SystemExit(f"--rows: {sorted(set(asked) - set(names))} in no record taken")
    lines = [f"{len(taken)} records ({len({r['problem'] for r in taken})} problems) taken by {a.taken}",
             f"| steps | row | best default over with {a.against} | cells below 1 | worst cell (problem, seed) "
             f"| over the best peer row | cells above 1 |", "|---|---|---|---|---|---|---|"]
    for n in nfes:
        for name in names:
            cells = [r for r in taken if r["rms"].get(f"{name}@{n}") is not None]
            if not cells:
                continue
            v = [_with_over(r["rms"], n, r["rms"][f"{name}@{n}"], r["rms"][f"{a.against}@{n}"]) for r in cells]
            peer = [min(_best_other(m, n), m[f"{name}@{n}"]) / best
                    for r in cells if (best := _best_peer_row(m := r["rms"], n))]
            vs_peer = f"{geo_mean(peer):.3f} | {sum(x > 1 for x in peer)} of {len(peer)}" if peer else "- | -"
            lines.append(f"| {n} | {name} | {cells_summary(v, cells)} | {vs_peer} |")
    return "\n".join(lines)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("spec")
    s.add_argument("--before", required=True, choices=SUITE_HALVES)
    s.add_argument("--dim", default="any", choices=("1", "2+", "any"))
    s.add_argument("--exclude-tags", default="", help="comma-separated tags (e.g. sharp,low_rank)")
    s.add_argument("--half-seed", type=int, default=None, help="a random half of the list, shuffled with this seed")
    s.add_argument("--tag", default=None, help="only problems with this suite tag (e.g. full_cov)")
    s.add_argument("--min-dim", type=int, default=1, help="only problems of at least this many coordinates")
    r = sub.add_parser("run")
    r.add_argument("--sets", required=True, help="set:name,name;set:name (bench_low_rank's form)")
    r.add_argument("--sde", default="EDM", choices=("VP", "EDM"))
    r.add_argument("--nfes", required=True)
    r.add_argument("--n", type=int, default=1024)
    r.add_argument("--seed", type=int, default=2)
    r.add_argument("--cache", default="outputs/suite_refs")
    r.add_argument("--rows", required=True, help='JSON {"name": [sampler, {options}]}')
    r.add_argument("--peers", default="", help="comma-separated peer names (rows P<peer>)")
    r.add_argument("--peer-t-end", type=float, default=None, help="the peers' end time (default the SDE's eps)")
    r.add_argument("--out", required=True)
    c = sub.add_parser("compare")
    c.add_argument("records", nargs="+")
    c.add_argument("--rows", required=True, help="comma-separated row names")
    c.add_argument("--taken", default="all", choices=sorted(TAKES))
    c.add_argument("--against", default="unipc", help="the row each named row takes the place of")
    c.add_argument("--min-dim", type=int, default=1, help="only records of at least this many coordinates")
    c.add_argument("--tag", default=None, help="only problems with this suite tag (e.g. full_cov)")
    a = ap.parse_args(argv)
    if a.cmd == "spec":
        print(spec(a.before, a.dim, [t for t in a.exclude_tags.split(",") if t], a.half_seed, a.tag, a.min_dim))
    elif a.cmd == "run":
        run(a)
    else:
        print(compare(a))


if __name__ == "__main__":
    sys.exit(main())
