"""Adversarial inputs to the evaluation configs, the allow-list and the script start-up: each
asserts the exact outcome (error type and a message naming the value), or correct behaviour.
Most call the validation functions directly; a handful run the scripts in-process through
``run_main`` and check for ONE line on stderr and the exit status; one runs the real CLI."""
import copy
import errno
import subprocess
import sys

import numpy as np
import pytest
import torch
from hydra.errors import ConfigCompositionException, MissingConfigException

import sde_diffusion.registry as registry
from sde_diffusion.configs import (compose, run_main, to_plain, validate_likelihood_config,
                                   validate_sample_config)
from sde_diffusion.likelihood import EVAL_METHODS
from sde_diffusion.training.sampling import check_finite_samples
from sde_diffusion.io import load_model

from runs_helpers import ROOT, make_run, run_script, script_main, subprocess_env, tiny_model

SAMPLE = to_plain(compose(["run=/some/run"], config_name="sample"))
LIKELIHOOD = to_plain(compose(["checkpoint=/some/run"], config_name="likelihood"))


def _with(base, **changes):
    c = copy.deepcopy(base)
    for k, v in changes.items():
        node = c
        keys = k.split("__")
        for key in keys[:-1]:
            node = node[key]
        node[keys[-1]] = v
    return c


HEUN = {"name": "heun", "steps": 10, "options": {}}
SAMPLE_BAD = [  # (changes, error, match)
    (dict(n=0), ValueError, r"n must be >= 1, got 0"),
    (dict(n=-5), ValueError, r"n must be >= 1, got -5"),
    (dict(n=1.5), TypeError, r"n must be an integer, got 1.5"),
    (dict(n="10"), TypeError, r"n must be an integer, got '10'"),
    (dict(n=True), TypeError, r"n must be an integer, got True"),
    (dict(n=float("inf")), TypeError, r"n must be an integer, got inf"),
    (dict(n=float("nan")), TypeError, r"n must be an integer, got nan"),
    (dict(seed=-1), ValueError, r"seed must be >= 0, got -1"),
    (dict(steps=0), ValueError, r"steps must be >= 1, got 0"),
    (dict(steps=-3), ValueError, r"steps must be >= 1, got -3"),
    (dict(steps=2.5), TypeError, r"steps must be an integer, got 2.5"),
    (dict(batch_size=0), ValueError, r"batch_size must be >= 1, got 0"),
    (dict(trajectory_frames=-1), ValueError, r"trajectory_frames must be >= 0, got -1"),
    (dict(device="gpu"), ValueError, r"device='gpu' is not a device; valid: 'auto', 'cpu'"),
    (dict(device="cuda:x"), ValueError, r"device='cuda:x' is not a device"),
    (dict(device=0), ValueError, r"device=0 is not a device"),
    (dict(run=""), ValueError, r"run must name a run folder.*got ''"),
    (dict(run="   "), ValueError, r"run must name a run folder.*got '   '"),
    (dict(run=None), ValueError, r"run must name a run folder.*got None"),
    (dict(sampler={"name": "nope", "steps": 10}), ValueError,
     r"sampler.name='nope' is not a registered sampler; valid: .*heun"),
    (dict(sampler={"steps": 10}), ValueError, r"sampler.name=None is not a registered sampler"),
    (dict(sampler=dict(HEUN, steps=0)), ValueError, r"sampler.steps must be >= 1, got 0"),
    (dict(sampler=dict(HEUN, steps=float("inf"))), TypeError, r"sampler.steps must be an integer, got inf"),
    (dict(sampler=dict(HEUN, steps=float("nan"))), TypeError, r"sampler.steps must be an integer, got nan"),
    (dict(sampler=dict(HEUN, steps="many")), TypeError, r"sampler.steps must be an integer, got 'many'"),
    (dict(sampler=dict(HEUN, options={"snr": float("inf")})), ValueError, r"sampler.options.snr=inf is not finite"),
    (dict(sampler=dict(HEUN, options={"a": {"b": float("nan")}})), ValueError, r"sampler.options.a.b=nan is not finite"),
    (dict(sampler=dict(HEUN, options={"grid": [1.0, float("-inf")]})), ValueError, r"sampler.options.grid\[1\]=-inf"),
    (dict(sampler=dict(HEUN, options=[1, 2])), TypeError, r"sampler.options must be a mapping, got \[1, 2\]"),
    (dict(sampler="heun"), TypeError, r"sampler must be a mapping \{name, steps, options\}, got 'heun'"),
    (dict(sampler=dict(HEUN, stpes=3)), ValueError, r"unknown key sampler.stpes=3; a sampler has name, steps"),
    (dict(stpes=20), ValueError, r"unknown config key stpes=20; did you mean steps\?"),
    (dict(sample={"stpes": 20}), ValueError, r"unknown config key sample=\{'stpes': 20\}"),
    (dict(use_em=False), ValueError, r"unknown config key use_em=False; did you mean use_ema\?"),
    # use_ema takes an EMA decay too, so the schema types it Any and validation names a bad value
    (dict(use_ema="maybe"), ValueError, r"use_ema must be true, false or an EMA decay in \[0, 1\) "
                                        r"kept with train.ema_extra, got 'maybe'"),
    (dict(use_ema=1.5), ValueError, r"use_ema must be true, false or an EMA decay .*got 1.5"),
    (dict(use_ema=1), ValueError, r"use_ema must be true, false or an EMA decay .*got 1$"),
]


