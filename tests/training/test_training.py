"""Trainer over objects: exact resume, signals, nothing lost, schedules, accumulation, several
EMAs, conditional labels, lineage, the Python example (all on CPU, tiny)."""
import logging
import math
import os
import signal
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

import pytest
import torch

from helpers_training import (DIGITS, RING, RecordingTracker, assert_same_state,
                              make, points_model)
from sde_diffusion.io import (CheckpointError, UnsafeCheckpointError, checkpoint_dir, ema_state,
                              latest_checkpoint, list_checkpoints, load_checkpoint, load_model,
                              save_checkpoint)
from sde_diffusion.training import EMA, NonFiniteLossError, Trainer, TrainOptions, lr_factor

ROOT = Path(__file__).resolve().parents[2]


def ckpt_names(run_dir):
    return [p.name for p in list_checkpoints(checkpoint_dir(run_dir))]


# ----------------------------------------------------------------------------- exact resume
@pytest.mark.parametrize("data,extra", [
    (RING, {}),
    (RING, {"accumulate": 2, "ema_extra": [0.9], "lr_schedule": "cosine", "min_lr_ratio": 0.1}),
    (DIGITS, {"steps": 12, "batch_size": 16, "checkpoint_every": 4})],
    ids=["mlp-ring", "ring-accum-2ema-cosine", "unet-digits-dropout"])
def test_killed_run_resumes_to_the_same_parameters(tmp_path, data, extra):
    """Crash between checkpoints, restart in the same folder: weights, every EMA and the
    optimiser equal an uninterrupted run's bit for bit (the loader resumes mid-epoch)."""
    total = extra.get("steps", 20)
    ref = make(tmp_path / "ref", data, **extra)
    ref.fit()
    kill_at = total - 2

    def crash(tr):
        if tr.step == kill_at:
            raise RuntimeError("simulated kill")

    with pytest.raises(RuntimeError, match="simulated kill"):
        make(tmp_path / "run", data, callbacks=[crash], **extra).fit()
    resumed = make(tmp_path / "run", data, **extra)
    assert resumed.resumed_from is not None and resumed.step < kill_at
    assert resumed.batch_index > 0 or resumed.epoch > 0  # mid-stream position restored
    res = resumed.fit()
    assert res.status == "completed" and res.step == total
    assert_same_state(ref, resumed)


def test_resume_across_an_epoch_boundary_matches(tmp_path):
    """2000 points / 64 = 31 batches an epoch: 40 steps cross it; resume at 35 is exact."""
    ref = make(tmp_path / "ref", steps=40, checkpoint_every=35)
    ref.fit()
    assert ref.epoch == 1
    crash = lambda tr: (_ for _ in ()).throw(RuntimeError("kill")) if tr.step == 37 else None  # noqa: E731
    with pytest.raises(RuntimeError):
        make(tmp_path / "run", steps=40, checkpoint_every=35, callbacks=[crash]).fit()
    r = make(tmp_path / "run", steps=40, checkpoint_every=35)
    assert (r.step, r.epoch, r.batch_index) == (35, 1, 4)
    r.fit()
    assert_same_state(ref, r)


def test_sigterm_saves_and_stops_cleanly_then_resumes(tmp_path):
    ref = make(tmp_path / "ref")
    ref.fit()
    tracker = RecordingTracker()
    term = lambda tr: os.kill(os.getpid(), signal.SIGTERM) if tr.step == 7 else None  # noqa: E731
    before = signal.getsignal(signal.SIGTERM)
    res = make(tmp_path / "run", tracker=tracker, callbacks=[term]).fit()
    assert signal.getsignal(signal.SIGTERM) is before  # handler removed again
    assert res.status == "interrupted" and res.signal == signal.SIGTERM and res.step == 7
    assert tracker.exit_code == 128 + signal.SIGTERM and res.checkpoint.name == "ckpt_00000007.pt"
    resumed = make(tmp_path / "run")
    assert resumed.step == 7
    resumed.fit()
    assert_same_state(ref, resumed)


def test_second_signal_exits_at_once_and_cleanly(tmp_path):
    def twice(tr):
        if tr.step == 3:
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)

    tracker = RecordingTracker()
    before = signal.getsignal(signal.SIGINT)   # SIG_IGN when pytest runs in a background job
    with pytest.raises(SystemExit) as e:
        make(tmp_path, tracker=tracker, callbacks=[twice]).fit()
    assert e.value.code == 128 + signal.SIGINT
    assert tracker.exit_code == 1 and not list(tmp_path.rglob("*.tmp"))
    assert signal.getsignal(signal.SIGINT) is before       # the caller's handler is restored


