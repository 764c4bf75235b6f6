"""The application layer: what the scripts do, on top of the library (nothing below imports it).

- ``folders``: output folders created atomically inside their run; run names inside ``outputs/``.
- ``models``: ``load_run`` (the one call into ``load_model``) and the sampler a request uses.
- ``data``: a run's data set from its stored config, reading only inside the run or ``data_root``.
- ``sampling``: ``scripts/sample.py`` (unconditional, by class, inpainting).
- ``conditional`` / ``inpainting``: labels and guidance; masks and completions of test data.
- ``likelihood``: ``scripts/likelihood.py``.
- ``plots``: the scripts' figures (data beside samples, class and inpainting grids, trajectories).
"""
from .data import build_run_data
from .folders import OutsideRunError, check_run_name, inside, output_dir
from .likelihood import likelihood_main
from .models import LoadedRun, load_run, run_sampler
from .sampling import sample_main

__all__ = ["OutsideRunError", "LoadedRun", "build_run_data", "check_run_name", "inside",
           "likelihood_main", "load_run", "output_dir", "run_sampler", "sample_main"]
