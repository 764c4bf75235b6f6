"""from_diffusers: a diffusers UNet2DModel folder as a ScoreModel on a continuous SDE.

Ground truth is diffusers itself: its scheduler's alpha_bar table, its network output at the
integer timestep, and its DDIM / DPM-Solver++ loops from the same x_T.
"""
import functools
import json
import shutil

import pytest
import torch

diffusers = pytest.importorskip("diffusers")
from diffusers import (DDIMScheduler, DDPMPipeline, DDPMScheduler,  # noqa: E402
                       DPMSolverMultistepScheduler, UNet2DModel)

from sde_diffusion import registry  # noqa: E402
from sde_diffusion.models import DiffusersFormatError, from_diffusers  # noqa: E402
from sde_diffusion.solvers import SAMPLERS, sample  # noqa: E402

N_TRAIN = 1000


def tiny_unet(**kw):
    torch.manual_seed(0)
    cfg = dict(sample_size=8, in_channels=1, out_channels=1, layers_per_block=1,
               block_out_channels=(8, 16), down_block_types=("DownBlock2D", "DownBlock2D"),
               up_block_types=("UpBlock2D", "UpBlock2D"), norm_num_groups=4)
    cfg.update(kw)
    return UNet2DModel(**cfg)


def save(tmp_path, name="m", scheduler=None, **unet_kw):
    d = tmp_path / name
    sched = scheduler if scheduler is not None else DDPMScheduler(num_train_timesteps=N_TRAIN)
    DDPMPipeline(unet=tiny_unet(**unet_kw), scheduler=sched).save_pretrained(d)
    return d


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return save(tmp_path_factory.mktemp("diffusers"))


@pytest.fixture(scope="module")
def model(folder):
    return from_diffusers(folder)


def z0(n=4):
    return torch.randn(n, 1, 8, 8, generator=torch.Generator().manual_seed(1))


# ------------------------------------------------------------------------- the time mapping
@pytest.mark.parametrize("schedule", ["linear", "scaled_linear", "squaredcos_cap_v2"])
def test_marginal_at_nodes_is_the_table(tmp_path, schedule):
    sched = DDPMScheduler(num_train_timesteps=200, beta_schedule=schedule)
    m = from_diffusers(save(tmp_path, scheduler=sched))
    ab = sched.alphas_cumprod.double()
    n = torch.tensor([0, 1, 57, 123, 199])
    mean, std = m.sde.marginal((n + 1).double() / 200)
    torch.testing.assert_close(mean, ab[n].sqrt(), rtol=1e-12, atol=0)
    torch.testing.assert_close(std, (1 - ab[n]).sqrt(), rtol=1e-12, atol=0)
    assert m.sde.eps == pytest.approx(1 / 200) and m.sde.T == 1.0
    # t = 0 is the data; log m linear in t between nodes (DPM-Solver's interpolation)
    assert float(m.sde.marginal(0.0)[1]) == 0.0
    t = torch.tensor([0.0125, 0.5025], dtype=torch.float64)  # midpoints of cells
    lo, hi = m.sde.marginal(t - 0.0025)[0].log(), m.sde.marginal(t + 0.0025)[0].log()
    torch.testing.assert_close(m.sde.marginal(t)[0].log(), (lo + hi) / 2, rtol=1e-12, atol=0)


def test_score_is_minus_eps_over_std(folder, model):
    x = z0(3)
    n = torch.tensor([0, 499, 999])
    ab = DDPMScheduler(num_train_timesteps=N_TRAIN).alphas_cumprod.double()
    with torch.no_grad():
        eps = model.net.unet(x, n).sample
        score = model(x, ((n + 1) / N_TRAIN).float())
    want = -eps / (1 - ab[n]).sqrt().float().view(3, 1, 1, 1)
    torch.testing.assert_close(score, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("pred", ["epsilon", "v_prediction", "sample"])
def test_x0_matches_diffusers_for_every_prediction_type(tmp_path, pred):
    """Our x0 at t_n equals diffusers' DDIM pred_original_sample at timestep n."""
    sched = DDIMScheduler(num_train_timesteps=N_TRAIN, prediction_type=pred, clip_sample=False)
    m = from_diffusers(save(tmp_path, scheduler=sched))
    sched.set_timesteps(10)
    x = z0(2)
    for t in sched.timesteps[[0, 5, 9]]:
        with torch.no_grad():
            out = m.net.unet(x, t).sample
            want = sched.step(out, t, x).pred_original_sample
            got = m.denoise(x, torch.full((2,), (int(t) + 1) / N_TRAIN))
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)


