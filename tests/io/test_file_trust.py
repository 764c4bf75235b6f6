"""Files that cannot exhaust memory, hang, or reach outside their folder; a full disk is one line.

Each case is a small hostile or odd file and the exact refusal (or fallback) it gets; the memory
bombs run in a fresh interpreter whose peak RSS may rise at most 270 MB above its peak after the
imports (torch's import alone is about 230 MB with the CPU build, 510 MB with a CUDA build, so the
bound is on what the files add; the cheapest bomb asks for 3.5 GB).
"""
from __future__ import annotations

import errno
import json
import logging
import os
import re
import subprocess
import sys
import warnings

import pytest
import torch

import file_bombs
from runs_helpers import make_run, subprocess_env, tiny_model
from sde_diffusion.io import (CheckpointError, CheckpointWriteError, PretrainedWriteError,
                              UnsafeFileError, checkpoint_dir, clean_stale_tmp, disk_full,
                              latest_checkpoint, load_checkpoint, load_model, load_pretrained,
                              save_checkpoint, save_pretrained)


# ------------------------------------------------------------------------------ memory bombs
@pytest.mark.parametrize("name,match", [
    ("width 12000 x depth 3 in config.json", r"the weights do not match the network built from its config"),
    ("width 10**8 in config.json", r"model.net.hidden=100000000 is over the limit 16384; raise it with SDE_DIFFUSION_MAX_WIDTH"),
    ("4-byte storage expanded to 2e10 elements", r"tensor 'net\..*' of shape \(20000000000,\) is expanded \(a zero stride\)"),
    ("sampler.steps = 1e9 in a model folder", r"sampler.steps must be an integer <= 1000000"),
    ("meta.data_shape = [2, 1e6, 1e6]", r"meta.data_shape=\(2, 1000000, 1000000\) has 2e\+12 elements, over the limit"),
    ("int64 weights", r"weight '.*' is stored as torch.int64 but the network expects torch.float32"),
])
def test_each_bomb_is_refused_with_its_reason(tmp_path, name, match):
    with pytest.raises((ValueError, CheckpointError), match=match):
        load_model(file_bombs.BOMBS[name][1](tmp_path / "m"))


def test_bombs_are_refused_before_any_large_allocation():
    """All six bombs in one fresh process: its peak RSS (the max over all of them) stays within
    270 MB of the peak after importing torch and ``sde_diffusion.io``."""
    out = subprocess.run([sys.executable, file_bombs.__file__, "--one-process"],
                         capture_output=True, text=True, env=subprocess_env(), timeout=300)
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout)
    assert len(res) == len(file_bombs.BOMBS) and not any(r["outcome"] == "LOADED" for r in res)
    assert max(r["above_import_mb"] for r in res) < 270, res


def test_an_expanded_tensor_in_a_checkpoint_is_refused_and_the_older_one_used(tmp_path, caplog):
    run = make_run(tmp_path / "run", step=4)
    good = load_checkpoint(checkpoint_dir(run) / "ckpt_00000004.pt")
    bad = dict(good, model={**good["model"], "x": torch.zeros(1).expand(2 * 10 ** 10)})
    save_checkpoint(bad, checkpoint_dir(run), step=8)
    with pytest.raises(CheckpointError, match=r"tensor 'model.x' of shape \(20000000000,\) is expanded"):
        load_checkpoint(checkpoint_dir(run) / "ckpt_00000008.pt")
    with caplog.at_level(logging.WARNING, logger="sde_diffusion.io.checkpoints"):
        assert load_model(run).meta.step == 4
    assert re.search(r"falling back to ckpt_00000004.pt.*skipped 1 newer.*expanded", caplog.text)


# ------------------------------------------------------------------------------ odd files
@pytest.mark.parametrize("kind", ["fifo", "devzero", "directory"])
def test_an_odd_newest_checkpoint_falls_back_to_the_newest_good_one(tmp_path, kind, caplog):
    run = make_run(tmp_path / "run", step=4)
    odd = checkpoint_dir(run) / "ckpt_00000009.pt"
    {"fifo": lambda: os.mkfifo(odd), "devzero": lambda: odd.symlink_to("/dev/zero"),
     "directory": lambda: odd.mkdir()}[kind]()
    what = {"fifo": "a FIFO", "devzero": "a character device", "directory": "a directory"}[kind]
    with pytest.raises(CheckpointError, match=f"checkpoint '.*ckpt_00000009.pt'.* is {what}"):
        load_checkpoint(odd)  # and it returns at once: the FIFO is opened non-blocking
    with caplog.at_level(logging.WARNING, logger="sde_diffusion.io.checkpoints"):
        path, state = latest_checkpoint(checkpoint_dir(run))
    assert "falling back to ckpt_00000004.pt, the newest readable" in caplog.text
    assert path.name == "ckpt_00000004.pt" and state["step"] == 4


