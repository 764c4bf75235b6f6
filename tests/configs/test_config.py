"""Hydra configs: every option composes and instantiates; schemas reject bad keys and types;
bad input fails before training with a message saying what to change; multirun gives one run
per job; the train/sample scripts run end to end."""
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hydra.errors import ConfigCompositionException, MissingConfigException
from omegaconf import OmegaConf

from sde_diffusion.configs import CONF_DIR, compose as compose_config, instantiate, to_plain, validate_sampler
from sde_diffusion.configs.train import build_model, build_trainer
from sde_diffusion.solvers import SAMPLERS
from sde_diffusion.training import TrainOptions

ROOT = Path(__file__).resolve().parents[2]
OPTIONS = {g: sorted(p.stem for p in (CONF_DIR / g).glob("*.yaml"))
           for g in ("sde", "model", "data", "sampler", "logger", "experiment")}
IMAGE_DATA = {"digits", "mnist", "cifar10", "image_folder"}
FAST = ["logger=none", "train.progress=false"]


def data_shape(cfg):
    if "image_size" in cfg.data:
        return (cfg.data.channels, cfg.data.image_size, cfg.data.image_size)
    return instantiate(OmegaConf.merge(cfg.data, {"n_train": 8, "n_test": 4}), "data").data_shape


def test_the_expected_options_exist():
    assert {"vp", "vp_cosine", "subvp", "ve"} <= set(OPTIONS["sde"])
    assert {"mlp", "unet"} <= set(OPTIONS["model"]) and {"wandb", "none"} <= set(OPTIONS["logger"])
    assert {"toy2d", "digits", "mnist", "cifar10"} <= set(OPTIONS["experiment"])
    assert {"three_clusters", "ring", "checkerboard", "swiss_roll", "two_moons", "pinwheel",
            "digits", "mnist", "cifar10", "image_folder"} <= set(OPTIONS["data"])


@pytest.mark.parametrize("sde", OPTIONS["sde"])
def test_every_sde_option_instantiates(sde):
    s = instantiate(compose_config([f"sde={sde}"]).sde, "sde")
    m, std = s.marginal(0.5)
    assert 0 < float(std) and float(m) > 0


@pytest.mark.parametrize("sde", OPTIONS["sde"])
def test_every_shipped_sde_config_is_inside_the_allow_list(sde):
    """The allow-list builds every shipped SDE exactly as Hydra's instantiate did."""
    from hydra.utils import instantiate as hydra_instantiate
    node = compose_config([f"sde={sde}"]).sde
    a, b = instantiate(node, path="sde"), hydra_instantiate(node, _convert_="all")
    t = torch.linspace(0.01, float(a.T) * 0.99, 9, dtype=torch.float64)
    assert type(a) is type(b) and all(torch.equal(u, v) for u, v in zip(a.marginal(t), b.marginal(t)))


@pytest.mark.parametrize("group", ["data", "logger"])
def test_every_shipped_data_and_logger_target_is_allow_listed(group):
    import sde_diffusion.registry as registry
    for opt in OPTIONS[group]:
        target = compose_config([f"{group}={opt}"])[group]._target_  # image_folder's path is ???
        assert registry.is_allowed(target, training=True), (group, opt)
    ring = instantiate(compose_config(["data=ring", "data.n_train=64", "data.n_test=8"]).data, "data")
    assert tuple(ring.train.shape) == (64, 2)


def test_every_benchmark_problem_mixture_is_allow_listed():
    import yaml
    import sde_diffusion.registry as registry
    for path in sorted((CONF_DIR / "problem").glob("*.yaml")):
        node = yaml.safe_load(path.read_text())
        for key in ("mixture", "data"):
            if isinstance(node.get(key), dict) and "_target_" in node[key]:
                assert registry.is_allowed(node[key]["_target_"]), (path.name, key)


@pytest.mark.parametrize("name", OPTIONS["experiment"])
def test_every_experiment_composes_and_builds_its_model(name):
    cfg = compose_config([f"experiment={name}"])
    assert cfg.sampler.name in SAMPLERS
    shape = data_shape(cfg)
    model = build_model(cfg.model, cfg.sde, shape)
    C = cfg.model.net.get("num_classes", 0)
    assert model.num_classes == C and (C > 0) == cfg.train.conditional
    x = torch.randn(2, *shape)
    with torch.no_grad():
        assert model(x, torch.full((2,), 0.5)).shape == x.shape
        if C:  # class-conditional: labels 0..C-1 and the null label C reach the net
            torch.manual_seed(0)
            for p in model.parameters():  # the U-Net's output layer starts at zero
                p.normal_(0.0, 0.05)
            y = torch.tensor([0, C - 1])
            s_y = model(x, torch.full((2,), 0.5), y)
            s_null = model(x, torch.full((2,), 0.5), torch.full((2,), C))
            assert s_y.shape == x.shape and not torch.allclose(s_y, s_null)


