"""scripts/sample.py and scripts/likelihood.py: every kind of run path, outputs inside the run
(lineage), the data-identity check, NaN samples as a one-line error; save_pretrained ->
from_pretrained gives identical scores."""
import json
import os

import pytest
import torch

from sde_diffusion.data import ring
from sde_diffusion.io import load_pretrained, save_pretrained
from sde_diffusion.io import load_model
from sde_diffusion.io import check_data_identity, data_identity

from runs_helpers import make_run, run_script, tiny_model


def _only(folder):
    subs = [p for p in folder.iterdir() if p.is_dir()]
    assert len(subs) == 1, subs
    return subs[0]


@pytest.mark.parametrize("kind", ["run", "checkpoint", "latest", "pretrained"])
def test_sample_accepts_every_run_path_and_writes_into_the_run(tmp_path, kind):
    run = make_run(tmp_path / "exp" / "2026-01-01_00-00-00")
    path = {"run": run, "checkpoint": run / "checkpoints" / "ckpt_00000004.pt"}.get(kind)
    if kind == "latest":
        path = tmp_path / "exp" / "latest"
        path.symlink_to(run.name)  # relative, as the trainer writes it
    if kind == "pretrained":
        path = run = save_pretrained(tiny_model(), tmp_path / "model")
    code, err = run_script("sample", [f"run={path}", "n=10", "seed=1", "trajectory_frames=3",
                                      "sampler=euler", "sampler.steps=3"])
    assert code == 0, err
    out = _only(run / "samples")
    x = torch.load(out / "samples.pt", weights_only=True)
    assert x.shape == (10, 2) and bool(torch.isfinite(x).all())
    assert (out / "samples.png").is_file() and (out / "trajectory.png").is_file()


def test_same_seed_same_samples_and_second_call_gets_its_own_folder(tmp_path):
    run = make_run(tmp_path / "run")
    for _ in range(2):
        assert run_script("sample", [f"run={run}", "n=6", "trajectory_frames=0"])[0] == 0
    a, b = sorted((run / "samples").iterdir())
    assert torch.equal(torch.load(a / "samples.pt"), torch.load(b / "samples.pt"))


def test_nan_samples_are_a_one_line_error(tmp_path):
    model = tiny_model()
    sd = {k: v.clone() for k, v in model.state_dict().items()}
    sd["net.out.1.bias"].fill_(3e38)  # finite weights, overflowing scores
    run = make_run(tmp_path / "run", weights=sd)
    code, err = run_script("sample", [f"run={run}", "n=4", "trajectory_frames=0"])
    assert code == 1 and len(err.strip().splitlines()) == 1
    assert "sample: error:" in err and "non-finite values at step 1" in err  # the sampler's own check
    assert not (run / "samples").exists() or not any((run / "samples").rglob("samples.pt"))


def test_likelihood_writes_into_the_run_and_checks_data_identity(tmp_path):
    ident = data_identity("ring", ring(n_train=256, n_test=64, seed=0).train)
    run = make_run(tmp_path / "run", data=ident)
    args = [f"checkpoint={run}", "method=elbo", "n_points=16", "elbo.n_samples=2"]
    code, err = run_script("likelihood", args)
    assert code == 0, err
    res = json.loads((_only(run / "eval") / "likelihood.json").read_text())
    assert res["elbo"]["nll"]["n"] == 16 and res["data"] == "ring" and res["data_mismatch"] is None
    assert res["step"] == 4 and res["checkpoint"].endswith("ckpt_00000004.pt")
    other = ["data=two_moons", "data.n_train=256", "data.n_test=64"]
    code, err = run_script("likelihood", args + other)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "trained on data 'ring' but the evaluation uses 'two_moons'" in err
    assert "allow_data_mismatch=true" in err
    code, err = run_script("likelihood", args + other + ["allow_data_mismatch=true"])
    assert code == 0, err
    assert len(list((run / "eval").iterdir())) == 2


def test_a_run_trained_on_other_data_refuses_its_default_data_config(tmp_path):
    """The issue-17 case: trained from Python on the user's own data, the stored data config names
    the default ring; the recorded hash differs, so evaluation refuses instead of a silent NLL."""
    own = data_identity("ring", torch.randn(256, 2))
    run = make_run(tmp_path / "run", data=own)
    code, err = run_script("likelihood", [f"checkpoint={run}", "method=elbo", "n_points=8"])
    assert code == 2 and "hash" in err and own["hash"] in err