def test_the_fallback_is_reported_once_per_cause_without_a_source_line(tmp_path):
    # a fresh interpreter with warnings shown always and no logging set up: what a user sees
    run = make_run(tmp_path / "run", step=4)
    (checkpoint_dir(run) / "ckpt_00000009.pt").mkdir()
    code = ("import sys; from sde_diffusion.io import load_model, latest_checkpoint, checkpoint_dir\n"
            "for _ in range(3):\n"
            "    assert load_model(sys.argv[1]).meta.step == 4\n"
            "    latest_checkpoint(checkpoint_dir(sys.argv[1]))\n"
            "(checkpoint_dir(sys.argv[1]) / 'ckpt_00000010.pt').mkdir()\n"
            "load_model(sys.argv[1])\n")
    out = subprocess.run([sys.executable, "-W", "always", "-c", code, str(run)], env=subprocess_env(),
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
    assert [ln.count("falling back to ckpt_00000004.pt") for ln in lines] == [1, 1], out.stderr
    assert "skipped 1 newer" in lines[0] and "skipped 2 newer" in lines[1]  # a new cause: reported
    assert not any("Warning" in ln or ".py:" in ln for ln in lines), out.stderr


@pytest.mark.parametrize("name", ["config.json", "model.pt"])
def test_odd_files_in_a_model_folder_are_refused_never_read(tmp_path, monkeypatch, name):
    import sde_diffusion.io.pretrained as P
    monkeypatch.setattr(P, "_has_safetensors", lambda: False)
    d = save_pretrained(tiny_model(), tmp_path / "m")
    (d / name).unlink()
    os.mkfifo(d / name)
    with pytest.raises(CheckpointError if name == "config.json" else UnsafeFileError,
                       match=f"'.*{name}' is a FIFO \\(named pipe\\), not a regular file"):
        load_pretrained(d)
    (d / name).unlink()
    (d / name).symlink_to("/dev/zero")
    with pytest.raises((CheckpointError, UnsafeFileError), match=r"a link to '/dev/zero'.* is a character device"):
        load_model(d)


def test_a_deeply_nested_config_is_one_clear_error(tmp_path):
    d = save_pretrained(tiny_model(), tmp_path / "m")
    (d / "config.json").write_text("[" * 200_000 + "]" * 200_000)
    with pytest.raises(CheckpointError, match=r"config.json' is unreadable or not JSON \(RecursionError"):
        load_model(d)


def test_a_checkpoints_folder_linking_out_of_the_run_is_refused_and_nothing_there_is_touched(tmp_path):
    from helpers_training import make
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "precious.tmp").write_text("keep")
    (outside / "ckpt_00000001.pt.tmp").write_text("keep too")
    run = tmp_path / "run"
    run.mkdir()
    (run / "checkpoints").symlink_to(outside)
    with pytest.raises(UnsafeFileError, match=r"checkpoints' is a link to '.*elsewhere', outside the run"):
        make(run, steps=2).fit()
    with pytest.raises(UnsafeFileError, match="refusing to remove files through it"):
        clean_stale_tmp(run / "checkpoints")
    assert sorted(p.name for p in outside.iterdir()) == ["ckpt_00000001.pt.tmp", "precious.tmp"]


def test_stale_tmp_cleanup_removes_only_its_own_naming_scheme(tmp_path):
    d = tmp_path / "checkpoints"
    d.mkdir()
    for n in ("ckpt_00000003.pt.tmp", "notes.tmp", "ckpt_x.pt.tmp", "model.safetensors.tmp"):
        (d / n).write_text("x")
    assert [p.name for p in clean_stale_tmp(d)] == ["ckpt_00000003.pt.tmp"]
    assert sorted(p.name for p in d.iterdir()) == ["ckpt_x.pt.tmp", "model.safetensors.tmp", "notes.tmp"]


