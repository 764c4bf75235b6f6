"""Sample from a trained model: ``python scripts/sample.py run=<run | checkpoint | latest | model folder> n=64``.

Class-conditional: ``label=3 guidance=2.0`` (classifier-free guidance, w = 0 conditional);
``label=all``: n samples per class, one row per class. Inpainting: ``inpaint=true mask=right
inpaint_method=replacement|dps|pigdm n=8 completions=4`` completes n test samples.
Validates the whole config, then writes samples.pt, samples.png, trajectory.png and
trajectory.gif (frames spaced by noise level; or labels.pt; or inpaint.pt and inpaint.png) into
``<run>/samples/<timestamp>/`` (or ``out=``).
Bad input or NaN samples: one line on stderr and a non-zero exit.
"""
import logging

from sde_diffusion.configs import run_main, to_plain, validate_sample_config, validate_sampler
from sde_diffusion.runs import sample_run, sampler_node
from sde_diffusion.runs_conditional import conditional_main
from sde_diffusion.io import load_model
from sde_diffusion.training import select_device

log = logging.getLogger("sample")


def main(cfg) -> None:
    c = to_plain(cfg)
    validate_sample_config(c)
    model, run, meta = load_model(c["run"], use_ema=c["use_ema"], map_location=select_device(c["device"]))
    sampler = c["sampler"] if c["sampler"] is not None else sampler_node(run.get("sampler"))
    validate_sampler(sampler, "sampler" if c["sampler"] is not None else "the run's sampler", c["steps"])
    if meta.data_shape is None:
        raise ValueError(f"{c['run']!r} does not record its data shape; cannot draw samples")
    lo, hi = meta.value_range or (0.0, 1.0)
    to_unit = lambda v: ((v - lo) / (hi - lo)).clamp(0, 1)  # noqa: E731
    if c["label"] is not None or c["guidance"] is not None or c["inpaint"]:
        return log.info(conditional_main(c, model, run, meta, sampler, to_unit))  # checks, then samples
    log.info(sample_run(c, model, run, meta, sampler, to_unit))


if __name__ == "__main__":
    run_main(main, "sample")
