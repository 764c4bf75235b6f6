"""How much of each validation cell's ratio is one point: the best default and the best peer of
every cell re-run, their per-point errors compared three ways.

    env OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/bench_suite_pointwise.py \
        --records benchmarks/results/suite/validation_peers_r3.jsonl,benchmarks/results/suite/validation_peers_r4_unipc45.jsonl,benchmarks/results/suite/validation_defaults_r5.jsonl \
        --out benchmarks/results/suite/validation_pointwise_r5.json

Per point i, e_i = sqrt(mean over coordinates (x0_i - x0_ref_i)^2), so RMS = sqrt(mean_i e_i^2)
(the goal's figure). Beside its ratio: the ratio with each side's largest e_i left out (one
point removed from 128), and the ratio of the median e_i. A cell whose RMS ratio is above 1 and
whose one-out ratio is not is decided by one point. The goal stays the RMS ratio; this says why.
Each re-run must reproduce its recorded RMS (relative 1e-6), or the script stops.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from collections import defaultdict
from pathlib import Path

import torch

from bench_suite import peer_estimate, peer_of_row, project_estimate, setup
from bench_suite_report import best_peers, load
from sde_diffusion.analytic import suite_problem
from sde_diffusion.benchmarking.reference import end_to_end_rms


def point_errors(x0: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """e_i = sqrt(mean over coordinates (x0_i - ref_i)^2), float64, one per point."""
    d = x0.detach().to(torch.float64).reshape(len(x0), -1) - ref.to(torch.float64).reshape(len(ref), -1)
    return d.pow(2).mean(1).sqrt()


def trimmed_rms(x0: torch.Tensor, ref: torch.Tensor, k: int) -> float:
    """The end-to-end RMS over the points left when the ``k`` with the largest ``point_errors`` are dropped:
    the bulk, without the few points a run sends towards another component (few-step 33)."""
    if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k < len(x0):
        raise ValueError(f"k must be an int in [0, {len(x0)}), got {k!r}")
    e2 = point_errors(x0, ref).pow(2)
    kept = e2.sort().values[: len(e2) - k]
    return float(kept.mean().sqrt())


def bootstrap_interval(ours: torch.Tensor, peer: torch.Tensor, resamples: int = 2000,
                       level: float = 0.95, seed: int = 0) -> tuple:
    """Percentile interval of RMS(ours) / RMS(peer) = sqrt(sum e_o^2 / sum e_p^2) over paired
    resamples: the same n point indices, drawn with replacement, for both sides."""
    g = torch.Generator().manual_seed(seed)
    idx = torch.randint(len(ours), (resamples, len(ours)), generator=g)
    o2, p2 = ours.to(torch.float64).pow(2), peer.to(torch.float64).pow(2)
    r = (o2[idx].sum(1) / p2[idx].sum(1)).sqrt()
    q = torch.tensor([(1 - level) / 2, (1 + level) / 2], dtype=torch.float64)
    lo, hi = torch.quantile(r, q).tolist()
    return lo, hi


def compare(ours: torch.Tensor, peer: torch.Tensor) -> dict:
    """RMS ratio, the same with each side's largest e_i left out, the median e_i ratio, the
    share of each side's squared error in its largest point, and the RMS ratio's 95 % paired
    bootstrap interval (``rms_lo``, ``rms_hi``)."""
    def rms(e):
        return float(e.pow(2).mean().sqrt())

    def one_out(e):
        return rms(torch.sort(e).values[:-1])

    lo, hi = bootstrap_interval(ours, peer)
    return {"rms": rms(ours) / rms(peer), "rms_lo": lo, "rms_hi": hi,
            "one_out": one_out(ours) / one_out(peer),
            "median": float(ours.median() / peer.median()),
            "top_share_ours": float(ours.max() ** 2 / ours.pow(2).sum()),
            "top_share_peer": float(peer.max() ** 2 / peer.pow(2).sum())}


def run(records, n, seed, cache):
    best = best_peers(records)
    by = defaultdict(list)
    for r in records:
        if r["kind"] == "project" and r["row"].endswith("{}") and r["n"] == n and r["seed"] == seed:
            by[r["problem"], r["sde"], r["nfe"]].append(r)
    out = []
    for (prob, sname, nfe), rows in sorted(by.items(), key=lambda kv: (kv[0][1], kv[0][2], kv[0][0])):
        ours = min(rows, key=lambda r: r["rms"])
        peer_rms, peer_row = best[prob, sname, nfe]
        sde, score, x_T, ref = setup(suite_problem(prob), sname, n, seed, cache)
        xp, _, why = peer_estimate(sde, score, x_T, *peer_of_row(peer_row), nfe)
        xo, _, _, why_o = project_estimate(sde, score, x_T, ours["row"][:-2], {}, nfe)
        if xp is None or xo is None:
            raise SystemExit(f"{prob}/{sname}/{nfe}: a re-run failed: {why or why_o}")
        for x, want, what in ((xp, peer_rms, peer_row), (xo, ours["rms"], ours["row"])):
            got = end_to_end_rms(x, ref)
            if not math.isclose(got, want, rel_tol=1e-6):
                raise SystemExit(f"{prob}/{sname}/{nfe} {what}: re-run RMS {got:.6g} != recorded "
                                 f"{want:.6g}")
        out.append({"problem": prob, "sde": sname, "nfe": nfe, "ours": ours["row"],
                    "peer": peer_row, **compare(point_errors(xo, ref), point_errors(xp, ref))})
        print(f"# {prob}/{sname}/{nfe}: {out[-1]['rms']:.2f} ({out[-1]['rms_lo']:.2f}-"
              f"{out[-1]['rms_hi']:.2f}) / {out[-1]['one_out']:.2f} / {out[-1]['median']:.2f}",
              file=sys.stderr, flush=True)
    return out


def report(cells) -> str:
    """Markdown: per (SDE, NFE) the cells <= 1.0x by each statistic and the misses (RMS above
    1.0x) whose bootstrap interval lies wholly above 1.0x, then every miss."""
    acc = defaultdict(lambda: [0, 0, 0, 0, 0])
    for c in cells:
        a = acc[c["sde"], c["nfe"]]
        a[0] += 1
        a[1] += c["rms"] <= 1.0
        a[2] += c["one_out"] <= 1.0
        a[3] += c["median"] <= 1.0
        a[4] += c["rms_lo"] > 1.0
    lines = ["| SDE | NFE | cells | RMS <= 1.0x | one point out <= 1.0x | median <= 1.0x "
             "| misses with the 95 % interval above 1.0x |", "|---|---|---|---|---|---|---|"]
    tot = [0, 0, 0, 0, 0]
    for (sde, nfe), a in sorted(acc.items()):
        lines.append(f"| {sde} | {nfe} | {' | '.join(map(str, a))} |")
        tot = [t + v for t, v in zip(tot, a)]
    lines.append(f"| all | | {' | '.join(map(str, tot))} |")
    lines += ["", "| problem | SDE | NFE | best default | RMS ratio | 95 % interval | one point out "
                  "| median ratio | largest point's share of the squared error: ours / peer |",
              "|---|---|---|---|---|---|---|---|---|"]
    for c in cells:
        if c["rms"] > 1.0:
            lines.append(f"| {c['problem']} | {c['sde']} | {c['nfe']} | {c['ours'][:-2]} | "
                         f"{c['rms']:.2f} | {c['rms_lo']:.2f}-{c['rms_hi']:.2f} | "
                         f"{c['one_out']:.2f} | {c['median']:.2f} | "
                         f"{c['top_share_ours']:.2f} / {c['top_share_peer']:.2f} |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", required=True, help="comma-separated peer and defaults records")
    ap.add_argument("--n", type=int, default=128)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--cache", default="outputs/suite_refs")
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    cells = run(load(a.records.split(",")), a.n, a.seed, Path(a.cache))
    Path(a.out).write_text(json.dumps(cells, indent=1))
    print(report(cells))


if __name__ == "__main__":
    main()