@pytest.mark.parametrize("changes,error,match", SAMPLE_BAD)
def test_bad_sample_configs_are_refused(changes, error, match):
    with pytest.raises(error, match=match):
        validate_sample_config(_with(SAMPLE, **changes))


@pytest.mark.parametrize("changes", [dict(n=np.int64(10)), dict(steps=None), dict(steps=np.int32(5)),
                                     dict(sampler=HEUN, steps=7), dict(device="cuda:1"),
                                     dict(sampler=dict(HEUN, steps=0), steps=5)])
def test_good_sample_configs_pass(changes):
    validate_sample_config(_with(SAMPLE, **changes))  # numpy integers are integers


LIKELIHOOD_BAD = [
    (dict(use_ema="maybe"), ValueError, r"use_ema must be true, false or an EMA decay .*got 'maybe'"),
    (dict(method="nope"), ValueError, r"method='nope' is not one of 'ode', 'elbo', 'discrete_elbo', 'all'"),
    (dict(split="valid"), ValueError, r"split='valid' is not one of 'test', 'train'"),
    (dict(n_points=0), ValueError, r"n_points must be >= 1, got 0"),
    (dict(n_points=2.5), TypeError, r"n_points must be an integer, got 2.5"),
    (dict(batch_size=0), ValueError, r"batch_size must be >= 1, got 0"),
    (dict(seed=-2), ValueError, r"seed must be >= 0, got -2"),
    (dict(device="tpu"), ValueError, r"device='tpu' is not a device"),
    (dict(checkpoint=""), ValueError, r"checkpoint must name a run folder.*got ''"),
    (dict(ode__method="euler"), ValueError, r"ode.method='euler' is not one of 'rk45', 'heun'"),
    (dict(ode__divergence="exactly"), ValueError, r"ode.divergence='exactly' is not one of 'auto', 'exact', 'hutchinson'"),
    (dict(ode__probe="normal"), ValueError, r"ode.probe='normal' is not one of 'rademacher', 'gaussian'"),
    (dict(ode__n_probes=0), ValueError, r"ode.n_probes must be >= 1, got 0"),
    (dict(ode__rtol=0.0), ValueError, r"ode.rtol must be > 0, got 0.0"),
    (dict(ode__rtol=-1e-5), ValueError, r"ode.rtol must be > 0, got -1e-05"),
    (dict(ode__rtol=float("inf")), ValueError, r"ode.rtol must be finite, got inf"),
    (dict(ode__atol=float("nan")), ValueError, r"ode.atol must be finite, got nan"),
    (dict(ode__atol="small"), TypeError, r"ode.atol must be a number, got 'small'"),
    (dict(ode__steps=0), ValueError, r"ode.steps must be >= 1, got 0"),
    (dict(elbo__n_samples=0), ValueError, r"elbo.n_samples must be >= 1, got 0"),
    (dict(elbo__t_sampling="random"), ValueError, r"elbo.t_sampling='random' is not one of 'uniform', 'importance'"),
    (dict(discrete_elbo__num_steps=0), ValueError, r"discrete_elbo.num_steps must be >= 1, got 0"),
    (dict(discrete_elbo__prediction="v"), ValueError, r"discrete_elbo.prediction='v' is not one of 'score', 'x0', 'eps'"),
    (dict(discrete_elbo__variance="big"), ValueError, r"discrete_elbo.variance='big' is not one of 'beta', 'beta_tilde'"),
    (dict(discrete_elbo__decoder="bernoulli"), ValueError, r"discrete_elbo.decoder='bernoulli' is not one of"),
    (dict(discrete_elbo__sampled_steps=0), ValueError, r"discrete_elbo.sampled_steps must be >= 1, got 0"),
    (dict(data="ring"), ValueError, r"data must be null \(the run's own data\) or a data config.*got 'ring'"),
    (dict(ode__rtool=1e-3), ValueError, r"unknown config key ode.rtool=0.001; did you mean ode.rtol\?"),
    (dict(allow_data_mismach=True), ValueError, r"unknown config key allow_data_mismach=True; did you mean allow_data_mismatch\?"),
]


