"""One weights-file reader for model folders, diffusers UNets and the Inception network.

Each reader gets the same hostile files in place of its weights file and must refuse each with
the same reason (in the reader's own exception class), reading nothing that could hang, run
code or allocate.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
import torch

from runs_helpers import subprocess_env, tiny_model
from sde_diffusion.contract import LIMITS
from sde_diffusion.io import CheckpointError, load_pretrained, save_pretrained
from sde_diffusion.weights_file import UnsafeFileError, load_weights


class Payload:
    """Unpickling this runs ``touch <marker>`` (unless the reader is weights-only)."""

    def __init__(self, marker):
        self.cmd = f"touch {marker}"

    def __reduce__(self):
        return os.system, (self.cmd,)


# ------------------------------------------------------------------ the three readers
def _model_folder(tmp_path, monkeypatch, fmt):
    import sde_diffusion.io.pretrained as P
    monkeypatch.setattr(P, "_has_safetensors", lambda: fmt == "safetensors")
    d = save_pretrained(tiny_model(), tmp_path / "m")
    monkeypatch.undo()
    return d / f"model.{'safetensors' if fmt == 'safetensors' else 'pt'}", lambda: load_pretrained(d)


def _diffusers(tmp_path, monkeypatch, fmt):
    pytest.importorskip("diffusers")
    from diffusers import DDPMPipeline, DDPMScheduler, UNet2DModel
    from sde_diffusion.models import from_diffusers
    unet = UNet2DModel(sample_size=8, in_channels=1, out_channels=1, layers_per_block=1,
                       block_out_channels=(8, 16), down_block_types=("DownBlock2D",) * 2,
                       up_block_types=("UpBlock2D",) * 2, norm_num_groups=4)
    d = tmp_path / "pipe"
    DDPMPipeline(unet=unet, scheduler=DDPMScheduler(num_train_timesteps=50)).save_pretrained(d)
    st = d / "unet" / "diffusion_pytorch_model.safetensors"
    if fmt == "safetensors":
        return st, lambda: from_diffusers(d)
    torch.save(unet.state_dict(), st.with_suffix(".bin"))
    st.unlink()
    return st.with_suffix(".bin"), lambda: from_diffusers(d)


def _inception(tmp_path, monkeypatch, fmt):
    from sde_diffusion.models.inception import load_inception
    f = tmp_path / f"inception.{'safetensors' if fmt == 'safetensors' else 'pt'}"
    torch.save({"x": torch.zeros(64)}, f)  # replaced by each case: its contents are never used
    return f, lambda: load_inception(f)


READERS = {"model folder": (_model_folder, CheckpointError), "diffusers": (_diffusers, ValueError),
           "inception": (_inception, ValueError)}


# ------------------------------------------------------------------ the hostile files
def _fifo(f, tmp_path):
    f.unlink()
    os.mkfifo(f)


def _devzero(f, tmp_path):
    f.unlink()
    f.symlink_to("/dev/zero")


def _pickle(f, tmp_path):
    torch.save({"w": Payload(tmp_path / "ran")}, f)


def _expanded(f, tmp_path):
    torch.save({"w": torch.zeros(1).expand(2 * 10 ** 10)}, f)


def _a_list(f, tmp_path):
    torch.save([torch.zeros(3)], f)


def _garbage(f, tmp_path):
    f.write_bytes(b"\xff" * 100)


CASES = {
    "fifo": ("pt", _fifo, UnsafeFileError, r"'.*' is a FIFO \(named pipe\), not a regular file"),
    "link to /dev/zero": ("pt", _devzero, UnsafeFileError,
                          r"a link to '/dev/zero'\) is a character device, not a regular file"),
    "pickle with code": ("pt", _pickle, None,
                         r"' is corrupt or unreadable \(UnpicklingError\): not a weights-only state dict"),
    "expanded storage": ("pt", _expanded, UnsafeFileError,
                         r"tensor 'w' of shape \(20000000000,\) is expanded \(a zero stride\)"),
    "not a dict": ("pt", _a_list, None, r"' holds a list, not a state dict"),
    "corrupt safetensors": ("safetensors", _garbage, None,
                            r"' is corrupt or unreadable \(\w+\): not a valid safetensors file"),
}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("reader", list(READERS))
def test_every_reader_refuses_every_hostile_weights_file_the_same_way(tmp_path, monkeypatch, reader, case):
    make, own_error = READERS[reader]
    fmt, plant, error, match = CASES[case]
    if fmt == "safetensors":
        pytest.importorskip("safetensors")  # an optional extra; without it see the next test
    path, load = make(tmp_path, monkeypatch, fmt)
    plant(path, tmp_path)
    start = time.monotonic()
    with pytest.raises(error or own_error, match=match):
        load()
    assert time.monotonic() - start < 30  # a FIFO opened blocking would wait here for ever
    assert not (tmp_path / "ran").exists()  # the pickle's code did not run


def test_a_safetensors_file_without_the_package_is_one_clear_error(tmp_path, monkeypatch):
    from sde_diffusion.weights_file import load_weights
    f = tmp_path / "w.safetensors"
    f.write_bytes(b"\0" * 16)
    monkeypatch.setitem(sys.modules, "safetensors", None)  # as if not installed
    monkeypatch.setitem(sys.modules, "safetensors.torch", None)
    with pytest.raises(ImportError, match=r"weights file '.*w\.safetensors' needs the 'safetensors' "
                                          r"package \(pip install safetensors\)"):
        load_weights(f, "weights file")


@pytest.mark.parametrize("reader", list(READERS))
def test_every_reader_bounds_the_file_size(tmp_path, monkeypatch, reader):
    make, _ = READERS[reader]
    path, load = make(tmp_path, monkeypatch, "pt")
    monkeypatch.setattr(LIMITS, "max_file_bytes", 64)
    with pytest.raises(UnsafeFileError, match=rf"'{path}' has {path.stat().st_size} bytes, over the "
                                              r"limit 64; raise it with SDE_DIFFUSION_MAX_FILE_BYTES"):
        load()


@pytest.mark.parametrize("fmt", ["pt", "safetensors"])
def test_load_weights_returns_the_stored_tensors(tmp_path, fmt):
    pytest.importorskip("safetensors")
    from safetensors.torch import save_file
    g = torch.Generator().manual_seed(0)
    state = {"a.weight": torch.randn(3, 5, generator=g), "b": torch.arange(4)}
    f = tmp_path / f"w.{fmt}"
    torch.save(state, f) if fmt == "pt" else save_file(state, str(f))
    got = load_weights(f)
    assert sorted(got) == sorted(state)
    assert all(torch.equal(got[k], state[k]) and got[k].dtype == state[k].dtype for k in state)
    with pytest.raises(FileNotFoundError, match=r"weights file '.*gone.pt' does not exist"):
        load_weights(tmp_path / "gone.pt")


def test_models_import_neither_persistence_nor_training_nor_the_app():
    code = ("import sys, sde_diffusion.models, sde_diffusion.weights_file\n"
            "print(sorted(m for m in sys.modules if m.startswith('sde_diffusion.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=subprocess_env(), timeout=300)
    assert out.returncode == 0, out.stderr
    loaded = json.loads(out.stdout.replace("'", '"'))
    assert "sde_diffusion.weights_file" in loaded
    assert not [m for m in loaded if m.split(".")[1] in ("io", "training", "app")], loaded
