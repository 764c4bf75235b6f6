"""Train a score model: ``python scripts/train.py experiment=toy2d`` (Hydra; see conf/).

Multirun: ``python scripts/train.py -m experiment=toy2d sde=vp,ve train.lr=1e-3,3e-4``.
Re-running with ``hydra.run.dir=<an existing run dir>`` resumes from its newest good checkpoint.
"""
import logging
import sys

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from sde_diffusion.training import NonFiniteLossError, Trainer  # also registers the schemas

log = logging.getLogger("train")


@hydra.main(config_path="../conf", config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> float:
    run_dir = HydraConfig.get().runtime.output_dir
    try:  # every config / data / model problem surfaces here, before training starts
        trainer = Trainer(cfg, run_dir)
    except (ValueError, TypeError, ImportError, FileNotFoundError) as e:
        log.error("%s: %s", type(e).__name__, e)
        sys.exit(2)
    try:
        result = trainer.fit()
    except NonFiniteLossError as e:
        log.error("%s", e)
        sys.exit(3)
    log.info("%s at step %d; run dir %s; checkpoint %s", result.status, result.step, run_dir,
             result.checkpoint)
    if "sw_ratio" in result.metrics:
        m = result.metrics
        print(f"sliced Wasserstein {m['sw']:.4f} vs true-vs-true floor {m['sw_floor']:.4f}: "
              f"ratio {m['sw_ratio']:.2f}  (samples plot: {run_dir}/samples/final.png)")
    if result.signal is not None:
        sys.exit(128 + result.signal)
    return float(result.metrics.get("sw_ratio", result.last_loss))


if __name__ == "__main__":
    # torchrun: every rank runs Hydra in rank 0's output directory (no-op in one process)
    from pathlib import Path
    from sde_diffusion.training.distributed import cleanup_process_group, hydra_ddp_argv
    sys.argv = hydra_ddp_argv(sys.argv, str(Path(__file__).resolve().parents[1] / "conf"), "config")
    try:
        main()
    finally:
        cleanup_process_group()
