"""Trainer, EMA, checkpoints, load_model, tracker robustness, and the U-Net (all on CPU, tiny)."""
import math
import os
import signal

import pytest
import torch

from sde_diffusion.models import UNet
from sde_diffusion.tracking import NullTracker, WandbTracker
from sde_diffusion.training import (EMA, CheckpointError, NonFiniteLossError, Trainer,
                                    compose_config, latest_checkpoint, list_checkpoints,
                                    load_checkpoint, load_model, save_checkpoint)
from sde_diffusion.training.checkpoint import checkpoint_dir

TINY_POINTS = ["experiment=toy2d", "logger=none", "data.n_train=2000", "data.n_test=500",
               "model.net.hidden=32", "model.net.depth=1", "train.steps=20", "train.batch_size=64",
               "train.checkpoint_every=5", "train.keep_checkpoints=3", "train.eval_samples=0",
               "train.log_every=5", "train.progress=false", "train.warmup_steps=3"]
TINY_IMAGES = ["experiment=digits", "logger=none", "model.net.base_channels=8",
               "model.net.num_groups=4", "model.net.dropout=0.2", "train.steps=12",
               "train.batch_size=16", "train.checkpoint_every=4", "train.n_samples=0",
               "train.log_every=4", "train.progress=false", "train.warmup_steps=2"]


def cfg_for(base, *extra):
    return compose_config(list(base) + list(extra))


class RecordingTracker(NullTracker):
    def __init__(self):
        self.logged, self.exit_code = [], None

    def log(self, metrics, step):
        self.logged.append((step, dict(metrics)))

    def finish(self, exit_code=0):
        self.exit_code = exit_code


def assert_same_state(a: Trainer, b: Trainer):
    assert a.step == b.step
    for (k, va), vb in zip(a.model.state_dict().items(), b.model.state_dict().values()):
        assert torch.equal(va, vb), f"parameter {k} differs"
    for k, va in a.ema.state_dict().items():
        assert torch.equal(va, b.ema.state_dict()[k]), f"EMA {k} differs"
    sa, sb = a.optimizer.state_dict()["state"], b.optimizer.state_dict()["state"]
    for i in sa:
        assert torch.equal(sa[i]["exp_avg_sq"], sb[i]["exp_avg_sq"])


# ----------------------------------------------------------------------------- resume
@pytest.mark.parametrize("base", [TINY_POINTS, TINY_IMAGES], ids=["mlp-ring", "unet-digits-dropout"])
def test_killed_run_resumes_to_the_same_parameters(tmp_path, base):
    """Crash after the step-10 (8) checkpoint without saving, restart in the same directory:
    the final weights, EMA and optimiser state equal an uninterrupted run's bit for bit (CPU)."""
    total = int(cfg_for(base).train.steps)
    ref = Trainer(cfg_for(base), tmp_path / "ref")
    ref.fit()
    kill_at = total - 7 if total == 20 else total - 2  # past a checkpoint, not on one

    def crash(tr):
        if tr.step == kill_at:
            raise RuntimeError("simulated kill")

    with pytest.raises(RuntimeError, match="simulated kill"):
        Trainer(cfg_for(base), tmp_path / "run", on_step=[crash]).fit()
    resumed = Trainer(cfg_for(base), tmp_path / "run")
    assert resumed.resumed_from is not None and resumed.step < kill_at
    res = resumed.fit()
    assert res.status == "completed" and res.step == total
    assert_same_state(ref, resumed)


def test_sigterm_saves_and_stops_cleanly_then_resumes(tmp_path):
    ref = Trainer(cfg_for(TINY_POINTS), tmp_path / "ref")
    ref.fit()
    tracker = RecordingTracker()

    def term(tr):
        if tr.step == 7:
            os.kill(os.getpid(), signal.SIGTERM)

    before = signal.getsignal(signal.SIGTERM)
    res = Trainer(cfg_for(TINY_POINTS), tmp_path / "run", tracker=tracker, on_step=[term]).fit()
    assert signal.getsignal(signal.SIGTERM) is before  # the trainer's handler is removed again
    assert res.status == "interrupted" and res.signal == signal.SIGTERM and res.step == 7
    assert tracker.exit_code == 128 + signal.SIGTERM
    assert res.checkpoint.name == "ckpt_00000007.pt"
    resumed = Trainer(cfg_for(TINY_POINTS), tmp_path / "run")
    assert resumed.step == 7
    resumed.fit()
    assert_same_state(ref, resumed)


def test_resume_refuses_a_different_model_config(tmp_path):
    Trainer(cfg_for(TINY_POINTS, "train.steps=5"), tmp_path).fit()
    with pytest.raises(ValueError, match="different 'model' config"):
        Trainer(cfg_for(TINY_POINTS, "model.net.hidden=16"), tmp_path)