@pytest.mark.parametrize("changes,error,match", LIKELIHOOD_BAD)
def test_bad_likelihood_configs_are_refused(changes, error, match):
    with pytest.raises(error, match=match):
        validate_likelihood_config(_with(LIKELIHOOD, **changes), EVAL_METHODS)


COMPOSE_BAD = [
    ("sample", ["run=x", "n=abc"], ConfigCompositionException, r"n"),
    ("sample", ["run=x", "n=inf"], ConfigCompositionException, r"n"),
    ("sample", ["run=x", "nn=3"], ConfigCompositionException, r"Could not override 'nn'"),
    ("sample", ["run=x", "sampler=nope"], MissingConfigException, r"Available options in 'sampler'"),
    ("sample", ["run=x", "sampler=heun", "sampler.steps=many"], ConfigCompositionException, r"sampler.steps"),
    ("likelihood", ["checkpoint=x", "ode.rtol=fast"], ConfigCompositionException, r"ode.rtol"),
    ("likelihood", ["checkpoint=x", "ode.rtool=1"], ConfigCompositionException, r"Could not override 'ode.rtool'"),
    ("likelihood", ["checkpoint=x", "data=nope"], MissingConfigException, r"Available options in 'data'"),
]


@pytest.mark.parametrize("name,overrides,error,match", COMPOSE_BAD)
def test_bad_overrides_fail_at_compose(name, overrides, error, match):
    with pytest.raises(error, match=match):
        compose(overrides, config_name=name)


def test_compose_argument_errors(tmp_path):
    with pytest.raises(TypeError, match="overrides must be a list of strings, got 'n=3'"):
        compose("n=3", config_name="sample")
    with pytest.raises(FileNotFoundError, match="config folder .*nope.* does not exist"):
        compose([], config_dir=tmp_path / "nope")


# ------------------------------------------------------------------------------ the allow-list
VP = "sde_diffusion.sdes.VPSDE"
REGISTRY_BAD = [
    ({"sde": {"_target_": 123}}, registry.RegistryError, r"sde._target_=123 is not an allowed target"),
    ({"sde": {"_target_": "sde_diffusion.sdes.vp.math.exp"}}, registry.RegistryError, r"is not an allowed target"),
    ({"sde": {"_target_": "torch.load", "f": "x"}}, registry.RegistryError, r"sde._target_='torch.load'"),
    ({"sde": {"_target_": VP, "_foo_": 1}}, registry.RegistryError, r"sde: unknown special key '_foo_'"),
    ({"sde": {"_target_": VP, "_partial_": "yes"}}, registry.RegistryError, r"sde._partial_ must be true or false, got 'yes'"),
    ({"sde": {"_target_": VP, "beta_max": float("inf")}}, ValueError, r"sde.beta_max=inf is not a finite number"),
    ({"sde": {"_target_": VP, "beta_min": float("nan")}}, ValueError, r"sde.beta_min=nan is not a finite number"),
    ({"sde": {"_target_": VP, 3: 1}}, registry.RegistryError, r"sde: keys must be strings, got 3"),
    ({"sde": {"_target_": VP, "beta_min": {1, 2}}}, registry.RegistryError, r"sde.beta_min: a spec holds only plain values"),
    ({"sde": {"_target_": VP, "beta_min": -1.0}}, ValueError, r"sde \(sde_diffusion.sdes.VPSDE\): beta_min must be positive and finite, got -1.0"),
    ({"sde": {"_target_": VP, "foo": 1}}, TypeError, r"sde \(sde_diffusion.sdes.VPSDE\): .*foo"),
    ({"sde": {"_target_": "sde_diffusion.sdes.VESDE", "sigma_min": 1.0, "sigma_max": 0.5}}, ValueError,
     r"sde \(sde_diffusion.sdes.VESDE\): sigma_max must exceed sigma_min=1.0, got 0.5"),
    ({"xs": [{"_target_": "os.getcwd"}]}, registry.RegistryError, r"xs\[0\]._target_='os.getcwd'"),
]