def test_sde_persists_through_the_registry(model):
    spec = registry.spec_of(model.sde)
    assert spec["schedule"]["_target_"] == "sde_diffusion.sdes.DiscreteBeta"
    again = registry.build(json.loads(json.dumps(spec)))
    t = torch.linspace(0, 1, 101, dtype=torch.float64)
    assert torch.equal(again.marginal(t)[0], model.sde.marginal(t)[0])
    lam = model.sde.log_snr(t[1:])
    torch.testing.assert_close(model.sde.t_from_log_snr(lam), t[1:], rtol=0, atol=1e-12)


# ------------------------------------------------------------------- side by side with diffusers
def diffusers_loop(unet, sched, z, steps):
    sched.set_timesteps(steps)
    x = z.clone()
    with torch.no_grad():
        for t in sched.timesteps:
            x = sched.step(unet(x, t).sample, t, x).prev_sample
    return x, sched.timesteps


@pytest.mark.parametrize("steps", [10, 20])
@pytest.mark.parametrize("which", ["ddim", "dpmpp2m"])
def test_equals_diffusers_schedulers(model, which, steps):
    """Same x_T, the grid t = (timestep + 1)/N then 0 (diffusers' last step returns x0):
    equal to float32 rounding (rel. 1e-5 of the sample scale). DPM-Solver++(2M) is compared with
    solver_type="heun", the phi_2 form the project implements."""
    base = DDPMScheduler(num_train_timesteps=N_TRAIN).config
    if which == "ddim":
        sched, ours, kw = DDIMScheduler.from_config(base, clip_sample=False), "ddim", {}
    else:
        sched = DPMSolverMultistepScheduler.from_config(base, solver_type="heun")
        ours, kw = "dpm_solver2", {"min_ratio": 0.0}
    z = z0()
    want, ts = diffusers_loop(model.net.unet, sched, z, steps)
    grid = torch.cat([(ts.double() + 1) / N_TRAIN, torch.zeros(1, dtype=torch.float64)])
    got, info = sample(model.sde, model, x_init=z, sampler=ours, grid=grid.tolist(),
                       denoise=False, **kw)
    assert info.nfe == steps
    scale = float(want.abs().max())
    assert float((got - want).abs().max()) <= 1e-5 * scale


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_every_sampler_runs(model, name):
    if name in ("flow_euler", "flow_midpoint", "flow_sde"):   # flow paths only: a clear refusal
        with pytest.raises(ValueError, match=f"^sampler '{name}' needs an SDE with marginal_rates"):
            sample(model.sde, model, (2, 1, 8, 8), sampler=name, steps=4)
        return
    steps = {"rk45": None, "dpm_adaptive": None, "torchsde": 4, "annealed_langevin": 3}.get(name, 4)
    kw = {}
    if name in ("rk45", "dpm_adaptive"):
        kw = {"rtol": 1e-2, "atol": 1e-2}
    try:
        x, info = sample(model.sde, model, (2, 1, 8, 8), sampler=name, steps=steps,
                         generator=torch.Generator().manual_seed(0), **kw)
    except TypeError as e:  # a sampler without rtol/atol options
        if kw:
            x, info = sample(model.sde, model, (2, 1, 8, 8), sampler=name, steps=8,
                             generator=torch.Generator().manual_seed(0))
        else:
            raise e
    assert x.shape == (2, 1, 8, 8) and bool(torch.isfinite(x).all()) and info.nfe >= 1


