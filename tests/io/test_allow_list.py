"""The allow-list and the weights-only loads, attacked where a careless walk would not look.

- A forbidden ``_target_`` hidden in a list, a list of lists, a tuple, ``_args_``, a
  ``_partial_`` node, a nested partial, ``_convert_`` or under ``_recursive_: false`` is refused
  by ``build``, by ``build_score_model`` and by every loader, naming the key path, before
  anything runs (a shell command that would create a marker file never runs).
- A pickle payload (``__reduce__`` -> ``os.system``) in place of the weights is refused by every
  entry point that reads a weights file: ``load_model`` (run and file), ``load_pretrained``,
  a model folder through ``load_model``, a trainer resuming the run, the benchmark's checkpoint
  source. Each names the file and ``UnpicklingError``; the marker is never created.
"""
from __future__ import annotations

import json
import os

import pytest
import torch

import sde_diffusion.registry as registry
from runs_helpers import make_run, tiny_model
from sde_diffusion.io import (CheckpointError, checkpoint_dir, load_checkpoint, load_model,
                              load_pretrained, save_pretrained)
from sde_diffusion.models import ScoreModel

VP = {"_target_": "sde_diffusion.sdes.VPSDE"}


@pytest.fixture
def marker(tmp_path):
    m = tmp_path / "pwned"
    yield m
    assert not m.exists(), "a hostile target or payload ran"


def _evil(marker):
    return {"_target_": "os.system", "command": f"touch {marker}"}


HIDING_PLACES = {
    "list entry": (lambda e: {**VP, "extra": [1, e]}, r"extra\[1\]._target_='os.system'"),
    "list of lists": (lambda e: {**VP, "extra": [[0, [e]]]}, r"extra\[0\]\[1\]\[0\]._target_='os.system'"),
    "tuple": (lambda e: {**VP, "extra": (0, e)}, r"extra\[1\]._target_='os.system'"),
    "_args_": (lambda e: {**VP, "_args_": [e]}, r"_args_\[0\]._target_='os.system'"),
    "_partial_ node": (lambda e: {**e, "_partial_": True}, r"<root>._target_='os.system'"),
    "kwarg of a partial": (lambda e: {**VP, "_partial_": True, "beta_min": e}, r"beta_min._target_='os.system'"),
    "nested partial": (lambda e: {**VP, "schedule": {"_target_": "sde_diffusion.sdes.LinearBeta",
                                                     "_partial_": True, "beta_max": {**e, "_partial_": True}}},
                       r"schedule.beta_max._target_='os.system'"),
    "_convert_": (lambda e: {**VP, "_convert_": e}, r"_convert_._target_='os.system'"),
    "under _recursive_: false": (lambda e: {**VP, "_recursive_": False, "schedule": e},
                                 r"schedule._target_='os.system'"),
}


@pytest.mark.parametrize("place", list(HIDING_PLACES))
def test_build_refuses_targets_hidden_anywhere(marker, place):
    make, where = HIDING_PLACES[place]
    with pytest.raises(registry.RegistryError, match=where + " is not an allowed target"):
        registry.build(make(_evil(marker)))
    with pytest.raises(registry.RegistryError, match="is not an allowed target"):
        registry.check_spec({"outer": [make(_evil(marker))]})


@pytest.mark.parametrize("place", [p for p in HIDING_PLACES if p != "tuple"])  # JSON has no tuples
def test_model_folders_refuse_targets_hidden_anywhere(tmp_path, marker, place):
    make, where = HIDING_PLACES[place]
    d = save_pretrained(tiny_model(), tmp_path / "m")
    cfg = json.loads((d / "config.json").read_text())
    cfg["model"]["sde"] = make(_evil(marker))
    (d / "config.json").write_text(json.dumps(cfg))
    for load in (load_model, load_pretrained, ScoreModel.from_pretrained):
        with pytest.raises(registry.RegistryError, match="config.json.model.sde" if where.startswith("<root>")
                           else "config.json.model.sde." + where):
            load(d)


@pytest.mark.parametrize("place", ["list entry", "_args_", "nested partial"])
def test_build_score_model_refuses_targets_hidden_anywhere(marker, place):
    make, where = HIDING_PLACES[place]
    spec = registry.model_spec(tiny_model())
    with pytest.raises(registry.RegistryError, match="model.sde." + where):
        registry.build_score_model(dict(spec, sde=make(_evil(marker))))


# ---------------------------------------------------------------------- pickle payloads
class Payload:
    """Unpickling this runs ``touch <marker>`` (unless the loader is weights-only)."""

    def __init__(self, marker):
        self.cmd = f"touch {marker}"

    def __reduce__(self):
        return os.system, (self.cmd,)


def _payload_run(tmp_path, marker):
    run = make_run(tmp_path / "run", step=4)
    path = checkpoint_dir(run) / "ckpt_00000004.pt"
    state = load_checkpoint(path)
    torch.save(dict(state, model=Payload(marker)), path)
    return run, path


UNPICKLE = r"corrupt or unreadable \(UnpicklingError"


def test_load_model_is_weights_only_for_runs_and_files(tmp_path, marker):
    run, path = _payload_run(tmp_path, marker)
    with pytest.raises(CheckpointError, match=r"none of the 1 checkpoints .* could be read: .*" + UNPICKLE):
        load_model(run)
    with pytest.raises(CheckpointError, match=UNPICKLE):
        load_model(path)


def test_model_folders_are_weights_only(tmp_path, monkeypatch, marker):
    import sde_diffusion.io.pretrained as P
    monkeypatch.setattr(P, "_has_safetensors", lambda: False)
    d = save_pretrained(tiny_model(), tmp_path / "m")
    torch.save(Payload(marker), d / "model.pt")
    for load in (load_model, load_pretrained, ScoreModel.from_pretrained):
        with pytest.raises(CheckpointError, match=r"model.pt' is corrupt or unreadable \(UnpicklingError\)"):
            load(d)


def test_resuming_a_run_is_weights_only(tmp_path, marker):
    from helpers_training import make
    run, _ = _payload_run(tmp_path, marker)
    with pytest.raises(CheckpointError, match=UNPICKLE):
        make(run, steps=6)


def test_the_benchmark_checkpoint_source_is_weights_only(tmp_path, marker):
    from sde_diffusion.benchmarking import run_cell
    from sde_diffusion.configs.benchmark import resolve_cell
    run, _ = _payload_run(tmp_path, marker)
    ring = {"name": "ring8", "mixture": {"_target_": "sde_diffusion.analytic.ring_of_gaussians",
                                         "n": 8, "radius": 4.0, "std": 0.3}}
    cell = {"problem": ring, "sde": VP, "sampler": {"name": "euler", "steps": 2, "options": {}},
            "nfe": None, "seed": 0, "n_samples": 8, "n_heldout": 8, "metrics": ["sliced_wasserstein"],
            "checkpoint": str(run), "device": "cpu", "dtype": "float32"}
    problem, _ = resolve_cell(cell)
    try:
        rec = run_cell(cell, problem=problem)
    except CheckpointError as e:
        assert "UnpicklingError" in str(e)
    else:
        assert "UnpicklingError" in str(rec.get("error")), rec
