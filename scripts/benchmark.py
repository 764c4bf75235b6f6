"""Benchmark one sampler cell: ``python scripts/benchmark.py problem=ring8 sampler=heun nfe=50``.

Sweeps through Hydra's multirun (each job one cell, records shared in ``${out_dir}/records``;
finished cells are skipped on re-runs)::

    python scripts/benchmark.py -m sampler=euler,heun,ddim sampler.steps=10,20,50,100,1000 \\
        sde=vp,ve problem=ring8 name=my_sweep hydra/launcher=local
    python scripts/benchmark_report.py outputs/benchmark/my_sweep

Config: conf/benchmark.yaml; library: sde_diffusion/benchmarking.py.
"""
import logging
import sys

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.utils import to_absolute_path
from omegaconf import DictConfig

import sde_diffusion.training  # noqa: F401  (registers the config schemas of conf/sde, logger)
from sde_diffusion.benchmarking import run_from_config

log = logging.getLogger("benchmark")


@hydra.main(config_path="../conf", config_name="benchmark", version_base="1.3")
def main(cfg: DictConfig) -> dict:
    try:
        rec = run_from_config(cfg, HydraConfig.get().runtime.output_dir,
                              to_absolute_path(cfg.out_dir))
    except (ValueError, TypeError, FileNotFoundError) as e:
        log.error("%s: %s", type(e).__name__, e)
        sys.exit(2)
    m = ", ".join(f"{k}={v:.4g}" for k, v in rec["metrics"].items() if isinstance(v, float))
    log.info("%s [%s] NFE=%s %s%s", rec["key"], rec["status"], rec["nfe"], m,
             f" ERROR {rec['error']}" if rec.get("error") else "")
    return rec


if __name__ == "__main__":
    main()
