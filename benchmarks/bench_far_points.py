"""Far points: the few points of a few-step run that end towards another component of a mixture, and the
bulk RMS without them (few-step 33a).

A point is *far* where its end-to-end error exceeds half the smallest distance between two component
means. On low-rank mixtures one far point in 4096 carries more squared error than all the others, so the
end-to-end RMS of a 20-step run moves with the few points that sit on a boundary between components when
they separate; the *bulk* (the RMS without each run's worst 5 points in 4096, ``bench_suite_pointwise.trimmed_rms``)
moves with the solver. ``run`` writes one record per problem: for each budget and each variant of the
probe's pick, [far points, RMS, bulk], against a UniPC reference at ``--ref-steps`` steps (cached
weights-only in ``--cache``; at 200 steps within 2.5e-4 of the DOP853 reference on the seen mixtures):

    env OMP_NUM_THREADS=1 PYTHONPATH=.:benchmarks python benchmarks/bench_far_points.py run \\
        --problems lowrank32_r4,lowrank88_r4 --n 8192 --seed 5 --nfes 18,20 \\
        --variants '{"bh2": {"variant": "bh2"}, "bh1": {"variant": "bh1"}}' --out <far.jsonl>
    python benchmarks/bench_far_points.py summary <far.jsonl> --row bh1 --against bh2

A variant is UniPC options laid over the pick's (``SharpModes.at_steps``): ``order``, ``variant``,
``step_limit``, ``grid`` (a named grid, without the pick's bands; kept zero-ended where the pick steps onto
0), or ``band``:
[n_hi, n_mid, t_lo, t_hi], the pick's steps re-spread uniformly in t as n_hi steps from T to t_hi, n_mid
from t_hi to t_lo and the rest to the pick's end.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import torch

from bench_sharp_modes import probe
from bench_suite import SDES
from bench_suite_pointwise import trimmed_rms
from bench_suite_report import geo_mean
from sde_diffusion.analytic import suite_problem
from sde_diffusion.benchmarking.reference import data_estimate, end_to_end_rms
from sde_diffusion.solvers import sample
from sde_diffusion.solvers.grids import GRIDS, ZeroEnded, default_t_end

TRIM_PER_4096 = 5
VARIANT_KEYS = ("order", "variant", "step_limit", "grid", "band")


def far_count(x0: torch.Tensor, ref: torch.Tensor, means: torch.Tensor) -> int:
    """Points whose error exceeds half the smallest distance between two of ``means`` (none with one mean)."""
    means = means.to(torch.float64).flatten(1)
    if len(means) < 2:
        return 0
    gaps = torch.cdist(means, means).masked_fill(torch.eye(len(means), dtype=torch.bool), math.inf)
    err = (x0.to(torch.float64) - ref.to(torch.float64)).flatten(1).norm(dim=1)
    return int((err > 0.5 * gaps.min()).sum())


def band_grid(sde, steps: int, end_grid, band) -> torch.Tensor:
    """The pick's grid ``end_grid`` (a ``ZeroEnded`` or a named grid to the default end) re-spread as
    ``band`` = [n_hi, n_mid, t_lo, t_hi]: uniform in t on [t_hi, T], [t_lo, t_hi] and down to the end."""
    n_hi, n_mid, t_lo, t_hi = band
    zero = isinstance(end_grid, ZeroEnded)
    end = end_grid.start if zero else default_t_end(sde, steps)
    n_rest = (steps - 1 if zero else steps) - n_hi - n_mid
    if n_hi < 1 or n_mid < 1 or n_rest < 1 or not end < t_lo < t_hi < float(sde.T):
        raise ValueError(f"band {band} does not fit {steps} steps ending at t = {end:.4g}")
    # the package's banded grid; to the default end it is the same grid with one more step onto 0, dropped
    grid = ZeroEnded("uniform_t", end, ((t_hi, n_hi), (t_lo, n_mid)))(sde, steps if zero else steps + 1)
    return grid if zero else grid[:-1]


def _unknown_keys(variant: dict) -> list:
    """The keys of ``variant`` that are not ``VARIANT_KEYS``, sorted."""
    return sorted(set(variant) - set(VARIANT_KEYS))


def variant_options(sde, steps: int, options: dict, variant: dict) -> dict:
    """The pick's ``options`` with ``variant`` laid over them (see the module docstring)."""
    if _unknown_keys(variant):
        raise ValueError(f"unknown variant keys {_unknown_keys(variant)}; valid: {list(VARIANT_KEYS)}")
    out = dict(options)
    out.update({k: v for k, v in variant.items() if k in ("order", "variant", "step_limit")})
    if "grid" in variant:
        if variant["grid"] not in GRIDS:
            raise ValueError(f"unknown grid {variant['grid']!r}; valid: {sorted(GRIDS)}")
        g = out.get("grid")
        out["grid"] = ZeroEnded(variant["grid"], g.start) if isinstance(g, ZeroEnded) else variant["grid"]
    if "band" in variant:
        out["grid"] = band_grid(sde, steps, out.get("grid", "uniform_t"), variant["band"])
    return out


