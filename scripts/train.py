"""Train a score model: ``python scripts/train.py experiment=toy2d`` (Hydra; see conf/).

Multirun: ``python scripts/train.py -m experiment=toy2d sde=vp,ve train.lr=1e-3,3e-4``.
Re-running with ``hydra.run.dir=<an existing run dir>`` resumes from its newest good checkpoint.
The whole config is validated before the first step (``configs.train.build_trainer``);
expected failures print one line.
"""
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode

from sde_diffusion.configs import check_arguments, guarded, hydra_ddp_argv, register_configs
from sde_diffusion.configs.launch import check_run_names
from sde_diffusion.configs.train import build_trainer, run_training
from sde_diffusion.training.distributed import cleanup_process_group

CONF = str(Path(__file__).resolve().parents[1] / "conf")


def main(cfg) -> float:
    hc = HydraConfig.get()
    multirun = hc.mode == RunMode.MULTIRUN
    joblib = multirun and "joblib" in str(hc.launcher.get("_target_"))
    trainer = build_trainer(cfg, hc.runtime.output_dir,
                            n_jobs=int(hc.launcher.get("n_jobs") or 1) if joblib else 1,
                            group=f"{cfg.name}-{Path(hc.sweep.dir).name}" if multirun else None)
    result = run_training(trainer, link=not multirun)
    r = result.metrics
    if "sw_ratio" in r:
        print(f"sliced Wasserstein {r['sw']:.4f} vs true-vs-true floor {r['sw_floor']:.4f} +- "
              f"{r['sw_floor_sd']:.4f} (sd of {int(r['sw_floor_draws'])} draws): ratio {r['sw_ratio']:.2f}, "
              f"{r['sw_z']:.1f} floor sds above  (samples plot: {trainer.run_dir}/samples/final.png)")
    if result.signal is not None:
        sys.exit(128 + result.signal)
    return float(r.get("sw_ratio", result.last_loss))


def task(cfg):  # defined here so that Hydra names the job (and train.log) after this file
    return guarded(main, "train")(cfg)


if __name__ == "__main__":
    register_configs()
    check_arguments(sys.argv[1:], "config", "train", CONF)  # a bad override: one line, exit 2
    guarded(check_run_names, "train")(sys.argv[1:])  # name= stays inside outputs/
    sys.argv = hydra_ddp_argv(sys.argv, CONF, "config")  # torchrun: rank 0's output folder
    try:
        hydra.main(config_path=CONF, config_name="config", version_base="1.3")(task)()
    finally:
        cleanup_process_group()
