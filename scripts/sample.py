"""Sample from a trained run: ``python scripts/sample.py run=<run dir or checkpoint> n=64``.

Writes samples.pt (tensor), samples.png (image grid or scatter plot) and trajectory.png (a
strip of the reverse process from the prior to the data) into the output folder.
"""
import logging
from pathlib import Path

import hydra
import torch
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from sde_diffusion.data import build_data
from sde_diffusion.training import generate_samples, load_model, select_device
from sde_diffusion.training.plots import save_image_grid, save_points, save_trajectory_strip

log = logging.getLogger("sample")


@hydra.main(config_path="../conf", config_name="sample", version_base="1.3")
def main(cfg: DictConfig) -> None:
    out = Path(cfg.out or HydraConfig.get().runtime.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    model, run_cfg = load_model(cfg.run, use_ema=cfg.use_ema, map_location=select_device(cfg.device))
    meta = run_cfg._meta_
    x, info, traj = generate_samples(model, cfg.n, meta.data_shape,
                                     cfg.sampler if cfg.sampler is not None else run_cfg.get("sampler"),
                                     seed=cfg.seed, steps=cfg.steps,
                                     return_trajectory=cfg.trajectory_frames > 0)
    torch.save(x, out / "samples.pt")
    lo, hi = meta.value_range or (0.0, 1.0)
    to_unit = lambda v: ((v - lo) / (hi - lo)).clamp(0, 1)  # noqa: E731
    if meta.data_kind == "images":
        save_image_grid(to_unit(x), out / "samples.png")
        ref = None
    else:
        ref = build_data(run_cfg.data).test
        save_points(x, out / "samples.png", reference=ref,
                    title=f"{meta.data_name}, {info.sampler}, {info.nfe} NFE")
    if traj is not None:
        save_trajectory_strip(traj, info.times.tolist(), out / "trajectory.png", meta.data_kind,
                              frames=cfg.trajectory_frames, to_unit=to_unit, reference=ref)
    log.info("%d samples (%s, %d NFE, %.1f s) -> %s", x.shape[0], info.sampler, info.nfe,
             info.wall_time, out)


if __name__ == "__main__":
    main()
