"""Benchmark sampler cells: ``python scripts/benchmark.py problem=ring8 sampler=heun nfe=50``.

Sweeps through Hydra's multirun (each job one cell, or one per seed of ``seeds=[0,1,2]`` with a
progress bar; records shared in ``${out_dir}/records``; finished cells are skipped on re-runs,
a failing cell is recorded as failed and the sweep goes on)::

    python scripts/benchmark.py -m sampler=euler,heun,ddim nfe=10,20,50 'seeds=[0,1,2]' \\
        sde=vp,ve problem=ring8 name=my_sweep
    python scripts/benchmark_report.py outputs/benchmark/my_sweep

Config: conf/benchmark.yaml; glue: sde_diffusion/configs/benchmark.py; library:
sde_diffusion/benchmarking/.
"""
import logging
import sys

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.utils import to_absolute_path
from omegaconf import DictConfig

import sde_diffusion.training  # noqa: F401  (registers the config schemas of conf/sde, logger)
from sde_diffusion.configs import check_arguments, guarded
from sde_diffusion.configs.benchmark import run_from_config

log = logging.getLogger("benchmark")


def cells(cfg: DictConfig) -> list:
    recs = run_from_config(cfg, HydraConfig.get().runtime.output_dir, to_absolute_path(cfg.out_dir))
    for rec in recs:
        m = ", ".join(f"{k}={v:.4g}" for k, v in rec["metrics"].items() if isinstance(v, float))
        log.info("%s [%s] NFE=%s %s%s", rec["key"], rec["status"], rec.get("nfe"), m,
                 f" ERROR {rec['error']}" if rec.get("error") else "")
    return recs


@hydra.main(config_path="../conf", config_name="benchmark", version_base="1.3")
def main(cfg: DictConfig) -> list:
    return guarded(cells, "benchmark")(cfg)  # bad input: one line, exit 2


if __name__ == "__main__":
    check_arguments(sys.argv[1:], "benchmark", "benchmark")
    main()
