"""Report of a benchmark sweep: tables with mean ± 95 % CI over seeds, CSV, plots.

    python scripts/benchmark_report.py outputs/benchmark/my_sweep [--out DIR] \\
        [--metrics sliced_wasserstein ode_rmse nll] [--command "python scripts/benchmark.py ..."]

Default metrics: every metric the records hold, led by the one that separates the samplers
most at this sample size (the most sampler pairs whose paired 95 % CI over seeds excludes 0).

Reads ``<sweep>/records/*.json`` (corrupt files are named and skipped), writes ``<out>/report.md``,
``<out>/report.csv`` and ``<out>/<metric>_vs_{nfe,time}.png`` (default ``<out>`` = the first
sweep directory). The report names the commands that made it (``--command`` for the sweep's,
this one's always).
"""
import argparse
import shlex
import sys
import time
import warnings

from sde_diffusion.benchmarking import METRIC_NAMES, build_report, scan_records


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("sweep_dir", nargs="+", help="sweep director(ies) (their records are merged)")
    p.add_argument("--out", default=None, help="output directory (default: the first sweep dir)")
    p.add_argument("--metrics", nargs="+", default=None,
                   help=f"report metrics, the first is primary (default: all, led by the most "
                        f"separating one); choices: {', '.join(METRIC_NAMES)}")
    p.add_argument("--prefix", default="", help="file-name prefix of the plots")
    p.add_argument("--command", action="append", default=[],
                   help="a command that made the records (repeatable; printed in the report)")
    p.add_argument("--title", default="Solver benchmark")
    p.add_argument("--dpi", type=int, default=200)
    a = p.parse_args(argv)
    this = "python scripts/benchmark_report.py " + " ".join(
        shlex.quote(x) for x in (sys.argv[1:] if argv is None else argv))
    start = time.monotonic()

    def say(msg: str) -> None:  # progress, once the report has taken a few seconds
        if time.monotonic() - start > 3.0:
            print(f"report: {msg} (elapsed {time.monotonic() - start:.0f} s)", file=sys.stderr,
                  flush=True)

    try:
        records, corrupt = [], []
        for k, d in enumerate(a.sweep_dir, 1):
            say(f"reading sweep {k}/{len(a.sweep_dir)}: {d}")
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                recs, bad = scan_records(d)
            for w in caught:
                print(f"warning: {w.message}", file=sys.stderr)
            records += recs
            corrupt += bad
        rep = build_report(records, a.out or a.sweep_dir[0], metrics=a.metrics,
                           plot_prefix=a.prefix, commands=a.command + [this], corrupt=corrupt,
                           title=a.title, dpi=a.dpi, progress=say)
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"{len(rep['rows'])} rows ({len(rep['failed'])} cells failed, {len(corrupt)} corrupt "
          f"records skipped) -> {rep['report']}, {rep['csv']}; lead metric {rep['metrics'][0]}")
    for p_ in rep["plots"].values():
        print(f"plot: {p_}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