def test_bits_per_dim_runs_and_is_finite(model):
    from sde_diffusion.data import digits
    from sde_diffusion.likelihood import bits_per_dim
    x = digits().test[:2]
    res = bits_per_dim(model.sde, model, x, generator=torch.Generator().manual_seed(0),
                       method="heun", steps=4, divergence="hutchinson")
    assert res.bpd.shape == (2,) and bool(torch.isfinite(res.bpd).all())


# ------------------------------------------------------------------------------- VE (NCSN++)
def test_score_sde_ve_folder(tmp_path):
    from diffusers import ScoreSdeVeScheduler
    d = tmp_path / "ve"
    u = tiny_unet(time_embedding_type="fourier")
    u.save_pretrained(d)
    ScoreSdeVeScheduler(sigma_min=0.01, sigma_max=50.0).save_pretrained(d)
    m = from_diffusers(d)
    assert type(m.sde).__name__ == "VESDE" and m.parameterization == "score"
    x, t = z0(2), torch.tensor([0.3, 0.9])
    sigma = 0.01 * (50.0 / 0.01) ** t
    with torch.no_grad():
        torch.testing.assert_close(m(x, t), u(x, sigma).sample, rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------------------------- bad input
@pytest.fixture
def sentinel(monkeypatch):
    """Records any construction of a UNet2DModel: a refused folder must build nothing."""
    calls = []
    init = UNet2DModel.__init__

    @functools.wraps(init)
    def spy(self, *a, **k):
        calls.append(k)
        init(self, *a, **k)

    monkeypatch.setattr(UNet2DModel, "__init__", spy)
    return calls


def _edit(path, **changes):
    cfg = json.loads(path.read_text())
    cfg.update(changes)
    path.write_text(json.dumps(cfg))


def test_not_a_diffusers_folder(tmp_path, sentinel):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DiffusersFormatError, match="not a diffusers model folder"):
        from_diffusers(tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match="no such model folder"):
        from_diffusers(tmp_path / "missing")
    assert sentinel == []


@pytest.mark.parametrize("key,value,match", [
    ("_class_name", "LCMScheduler", "_class_name.*LCMScheduler"),
    ("prediction_type", "flow", "prediction_type.*'flow'"),
    ("beta_schedule", "sigmoid", "beta_schedule.*'sigmoid'"),
    ("rescale_betas_zero_snr", True, "log-SNR is -inf"),
    ("_target_", "builtins.open", "_target_"),
])
def test_bad_scheduler_config(folder, tmp_path, sentinel, key, value, match):
    d = tmp_path / "bad"
    shutil.copytree(folder, d)
    _edit(d / "scheduler" / "scheduler_config.json", **{key: value})
    with pytest.raises(DiffusersFormatError, match=match):
        from_diffusers(d)
    assert sentinel == []


@pytest.mark.parametrize("where,changes,match", [
    ("unet/config.json", {"_class_name": "os.system"}, "_class_name.*os.system"),
    ("unet/config.json", {"_target_": "builtins.exec"}, "_target_"),
    ("unet/config.json", {"evil_key": 1}, "unknown UNet2DModel key 'evil_key'"),
    ("unet/config.json", {"block_out_channels": [8, 10 ** 9]}, "block_out_channels"),
    ("model_index.json", {"unet": ["my_package", "UNet2DModel"]}, "entry 'unet'"),
    ("model_index.json", {"_class_name": "StableDiffusionPipeline"}, "StableDiffusionPipeline"),
])
def test_bad_network_config(folder, tmp_path, sentinel, where, changes, match):
    d = tmp_path / "bad"
    shutil.copytree(folder, d)
    _edit(d / where, **changes)
    with pytest.raises(DiffusersFormatError, match=match):
        from_diffusers(d)
    assert sentinel == []


