"""Fabricated runs for the loading / security / script tests: real checkpoints written with
``save_checkpoint`` (no training needed), in the legacy format (Hydra config YAML) or the new one
(``model_spec``), plus ways to run the evaluation scripts in-process."""
import contextlib
import io
import runpy
import sys
from pathlib import Path

import torch
import yaml

import sde_diffusion.registry as registry
from sde_diffusion.models import MLP, ScoreModel
from sde_diffusion.sdes import VPSDE
from sde_diffusion.io import save_checkpoint

ROOT = Path(__file__).resolve().parents[1]
DATA = {"_target_": "sde_diffusion.data.ring", "n_train": 256, "n_test": 64, "seed": 0,
        "n_modes": 8, "radius": 4.0, "std": 0.3}
SAMPLER = {"name": "euler", "steps": 4, "options": {}}


def tiny_model(seed=0):
    torch.manual_seed(seed)
    return ScoreModel(MLP(2, hidden=16, depth=1, time_dim=8), VPSDE(), "eps", data_std=1.0)


def legacy_config():
    return {"name": "toy", "seed": 0,
            "sde": {"_target_": "sde_diffusion.sdes.VPSDE", "beta_min": 0.1, "beta_max": 20.0},
            "model": {"parameterization": "eps", "data_std": 1.0, "input_scaling": True,
                      "net": {"_target_": "sde_diffusion.models.MLP", "hidden": 16, "depth": 1,
                              "time_dim": 8}},
            "data": dict(DATA), "sampler": dict(SAMPLER),
            "logger": {"_target_": "sde_diffusion.tracking.NullTracker"},
            "train": {"steps": 4, "lr": 1e-3}}


def make_run(run_dir, model=None, config=None, spec="new", weights=None, step=4, data=None):
    """A run folder with one checkpoint. spec: "new" (state["model_spec"]) or "legacy"."""
    model = model or tiny_model()
    sd = {k: v.clone() for k, v in model.state_dict().items()} if weights is None else weights
    config = legacy_config() if config is None else config
    meta = {"format": 1, "data_shape": [2], "data_kind": "points", "data_name": "ring"}
    if data is not None:
        meta["data"] = data
    state = {"model": sd, "ema": sd, "optimizer": {}, "step": step, "rng": {},
             "data_position": {"epoch": 0, "index": 0}, "tracker_id": "",
             "config": yaml.safe_dump(config), "meta": meta}
    if spec == "new":
        state["model_spec"] = registry.model_spec(model)
    save_checkpoint(state, Path(run_dir) / "checkpoints", step=step)
    return Path(run_dir)


def script_main(name):
    """The ``main`` function of ``scripts/<name>.py`` (imported, not run)."""
    return runpy.run_path(str(ROOT / "scripts" / f"{name}.py"), run_name="not_main")["main"]


def run_script(name, args):
    """Run ``scripts/<name>.py args`` in-process through ``run_main``: (exit code, stderr)."""
    from sde_diffusion.configs import run_main
    err = io.StringIO()
    code = 0
    with contextlib.redirect_stderr(err):
        try:
            run_main(script_main(name), name, argv=list(args), prog=name)
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
    return code, err.getvalue()


def subprocess_env(extra_path=None):
    import os
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT) + (
        os.pathsep + str(extra_path) if extra_path else ""))
    env.pop("SDE_DEBUG", None)
    return env


def python():
    return sys.executable