# ----------------------------------------------------------------------------- failure modes
def test_nan_loss_stops_with_message_and_keeps_last_good_checkpoint(tmp_path):
    tracker = RecordingTracker()

    def poison(tr):
        if tr.step == 7:
            with torch.no_grad():
                next(tr.model.parameters()).fill_(float("nan"))

    tr = Trainer(cfg_for(TINY_POINTS), tmp_path, tracker=tracker, on_step=[poison])
    with pytest.raises(NonFiniteLossError, match=r"non-finite .* step 8 .*train\.lr"):
        tr.fit()
    assert tracker.exit_code == 1
    files = list_checkpoints(checkpoint_dir(tmp_path))
    assert [f.name for f in files] == ["ckpt_00000005.pt"]
    state = load_checkpoint(files[0])
    assert all(bool(torch.isfinite(v).all()) for v in state["model"].values())


def test_truncated_checkpoint_is_detected_and_skipped(tmp_path):
    Trainer(cfg_for(TINY_POINTS), tmp_path).fit()
    files = list_checkpoints(checkpoint_dir(tmp_path))
    assert [f.name for f in files] == ["ckpt_00000010.pt", "ckpt_00000015.pt", "ckpt_00000020.pt"]
    data = files[-1].read_bytes()
    files[-1].write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(files[-1])
    with pytest.warns(RuntimeWarning, match="falling back"):
        path, state = latest_checkpoint(checkpoint_dir(tmp_path))
    assert path == files[-2] and state["step"] == 15
    with pytest.warns(RuntimeWarning, match="falling back"):
        tr = Trainer(cfg_for(TINY_POINTS), tmp_path)
    assert tr.step == 15
    with pytest.warns(RuntimeWarning):
        model, cfg = load_model(tmp_path)
    assert cfg._meta_.step == 15


class Evil:
    """An arbitrary pickled object: weights_only loading must refuse it."""


def test_checkpoints_are_weights_only_and_atomic(tmp_path):
    state = {k: 0 for k in ("model", "ema", "optimizer", "step", "rng", "data_position",
                            "config", "meta")}
    save_checkpoint(dict(state), tmp_path, step=1)
    assert load_checkpoint(tmp_path / "ckpt_00000001.pt")["step"] == 0
    save_checkpoint(dict(state, meta=Evil()), tmp_path, step=2)  # a pickled object
    with pytest.raises(CheckpointError, match="corrupt or unreadable"):
        load_checkpoint(tmp_path / "ckpt_00000002.pt")
    with pytest.raises(CheckpointError, match="lacks entries"):
        torch.save({"model": {}}, tmp_path / "ckpt_00000003.pt")
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
    with pytest.warns(RuntimeWarning, match="training continues"):
        res = Trainer(cfg_for(TINY_POINTS, "train.steps=10"), tmp_path, tracker=tr).fit()
    assert res.status == "completed" and not tr.active
    import wandb
    monkeypatch.setattr(wandb, "init", lambda **k: (_ for _ in ()).throw(RuntimeError("no")))
    with pytest.warns(RuntimeWarning, match="init"):
        t2 = WandbTracker(mode="offline", run_dir=str(tmp_path / "w2"))
    assert not t2.active
    t2.log({"a": 1.0}, step=1)  # no-op, no error


# ----------------------------------------------------------------------------- EMA / load_model
def test_ema_matches_closed_form_and_swap_restores_on_error():
    lin = torch.nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        lin.weight.fill_(0.0)
    ema = EMA(lin, decay=0.9, warmup=False)
    for k in range(1, 6):  # theta_k = k
        with torch.no_grad():
            lin.weight.fill_(float(k))
        ema.update(lin)
    expected = sum(0.1 * 0.9 ** (5 - k) * k for k in range(1, 6))  # + 0.9^5 * 0
    assert math.isclose(float(ema.shadow["weight"]), expected, rel_tol=1e-6)
    with pytest.raises(KeyError):
        with ema.swapped(lin):
            assert math.isclose(float(lin.weight.detach()), expected, rel_tol=1e-6)
            raise KeyError("boom")
    assert float(lin.weight.detach()) == 5.0
    with pytest.raises(ValueError, match="decay"):
        EMA(lin, decay=1.0)


def test_load_model_rebuilds_ema_and_raw_weights(tmp_path):
    tr = Trainer(cfg_for(TINY_POINTS), tmp_path)
    tr.fit()
    model, cfg = load_model(tmp_path)
    raw, _ = load_model(tmp_path / "checkpoints" / "ckpt_00000020.pt", use_ema=False)
    assert tuple(cfg._meta_.data_shape) == (2,) and cfg.name == "toy2d" and not model.training
    x, t = torch.randn(16, 2), torch.rand(16) * 0.9 + 0.05
    with torch.no_grad():
        assert torch.equal(raw(x, t), tr.model(x, t))
        with tr.ema.swapped(tr.model):
            assert torch.equal(model(x, t), tr.model(x, t))
        assert not torch.equal(model(x, t), raw(x, t))


