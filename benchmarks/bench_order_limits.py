"""The step-size limits of the order rule (``solvers/order.py``), measured on the problem suite.

For each setting of ``MAX_STEP`` (the longest step h, in half log-SNR, on which a step of
convergence order q > 4 is taken) and ``FINAL_LONG_STEP`` (the k-th last step is lowered to
order <= k only where it is longer), UniPC with the highest order 4 or 5 runs every cell of a
half (5 / 10 / 20 / 50 NFE, VP and EDM, each SDE's default grid and ending, ``bench_suite``'s
set-up) and is scored by its ratio to the best peer configuration of the cell. One JSON line
per (setting, problem, SDE, NFE) is appended to ``--out`` (rows already there are skipped);
the table of geometric-mean / worst ratio / cells <= 1.0x per SDE and NFE is printed.

    env OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/bench_order_limits.py --half tuning \\
        --peers benchmarks/results/suite/tuning_peers_r3.jsonl,benchmarks/results/suite/tuning_peers_r4_unipc45.jsonl \\
        --out benchmarks/results/suite/order_limits_tuning.jsonl
"""
from __future__ import annotations

import argparse
import json
import math
from collections import defaultdict
from pathlib import Path

from bench_suite import NFES, SDES, run_project, setup
from bench_suite_report import budget_cells, choose, geo_mean, load, ratios_to_best_peer
from sde_diffusion.analytic import problem_suite
from sde_diffusion.solvers import order

H4 = (0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0)
H5 = (0.15, 0.2, 0.25, 0.3, 0.4, 0.5)


def settings(final_steps=(0.0, 0.3, 0.5)):
    """(name, highest order, MAX_STEP, FINAL_LONG_STEP): order 3 (no limit applies), order 4 for
    each H4, order 5 for each H5 <= H4; every final-step length with section 10's MAX_STEP, and
    section 12's 0.4 / 0.4 with the lowering only on final steps longer than 0.1 / 0.2 / 0.3.
    Settings recorded before section 14i ran with order 4 on every step: MAX_STEP[4] = inf."""
    out = [("order3", 3, {}, 0.0)]
    for h4 in H4:
        out.append((f"order4 H4={h4}", 4, {5: h4}, 0.0))
        out += [(f"order5 H4={h4} H5={h5}", 5, {5: h4, 6: h5}, 0.0) for h5 in H5 if h5 <= h4]
    # "shipped": section 10's limits (the records keep that name)
    out += [(f"order5 shipped final>{f}", 5, {5: 0.4, 6: 0.25}, f) for f in final_steps]
    # section 11h's pick, with the final lowering only on long final steps (section 12)
    out += [(f"order5 H4=0.4 H5=0.4 final>{f}", 5, {5: 0.4, 6: 0.4}, f) for f in (0.1, 0.2, 0.3)]
    # section 14i's limit for convergence order 4 (UniPC-3 with its corrector) on top of it
    out = [(name, top, {4: math.inf, **lim}, final) for name, top, lim, final in out]
    out.append(("order5 H4=0.4 H5=0.4 final>0.2 Q4=1.5", 5, {4: 1.5, 5: 0.4, 6: 0.4}, 0.2))
    return out


def ratios_by_setting(records, peer_rows):
    """{setting: {(problem, sde, nfe): ratio to the best peer of the cell}}."""
    by_setting = defaultdict(dict)
    for (sde, name), rat in ratios_to_best_peer(peer_rows + records).items():
        by_setting[name].update({(p, sde, n): x for (p, n), x in rat.items()})
    return by_setting


def report(records, peer_rows):
    """Geometric-mean / worst ratio / cells <= 1.0x per SDE and NFE for each setting."""
    by_setting = ratios_by_setting(records, peer_rows)
    cols = [(s, n) for s in SDES for n in NFES]
    lines = ["| setting | " + " | ".join(f"{s} {n}" for s, n in cols) + " | all: geo-mean, worst |",
             "|---|" + "---|" * (len(cols) + 1)]
    for name, rat in sorted(by_setting.items(), key=lambda kv: geo_mean(kv[1].values())):
        cells = budget_cells(((sd, nn, x) for (_, sd, nn), x in rat.items()), SDES, NFES)
        v = list(rat.values())
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {geo_mean(v):.2f}, {max(v):.1f} |")
    return "\n".join(lines)


def chosen(records, peer_rows, clip=0.0):
    """The setting ``bench_suite_report.choose`` picks (per-budget worst case, the budgets being
    (SDE, NFE); ties within 2x by the geometric mean of max(ratio, ``clip``)) among the settings
    that cover every cell."""
    by_setting = ratios_by_setting(records, peer_rows)
    full = max(len(v) for v in by_setting.values())
    return choose({k: v for k, v in by_setting.items() if len(v) == full}, clip=clip,
                  budget=lambda cell: cell[1:])


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--half", default="tuning", choices=("tuning", "validation"))
    ap.add_argument("--peers", required=True, help="comma-separated peer records of that half")
    ap.add_argument("--out", required=True)
    ap.add_argument("--n", type=int, default=64)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--cache", default="outputs/suite_refs")
    ap.add_argument("--clip", type=float, default=0.0,
                    help="the choice rule's tie-break: geometric mean of max(ratio, clip)")
    a = ap.parse_args(argv)
    out = Path(a.out)
    records = [json.loads(x) for x in out.read_text().splitlines()] if out.exists() else []
    done = {(r["row"], r["problem"], r["sde"], r["nfe"]) for r in records}
    saved = dict(order.MAX_STEP), order.FINAL_LONG_STEP
    with out.open("a") as fh:
        for sname in SDES:
            for p in problem_suite(a.half):
                sde, score, x_T, ref = setup(p, sname, a.n, a.seed, Path(a.cache))
                for name, top, limits, final in settings():
                    order.MAX_STEP.clear()
                    order.MAX_STEP.update(limits)
                    order.FINAL_LONG_STEP = final
                    for nfe in NFES:
                        if (name, p.name, sname, nfe) in done:
                            continue
                        rms, used, steps, why = run_project(sde, score, x_T, ref, "unipc",
                                                            {"order": top}, nfe)
                        rec = {"problem": p.name, "sde": sname, "nfe": nfe, "row": name,
                               "kind": "project", "rms": rms, "nfe_used": used, "error": why}
                        fh.write(json.dumps(rec) + "\n")
                        records.append(rec)
    order.MAX_STEP.clear()
    order.MAX_STEP.update(saved[0])
    order.FINAL_LONG_STEP = saved[1]
    done, peers = [r for r in records if r["rms"] is not None], load(a.peers.split(","))
    print(report(done, peers))
    print(f"\nchosen (per-budget worst case, ties within 2x by the geometric mean of "
          f"max(ratio, {a.clip:g})): {chosen(done, peers, a.clip)}")


if __name__ == "__main__":
    main()