@pytest.mark.parametrize("spec,error,match", REGISTRY_BAD)
def test_bad_specs_are_refused_naming_the_key(spec, error, match):
    with pytest.raises(error, match=match):
        registry.build(spec)


def test_bad_model_specs_and_loader_arguments(tmp_path):
    with pytest.raises(TypeError, match="a spec must be a mapping, got list"):
        registry.build([{"_target_": VP}])
    spec = registry.model_spec(tiny_model())
    with pytest.raises(ValueError, match=r"model spec lacks \['net'\]"):
        registry.build_score_model({"sde": spec["sde"]})
    with pytest.raises(registry.RegistryError, match=r"model.sde._target_='sde_diffusion.models.MLP' is not an SDE"):
        registry.build_score_model(dict(spec, sde=spec["net"]))
    with pytest.raises(ValueError, match=r"model: .*parameterization.*'velocity'"):
        registry.build_score_model(dict(spec, parameterization="velocity"))
    with pytest.raises(TypeError, match="a run path must be a non-empty str or Path, got 123"):
        load_model(123)
    with pytest.raises(TypeError, match=r"use_ema must be True, False or an EMA decay in \[0, 1\), got 'yes'"):
        load_model(tmp_path, use_ema="yes")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="map_location='cuda' but CUDA is not available"):
            load_model(make_run(tmp_path / "r"), map_location="cuda")


def test_non_finite_samples_backstop_names_the_count():
    x = torch.zeros(5, 2)
    x[1, 0], x[3, 1] = float("nan"), float("inf")
    with pytest.raises(FloatingPointError, match=r"heun: 2 of 5 samples are not finite"):
        check_finite_samples(x, "heun")
    check_finite_samples(torch.zeros(3, 1, 2, 2), "ok")


# ------------------------------------------------------------------- scripts: one line, exit code
@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return make_run(tmp_path_factory.mktemp("adv") / "run")


def _one_line(code, err, want_code, *needles):
    assert code == want_code, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    for n in needles:
        assert n in lines[0], lines[0]


@pytest.mark.parametrize("args,needles", [
    (["n=0"], ["sample: error: ValueError: n must be >= 1, got 0"]),
    (["+sample.stpes=20"], ["unknown config key sample={'stpes': 20}"]),
    (["sampler=heun", "sampler.name=nope"], ["sampler.name='nope' is not a registered sampler"]),
    (["sampler=heun", "sampler.steps=0"], ["sampler.steps must be >= 1, got 0"]),
    (["n=abc"], ["ConfigError: n=abc: Value 'abc' of type 'str' could not be converted"]),
])
def test_sample_script_bad_values_one_line(run, args, needles):
    _one_line(*run_script("sample", [f"run={run}", *args]), 2, *needles)


def test_sample_script_bad_run_paths_one_line(tmp_path):
    _one_line(*run_script("sample", [f"run={tmp_path / 'nope'}"]), 2,
              "FileNotFoundError", str(tmp_path / "nope"), "does not exist")
    (tmp_path / "bad.pt").write_bytes(b"\x00garbage")
    _one_line(*run_script("sample", [f"run={tmp_path / 'bad.pt'}"]), 2, "CheckpointError", "corrupt or unreadable")
    _one_line(*run_script("sample", []), 2, "ConfigError: run is required", "run=<value>")


def test_weight_problems_through_the_scripts_one_line(tmp_path):
    model = tiny_model()
    sd = {k: v.clone() for k, v in model.state_dict().items()}
    sd["net.inp.weight"][0, 0] = float("inf")
    make_run(tmp_path / "nan", weights=sd)
    _one_line(*run_script("sample", [f"run={tmp_path / 'nan'}"]), 2, "NonFiniteWeightsError", "net.inp.weight")
    from sde_diffusion.models import MLP, ScoreModel
    from sde_diffusion.sdes import VPSDE
    make_run(tmp_path / "big", weights=ScoreModel(MLP(2, hidden=32, depth=1, time_dim=8), VPSDE()).state_dict())
    _one_line(*run_script("likelihood", [f"checkpoint={tmp_path / 'big'}"]), 2, "has shape (32, 8)", "expects (16, 8)")