def test_samples_and_metrics_at_the_end(tmp_path):
    cfg = cfg_for(TINY_POINTS, "train.eval_samples=300", "sampler.steps=20")
    res = Trainer(cfg, tmp_path).fit()
    assert (tmp_path / "samples" / "final.png").is_file() and (tmp_path / "metrics.json").is_file()
    m = res.metrics
    assert m["sw_floor"] > 0 and math.isclose(m["sw_ratio"], m["sw"] / m["sw_floor"])
    assert torch.load(tmp_path / "samples" / "final.pt", weights_only=True).shape == (300, 2)


# ----------------------------------------------------------------------------- U-Net
@pytest.mark.parametrize("channels,size,mult,attn", [(1, 8, (1, 2), (4,)), (1, 28, (1, 2, 2), (7,)),
                                                     (3, 32, (1, 2, 2, 2), (16, 8))])
def test_unet_shapes_and_time_dependence(channels, size, mult, attn):
    torch.manual_seed(0)
    net = UNet(channels, size, base_channels=8, channel_mult=mult, num_res_blocks=1,
               attn_resolutions=attn, num_groups=4, dropout=0.0)
    with torch.no_grad():  # DDPM++ zero-initialises the last conv of each block and the output
        for p in net.parameters():
            if p.dim() > 1 and not bool(p.any()):
                p.normal_(0, 0.05)
    x = torch.randn(2, channels, size, size)
    y1, y2 = net(x, torch.full((2,), 0.1)), net(x, torch.full((2,), 0.9))
    assert y1.shape == x.shape and not torch.allclose(y1, y2)
    y1.sum().backward()
    assert all(p.grad is not None for p in net.parameters() if p.requires_grad)


def test_unet_rejects_sizes_it_cannot_take():
    with pytest.raises(ValueError, match="multiple of 8"):
        UNet(1, 28, channel_mult=(1, 2, 2, 2), attn_resolutions=())
    with pytest.raises(ValueError, match=r"reachable resolutions: \[28, 14, 7\]"):
        UNet(1, 28, channel_mult=(1, 2, 2), attn_resolutions=(16,))
    net = UNet(1, 8, base_channels=8, channel_mult=(1, 2), attn_resolutions=(4,), num_groups=4)
    with pytest.raises(ValueError, match="built for"):
        net(torch.randn(1, 1, 16, 16), torch.rand(1))


# ----------------------------------------------------------------------------- slow: wandb, main job
@pytest.mark.slow
def test_wandb_offline_run_lives_in_the_run_dir(tmp_path, monkeypatch):
    """logger=wandb with no WANDB_MODE: offline, no prompt, files under <run dir>/wandb, the
    resolved config logged, the run id stored in the checkpoint for resumption."""
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setenv("WANDB_API_KEY", "")
    cfg = cfg_for([o for o in TINY_POINTS if o != "logger=none"], "logger=wandb", "train.steps=5")
    tr = Trainer(cfg, tmp_path)
    assert tr.tracker.active
    tr.fit()
    runs = list((tmp_path / "wandb").glob("offline-run-*"))
    assert len(runs) == 1 and tr.tracker_id and tr.tracker_id in runs[0].name
    assert load_checkpoint(list_checkpoints(checkpoint_dir(tmp_path))[-1])["tracker_id"] == tr.tracker_id
    monkeypatch.setenv("WANDB_MODE", "disabled")  # the environment wins over logger.mode
    Trainer(cfg_for([o for o in TINY_POINTS if o != "logger=none"], "logger=wandb",
                    "train.steps=5"), tmp_path / "off").fit()
    assert not (tmp_path / "off" / "wandb").exists() or not list((tmp_path / "off" / "wandb").glob("offline-run-*"))


@pytest.mark.slow
def test_readme_main_job_toy2d(tmp_path):
    """`python scripts/train.py experiment=toy2d`: under 3 minutes on 2 CPU cores, samples within
    2x the true-vs-true sliced-Wasserstein floor."""
    import json
    import subprocess
    import sys
    import time
    from pathlib import Path
    root = Path(__file__).resolve().parents[1]
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, str(root / "scripts/train.py"), "experiment=toy2d",
                        "logger=none", f"hydra.run.dir={tmp_path}"], capture_output=True, text=True,
                       env=dict(os.environ, OMP_NUM_THREADS="2"), timeout=600)
    wall = time.perf_counter() - t0
    assert r.returncode == 0, r.stderr[-2000:]
    m = json.loads((tmp_path / "metrics.json").read_text())
    assert (tmp_path / "samples" / "final.png").is_file()
    assert m["sw_ratio"] < 2.0, m
    assert wall < 180, f"took {wall:.0f} s"