def _reference(sde, score, x_T, ref_steps: int, path: Path) -> torch.Tensor:
    if path.exists():
        return torch.load(path, weights_only=True)
    x, info = sample(sde, score, sampler="unipc", steps=ref_steps, x_init=x_T, progress=False)
    ref = data_estimate(sde, x, info.t_end, info.denoised)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(ref, path)
    return ref


def run(a) -> None:
    variants = json.loads(a.variants)
    if not isinstance(variants, dict) or not all(isinstance(v, dict) for v in variants.values()):
        raise SystemExit(f"--variants must be a JSON object of name: options, got {a.variants!r}")
    for v in variants.values():
        if _unknown_keys(v):
            raise SystemExit(f"--variants: unknown keys {_unknown_keys(v)}; valid: {list(VARIANT_KEYS)}")
    nfes = [int(v) for v in a.nfes.split(",")]
    out = Path(a.out)
    done = {json.loads(line)["problem"] for line in out.read_text().splitlines()} if out.exists() else set()
    k = a.n * TRIM_PER_4096 // 4096
    with out.open("a") as fh:
        for name in a.problems.split(","):
            if name in done:
                continue
            p = suite_problem(name)
            sde = SDES[a.sde]()
            score = p.mixture.score_fn(sde)
            x_T = sde.prior_sample((a.n, p.dim), generator=torch.Generator().manual_seed(a.seed), dtype=torch.float64)
            ref = _reference(sde, score, x_T, a.ref_steps,
                             Path(a.cache) / f"{name}-{a.sde}-n{a.n}-s{a.seed}-unipc{a.ref_steps}.pt")
            found = probe(p, sde, score, 10, "data", 1)
            rec = {"problem": name, "sde": a.sde, "n": a.n, "seed": a.seed, "trim": k, "low_rank": found.low_rank}
            for n in nfes:
                at = found.at_steps(sde, n)
                for vname, v in variants.items():
                    x, info = sample(sde, score, sampler=at.sampler, steps=n, x_init=x_T, progress=False,
                                     **variant_options(sde, n, at.options, v))
                    x0 = data_estimate(sde, x, info.t_end, info.denoised)
                    rec[f"{vname}@{n}"] = [far_count(x0, ref, p.mixture.means), end_to_end_rms(x0, ref),
                                           trimmed_rms(x0, ref, k)]
            fh.write(json.dumps(rec) + "\n")
            fh.flush()
            print(f"# {name}", file=sys.stderr, flush=True)


def summary(a) -> str:
    recs = [json.loads(line) for path in a.records for line in Path(path).read_text().splitlines() if line.strip()]
    nfes = sorted({int(key.split("@")[1]) for r in recs for key in r if key.startswith(f"{a.row}@")})
    lines = [f"{len(recs)} problems; {a.row} against {a.against}", "",
             "| NFE | bulk, row / against | below 1; worst | RMS, row / against | far points, against / row |",
             "|---|---|---|---|---|"]
    for n in nfes:
        rs = [r for r in recs if f"{a.row}@{n}" in r and f"{a.against}@{n}" in r]
        bulk = [r[f"{a.row}@{n}"][2] / r[f"{a.against}@{n}"][2] for r in rs]
        rms = [r[f"{a.row}@{n}"][1] / r[f"{a.against}@{n}"][1] for r in rs]
        far = (sum(r[f"{a.against}@{n}"][0] for r in rs), sum(r[f"{a.row}@{n}"][0] for r in rs))
        lines.append(f"| {n} | {geo_mean(bulk):.3f} | {sum(v < 1 for v in bulk)} of {len(bulk)}; {max(bulk):.3f} | "
                     f"{geo_mean(rms):.3f} | {far[0]} / {far[1]} |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--problems", required=True, help="suite problem names, comma-separated")
    r.add_argument("--sde", choices=sorted(SDES), default="VP")
    r.add_argument("--n", type=int, default=8192)
    r.add_argument("--seed", type=int, default=5)
    r.add_argument("--nfes", default="18,19,20")
    r.add_argument("--variants", default='{"pick": {}}', help="JSON {name: options over the pick's}")
    r.add_argument("--ref-steps", type=int, default=200)
    r.add_argument("--cache", default="outputs/far_refs")
    r.add_argument("--out", required=True)
    s = sub.add_parser("summary")
    s.add_argument("records", nargs="+")
    s.add_argument("--row", required=True)
    s.add_argument("--against", required=True)
    a = ap.parse_args(argv)
    if a.cmd == "run":
        run(a)
    else:
        print(summary(a))


if __name__ == "__main__":
    main()