def test_the_conditional_experiment_is_class_conditional():
    cfg = compose_config(["experiment=digits_cond"])
    assert cfg.model.net.num_classes == 10 and cfg.train.conditional
    assert cfg.train.label_dropout == 0.2 and "p_uncond" not in cfg.train.loss


@pytest.mark.parametrize("data", [d for d in OPTIONS["data"] if d not in IMAGE_DATA - {"digits"}])
@pytest.mark.parametrize("model", ["mlp", "unet"])
def test_group_options_combine(data, model):
    cfg = compose_config([f"data={data}", f"model={model}", "model.net.channel_mult=[1,2]",
                          "model.net.attn_resolutions=[4]", "model.net.base_channels=8",
                          "model.net.num_groups=4"] if model == "unet" else
                         [f"data={data}", f"model={model}"])
    shape = data_shape(cfg)
    if model == "unet" and len(shape) == 1:
        with pytest.raises(ValueError, match="use model=mlp"):
            build_model(cfg.model, cfg.sde, shape)
    else:
        build_model(cfg.model, cfg.sde, shape)


@pytest.mark.parametrize("sampler", OPTIONS["sampler"])
def test_every_sampler_option_names_a_registered_sampler(sampler):
    node = compose_config([f"sampler={sampler}"]).sampler
    assert node.name in SAMPLERS
    validate_sampler(to_plain(node))  # steps >= 1, finite options
    with pytest.raises(ConfigCompositionException, match="stpes"):
        compose_config([f"sampler={sampler}", "sampler.stpes=3"])  # the schema is typed


@pytest.mark.parametrize("sampler", OPTIONS["sampler"])
def test_sampler_config_options_are_the_constructor_defaults(sampler):
    """``sampler=<name>`` from Hydra runs what ``sample(..., sampler=<name>)`` runs: every option
    a config file lists that the constructor takes has the constructor's default (None there
    means "resolved at run time" and the file may name the resolved value). The unipc file said
    order 2 after the class default became 3, and the ipndm file afs false (class: true)."""
    import inspect
    node = to_plain(compose_config([f"sampler={sampler}"]).sampler)
    params = inspect.signature(SAMPLERS[node["name"]].__init__).parameters
    for key, value in (node.get("options") or {}).items():
        if key in params and params[key].default is not None:
            assert value == params[key].default, (sampler, key, value, params[key].default)


@pytest.mark.parametrize("override,match", [
    ("train.lrr=1e-3", "Could not override 'train.lrr'"),
    ("train.lr=fast", "train.lr"),
    ("sde.beta_mx=3", "Could not override 'sde.beta_mx'"),
    ("model.net.hiden=64", "Could not override 'model.net.hiden'"),
    ("model.net.channel_mult=oops", "channel_mult"),
    ("logger.mode=[1]", "logger.mode"),
])
def test_bad_keys_and_types_fail_at_compose(override, match):
    with pytest.raises(ConfigCompositionException, match=match):
        compose_config([override])


def test_unknown_experiment_lists_the_options():
    with pytest.raises(MissingConfigException, match="Available options in 'experiment'") as e:
        compose_config(["experiment=toy3d"])
    assert "toy2d" in str(e.value)


@pytest.mark.parametrize("overrides,error,match", [
    (["experiment=digits", "model.net.channel_mult=[1,2,2,2,2]", "model.net.attn_resolutions=[]"],
     ValueError, "multiple of 16"),
    (["experiment=digits", "data.image_size=28"], ValueError, "image_size=8"),
    (["data=ring", "model=unet"], ValueError, "use model=mlp"),
    (["data=image_folder", "data.path=/nonexistent/images"], FileNotFoundError, "data.path"),
    (["data=image_folder"], ValueError, "data.path"),
    (["experiment=toy2d", "train.batch_size=100000"], ValueError, "train.batch_size"),
])
def test_bad_input_fails_before_training(tmp_path, overrides, error, match):
    with pytest.raises(error, match=match):
        build_trainer(compose_config(overrides + FAST), tmp_path)
    assert not (tmp_path / "checkpoints").exists()


