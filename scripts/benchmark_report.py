"""Report of a benchmark sweep: markdown tables + quality-vs-NFE / quality-vs-time plots.

    python scripts/benchmark_report.py outputs/benchmark/my_sweep \\
        [--out DIR] [--metrics sliced_wasserstein ode_rmse] [--wandb]

Reads ``<sweep>/records/*.json`` (written by scripts/benchmark.py), writes ``<out>/report.md``
and ``<out>/<metric>_vs_{nfe,time}.png`` (default ``<out>`` = the sweep directory).
"""
import argparse
import sys

from sde_diffusion.benchmarking import METRIC_NAMES, build_report, load_records


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("sweep_dir", nargs="+", help="sweep director(ies) (their records are merged)")
    p.add_argument("--out", default=None, help="output directory (default: the first sweep dir)")
    p.add_argument("--metrics", nargs="+", default=["sliced_wasserstein"],
                   help=f"report metrics, the first is primary; choices: {', '.join(METRIC_NAMES)}")
    p.add_argument("--prefix", default="", help="file-name prefix of the plots")
    p.add_argument("--wandb", action="store_true", help="log table and plots to wandb (offline "
                   "unless WANDB_MODE says otherwise)")
    a = p.parse_args(argv)
    try:
        records = [r for d in a.sweep_dir for r in load_records(d)]
        tracker = None
        if a.wandb:
            from sde_diffusion.tracking import WandbTracker
            tracker = WandbTracker(run_dir=a.out or a.sweep_dir[0], name="benchmark-report",
                                   config={"sweeps": a.sweep_dir, "metrics": a.metrics})
        rep = build_report(records, a.out or a.sweep_dir[0], metrics=a.metrics, tracker=tracker,
                           plot_prefix=a.prefix)
        if tracker is not None:
            tracker.finish()
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"{len(rep['rows'])} rows ({len(rep['failed'])} cells did not run) -> {rep['report']}")
    for p_ in rep["plots"].values():
        print(f"plot: {p_}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