def test_signal_during_final_evaluation_stops_it(tmp_path):
    """A 20000-step sampler would take minutes; the signal sent 0.5 s in stops it at once."""
    import threading
    tr = make(tmp_path, eval_samples=2000, sampler={"name": "euler_maruyama", "steps": 20000})
    timer = threading.Timer(0.5, lambda: os.kill(os.getpid(), signal.SIGINT))
    orig = tr.sample_and_plot
    tr.sample_and_plot = lambda n, tag: (timer.start(), orig(n, tag))[1] if tag == "final" else orig(n, tag)
    t0 = time.perf_counter()
    res = tr.fit()
    assert time.perf_counter() - t0 < 30
    assert res.status == "interrupted" and res.signal == signal.SIGINT and res.metrics == {}
    assert ckpt_names(tmp_path)[-1] == "ckpt_00000020.pt"  # the training result was saved first


# ----------------------------------------------------------------------------- nothing lost
def test_fresh_start_in_used_folder_refuses_or_moves_aside(tmp_path):
    make(tmp_path, steps=20).fit()
    assert ckpt_names(tmp_path) == ["ckpt_00000010.pt", "ckpt_00000015.pt", "ckpt_00000020.pt"]
    with pytest.raises(FileExistsError, match=r"already holds 3 checkpoint.*train\.resume=true.*"
                                              r"train\.fresh_start=move"):
        make(tmp_path, steps=8, resume=False)
    tr = make(tmp_path, steps=8, resume=False, fresh_start="move")
    tr.fit()
    assert ckpt_names(tmp_path) == ["ckpt_00000005.pt", "ckpt_00000008.pt"]  # new ones all kept
    old = [p for p in tmp_path.iterdir() if p.name.startswith("checkpoints.old-")]
    assert len(old) == 1 and sorted(p.name for p in old[0].iterdir())[-1] == "ckpt_00000020.pt"
    model, cfg, meta = load_model(tmp_path)
    assert meta.step == 8  # load_model sees the new run


def test_pruning_never_touches_a_higher_step(tmp_path):
    state = {k: {} for k in ("model", "ema", "optimizer", "rng", "data_position", "config", "meta")}
    state["step"] = 0
    save_checkpoint(dict(state), tmp_path, step=100)
    for s in (1, 2, 3, 4):
        save_checkpoint(dict(state), tmp_path, step=s, keep=2)
    assert [p.name for p in list_checkpoints(tmp_path)] == ["ckpt_00000003.pt", "ckpt_00000004.pt",
                                                             "ckpt_00000100.pt"]


@pytest.mark.parametrize("what,extra,match", [
    ("seed", {"seed": 1}, r"seed: 0 -> 1"),
    ("model", {"model": "wide"}, r"model.net.hidden: 32 -> 16"),
    ("data", {"data": "other"}, r"data.hash: "),
])
def test_resume_refuses_a_different_run_unless_told(tmp_path, what, extra, match):
    make(tmp_path, steps=5).fit()
    kw = {"steps": 10}
    if what == "seed":
        kw["seed"] = 1
    if what == "model":
        kw["model"] = points_model(hidden=16)
    if what == "data":
        from sde_diffusion.data import ring
        kw["data"] = ring(n_train=2000, n_test=500, seed=5)
    with pytest.raises(ValueError, match=match):
        make(tmp_path, **kw)
    if what != "model":  # an explicit override lets it through
        tr = make(tmp_path, resume_ignore=[what], **kw)
        assert tr.step == 5


def test_nan_loss_stops_with_message_and_keeps_last_good_checkpoint(tmp_path):
    tracker = RecordingTracker()

    def poison(tr):
        if tr.step == 7:
            with torch.no_grad():
                next(tr.model.parameters()).fill_(float("nan"))

    with pytest.raises(NonFiniteLossError, match=r"non-finite .* step 8 .*train\.lr"):
        make(tmp_path, tracker=tracker, callbacks=[poison]).fit()
    assert tracker.exit_code == 1 and ckpt_names(tmp_path) == ["ckpt_00000005.pt"]
    state = load_checkpoint(checkpoint_dir(tmp_path) / "ckpt_00000005.pt")
    assert all(bool(torch.isfinite(v).all()) for v in state["model"].values())


