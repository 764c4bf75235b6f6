"""Where the few-step sampler should stop on sharp data of one coordinate on EDM (few-step 44a, 45a, 45e, 46a,
47a): the choices behind ``solvers.sharp_modes.SHARP_ONE_DIM_RECIPES``.

``seen`` prints every 1-D problem of the sets fixed before ``FRESH32`` (``--before``: another set) as
``set:name;...``. ``tune`` writes one record per problem (``bench_low_rank``'s records: the probe's verdict and
spread, every default sampler per budget) with UniPC-5 without the step limit (rows ``e<sigma>``, ``--ends-5``),
UniPC-3 (rows ``t<sigma>``, ``--ends-3``), UniPC-2 (rows ``u<sigma>``, ``--ends-2``) and DEIS-3 (rows
``d<sigma>``, ``--ends-deis``) on the log-SNR grid and DEIS-3 on the Karras grid (rows ``k<sigma>``,
``--ends-karras``) to each end sigma, no final denoising:

    env OMP_NUM_THREADS=1 PYTHONPATH=.:benchmarks python benchmarks/bench_sharp_one_dim.py tune \\
        --sets "$(... bench_sharp_one_dim.py seen)" --nfes 25,27,30,33,36,40,43,46,50 --seed 2 --out <tune.jsonl>

``fit`` reads each record at sigma_end = c (30 / n)^p spreads (``--absolute``: c (30 / n)^p in sigma), linear
in log RMS over log sigma_end between the rows of one family (``--order 5 | 3``, ``--family e | t | d``), on the
problems the probe calls sharp, one coordinate, not ring-like; it picks (c, p), p from ``--p-min`` (0) to 4, with
the smallest mean over the budgets from ``--fit-from`` (27) of the log geometric mean of the best default with it
in the place of the row ``--against`` (UniPC's defaults; ``law:<family>:c,p``: another family's law) over with
that row, and prints per budget that mean, the cells below 1 and the worst cell (``--at c,p``: that law instead
of the fit).
"""
from __future__ import annotations

import argparse
import math
import sys

import numpy as np

from bench_low_rank import _TAKES, _read, _with_over, _write_records, cells_summary, log_interp
from bench_rows import spec
from bench_suite import run_project
from bench_suite_report import geo_mean
from sde_diffusion.analytic.suite import SUITE_HALVES

ENDS = {"e": ("unipc", {"order": 5, "step_limit": False, "grid": "log_snr"}, (0.005, 0.008, 0.012, 0.02, 0.03)),
        "t": ("unipc", {"order": 3, "grid": "log_snr"}, (0.005, 0.012, 0.02)),
        "u": ("unipc", {"order": 2, "grid": "log_snr"}, ()),
        "d": ("deis", {"order": 3, "grid": "log_snr"}, ()),
        "k": ("deis", {"order": 3, "grid": "karras"}, ())}
"""Row prefix -> (sampler, options, default end sigmas) of ``tune`` (``--ends-5`` / ``--ends-3`` / ``--ends-2`` /
``--ends-deis`` / ``--ends-karras``: UniPC-5 without the step limit, UniPC-3, UniPC-2, DEIS-3 on the log-SNR grid;
DEIS-3 on the Karras grid; no final denoising)."""
FAMILY = {"e": "UniPC-5", "t": "UniPC-3", "u": "UniPC-2", "d": "DEIS-3", "k": "DEIS-3 (Karras)"}
FIT_FROM = 27
"""``fit`` minimises over the budgets from this one (25 is reported, not fitted: few-step 44a)."""


def seen(before: str = "fresh32") -> str:
    """The 1-D problems of the sets fixed before ``before`` (``FRESH32`` tested the 25-50-step choice made on
    them, ``FRESH33`` the 20-22-step one; 47a took every set before ``FRESH36``)."""
    return spec(before, "1")


def _floats(text):
    return tuple(float(v) for v in text.split(",") if v)


def tune(a) -> None:
    ends = {"e": _floats(a.ends_5), "t": _floats(a.ends_3), "u": _floats(a.ends_2), "d": _floats(a.ends_deis),
            "k": _floats(a.ends_karras)}

    def rows(sde, score, x_T, ref, found, n):
        out = {}
        for prefix, (sampler, opts, _) in ENDS.items():
            for t_end in ends[prefix]:
                o = {**opts, "t_end": t_end, "denoise": False}
                out[f"{prefix}{t_end}@{n}"] = run_project(sde, score, x_T, ref, sampler, o, n)[0]
        return out

    _write_records(a.out, a.sets, "EDM", a.seed, a.cache, [int(v) for v in a.nfes.split(",")], rows,
                   points=a.n, probe_seed=1)


def _ends(m, prefix: str, n: int):
    """The end sigmas of a record's rows ``<prefix><sigma>@n``, sorted."""
    return sorted(float(k[len(prefix):].split("@")[0]) for k in m
                  if k.startswith(prefix) and k.endswith(f"@{n}") and k[len(prefix)].isdigit())


def _curves(taken, prefix: str, nfes):
    """Per record, {n: (its end sigmas, their RMS)} of the rows ``<prefix><sigma>@n``, read once for the fit."""
    return [{n: (ends, [r["rms"][f"{prefix}{t}@{n}"] for t in ends]) for n in nfes
             for ends in [_ends(r["rms"], prefix, n)]} for r in taken]


def _at_law(r, curve, n, c, p, absolute=False):
    """A record's RMS at sigma_end = c (30 / n)^p spreads (sigma if ``absolute``), from its curve of one family."""
    return log_interp(*curve[n], c * (30.0 / n) ** p * (1.0 if absolute else r["spread"]))


