"""Sample from a trained model: ``python scripts/sample.py run=<run | checkpoint | latest | model folder> n=64``.

Class-conditional: ``label=3 guidance=2.0`` (classifier-free guidance, w = 0 conditional);
``label=all``: n samples per class, one row per class. Inpainting: ``inpaint=true mask=right
inpaint_method=replacement|dps|pigdm n=8 completions=4`` completes n test samples.
Writes samples.pt, samples.png, trajectory.png and trajectory.gif (or labels.pt; or inpaint.pt and
inpaint.png) into a new folder ``<run>/samples/<timestamp>/`` (or ``out=``); see
``sde_diffusion.app.sampling``. Bad input or NaN samples: one line on stderr, a non-zero exit.
"""
import logging

from sde_diffusion.app import sample_main
from sde_diffusion.configs import run_main, to_plain, validate_sample_config

log = logging.getLogger("sample")


def main(cfg) -> None:
    c = to_plain(cfg)
    validate_sample_config(c)
    log.info(sample_main(c))


if __name__ == "__main__":
    run_main(main, "sample")