def test_likelihood_on_data_of_another_shape_one_line(run):
    _one_line(*run_script("likelihood", [f"checkpoint={run}", "data=three_clusters", "data.n_train=64",
                                         "data.n_test=16", "allow_data_mismatch=true"]), 2,
              "per-sample shape [1]", "trained on shape [2]")


def test_unreadable_yaml_one_line(tmp_path):
    (tmp_path / "sample.yaml").write_text("run: [unclosed\n  n: {\n")
    code = 0
    import contextlib
    import io
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            run_main(script_main("sample"), "sample", argv=["run=x"], prog="sample", config_dir=str(tmp_path))
        except SystemExit as e:
            code = e.code
    _one_line(code, err.getvalue(), 2, "sample: error:")


@pytest.mark.parametrize("err_no,needle", [(errno.EROFS, "read-only file system"), (errno.ENOSPC, "disk full")])
def test_read_only_or_full_disk_one_line(run, monkeypatch, err_no, needle):
    import sde_diffusion.app.folders as runs

    def refuse(*a, **k):
        raise OSError(err_no, "simulated", str(run / "samples"))
    monkeypatch.setattr(runs.Path, "mkdir", refuse)
    _one_line(*run_script("sample", [f"run={run}", "n=2"]), 1, needle, str(run / "samples"))


def test_the_real_command_line_gives_one_line(run, tmp_path):
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "sample.py"), f"run={run}", "sampler=heun",
                        "sampler.steps=0"], cwd=tmp_path, env=subprocess_env(), capture_output=True,
                       text=True, timeout=120)
    _one_line(r.returncode, r.stderr, 2, "sample: error: ValueError: sampler.steps must be >= 1, got 0")


def test_run_main_under_hydra_main_one_line_and_output_dir(tmp_path):
    """Training starts through ``run_main(..., hydra_main=True)``: a bad override is still one line;
    a good one runs the task under Hydra (its run folder)."""
    import contextlib
    import io
    from hydra.core.hydra_config import HydraConfig
    seen = {}

    def task(cfg):
        seen["dir"], seen["n"] = HydraConfig.get().runtime.output_dir, cfg.n

    err, code = io.StringIO(), 0
    with contextlib.redirect_stderr(err):
        try:
            run_main(task, "sample", argv=["run=x", "n=abc"], prog="train", hydra_main=True)
        except SystemExit as e:
            code = e.code
    _one_line(code, err.getvalue(), 2, "n=abc", "could not be converted to Integer")
    run_main(task, "sample", argv=["run=x", "n=3", f"hydra.run.dir={tmp_path / 'h'}"], hydra_main=True)
    assert seen == {"dir": str(tmp_path / "h"), "n": 3} and not seen.get("task_failed")


def test_torchrun_argv_and_data_nodes(monkeypatch):
    from sde_diffusion.configs import hydra_ddp_argv
    from sde_diffusion.app.data import build_run_data
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert hydra_ddp_argv(["train.py", "a=1"]) == ["train.py", "a=1"]  # one process: unchanged
    monkeypatch.setenv("WORLD_SIZE", "two")
    with pytest.raises(ValueError, match="WORLD_SIZE='two' is not an integer"):
        hydra_ddp_argv(["train.py"])
    with pytest.raises(registry.RegistryError, match=r"data._target_='sde_diffusion.sdes.VPSDE' is not a data set"):
        build_run_data({"_target_": "sde_diffusion.sdes.VPSDE"})
    with pytest.raises(ValueError, match=r"data must be a data config with a _target_, got 'ring'"):
        build_run_data("ring")
    seen = []
    monkeypatch.setattr(registry, "build", lambda node, **k: seen.append(node))
    build_run_data({"_target_": "sde_diffusion.data.mnist", "root": "/x", "download": True}, data_root="/x")
    assert seen[-1]["download"] is False  # a run's stored data config never downloads
    build_run_data({"_target_": "sde_diffusion.data.mnist", "download": True}, trusted=True)
    assert seen[-1]["download"] is True


TRAIN = to_plain(compose(["experiment=toy2d"]))


@pytest.mark.parametrize("changes,error,match", [
    (dict(sampler=dict(TRAIN["sampler"], steps=0)), ValueError, r"sampler.steps must be >= 1, got 0"),
    (dict(sampler=dict(TRAIN["sampler"], name="nope")), ValueError, r"sampler.name='nope' is not a registered"),
    (dict(seed=-1), ValueError, r"seed must be >= 0, got -1"),
    (dict(seed=1.5), TypeError, r"seed must be an integer, got 1.5"),
    (dict(name=""), ValueError, r"name must be a non-empty string, got ''"),
    (dict(trian={"steps": 20}), ValueError, r"unknown config key trian=\{'steps': 20\}; did you mean train\?"),
])
def test_bad_training_root_configs_fail_before_training(changes, error, match):
    from sde_diffusion.configs import validate_config
    validate_config(TRAIN)  # the shipped experiment passes
    with pytest.raises(error, match=match):
        validate_config(_with(TRAIN, **changes))