# ------------------------------------------------------------------------------ disk full
def _torch_style_enospc(*a, **k):
    """What torch.save raises on a full disk: its own RuntimeError, the ENOSPC on __context__."""
    try:
        raise OSError(errno.ENOSPC, "No space left on device")
    except OSError:
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 64 vs 0")


def test_disk_full_anywhere_on_the_chain_is_one_line_and_the_old_checkpoint_stays(tmp_path, monkeypatch):
    run = make_run(tmp_path / "run", step=4)
    state = load_checkpoint(checkpoint_dir(run) / "ckpt_00000004.pt")
    monkeypatch.setattr(torch, "save", _torch_style_enospc)
    with pytest.raises(CheckpointWriteError) as e:
        save_checkpoint(state, checkpoint_dir(run), step=8)
    msg = str(e.value)
    assert "\n" not in msg and "No space left on device" in msg and "previous checkpoints are kept" in msg
    assert e.value.__cause__ is None and e.value.__suppress_context__  # no 30-line chained traceback
    assert sorted(p.name for p in checkpoint_dir(run).iterdir()) == ["ckpt_00000004.pt"]


def test_disk_full_in_save_pretrained_is_one_line_and_the_old_folder_stays(tmp_path, monkeypatch):
    import sde_diffusion.io.pretrained as P
    monkeypatch.setattr(P, "_has_safetensors", lambda: False)
    model = tiny_model()
    d = save_pretrained(model, tmp_path / "m")
    before = {p.name: p.read_bytes() for p in d.iterdir()}
    monkeypatch.setattr(torch, "save", _torch_style_enospc)
    with pytest.raises(PretrainedWriteError, match=r"^cannot write model folder '.*m': No space left on device"):
        save_pretrained(model, d)
    assert {p.name: p.read_bytes() for p in d.iterdir()} == before


def test_disk_full_detection_follows_cause_and_context():
    e = RuntimeError("x")
    e.__cause__ = ValueError("y")
    e.__cause__.__context__ = OSError(errno.ENOSPC, "full")
    assert disk_full(e) and not disk_full(RuntimeError("write failed"))


def test_save_pretrained_refuses_an_empty_folder_name(tmp_path):
    with pytest.raises(ValueError, match=r"directory='' is empty"):
        save_pretrained(tiny_model(), "")


def test_no_warning_when_the_newest_checkpoint_is_good(tmp_path):
    run = make_run(tmp_path / "run", step=4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert latest_checkpoint(checkpoint_dir(run))[0].name == "ckpt_00000004.pt"


def test_an_oversized_config_is_refused_before_reading(tmp_path, monkeypatch):
    from sde_diffusion.contract import LIMITS
    d = save_pretrained(tiny_model(), tmp_path / "m")
    monkeypatch.setattr(LIMITS, "max_text_bytes", 64)
    with pytest.raises(CheckpointError, match=r"config.json' has \d+ bytes, over the limit 64; raise it "
                                              r"with SDE_DIFFUSION_MAX_TEXT_BYTES"):
        load_model(d)


def test_a_yaml_alias_bomb_in_a_checkpoint_config_is_refused_at_once(tmp_path):
    """Nine levels of nine aliases: 9**9 nodes for a walk of the config, in 400 bytes."""
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 10)]
    run = make_run(tmp_path / "run", config={"sde": {"_target_": "sde_diffusion.sdes.VPSDE"}})
    path = checkpoint_dir(run) / "ckpt_00000004.pt"
    state = load_checkpoint(path)
    torch.save(dict(state, config="\n".join(lines)), path)
    with pytest.raises(CheckpointError, match=r"its stored config uses YAML aliases"):
        load_model(run)


def test_a_stored_data_set_size_is_bounded(tmp_path):
    """sample.py / likelihood.py rebuild a run's stored data set: its size is a file-set size."""
    cfg = {"data": {"_target_": "sde_diffusion.data.ring", "n_train": 10 ** 12}}
    run = make_run(tmp_path / "run", config=cfg)
    with pytest.raises(ValueError, match=r"data.n_train=1000000000000 samples of 2 values exceed the limit"):
        load_model(run)
    d = save_pretrained(tiny_model(), tmp_path / "m", meta={"data_shape": [2]})
    cfg = json.loads((d / "config.json").read_text())
    cfg["data"] = {"_target_": "sde_diffusion.data.digits", "image_size": 10 ** 6}
    (d / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match=r"data.image_size=1000000 is over the limit 16384"):
        load_model(d)