def test_data_identity_is_a_content_hash():
    a = torch.arange(12.0).reshape(6, 2)
    assert data_identity("d", a) == data_identity("d", a.clone())
    b = a.clone()
    b[3, 1] += 1e-6
    assert data_identity("d", b)["hash"] != data_identity("d", a)["hash"]
    assert data_identity("d", a)["shape"] == [2]
    assert check_data_identity(None, data_identity("x", a)) is None  # older runs record nothing
    assert "name 'd' vs 'x'" in check_data_identity(data_identity("d", a), data_identity("x", a), True)


def test_save_pretrained_from_pretrained_identical_scores(tmp_path):
    model = tiny_model(7)
    d = save_pretrained(model, tmp_path / "m", meta={"data": {"name": "ring"}},
                        sampler={"name": "heun", "steps": 5, "options": {}})
    files = sorted(p.name for p in d.iterdir())
    # safetensors is optional (not a dependency): without it the weights are a weights-only .pt
    import importlib.util
    weights = "model.safetensors" if importlib.util.find_spec("safetensors") else "model.pt"
    assert files == ["config.json", weights]
    x, t = torch.randn(32, 2, generator=torch.Generator().manual_seed(0)), torch.linspace(0.01, 1.0, 32)
    with torch.no_grad():
        ref = model(x, t)
        for loaded in (load_pretrained(d), load_model(d)[0]):
            assert torch.equal(loaded(x, t), ref)
    _, cfg, meta = load_model(d)
    assert meta.data_shape == [2] and cfg.sampler.name == "heun"


def test_save_pretrained_without_safetensors_writes_a_weights_only_state_dict(tmp_path, monkeypatch):
    import sde_diffusion.io.pretrained as P
    monkeypatch.setattr(P, "_has_safetensors", lambda: False)
    model = tiny_model(2)
    d = save_pretrained(model, tmp_path / "m")
    assert sorted(os.listdir(d)) == ["config.json", "model.pt"]
    torch.load(d / "model.pt", weights_only=True)
    x, t = torch.randn(4, 2), torch.full((4,), 0.5)
    with torch.no_grad():
        assert torch.equal(load_pretrained(d)(x, t), model(x, t))


def test_save_pretrained_refuses_nan_weights_and_unsaveable_parts(tmp_path):
    from sde_diffusion.models import MLP, ScoreModel
    from sde_diffusion.registry import RegistryError
    from sde_diffusion.sdes import LinearSDE
    model = tiny_model()
    with torch.no_grad():
        model.net.out[1].bias[0] = float("inf")
    with pytest.raises(ValueError, match="net.out.1.bias"):
        save_pretrained(model, tmp_path / "a")
    odd = ScoreModel(MLP(2, hidden=8, depth=1), LinearSDE(f=lambda t: 0 * t, g=lambda t: 1 + 0 * t))
    with pytest.raises(RegistryError, match=r"sde\.f: cannot be saved"):
        save_pretrained(odd, tmp_path / "b")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_score_progress_counts_every_evaluation_and_passes_values_through():
    from sde_diffusion.app.likelihood import score_progress
    model = tiny_model()
    x, t = torch.randn(3, 2), torch.full((3,), 0.5)
    with torch.no_grad(), score_progress(model, "test", enabled=True) as fn:
        out = [fn(x, t) for _ in range(4)]
    assert fn.bar.n == 4 and all(torch.equal(o, model(x, t)) for o in out)


def test_image_model_folder_saved_from_python_samples_an_image_grid(tmp_path):
    from sde_diffusion.models import ScoreModel, UNet
    from sde_diffusion.sdes import VPSDE
    torch.manual_seed(0)
    net = UNet(in_channels=1, image_size=8, base_channels=8, channel_mult=[1, 2], attn_resolutions=[4],
               num_groups=4)
    d = save_pretrained(ScoreModel(net, VPSDE(), "eps", data_std=0.5), tmp_path / "m")
    _, cfg, meta = load_model(d)
    assert meta.data_shape == [1, 8, 8] and meta.data_kind == "images"
    code, err = run_script("sample", [f"run={d}", "n=4", "sampler=euler", "sampler.steps=2", "trajectory_frames=2"])
    assert code == 0, err
    out = _only(d / "samples")
    assert torch.load(out / "samples.pt").shape == (4, 1, 8, 8) and (out / "samples.png").is_file()