# --------------------------------------------------------------- configs.train: build_trainer
@pytest.mark.parametrize("changes,error,match", [
    (dict(train__lr=float("nan")), ValueError, r"train.lr must be finite, got nan"),
    (dict(train__steps=0), ValueError, r"train.steps must be >= 1, got 0"),
    (dict(train__batch_size="64"), TypeError, r"train.batch_size must be an integer, got '64'"),
    (dict(train__lrr=1.0), ValueError, r"unknown train option\(s\) \['lrr'\]"),
    (dict(sampler=dict(TRAIN["sampler"], steps=0)), ValueError, r"sampler.steps must be >= 1, got 0"),
    (dict(model=None), ValueError, r"the config lacks its 'model' group"),
    (dict(data={"_target_": "builtins.open", "file": "/tmp/x"}), registry.RegistryError,
     r"data._target_='builtins.open' is not an allowed target"),
    (dict(logger={"_target_": "os.system", "command": "true"}), registry.RegistryError,
     r"logger._target_='os.system' is not an allowed target"),
    (dict(model__net__hidden=-3), ValueError, r"hidden"),
    (dict(model__data_std=float("inf")), ValueError, r"inf"),
])
def test_build_trainer_refuses_bad_plain_configs_before_any_step(tmp_path, changes, error, match):
    from sde_diffusion.configs.train import build_trainer
    cfg = _with(TRAIN, **{"data__n_train": 256, "data__n_test": 32, "logger": {
        "_target_": "sde_diffusion.tracking.NullTracker"}})
    cfg = _with(cfg, **changes)
    with pytest.raises(error, match=match):
        build_trainer(cfg, tmp_path / "run")
    assert not (tmp_path / "run" / "checkpoints").exists()


@pytest.mark.parametrize("args,error,match", [
    (("not a config", {"_target_": "sde_diffusion.sdes.VPSDE"}, (2,)), ValueError,
     r"the model config needs a 'net' with a '_target_'"),
    (({"net": {"hidden": 8}}, {"_target_": "sde_diffusion.sdes.VPSDE"}, (2,)), ValueError,
     r"the model config needs a 'net' with a '_target_'"),
    (({"net": {"_target_": "sde_diffusion.models.MLP"}}, {"beta_min": 0.1}, (2,)), ValueError,
     r"the sde config needs a '_target_'"),
    (({"net": {"_target_": "torch.nn.Linear"}}, {"_target_": "sde_diffusion.sdes.VPSDE"}, (2,)),
     registry.RegistryError, r"'torch.nn.Linear' is not an allowed target"),
    (({"net": {"_target_": "sde_diffusion.models.UNet"}}, {"_target_": "sde_diffusion.sdes.VPSDE"},
      (1, 8, 6)), ValueError, r"model=unet needs square images \(C, S, S\), the data have shape \(1, 8, 6\)"),
    (({"net": {"_target_": "sde_diffusion.models.MLP"}, "parameterization": "nope"},
      {"_target_": "sde_diffusion.sdes.VPSDE"}, (2,)), ValueError, r"parameterization"),
])
def test_build_model_refuses_bad_nodes(args, error, match):
    from sde_diffusion.configs.train import build_model
    with pytest.raises(error, match=match):
        build_model(*args)


def test_build_trainer_of_a_non_mapping_and_missing_values(tmp_path):
    from sde_diffusion.configs.train import build_trainer
    with pytest.raises(TypeError, match="cfg must be a composed config"):
        build_trainer(["experiment=toy2d"], tmp_path)
    with pytest.raises(ValueError, match=r"leaves \['data.path'\] unset"):
        build_trainer(compose(["data=image_folder", "logger=none"]), tmp_path)


def test_training_data_std_of_too_little_data():
    from sde_diffusion.configs.train import training_data_std
    assert training_data_std(torch.tensor([[1.0], [3.0]])) == pytest.approx(2 ** 0.5, abs=1e-6)
    with pytest.raises(ValueError, match="cannot estimate data_std from 1 value"):
        training_data_std(torch.tensor([[1.0]]))