@pytest.mark.skipif(importlib.util.find_spec("torchvision") is not None, reason="torchvision installed")
def test_missing_torchvision_data_set_fails_with_install_hint(tmp_path):
    with pytest.raises(ImportError, match="pip install torchvision"):
        build_trainer(compose_config(["experiment=mnist"] + FAST), tmp_path)


def test_the_train_group_is_typed_by_train_options():
    """One schema for the trainer's options: Hydra's ``train:`` node is ``TrainOptions``."""
    from dataclasses import fields
    cfg = compose_config(["experiment=toy2d"])
    assert OmegaConf.get_type(cfg, "train") is TrainOptions
    assert set(cfg.train) == {f.name for f in fields(TrainOptions)}
    with pytest.raises(ConfigCompositionException, match="train.loss.p_uncnd"):
        compose_config(["train.loss.p_uncnd=0.1"])


def test_build_trainer_fills_in_seed_and_data_std(tmp_path):
    """``train.seed: null`` takes the root seed; ``model.data_std: null`` becomes the training
    data's std, in the model and in the config stored with the run."""
    cfg = compose_config(TINY + ["seed=5", "data.n_train=256"])
    trainer = build_trainer(cfg, tmp_path)
    std = round(float(instantiate(cfg.data, "data").train.double().std()), 6)
    assert trainer.seed == 5 and trainer.options.steps == 4
    assert trainer.run_config["model"]["data_std"] == std
    assert abs(float(trainer.model.data_std) - std) < 1e-12
    assert cfg.model.data_std is None  # the caller's config is not modified
    assert not (tmp_path / "checkpoints").exists()


def test_build_trainer_of_the_conditional_experiment(tmp_path):
    """experiment=digits_cond: a 10-class net, labelled data and a loss that takes them."""
    trainer = build_trainer(compose_config(["experiment=digits_cond"] + FAST), tmp_path)
    assert trainer.model.num_classes == 10 and trainer.options.conditional
    assert trainer.data_info.num_classes == 10 and trainer.options.label_dropout == 0.2


def test_sample_and_likelihood_configs_compose():
    cfg = compose_config(["run=/some/run", "sampler=heun"], config_name="sample")
    assert cfg.sampler.name == "heun" and cfg.n == 64
    assert compose_config(["run=x"], config_name="sample").sampler is None
    with pytest.raises(ConfigCompositionException):
        compose_config(["run=x", "nn=3"], config_name="sample")
    lk = compose_config(["checkpoint=x"], config_name="likelihood")
    assert lk.data is None and lk.allow_data_mismatch is False and lk.ode.method == "rk45"
    lk = compose_config(["checkpoint=x", "data=two_moons"], config_name="likelihood")
    assert lk.data._target_ == "sde_diffusion.data.two_moons"


# ----------------------------------------------------------------------------- the scripts
def _run(args, cwd, timeout=240):
    env = dict(os.environ, OMP_NUM_THREADS="1", HYDRA_FULL_ERROR="0")
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


TINY = ["experiment=toy2d", "logger=none", "data.n_train=512", "data.n_test=128",
        "model.net.hidden=16", "model.net.depth=1", "train.steps=4", "train.batch_size=32",
        "train.log_every=2", "train.checkpoint_every=2", "train.eval_samples=64",
        "sampler.steps=5", "train.progress=false"]


@pytest.mark.skipif("sde_diffusion.configs" not in (ROOT / "scripts/train.py").read_text(),
                    reason="scripts/train.py still expects sde_diffusion.training to register the schemas")
