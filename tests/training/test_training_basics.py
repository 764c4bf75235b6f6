"""EMA closed form and swap, weights-only atomic checkpoints, tracker failures, offline wandb
inside the run folder: the pitfalls of PITFALLS.md, on the Trainer of objects."""
import math
import os

import pytest
import torch

from helpers_training import RING, make
from sde_diffusion.tracking import WandbTracker
from sde_diffusion.io import (CheckpointError, checkpoint_dir, list_checkpoints, load_checkpoint,
                              save_checkpoint)
from sde_diffusion.training import EMA


def test_ema_matches_closed_form_and_swap_restores_on_error():
    """ema_k = d ema_{k-1} + (1 - d) theta_k, so after theta_k = k (k = 1..5) from 0:
    sum_k (1 - d) d^(5-k) k; ``swapped`` restores the raw weights even when the body raises."""
    lin = torch.nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        lin.weight.fill_(0.0)
    ema = EMA(lin, decay=0.9, warmup=False)
    for k in range(1, 6):
        with torch.no_grad():
            lin.weight.fill_(float(k))
        ema.update(lin)
    expected = sum(0.1 * 0.9 ** (5 - k) * k for k in range(1, 6))
    assert math.isclose(float(ema.shadow["weight"]), expected, rel_tol=1e-6)
    with pytest.raises(KeyError):
        with ema.swapped(lin):
            assert math.isclose(float(lin.weight.detach()), expected, rel_tol=1e-6)
            raise KeyError("boom")
    assert float(lin.weight.detach()) == 5.0
    with pytest.raises(ValueError, match="decay"):
        EMA(lin, decay=1.0)


class Evil:
    """A pickled object: ``weights_only`` loading must refuse to build it."""

    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_checkpoints_are_weights_only_and_atomic(tmp_path):
    state = {k: 0 for k in ("model", "ema", "optimizer", "step", "rng", "data_position",
                            "config", "meta")}
    save_checkpoint(dict(state), tmp_path, step=1)
    assert load_checkpoint(tmp_path / "ckpt_00000001.pt")["step"] == 0
    torch.save(dict(state, meta=Evil()), tmp_path / "ckpt_00000002.pt")  # a hostile pickle
    with pytest.raises(CheckpointError, match="corrupt or unreadable"):
        load_checkpoint(tmp_path / "ckpt_00000002.pt")
    torch.save({"model": {}}, tmp_path / "ckpt_00000003.pt")
    with pytest.raises(CheckpointError, match="lacks entries"):
        load_checkpoint(tmp_path / "ckpt_00000003.pt")
    assert not list(tmp_path.glob("*.tmp"))
    for s in range(4, 9):
        save_checkpoint(dict(state), tmp_path, step=s, keep=2)
    assert [p.name for p in list_checkpoints(tmp_path)] == ["ckpt_00000007.pt", "ckpt_00000008.pt"]


def test_tracker_failures_warn_and_never_stop_training(tmp_path, monkeypatch):
    class Broken:
        def log(self, *a, **k):
            raise ConnectionError("wandb is down")

        def finish(self, *a, **k):
            pass

    tr = WandbTracker(mode="disabled", run_dir=str(tmp_path / "w"))
    tr._run = Broken()
    with pytest.warns(RuntimeWarning):
        res = make(tmp_path / "run", tracker=tr, steps=10).fit()
    assert res.status == "completed" and not tr.active


def test_wandb_offline_run_lives_in_the_run_dir(tmp_path, monkeypatch):
    """No WANDB_MODE: offline, no prompt, files under <run dir>/wandb, the run id stored in the
    checkpoint so that a resumed run continues the same wandb run."""
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setenv("WANDB_API_KEY", "")
    run_dir = tmp_path / "run"

    def tracker(run_id=None):
        return WandbTracker(mode="offline", run_dir=str(run_dir), run_id=run_id)

    tr = make(run_dir, tracker=tracker, steps=5)
    assert tr.tracker.active
    tr.fit()
    runs = list((run_dir / "wandb").glob("offline-run-*"))
    assert len(runs) == 1 and tr.tracker_id and tr.tracker_id in runs[0].name
    last = list_checkpoints(checkpoint_dir(run_dir))[-1]
    assert load_checkpoint(last)["tracker_id"] == tr.tracker_id
    assert not (tmp_path / "wandb").exists()  # nothing outside the run folder


def test_load_model_selects_an_extra_ema_by_its_decay(tmp_path):
    """``train.ema_extra`` decays are loadable by value: the weights are exactly that EMA's."""
    from sde_diffusion.models import ScoreModel
    from sde_diffusion.io import load_model
    from sde_diffusion.io import ema_state

    run = tmp_path / "run"
    make(run, ema_decay=0.99, ema_extra=[0.9], steps=120, checkpoint_every=60).fit()  # past EMA warm-up
    state = load_checkpoint(list_checkpoints(checkpoint_dir(run))[-1])
    for which, expected in ((0.9, ema_state(state, 0.9)), (True, state["ema"]),
                            (0.99, state["ema"]), (False, state["model"])):
        model, cfg, meta = load_model(run, use_ema=which)
        got = model.state_dict()
        assert all(torch.equal(got[k], v) for k, v in expected.items()), which
        assert meta.use_ema == which
    assert not all(torch.equal(state["ema"][k], v) for k, v in ema_state(state, 0.9).items())
    with pytest.raises(ValueError, match=r"no EMA of decay 0.7 in this checkpoint; kept decays"):
        load_model(run, use_ema=0.7)
    with pytest.raises(TypeError, match=r"use_ema must be True, False or an EMA decay in \[0, 1\), got 'x'"):
        load_model(run, use_ema="x")
    model.save_pretrained(tmp_path / "folder")
    with pytest.raises(ValueError, match="holds one set of weights; use_ema=0.9"):
        load_model(tmp_path / "folder", use_ema=0.9)
    assert isinstance(load_model(tmp_path / "folder")[0], ScoreModel)
