"""Benchmark sampler cells: ``python scripts/benchmark.py problem=ring8 sampler=heun nfe=50``.

Sweeps through Hydra's multirun (each job one cell, or one per seed of ``seeds=[0,1,2]`` with a
progress bar; records shared in ``${out_dir}/records``; finished cells are skipped on re-runs,
a failing cell is recorded as failed and the sweep goes on)::

    python scripts/benchmark.py -m sampler=euler,heun,ddim nfe=10,20,50 'seeds=[0,1,2]' \\
        sde=vp,ve problem=ring8 name=my_sweep
    python scripts/benchmark_report.py outputs/benchmark/my_sweep

Score source: the problem's exact score, ``checkpoint=<run>`` (a model trained here) or
``source=diffusers:<folder or hub id>`` (a diffusers UNet2DModel with its scheduler config)::

    python scripts/benchmark.py problem=digits source=diffusers:<folder> sampler=unipc nfe=10

Config: conf/benchmark.yaml; glue: sde_diffusion/configs/benchmark.py; library:
sde_diffusion/benchmarking/.
"""
import logging
import sys
import time

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.utils import to_absolute_path
from omegaconf import DictConfig

import sde_diffusion.training  # noqa: F401  (registers the config schemas of conf/sde, logger)
from sde_diffusion.benchmarking.runner import format_duration
from sde_diffusion.configs import check_arguments, guarded
from sde_diffusion.configs.benchmark import run_from_config

log = logging.getLogger("benchmark")
_SWEEP_START = []  # when the first job of this process's sweep started (the basic launcher)


def sweep_size(overrides) -> int:
    """Jobs in a multirun: the product of the sweep overrides' lengths (``a=1,2 b=x,y,z`` -> 6)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    n = 1
    for o in OverridesParser.create().parse_overrides(list(overrides)):
        if o.is_sweep_override():
            n *= len(list(o.sweep_string_iterator()))
    return n


def job_line(hc) -> str:
    """``job k/n, elapsed ..., ETA ...`` of a multirun job (k 1-based; ETA from the jobs this
    process ran before), or "" outside a multirun."""
    if hc.mode.name != "MULTIRUN":
        return ""
    k = int(hc.job.num) + 1
    n = sweep_size([a for a in sys.argv[1:] if "=" in a and not a.startswith("-")])
    if not _SWEEP_START:
        _SWEEP_START.append((time.monotonic(), k))
    t0, k0 = _SWEEP_START[0]
    done = k - k0          # jobs this process finished before this one
    if done <= 0:
        return f"job {k}/{n}"
    el = time.monotonic() - t0
    return (f"job {k}/{n}, elapsed {format_duration(el)}, "
            f"ETA {format_duration(el / done * (n - k + 1))}")


def cells(cfg: DictConfig) -> list:
    hc = HydraConfig.get()
    line = job_line(hc)
    if line:
        log.info("%s", line)
    recs = run_from_config(cfg, hc.runtime.output_dir, to_absolute_path(cfg.out_dir))
    for rec in recs:
        m = ", ".join(f"{k}={v:.4g}" for k, v in rec["metrics"].items() if isinstance(v, float))
        log.info("%s [%s] NFE=%s %s%s", rec["key"], rec["status"], rec.get("nfe"), m,
                 f" ERROR {rec['error']}" if rec.get("error") else "")
    return recs


@hydra.main(config_path="../conf", config_name="benchmark", version_base="1.3")
def main(cfg: DictConfig) -> list:
    return guarded(cells, "benchmark")(cfg)  # bad input: one line, exit 2; disk full: exit 1


if __name__ == "__main__":
    check_arguments(sys.argv[1:], "benchmark", "benchmark")
    main()