def test_multirun_two_values_give_two_runs_and_sample_script(tmp_path):
    sweep = tmp_path / "sweep"
    r = _run([str(ROOT / "scripts/train.py"), "-m", *TINY, "train.lr=1e-3,3e-4",
              f"hydra.sweep.dir={sweep}"], cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    runs = sorted(p for p in sweep.iterdir() if p.is_dir() and p.name.isdigit())
    assert [p.name for p in runs] == ["0", "1"]
    lrs = set()
    for run in runs:
        assert (run / "checkpoints" / "ckpt_00000004.pt").is_file()
        assert (run / "samples" / "final.png").is_file()
        lrs.add(OmegaConf.load(run / ".hydra" / "config.yaml").train.lr)
    assert lrs == {1e-3, 3e-4}
    r = _run([str(ROOT / "scripts/sample.py"), f"run={runs[0]}", "n=50", "steps=6",
              "trajectory_frames=4"], cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    (out,) = (runs[0] / "samples").glob("20*")  # lineage: inside the run
    assert torch.load(out / "samples.pt", weights_only=True).shape == (50, 2)
    assert (out / "samples.png").is_file() and (out / "trajectory.png").is_file()
    assert (out / "trajectory.gif").is_file()


@pytest.mark.slow  # two interpreter start-ups; the same errors are tested in-process above
@pytest.mark.skipif("sde_diffusion.configs" not in (ROOT / "scripts/train.py").read_text(),
                    reason="scripts/train.py still expects sde_diffusion.training to register the schemas")
def test_train_script_fails_fast_on_bad_key_and_bad_image_size(tmp_path):
    r = _run([str(ROOT / "scripts/train.py"), "experiment=toy2d", "train.lrr=1"], cwd=tmp_path)
    assert r.returncode == 2 and "train.lrr=1: unknown key 'lrr' in train" in r.stderr
    r = _run([str(ROOT / "scripts/train.py"), "experiment=digits", "logger=none",
              "model.net.channel_mult=[1,2,2,2,2]", "model.net.attn_resolutions=[]",
              f"hydra.run.dir={tmp_path / 'run'}"], cwd=tmp_path)
    assert r.returncode == 2 and "multiple of 16" in (r.stdout + r.stderr)
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_sample_script_writes_a_noise_spaced_strip_and_a_gif_inside_the_run(tmp_path, monkeypatch):
    """scripts/sample.py on an unconditional run: samples, trajectory.png and trajectory.gif in
    <run>/samples/<timestamp>/, the strip and the GIF given the model's SDE (frames spaced in
    log sigma, labelled with t and sigma), one GIF frame per selected noise level."""
    from PIL import Image
    import sde_diffusion.app.plots as plots
    from sde_diffusion.sdes import VPSDE
    from runs_helpers import make_run, run_script
    seen = {}
    for name in ("save_trajectory_strip", "save_trajectory_gif"):
        real = getattr(plots, name)

        def spy(traj, times, path, kind, *a, _real=real, _name=name, **kw):
            seen[_name] = (list(times), kw)
            return _real(traj, times, path, kind, *a, **kw)
        monkeypatch.setattr(plots, name, spy)
    run = make_run(tmp_path / "run")
    code, err = run_script("sample", [f"run={run}", "n=20", "sampler=euler", "sampler.steps=30",
                                      "trajectory_frames=4"])
    assert code == 0, err
    (out,) = (run / "samples").iterdir()
    assert out.name.startswith("20") and (out / "trajectory.png").is_file()
    assert torch.load(out / "samples.pt", weights_only=True).shape == (20, 2)
    times, kw = seen["save_trajectory_gif"]
    assert isinstance(kw["sde"], VPSDE) and isinstance(seen["save_trajectory_strip"][1]["sde"], VPSDE)
    assert seen["save_trajectory_strip"][1]["frames"] == 4 and len(times) == 31
    with Image.open(out / "trajectory.gif") as gif:
        assert gif.format == "GIF"
        assert gif.n_frames == len(plots.frame_indices(times, kw["frames"], kw["sde"])) > 4


def test_sample_script_reads_a_run_sampler_with_top_level_options(tmp_path):
    """Runs written before the trainer stored {name, steps, options} kept options at the top."""
    from sde_diffusion.app.models import sampler_node
    from runs_helpers import legacy_config, make_run, run_script
    flat = {"name": "pc", "steps": 3, "denoise": True, "snr": 0.16}
    assert sampler_node(flat) == {"name": "pc", "steps": 3, "options": {"denoise": True, "snr": 0.16}}
    assert sampler_node({"name": "pc", "steps": 3, "options": {"snr": 0.1}}) == \
        {"name": "pc", "steps": 3, "options": {"snr": 0.1}}
    cfg = legacy_config()
    cfg["sampler"] = flat
    run = make_run(tmp_path / "run", config=cfg)
    code, err = run_script("sample", [f"run={run}", "n=8", "trajectory_frames=0"])
    assert code == 0, err
    (out,) = (run / "samples").iterdir()
    assert torch.load(out / "samples.pt", weights_only=True).shape == (8, 2)
    assert not (out / "trajectory.gif").exists()