def test_huge_learning_rate_never_checkpoints_runaway_weights(tmp_path):
    """lr = 100 (the largest accepted): Adam steps move weights by ~100 each; the run must stop
    without a checkpoint holding weights beyond max_weight_abs, and every file on disk stays
    below it. lr = 1e30 is refused by name before anything is built."""
    with pytest.raises(ValueError, match=r"train\.lr must be <= 100.0, got 1e\+30"):
        make(tmp_path, lr=1e30)
    with pytest.raises((UnsafeCheckpointError, NonFiniteLossError)):
        make(tmp_path, lr=100.0, warmup_steps=0, checkpoint_every=1, max_weight_abs=50.0).fit()
    for p in list_checkpoints(checkpoint_dir(tmp_path)):
        w = load_checkpoint(p)["model"]
        assert max(float(v.abs().max()) for v in w.values()) <= 50.0


def test_failed_save_removes_its_tmp_and_stale_tmp_is_cleaned(tmp_path, monkeypatch):
    import errno
    make(tmp_path, steps=5).fit()
    stale = checkpoint_dir(tmp_path) / "ckpt_00000009.pt.tmp"
    stale.write_bytes(b"x" * 1000)
    tr = make(tmp_path, steps=10)
    assert not stale.exists()  # cleaned at start

    def full(obj, fh, *a, **k):
        fh.write(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", full)
    from sde_diffusion.training import CheckpointWriteError
    with pytest.raises(CheckpointWriteError, match=r"cannot write checkpoint .*No space left"):
        tr.fit()
    assert not list(checkpoint_dir(tmp_path).glob("*.tmp"))
    assert ckpt_names(tmp_path) == ["ckpt_00000005.pt"]


def test_truncated_checkpoint_is_detected_and_skipped(tmp_path, caplog):
    make(tmp_path).fit()
    files = list_checkpoints(checkpoint_dir(tmp_path))
    data = files[-1].read_bytes()
    files[-1].write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(files[-1])
    with caplog.at_level(logging.WARNING, logger="sde_diffusion.io.checkpoints"):
        path, state = latest_checkpoint(checkpoint_dir(tmp_path))
        assert path == files[-2] and state["step"] == 15
        assert make(tmp_path).step == 15
    assert sum("falling back" in r.getMessage() for r in caplog.records) == 1  # once per cause


# ----------------------------------------------------------------------------- the options at work
def test_lr_schedules_closed_forms_and_applied_each_step(tmp_path):
    assert lr_factor(0, 100, 10) == pytest.approx(0.1) and lr_factor(9, 100, 10) == 1.0
    assert lr_factor(55, 100, 10, "cosine", 0.2) == pytest.approx(0.2 + 0.8 * 0.5)  # u = 1/2
    assert lr_factor(100, 100, 10, "cosine", 0.2) == pytest.approx(0.2)
    assert lr_factor(32, 100, 10, "linear") == pytest.approx(1 - 22 / 90)
    tracker = RecordingTracker()
    make(tmp_path, tracker=tracker, lr_schedule="linear", log_every=1, warmup_steps=4,
         steps=12).fit()
    lrs = [m["train/lr"] for _, m in tracker.logged if "train/lr" in m]
    expect = [2e-3 * lr_factor(k, 12, 4, "linear") for k in range(12)]
    assert lrs == pytest.approx(expect, rel=1e-12)


def test_gradient_accumulation_equals_the_large_batch(tmp_path):
    """SGD, a deterministic loss: 2 micro-batches of 32 = one batch of 64 (same permutation),
    to float rounding; dropping the 1/A factor would double every update."""
    def loss(model, x0):
        return ((model(x0, torch.full((x0.shape[0],), 0.5)) + x0) ** 2).sum(1)

    def run(d, **kw):
        tr = Trainer(points_model(), loss, partial(torch.optim.SGD, lr=0.05), RING, run_dir=d,
                     options=TrainOptions(**{"steps": 6, "warmup_steps": 0, "grad_clip": None,
                                             "eval_samples": 0, "progress": False, **kw}))
        tr.fit()
        return tr.model.state_dict()

    a, b = run(tmp_path / "a", batch_size=64), run(tmp_path / "b", batch_size=32, accumulate=2)
    c = run(tmp_path / "c", batch_size=32)
    diff = max(float((a[k] - b[k]).abs().max()) for k in a)
    assert diff < 1e-5
    assert max(float((a[k] - c[k]).abs().max()) for k in a) > 100 * diff + 1e-4


def test_several_ema_decays_match_independent_emas_and_are_selectable(tmp_path):
    tr = make(tmp_path, ema_decay=0.99, ema_extra=[0.9, 0.5], steps=10)
    shadow = {d: EMA(tr.model, d) for d in (0.99, 0.9, 0.5)}
    tr.callbacks.append(type("C", (), {"on_fit_start": lambda s, t: None, "on_fit_end": lambda s, t, r: None,
                                       "on_fit_exit": lambda s, t: None,
                                       "on_step_end": lambda s, t: [e.update(t.model) for e in shadow.values()]})())
    tr.fit()
    for d, e in shadow.items():
        for k, v in e.state_dict().items():
            assert torch.equal(v, tr.emas[d].state_dict()[k])
    state = load_checkpoint(list_checkpoints(checkpoint_dir(tmp_path))[-1])
    assert sorted(state["ema_extra"]) == ["0.5", "0.9"]
    w9 = ema_state(state, 0.9)
    assert all(torch.equal(w9[k], shadow[0.9].state_dict()[k]) for k in w9)
    assert ema_state(state, True) is state["ema"] and ema_state(state, 0.99) is state["ema"]
    with pytest.raises(ValueError, match=r"no EMA of decay 0.7.*kept decays"):
        ema_state(state, 0.7)


def test_conditional_training_passes_labels_only_when_asked(tmp_path):
    seen = []

    def loss(model, x0, y=None, generator=None):
        seen.append(y)
        return (model(x0, torch.full((x0.shape[0],), 0.5)) ** 2).sum(1)

    for cond in (False, True):
        seen.clear()
        Trainer(points_model(), loss, data=RING, run_dir=tmp_path / str(cond),
                options=TrainOptions(steps=2, batch_size=8, conditional=cond, eval_samples=0)).fit()
        if cond:
            assert all(y is not None and y.shape == (8,) and y.dtype == torch.long for y in seen)
            assert set(torch.cat(seen).tolist()) <= set(range(8))
        else:
            assert seen == [None, None]


# ----------------------------------------------------------------------------- lineage, logs, results
def test_checkpoint_records_lineage_and_load_model_rebuilds(tmp_path):
    from sde_diffusion.io import data_identity
    tr = make(tmp_path)
    tr.fit()
    state = load_checkpoint(list_checkpoints(checkpoint_dir(tmp_path))[-1])
    assert state["meta"]["data"] == data_identity("ring", RING.train)
    assert state["config"]["model_spec"] == state["model_spec"]
    assert state["model_spec"]["net"]["hidden"] == 32 and state["meta"]["seed"] == 0
    model, cfg, _ = load_model(tmp_path)
    raw, _, _ = load_model(tmp_path, use_ema=False)
    x, t = torch.randn(16, 2), torch.rand(16) * 0.9 + 0.05
    with torch.no_grad():
        assert torch.equal(raw(x, t), tr.model(x, t))
        with tr.ema.swapped(tr.model):
            assert torch.equal(model(x, t), tr.model(x, t))
        assert not torch.equal(model(x, t), raw(x, t))


def test_loss_lines_reach_the_log_without_a_terminal(tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="sde_diffusion.training.progress"):
        make(tmp_path, steps=10, log_every=5).fit()
    lines = [r.getMessage() for r in caplog.records if r.name == "sde_diffusion.training.progress"]
    assert len(lines) == 2 and lines[0].startswith("step 5/10 loss ")


def test_samples_and_metrics_at_the_end(tmp_path):
    tracker = RecordingTracker()
    res = make(tmp_path, eval_samples=300, tracker=tracker).fit()
    assert (tmp_path / "samples" / "final.png").is_file() and (tmp_path / "metrics.json").is_file()
    m = res.metrics
    assert m["sw_floor"] > 0 and math.isclose(m["sw_ratio"], m["sw"] / m["sw_floor"])
    assert tracker.summaries["final/sw"] == m["sw"]
    assert torch.load(tmp_path / "samples" / "final.pt", weights_only=True).shape == (300, 2)


def test_latest_link_points_at_the_newest_run(tmp_path):
    from sde_diffusion.training import link_latest
    a, b = tmp_path / "exp" / "2026-01-01", tmp_path / "exp" / "2026-01-02"
    a.mkdir(parents=True)
    b.mkdir()
    link_latest(a)
    link_latest(b)
    link = tmp_path / "exp" / "latest"
    assert link.is_symlink() and os.readlink(link) == "2026-01-02" and link.resolve() == b.resolve()


def test_python_example_runs(tmp_path):
    """120 steps: the MLP's default time features (fourier_scale 16, the Hydra job's) need about
    100 steps before the samples settle (60 steps: SW 9.0; 120: 0.51; 300: 0.43, floor 0.37)."""
    sys.path.insert(0, str(ROOT / "docs"))
    try:
        import train_from_python
        score = train_from_python.main(steps=120, run_dir=str(tmp_path / "toy"), n=500, nsteps=40)
    finally:
        sys.path.pop(0)
    assert (tmp_path / "toy" / "checkpoints" / "ckpt_00000120.pt").is_file()
    from sde_diffusion.training import sliced_wasserstein_report
    prior = sliced_wasserstein_report(torch.randn(500, 2), RING, n=500)["sw"]  # untrained: ~N(0, I)
    assert score["sw"] < 0.5 * prior, (score, prior)


# ----------------------------------------------------------------------------- slow
@pytest.mark.slow
def test_digits_run_logs_the_frechet_distance(tmp_path):
    res = make(tmp_path, DIGITS, steps=30, batch_size=32, n_samples=200,
               sampler={"name": "euler_maruyama", "steps": 50}).fit()
    m = res.metrics
    assert m["digits_fd"] > m["digits_fd_floor"] > 0 and m["digits_classifier_accuracy"] > 0.9


@pytest.mark.slow
def test_readme_main_job_toy2d(tmp_path):
    """`python scripts/train.py experiment=toy2d`: samples within 2x the sliced-W floor."""
    import json
    r = subprocess.run([sys.executable, str(ROOT / "scripts/train.py"), "experiment=toy2d",
                        "logger=none", f"hydra.run.dir={tmp_path}"], capture_output=True, text=True,
                       env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=900)
    assert r.returncode == 0, r.stderr[-2000:]
    m = json.loads((tmp_path / "metrics.json").read_text())
    assert m["sw_ratio"] < 2.0, m
    assert "step 3000/3000 loss" in (tmp_path / "train.log").read_text()


def test_streamed_image_folder_resumes_exactly(tmp_path):
    """A folder of 48 images (two labelled sub-folders) streamed from disk: kill and resume
    mid-epoch ends bit-identical to an uninterrupted run."""
    from PIL import Image
    from sde_diffusion.data import ImageFolderDataset
    from sde_diffusion.models import MLP, ScoreModel
    from sde_diffusion.sdes import VPSDE
    g = torch.Generator().manual_seed(0)
    for i in range(48):
        (tmp_path / "img" / f"c{i % 2}").mkdir(parents=True, exist_ok=True)
        arr = (torch.rand(10, 12, 3, generator=g) * 255).to(torch.uint8).numpy()
        Image.fromarray(arr).save(tmp_path / "img" / f"c{i % 2}" / f"{i}.png")
    ds = ImageFolderDataset(str(tmp_path / "img"), image_size=4, channels=1, test_fraction=0.2)

    class Flat(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.mlp = MLP(16, hidden=16, depth=1)

        def forward(self, x, t):
            return self.mlp(x.flatten(1), t).view_as(x)

    def run(d, callbacks=()):
        torch.manual_seed(0)
        with pytest.warns(RuntimeWarning, match="cannot be recorded as a spec"):
            return make(d, data=ds, model=ScoreModel(Flat(), VPSDE()), batch_size=8, steps=14,
                        checkpoint_every=4, callbacks=callbacks)

    ref = run(tmp_path / "ref")
    ref.fit()
    kill = lambda tr: (_ for _ in ()).throw(RuntimeError("kill")) if tr.step == 10 else None  # noqa: E731
    with pytest.raises(RuntimeError):
        run(tmp_path / "run", [kill]).fit()
    r = run(tmp_path / "run")
    assert (r.step, r.epoch, r.batch_index) == (8, 1, 4)  # 38 images // 8 = 4 batches an epoch
    r.fit()
    assert_same_state(ref, r)


CHILD = r'''
import sys, torch
torch.set_num_threads(1)
sys.path.insert(0, sys.argv[2])
from helpers_training import make, points_model
tr = make(sys.argv[1], model=points_model(hidden=768), steps=80, checkpoint_every=2,
          keep_checkpoints=3, batch_size=64)
tr.fit()
'''


@pytest.mark.slow
def test_kill_9_loop_ends_bit_identical_without_stale_files(tmp_path):
    """>= 10 SIGKILLs, about half while a checkpoint .tmp is being written: a good checkpoint
    is always left, the final weights equal an uninterrupted run's, and no .tmp remains."""
    import random
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    here = str(Path(__file__).parent.parent)
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))

    def child(run_dir):
        return subprocess.Popen([sys.executable, str(script), str(run_dir), here], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    assert child(tmp_path / "ref").wait(timeout=600) == 0
    run, rnd, kills, mid_write = tmp_path / "run", random.Random(0), 0, 0
    ckdir = checkpoint_dir(run)

    def newest():
        files = list_checkpoints(ckdir)
        return files[-1].name if files else None

    def has_tmp():
        return ckdir.is_dir() and any(e.name.endswith(".tmp") for e in os.scandir(ckdir))

    while kills < 12:
        p, start, hit = child(run), newest(), False
        deadline = time.time() + 120
        while time.time() < deadline and p.poll() is None:
            if kills % 2 == 0 and has_tmp():  # even kills: while a checkpoint is being written
                hit = True
                break
            if kills % 2 == 1 and newest() != start:  # odd kills: soon after some progress
                time.sleep(rnd.uniform(0.0, 0.3))
                break
            time.sleep(0.002)
        if p.poll() is not None:  # the run finished before the kill
            break
        p.kill()
        p.wait()
        kills += 1
        mid_write += hit
        if list_checkpoints(ckdir):  # a good checkpoint is always left
            assert latest_checkpoint(ckdir)[1] is not None
    assert kills >= 10 and mid_write >= 3, (kills, mid_write)
    assert child(run).wait(timeout=600) == 0
    a = load_checkpoint(checkpoint_dir(tmp_path / "ref") / "ckpt_00000080.pt")
    b = load_checkpoint(ckdir / "ckpt_00000080.pt")
    for key in ("model", "ema"):
        for k in a[key]:
            assert torch.equal(a[key][k], b[key][k]), (key, k)
    for i, s in a["optimizer"]["state"].items():
        assert torch.equal(s["exp_avg"], b["optimizer"]["state"][i]["exp_avg"])
    assert not list(run.rglob("*.tmp"))


def test_reverse_movie_frames_by_noise_level_labels_and_gif(tmp_path):
    from PIL import Image
    from sde_diffusion.sdes import VPSDE
    from sde_diffusion.app.plots import (frame_indices, save_trajectory_gif,
                                         save_trajectory_strip)
    sde = VPSDE()
    times = torch.linspace(1.0, 1e-3, 201).tolist()
    idx = frame_indices(times, 5, sde)
    logs = torch.log(sde.sigma(torch.tensor([times[i] for i in idx], dtype=torch.float64)))
    steps = logs[:-1] - logs[1:]
    # equal log-sigma spacing to within one grid cell's log-sigma change (step-spaced frames are
    # far from it: sigma hardly changes over the first half of a VP trajectory)
    cell = float((torch.log(sde.sigma(torch.tensor(times, dtype=torch.float64))).diff().abs()).max())
    assert float(steps.max() - steps.min()) <= 2 * cell
    by_step = frame_indices(times, 5)
    assert by_step == [0, 50, 100, 150, 200] and idx != by_step
    traj = torch.rand(201, 3, 1, 8, 8)
    strip = save_trajectory_strip(traj, times, tmp_path / "strip.png", "images", frames=5, sde=sde)
    assert Image.open(strip).size[0] > 5 * 8
    gif = save_trajectory_gif(traj, times, tmp_path / "movie.gif", "images", frames=6, sde=sde)
    with Image.open(gif) as im:
        assert im.format == "GIF" and im.n_frames == len(frame_indices(times, 6, sde))
    pts = save_trajectory_gif(torch.randn(201, 50, 2), times, tmp_path / "pts.gif", "points",
                              frames=4, reference=RING.test)
    assert Image.open(pts).n_frames == 4