def _baseline(taken, against: str, nfes):
    """Per record, {n: the RMS the law is put in the place of}: the row ``against``, or with ``law:<family>:c,p``
    that family's law (in spreads)."""
    if not against.startswith("law:"):
        return [{n: r["rms"][f"{against}@{n}"] for n in nfes} for r in taken]
    try:
        _, prefix, cp = against.split(":")
        c, p = (float(v) for v in cp.split(","))
    except ValueError:
        raise SystemExit(f"--against {against}: expected law:<family>:c,p, e.g. law:k:0.155,-2.7") from None
    if prefix not in ENDS:
        raise SystemExit(f"--against {against}: the family must be one of {sorted(ENDS)}")
    return [{n: _at_law(r, curve, n, c, p) for n in nfes} for r, curve in zip(taken, _curves(taken, prefix, nfes))]


def _cells(taken, curves, n, c, p, absolute, base):
    return [_with_over(r["rms"], n, _at_law(r, curve, n, c, p, absolute), b[n])
            for r, curve, b in zip(taken, curves, base)]


def fit(a) -> str:
    taken = [r for r in _read(a.records) if _TAKES["sharp_1d"](r)]
    if not taken:
        raise SystemExit("no record of sharp data of one coordinate that is not ring-like")
    prefix = a.family or {5: "e", 3: "t"}[a.order]
    nfes = sorted({int(k.split("@")[1]) for k in taken[0]["rms"]})
    fitted = [n for n in nfes if n >= a.fit_from]
    if not fitted:
        raise SystemExit(f"no budget of the records ({nfes}) is at least --fit-from {a.fit_from}")
    curves = _curves(taken, prefix, nfes)
    base = _baseline(taken, a.against, nfes)

    def objective(c, p):
        return float(np.mean([math.log(geo_mean(_cells(taken, curves, n, c, p, a.absolute, base)))
                              for n in fitted]))

    if a.at:
        c, p = (float(v) for v in a.at.split(","))
    else:
        lo, hi = (0.005, 0.04) if a.absolute else (0.001, a.c_max)
        ps = np.linspace(a.p_min, 4, round((4 - a.p_min) * 10) + 1)           # steps of 0.1
        grid = [(c, p) for c in np.exp(np.linspace(math.log(lo), math.log(hi), 43)) for p in ps]
        c, p = min(grid, key=lambda cp: objective(*cp))
    unit = "sigma" if a.absolute else "spreads"
    lines = [f"{FAMILY[prefix]}, sigma_end = {c:.4g} (30 / n)^{p:.2f} {unit}: {len({r['problem'] for r in taken})} "
             f"problems, {len(taken)} records; mean over {fitted[0]}-{fitted[-1]}: {math.exp(objective(c, p)):.3f}",
             f"| steps | best default over with {a.against} | cells below 1 | worst cell (problem, seed) |",
             "|---|---|---|---|"]
    for n in nfes:
        lines.append(f"| {n} | {cells_summary(_cells(taken, curves, n, c, p, a.absolute, base), taken)} |")
    return "\n".join(lines)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("seen")
    s.add_argument("--before", default="fresh32", choices=SUITE_HALVES, help="the 1-D problems of the sets before this one")
    t = sub.add_parser("tune")
    t.add_argument("--sets", required=True, help="set:name,name;set:name (bench_low_rank's form)")
    t.add_argument("--nfes", default="25,27,30,33,36,40,43,46,50")
    t.add_argument("--n", type=int, default=4096)
    t.add_argument("--seed", type=int, default=2)
    t.add_argument("--cache", default="outputs/suite_refs")
    t.add_argument("--ends-5", default=",".join(map(str, ENDS["e"][2])), help="UniPC-5's end sigmas (rows e<sigma>)")
    t.add_argument("--ends-3", default=",".join(map(str, ENDS["t"][2])), help="UniPC-3's end sigmas (rows t<sigma>)")
    t.add_argument("--ends-2", default="", help="UniPC-2's end sigmas (rows u<sigma>; default none)")
    t.add_argument("--ends-deis", default="", help="DEIS-3's end sigmas (rows d<sigma>; default none)")
    t.add_argument("--ends-karras", default="", help="DEIS-3's end sigmas on the Karras grid (rows k<sigma>; default none)")
    t.add_argument("--out", required=True)
    f = sub.add_parser("fit")
    f.add_argument("records", nargs="+")
    f.add_argument("--order", type=int, default=5, choices=(3, 5), help="UniPC's order (rows e / t)")
    f.add_argument("--family", default=None, choices=sorted(ENDS), help="the rows' prefix (d: DEIS-3); over --order")
    f.add_argument("--absolute", action="store_true", help="sigma_end in sigma, not in spreads")
    f.add_argument("--at", default=None, help="c,p: print this law instead of fitting one")
    f.add_argument("--against", default="unipc", help="the row the law takes the place of (default UniPC's "
                   "defaults; t0.005: the 20-24-step entry of few-step 35a; law:<family>:c,p: that family's law in spreads, e.g. law:k:0.155,-2.7)")
    f.add_argument("--fit-from", type=int, default=FIT_FROM, help="fit over the budgets from this one")
    f.add_argument("--c-max", type=float, default=0.02, help="the largest c (spreads) the fit tries")
    f.add_argument("--p-min", type=float, default=0.0, help="the smallest p the fit tries (below 0: ends later with n)")
    a = ap.parse_args(argv)
    if a.cmd == "seen":
        print(seen(a.before))
    elif a.cmd == "tune":
        tune(a)
    else:
        print(fit(a))


if __name__ == "__main__":
    sys.exit(main())