def test_pickles_are_refused_unread(tmp_path, sentinel, monkeypatch):
    pkl = tmp_path / "network-snapshot.pkl"
    pkl.write_bytes(b"\x80\x04not read")
    monkeypatch.setattr(torch, "load", lambda *a, **k: pytest.fail("a pickle was opened"))
    for p in (pkl, tmp_path):
        with pytest.raises(DiffusersFormatError, match="pickled network.*runs code"):
            from_diffusers(p)
    assert sentinel == []


def test_weights_that_do_not_fit_are_refused(folder, tmp_path):
    d = tmp_path / "bad"
    shutil.copytree(folder, d)
    _edit(d / "unet" / "config.json", block_out_channels=[8, 24])
    with pytest.raises(ValueError, match="weights do not match|expects"):
        from_diffusers(d)


# ---------------------------------------------------------------------- the benchmark source
def test_benchmark_source_loads_a_diffusers_folder(folder, tmp_path):
    from types import SimpleNamespace
    from sde_diffusion.benchmarking.sources import score_source
    prob = SimpleNamespace(name="digits", data_shape=(1, 8, 8), analytic=False)
    sde, score, kind = score_source({"checkpoint": f"diffusers:{folder}"}, prob, None, "cpu",
                                    torch.float32)
    assert kind == "diffusers" and sde.eps == pytest.approx(1e-3)
    x = z0(2)
    t = torch.full((2,), 0.5)
    torch.testing.assert_close(score(x, t), from_diffusers(folder)(x, t))
    wrong = SimpleNamespace(name="mnist1d", data_shape=(40,), analytic=False)
    with pytest.raises(ValueError, match=r"shape \(1, 8, 8\).*\(40,\)"):
        score_source({"checkpoint": f"diffusers:{folder}"}, wrong, None, "cpu", torch.float32)


@pytest.mark.slow
def test_benchmark_script_on_a_diffusers_folder(folder, tmp_path):
    """``scripts/benchmark.py source=diffusers:<folder>``: the record names the source, counts
    5 network calls and its samples are the project's ddim on the loaded model from x_T."""
    import subprocess
    import sys
    out = subprocess.run([sys.executable, "scripts/benchmark.py", "problem=digits",
                          f"source=diffusers:{folder}", "sampler=ddim", "nfe=5",
                          "n_samples=20", "n_heldout=20", "logger=none", f"out_dir={tmp_path}"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    records = list((tmp_path / "records").glob("*.json"))
    assert len(records) == 1
    rec = json.loads(records[0].read_text())
    assert rec["status"] == "computed", rec.get("error")
    assert rec["nfe"] == 5 and rec["cell"]["checkpoint"] == f"diffusers:{folder}"
    bad = subprocess.run([sys.executable, "scripts/benchmark.py", "problem=digits",
                          f"checkpoint=diffusers:{folder}", "sampler=ddim", "nfe=5",
                          "logger=none", f"out_dir={tmp_path / 'bad'}"],
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "source=diffusers:" in bad.stderr
    assert not (tmp_path / "bad" / "records").exists() or not any(
        (tmp_path / "bad" / "records").iterdir())


def test_a_config_cannot_make_the_loader_allocate(folder, tmp_path):
    """A 10^9-row class embedding in the config is checked on the meta device against the
    weights file (which lacks it) and refused; nothing of that size is allocated."""
    import resource
    d = tmp_path / "huge"
    shutil.copytree(folder, d)
    _edit(d / "unet" / "config.json", num_class_embeds=10 ** 9)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(ValueError, match="weights do not match"):
        from_diffusers(d)
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown_kib < 1024 * 1024  # a real 10^9 x 64 float32 table would be 256 GB


def test_project_save_pretrained_refuses_the_diffusers_network(model, tmp_path):
    from sde_diffusion.io import save_pretrained
    from sde_diffusion.registry import RegistryError
    with pytest.raises(RegistryError, match="DiffusersUNet"):
        save_pretrained(model, tmp_path / "out")
    assert not (tmp_path / "out" / "config.json").exists()
