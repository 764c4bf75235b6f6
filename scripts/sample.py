"""Sample from a trained model: ``python scripts/sample.py run=<run | checkpoint | latest | model folder> n=64``.

Class-conditional: ``label=3 guidance=2.0`` (classifier-free guidance, w = 0 conditional);
``label=all``: n samples per class, one row per class. Inpainting: ``inpaint=true mask=right
inpaint_method=replacement|dps|pigdm n=8 completions=4`` completes n test samples.
Validates the whole config, then writes samples.pt, samples.png and trajectory.png (or
labels.pt; or inpaint.pt and inpaint.png) into ``<run>/samples/<timestamp>/`` (or ``out=``).
Bad input or NaN samples: one line on stderr and a non-zero exit.
"""
import logging

import torch

from sde_diffusion.configs import run_main, to_plain, validate_sample_config, validate_sampler
from sde_diffusion.runs import build_run_data, draw_samples, output_dir
from sde_diffusion.runs_conditional import conditional_main
from sde_diffusion.training import load_model, select_device
from sde_diffusion.training.plots import save_image_grid, save_points, save_trajectory_strip

log = logging.getLogger("sample")


def main(cfg) -> None:
    c = to_plain(cfg)
    validate_sample_config(c)
    model, run = load_model(c["run"], use_ema=c["use_ema"], map_location=select_device(c["device"]))
    meta = run._meta_
    sampler = c["sampler"] if c["sampler"] is not None else run.get("sampler")
    validate_sampler(sampler, "sampler" if c["sampler"] is not None else "the run's sampler", c["steps"])
    if meta.data_shape is None:
        raise ValueError(f"{c['run']!r} does not record its data shape; cannot draw samples")
    lo, hi = meta.value_range or (0.0, 1.0)
    to_unit = lambda v: ((v - lo) / (hi - lo)).clamp(0, 1)  # noqa: E731
    if c["label"] is not None or c["guidance"] is not None or c["inpaint"]:
        return log.info(conditional_main(c, model, run, sampler, to_unit))  # checks, then samples
    out = output_dir(meta.run_dir, "samples", c["out"])
    x, info, traj = draw_samples(model, c["n"], meta.data_shape, sampler, seed=c["seed"],
                                 steps=c["steps"], batch_size=c["batch_size"],
                                 return_trajectory=c["trajectory_frames"] > 0, progress=c["progress"])
    torch.save(x, out / "samples.pt")
    ref = None
    if meta.data_kind == "images":
        save_image_grid(to_unit(x), out / "samples.png")
    else:
        ref = build_run_data(run["data"]).test if isinstance(run.get("data"), dict) else None
        save_points(x, out / "samples.png", reference=ref,
                    title=f"{meta.data_name or 'samples'}, {info.sampler}, {info.nfe} NFE")
    if traj is not None:
        save_trajectory_strip(traj, info.times.tolist(), out / "trajectory.png", meta.data_kind or "points",
                              frames=c["trajectory_frames"], to_unit=to_unit, reference=ref)
    log.info("%d samples (%s, %d NFE, %.1f s) -> %s", x.shape[0], info.sampler, info.nfe,
             info.wall_time, out)


if __name__ == "__main__":
    run_main(main, "sample")
