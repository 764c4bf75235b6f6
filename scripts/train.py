"""Train a score model: ``python scripts/train.py experiment=toy2d`` (Hydra; see conf/).

Multirun: ``python scripts/train.py -m experiment=toy2d sde=vp,ve train.lr=1e-3,3e-4``.
Re-running with ``hydra.run.dir=<an existing run dir>`` resumes from its newest good checkpoint.
The whole config is validated before the first step; expected failures print one line.
"""
import logging
import math
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode

from sde_diffusion import registry
from sde_diffusion.configs import (guarded, hydra_ddp_argv, register_configs, to_plain,
                                   validate_config, validate_sampler)
from sde_diffusion.data import DataBundle
from sde_diffusion.threads import apply_num_threads
from sde_diffusion.training import Trainer, TrainOptions, link_latest
from sde_diffusion.training.distributed import cleanup_process_group
from sde_diffusion.training.runtime import progress_enabled

log = logging.getLogger("train")
CONF = str(Path(__file__).resolve().parents[1] / "conf")


def net_shape_kwargs(net: dict, shape) -> dict:
    """The network's data-dependent arguments: ``dim`` (MLP) or ``in_channels``/``image_size``."""
    if net.get("_target_", "").endswith("UNet"):
        if len(shape) != 3 or shape[1] != shape[2]:
            raise ValueError(f"model=unet needs square images (C, S, S), the data have shape "
                             f"{tuple(shape)}; use model=mlp for point data")
        return {"in_channels": shape[0], "image_size": shape[1]}
    return {"dim": math.prod(shape)}


def main(cfg) -> float:
    c, hc = to_plain(cfg), HydraConfig.get()
    run_dir = Path(hc.runtime.output_dir)
    multirun = hc.mode == RunMode.MULTIRUN
    train = dict(c["train"], seed=c["train"]["seed"] if c["train"]["seed"] is not None else c["seed"])
    opts = TrainOptions.from_dict(train)  # every train value checked here
    validate_config(c)  # root keys, name, seed, the evaluation sampler
    validate_sampler(c.get("sampler"), steps_override=opts.eval_steps)
    jobs = hc.launcher.get("n_jobs") if multirun and "joblib" in str(hc.launcher.get("_target_")) else 1
    apply_num_threads(opts.num_threads, int(jobs or 1))
    data = registry.build(c["data"])
    info = data.info
    if c["model"].get("data_std") is None:  # sigma_data of the training data, recorded in the config
        x = data.train if isinstance(data, DataBundle) else \
            __import__("torch").stack([(d[0] if isinstance(d, tuple) else d) for d in
                                       (data[i] for i in range(min(len(data), 4096)))])
        c["model"]["data_std"] = round(float(x.std()), 6)
    m = c["model"]
    spec = {"sde": c["sde"], "net": {**m["net"], **net_shape_kwargs(m["net"], info.data_shape)},
            "parameterization": m.get("parameterization", "eps"), "data_std": m["data_std"],
            "input_scaling": m.get("input_scaling", True)}
    model = registry.build_score_model(spec)
    logger = dict(c["logger"])
    if logger.get("_target_", "").endswith("WandbTracker"):
        logger["name"] = logger.get("name") or f"{c['name']}-{run_dir.name}"
        logger["tags"] = list(dict.fromkeys([*logger.get("tags", []), c["name"], info.name,
                                             c["sde"]["_target_"].rsplit(".", 1)[-1]]))
        logger["default_group"] = f"{c['name']}-{Path(hc.sweep.dir).name}" if multirun else None
    extra = {k: logger.pop(k) for k in ("default_group",) if k in logger}
    make_tracker = registry.build({**logger, "_partial_": True}, training=True)
    trainer = Trainer(model, data=data, options=opts, run_dir=run_dir, sampler=c.get("sampler"),
                      tracker=lambda run_id: make_tracker(run_dir=str(run_dir), run_config=c,
                                                          run_id=run_id, **extra),
                      run_config=c)
    if progress_enabled(opts.progress):  # loss lines go to train.log only; the bar shows them
        for h in logging.getLogger().handlers:
            if isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler):
                h.addFilter(lambda r: r.name != "sde_diffusion.training.progress")
    if trainer.dist.is_main and not multirun:
        link_latest(run_dir)
    result = trainer.fit()
    log.info("%s at step %d; run dir %s; checkpoint %s", result.status, result.step, run_dir,
             result.checkpoint)
    if "sw_ratio" in result.metrics:
        r = result.metrics
        print(f"sliced Wasserstein {r['sw']:.4f} vs true-vs-true floor {r['sw_floor']:.4f}: "
              f"ratio {r['sw_ratio']:.2f}  (samples plot: {run_dir}/samples/final.png)")
    if result.signal is not None:
        sys.exit(128 + result.signal)
    return float(result.metrics.get("sw_ratio", result.last_loss))


def task(cfg):  # defined here so that Hydra names the job (and train.log) after this file
    return guarded(main, "train")(cfg)


if __name__ == "__main__":
    register_configs()
    sys.argv = hydra_ddp_argv(sys.argv, CONF, "config")  # torchrun: rank 0's output folder
    try:
        hydra.main(config_path=CONF, config_name="config", version_base="1.3")(task)()
    finally:
        cleanup_process_group()
