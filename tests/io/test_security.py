"""Untrusted runs and model folders execute nothing: every entry point that loads one refuses a
``_target_`` outside the allow-list (key and target named) before any side effect, and the
allow-list rebuilds every one of the package's own classes exactly (spec_of -> build)."""
import functools
import json
import subprocess
import sys

import pytest
import torch

import sde_diffusion.registry as registry
from sde_diffusion.models import MLP, DirectPrecond, EDMPrecond, ScoreModel, UNet
from sde_diffusion.models.classifier import NoiseConditionalClassifier
from sde_diffusion.io import load_pretrained, save_pretrained
from sde_diffusion.sdes import CosineBeta, EDMSDE, LinearBeta, LinearSDE, SubVPSDE, VESDE, VPSDE
from sde_diffusion.sdes import linear as L
from sde_diffusion.io import load_model
from sde_diffusion.io import CheckpointError
from sde_diffusion.io import NonFiniteWeightsError

from runs_helpers import ROOT, legacy_config, make_run, run_script, subprocess_env, tiny_model

TARGETS = ["builtins.open", "os.system", "subprocess.run", "shutil.rmtree", "importlib.import_module"]


class Traps:
    """Observable side effects: a file that ``open(.., "w")`` would empty, a marker a shell
    command or an imported module would create, a folder ``rmtree`` would delete."""

    def __init__(self, tmp_path, monkeypatch):
        self.sentinel = tmp_path / "sentinel.txt"
        self.sentinel.write_text("precious")
        self.marker = tmp_path / "pwned"
        self.victim = tmp_path / "victim"
        self.victim.mkdir()
        (self.victim / "keep.txt").write_text("x")
        mods = tmp_path / "mods"
        mods.mkdir()
        (mods / "evil_h1_module.py").write_text(f"open({str(self.marker)!r}, 'w').write('pwned')\n")
        self.mods = mods
        monkeypatch.syspath_prepend(str(mods))

    def node(self, target):
        return {"builtins.open": {"_target_": "builtins.open", "file": str(self.sentinel), "mode": "w"},
                "os.system": {"_target_": "os.system", "command": f"touch {self.marker}"},
                "subprocess.run": {"_target_": "subprocess.run", "args": ["touch", str(self.marker)]},
                "shutil.rmtree": {"_target_": "shutil.rmtree", "path": str(self.victim)},
                "importlib.import_module": {"_target_": "importlib.import_module",
                                            "name": "evil_h1_module"}}[target]

    def assert_untouched(self):
        assert self.sentinel.read_text() == "precious"
        assert not self.marker.exists()
        assert (self.victim / "keep.txt").is_file()
        assert "evil_h1_module" not in sys.modules


@pytest.fixture
def traps(tmp_path, monkeypatch):
    return Traps(tmp_path, monkeypatch)


def _set(d, dotted, value):
    keys = dotted.split(".")
    for k in keys[:-1]:
        d = d.setdefault(k, {})
    d[keys[-1]] = value


# where the hostile node goes: (key path in the error, how to write the run)
CKPT_PLACES = {
    "config.sde": ("sde._target_", "legacy", "sde"),
    "config.model.net": ("model.net._target_", "legacy", "model.net"),
    "config.data": ("data._target_", "new", "data"),
    "config.logger": ("logger._target_", "new", "logger"),
    "config.train.optimizer": ("train.optimizer._target_", "new", "train.optimizer"),
    "model_spec.sde": ("model.sde._target_", "spec", "sde"),
    "model_spec.net": ("model.net._target_", "spec", "net"),
    "model_spec.sde.f (nested)": ("model.sde.f._target_", "spec", "sde.f"),
}


def hostile_run(run_dir, traps, target, place):
    key, how, where = CKPT_PLACES[place]
    cfg = legacy_config()
    if how in ("legacy", "new"):
        _set(cfg, where, traps.node(target))
        make_run(run_dir, config=cfg, spec="legacy" if how == "legacy" else "new")
    else:
        import runs_helpers
        orig = registry.model_spec

        def evil_spec(model):
            spec = orig(model)
            if where == "sde.f":
                spec["sde"] = {"_target_": "sde_diffusion.sdes.LinearSDE", "f": traps.node(target),
                               "g": {"_target_": "sde_diffusion.sdes.linear.Constant", "value": 1.0}}
            else:
                spec[where] = traps.node(target)
            return spec
        runs_helpers.registry.model_spec = evil_spec
        try:
            make_run(run_dir, config=cfg, spec="new")
        finally:
            runs_helpers.registry.model_spec = orig
    return key


@pytest.mark.parametrize("place", list(CKPT_PLACES))
@pytest.mark.parametrize("target", TARGETS)
def test_load_model_refuses_hostile_targets_in_a_run(tmp_path, traps, target, place):
    key = hostile_run(tmp_path / "run", traps, target, place)
    for path in (tmp_path / "run", tmp_path / "run" / "checkpoints" / "ckpt_00000004.pt"):
        with pytest.raises(registry.RegistryError, match=rf"{key}='{target}' is not an allowed target"):
            load_model(path)
    traps.assert_untouched()


@pytest.mark.parametrize("place", ["config.sde", "model_spec.net"])
@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("script,arg", [("sample", "run"), ("likelihood", "checkpoint")])
def test_scripts_refuse_hostile_runs(tmp_path, traps, target, place, script, arg):
    key = hostile_run(tmp_path / "run", traps, target, place)
    code, err = run_script(script, [f"{arg}={tmp_path / 'run'}", "n_points=8" if script == "likelihood" else "n=4"])
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err
    assert f"{key}='{target}' is not an allowed target" in lines[0]
    traps.assert_untouched()
    assert not (tmp_path / "run" / "samples").exists() and not (tmp_path / "run" / "eval").exists()


PRETRAINED_PLACES = {"model.sde": "config.json.model.sde._target_",
                     "model.net": "config.json.model.net._target_",
                     "meta.extra": "config.json.meta.extra._target_",
                     "sampler.options.x": "config.json.sampler.options.x._target_"}


def hostile_folder(d, traps, target, place):
    save_pretrained(tiny_model(), d)
    cfg = json.loads((d / "config.json").read_text())
    _set(cfg, place, traps.node(target))
    (d / "config.json").write_text(json.dumps(cfg))
    return PRETRAINED_PLACES[place]


@pytest.mark.parametrize("place", list(PRETRAINED_PLACES))
@pytest.mark.parametrize("target", TARGETS)
def test_model_folders_refuse_hostile_targets(tmp_path, traps, target, place):
    key = hostile_folder(tmp_path / "m", traps, target, place)
    for load in (load_pretrained, load_model):
        with pytest.raises(registry.RegistryError, match=rf"{key}='{target}' is not an allowed target"):
            load(tmp_path / "m")
    traps.assert_untouched()


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("script,arg", [("sample", "run"), ("likelihood", "checkpoint")])
def test_scripts_refuse_hostile_model_folders(tmp_path, traps, target, script, arg):
    key = hostile_folder(tmp_path / "m", traps, target, "model.sde")
    code, err = run_script(script, [f"{arg}={tmp_path / 'm'}"])
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert f"{key}='{target}' is not an allowed target" in err
    traps.assert_untouched()


@pytest.mark.slow  # interpreter start-ups; the same code path runs in-process above
@pytest.mark.parametrize("script,arg,target", [("sample", "run", "builtins.open"),
                                                ("likelihood", "checkpoint", "os.system")])
def test_the_real_command_line_refuses_too(tmp_path, traps, script, arg, target):
    """One true subprocess per script: the same refusal through ``python scripts/<name>.py``."""
    key = hostile_run(tmp_path / "run", traps, target, "config.sde")
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / f"{script}.py"), f"{arg}={tmp_path / 'run'}"],
                       cwd=tmp_path, env=subprocess_env(traps.mods), capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert f"{key}='{target}' is not an allowed target" in r.stderr.strip().splitlines()[-1]
    traps.assert_untouched()


# ------------------------------------------------------------------------------ the allow-list
def _same_sde(a, b):
    t = torch.linspace(1e-3, float(a.T) * 0.999, 17, dtype=torch.float64)
    for x, y in zip(a.marginal(t), b.marginal(t)):
        assert torch.equal(x, y)
    assert torch.equal(a.diffusion(t), b.diffusion(t)) and type(a) is type(b)


SDE_CASES = {
    "VPSDE": lambda: VPSDE(beta_min=0.2, beta_max=15.0),
    "VPSDE cosine": lambda: VPSDE(schedule="cosine", cosine_s=0.01),
    "SubVPSDE": lambda: SubVPSDE(beta_max=12.0, T=2.0),
    "VESDE": lambda: VESDE(sigma_min=0.02, sigma_max=30.0),
    "EDMSDE": lambda: EDMSDE(sigma_min=0.004, sigma_max=60.0),
    "LinearSDE": lambda: LinearSDE(f=L.vp_drift(L.Linear(0.1, 20.0)), g=L.vp_diffusion(L.Linear(0.1, 20.0))),
    "LinearSDE schedules": lambda: LinearSDE(f=L.Constant(0.0), g=L.Sum(L.Scaled(L.Geometric(0.01, 50.0), 2.0),
                                                                      L.Sqrt(L.Power(1.0, 2.0)))),
    "LinearSDE.from_kernel": lambda: LinearSDE.from_kernel(s=L.Constant(1.0), sigma=L.Power(1.0, 1.0),
                                                           T=80.0, eps=0.002),
    "VPSDE LinearBeta object": lambda: VPSDE(schedule=LinearBeta(0.2, 15.0, T=2.0), T=2.0),
    "SubVPSDE CosineBeta object": lambda: SubVPSDE(schedule=CosineBeta(0.01, 1e-4)),
    "LinearSDE over a beta schedule": lambda: LinearSDE(f=L.vp_drift(CosineBeta(0.02)),
                                                        g=L.vp_diffusion(CosineBeta(0.02))),
}


@pytest.mark.parametrize("name", list(SDE_CASES))
def test_every_sde_round_trips_through_its_spec(name):
    sde = SDE_CASES[name]()
    spec = json.loads(json.dumps(registry.spec_of(sde)))  # JSON-safe
    _same_sde(sde, registry.build(spec))


@pytest.mark.parametrize("net", [lambda: MLP(3, hidden=8, depth=2, time_dim=8, activation="gelu"),
                                 lambda: UNet(in_channels=1, image_size=8, base_channels=8,
                                              channel_mult=[1, 2], attn_resolutions=[4], num_groups=4)])
def test_every_network_and_score_model_round_trips(net):
    torch.manual_seed(0)
    n = net()
    model = ScoreModel(n, VESDE(sigma_max=20.0), "x0", data_std=0.5)
    rebuilt = registry.build_score_model(json.loads(json.dumps(registry.model_spec(model))))
    rebuilt.load_state_dict(model.state_dict())
    x = torch.randn(4, 3) if isinstance(n, MLP) else torch.randn(4, 1, 8, 8)
    t = torch.tensor([0.1, 0.3, 0.6, 0.9])
    with torch.no_grad():
        assert torch.equal(model(x, t), rebuilt(x, t))
    assert rebuilt.parameterization == "x0" and rebuilt.data_std == 0.5


@pytest.mark.parametrize("net", [lambda: MLP(2, hidden=8, depth=1, time_dim=8, num_classes=3),
                                 lambda: UNet(in_channels=1, image_size=8, base_channels=8, channel_mult=[1],
                                              attn_resolutions=[], num_groups=4, num_classes=10)])
def test_class_conditional_networks_round_trip_with_their_labels(net):
    torch.manual_seed(0)
    model = ScoreModel(net(), VPSDE(schedule=CosineBeta()), "v")
    with torch.no_grad():  # the U-Net's output layer starts at zero: make labels matter
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    spec = json.loads(json.dumps(registry.model_spec(model)))
    C = spec["net"]["num_classes"]
    rebuilt = registry.build_score_model(spec)
    rebuilt.load_state_dict(model.state_dict())
    model.eval(), rebuilt.eval()  # no dropout
    shape = (5, 2) if C == 3 else (5, 1, 8, 8)
    x, t, y = torch.randn(shape), torch.rand(5) * 0.9 + 0.05, torch.tensor([0, 1, 2, C, 1])
    with torch.no_grad():
        assert torch.equal(model(x, t, y), rebuilt(x, t, y)) and not torch.equal(model(x, t, y), model(x, t))
    assert rebuilt.num_classes == C and spec["sde"]["schedule"]["_target_"] == "sde_diffusion.sdes.CosineBeta"


@pytest.mark.parametrize("make", [lambda: DirectPrecond(VESDE(sigma_max=20.0), "v", data_std=0.5),
                                  lambda: DirectPrecond(VPSDE(), "score", input_scaling=False),
                                  lambda: EDMPrecond(EDMSDE(sigma_max=40.0), data_std=0.4)])
def test_preconds_round_trip(make):
    p = make()
    q = registry.build(json.loads(json.dumps(registry.spec_of(p))))
    assert type(q) is type(p) and q.kind == p.kind and q.data_std == p.data_std
    x, F = torch.randn(4, 3), torch.randn(4, 3)
    t = torch.tensor([0.05, 0.2, 0.5, 0.9], dtype=torch.float64)
    m, s = (v.float() for v in p.sde.marginal(t))
    assert torch.equal(p.net_input(x, m, s), q.net_input(x, m, s))
    assert torch.equal(p.noise_label(t.float(), m, s), q.noise_label(t.float(), m, s))
    assert torch.equal(p.output(F, x, m, s)[1], q.output(F, x, m, s)[1])


def test_noise_conditional_classifier_round_trips():
    torch.manual_seed(0)
    clf = NoiseConditionalClassifier(2, 4, sde=VESDE(sigma_max=10.0), hidden=8, depth=1, time_dim=8)
    spec = json.loads(json.dumps(registry.spec_of(clf)))
    rebuilt = registry.build(spec)
    rebuilt.load_state_dict(clf.state_dict())
    x, t = torch.randn(5, 2), torch.rand(5)
    with torch.no_grad():
        assert torch.equal(clf(x, t), rebuilt(x, t)) and clf(x, t).shape == (5, 4)
    assert registry.kind_of(spec["_target_"]) == "classifier"


def test_mixture_targets_build_the_same_mixture():
    gm = registry.build({"_target_": "sde_diffusion.analytic.GaussianMixture", "means": [[0.0, 1.0], [2.0, -1.0]],
                         "stds": [0.5, 0.3], "weights": [1.0, 3.0], "labels": [1, 0]})
    assert torch.equal(gm.weights, torch.tensor([0.25, 0.75], dtype=torch.float64))
    assert gm.num_classes == 2 and torch.equal(gm.labels, torch.tensor([1, 0]))
    from sde_diffusion.analytic import random_full_mixture
    a = registry.build({"_target_": "sde_diffusion.analytic.random_full_mixture", "dim": 4, "k": 3, "seed": 2})
    b = random_full_mixture(dim=4, k=3, seed=2)
    assert torch.equal(a.means, b.means) and torch.equal(a.covs, b.covs)
    with pytest.raises(registry.RegistryError, match=r"sde\.schedule\._target_='os\.system' is not an allowed "
                                                      r"target.*for 'schedule': sde_diffusion\.sdes\.LinearBeta"):
        registry.build({"_target_": "sde_diffusion.sdes.VPSDE", "schedule": {"_target_": "os.system"}}, path="sde")


def test_every_allow_listed_target_resolves_and_no_other():
    names = registry.allowed_targets(training=True)
    assert all(registry.lookup(n) is not None for n in names)
    assert registry.lookup("sde_diffusion.sdes.vp.VPSDE") is VPSDE  # module path alias
    for bad in TARGETS + ["sde_diffusion.training.loading.load_model", "torch.load", "eval", 3, None]:
        assert not registry.is_allowed(bad, training=True)


def test_training_targets_only_in_training_and_partial():
    spec = {"_target_": "torch.optim.AdamW", "_partial_": True, "lr": 1e-3, "betas": [0.9, 0.99]}
    with pytest.raises(registry.RegistryError, match="only in training configs"):
        registry.build(spec)
    make = registry.build(spec, training=True)
    assert isinstance(make, functools.partial) and make.func is torch.optim.AdamW
    assert make.keywords == {"lr": 1e-3, "betas": [0.9, 0.99]} and make.args == ()


@pytest.mark.parametrize("obj,match", [
    (LinearSDE(f=lambda t: 0 * t, g=lambda t: 1 + 0 * t), r"sde\.f: cannot be saved as a config: it is a function"),
    (type("MyVP", (VPSDE,), {})(), r"it is a .*MyVP, not one of the allow-listed"),
    (torch.nn.Linear(2, 2), r"it is a torch.nn.modules.linear.Linear"),
])
def test_spec_of_refuses_what_it_cannot_rebuild(obj, match):
    with pytest.raises(registry.RegistryError, match=match):
        registry.spec_of(obj, "sde" if isinstance(obj, LinearSDE) else "")


# ------------------------------------------------------------------------------ bad runs
def test_nan_weights_are_refused_naming_the_tensor(tmp_path):
    model = tiny_model()
    sd = {k: v.clone() for k, v in model.state_dict().items()}
    sd["net.out.1.bias"][0] = float("nan")
    make_run(tmp_path, weights=sd)
    with pytest.raises(NonFiniteWeightsError, match=r"weight 'net.out.1.bias' has 1 non-finite"):
        load_model(tmp_path)


def test_weights_that_do_not_fit_the_config_are_refused(tmp_path):
    big = ScoreModel(MLP(2, hidden=32, depth=1, time_dim=8), VPSDE())
    make_run(tmp_path, weights=big.state_dict())  # the spec says hidden=16
    with pytest.raises(ValueError, match=r"weight 'net.embed.1.weight' has shape \(32, 8\) but the "
                                         r"network built from its config expects \(16, 8\)"):
        load_model(tmp_path)


def test_missing_corrupt_and_dangling_runs(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_model(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        load_model(tmp_path / "empty")
    (tmp_path / "latest").symlink_to(tmp_path / "gone")
    with pytest.raises(FileNotFoundError, match="is a link to .*gone.*which does not exist"):
        load_model(tmp_path / "latest")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a zip at all")
    with pytest.raises(CheckpointError, match="corrupt or unreadable"):
        load_model(bad)
    d = tmp_path / "folder"
    d.mkdir()
    (d / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="not JSON"):
        load_model(d)


def test_legacy_and_new_checkpoints_load_the_same_model(tmp_path):
    model = tiny_model(3)
    a, _, _ = load_model(make_run(tmp_path / "a", model=model, spec="legacy"))
    b, cfg, meta = load_model(make_run(tmp_path / "b", model=model, spec="new"))
    x, t = torch.randn(6, 2), torch.rand(6) * 0.9 + 0.05
    with torch.no_grad():
        assert torch.equal(a(x, t), model(x, t)) and torch.equal(b(x, t), model(x, t))
    assert meta.data_shape == [2] and meta.step == 4 and cfg.sampler.name == "euler"


# ------------------------------------------------------------------------------ import order
def test_importing_any_submodule_first_records_arguments():
    """Registration is at the class: a fresh interpreter that imports only a leaf module can
    save what it builds, and no Hydra/sklearn/wandb is imported."""
    code = ("import sys\n"
            "from sde_diffusion.models.mlp import MLP\n"
            "from sde_diffusion.sdes.vp import VPSDE\n"
            "net, sde = MLP(2, hidden=4, num_classes=2), VPSDE(beta_max=9.0)\n"
            "bad = [m for m in ('hydra', 'omegaconf', 'sklearn', 'wandb') if m in sys.modules]\n"
            "assert not bad, bad\n"
            "import sde_diffusion.registry as r\n"
            "print(r.spec_of(net)['num_classes'], r.spec_of(sde)['beta_max'])\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=subprocess_env(), timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["2", "9.0"]


# ------------------------------------------------------------------------------ benchmark entry
def test_benchmark_cells_refuse_hostile_checkpoints(tmp_path, traps):
    """The benchmark's checkpoint entry (``run_cell`` with ``checkpoint=``) refuses hostile targets
    like every other entry point: an error or a failed record naming the key, and no side effect."""
    bm = pytest.importorskip("sde_diffusion.benchmarking")
    run_cell = getattr(bm, "run_cell", None)
    if run_cell is None:
        pytest.skip("sde_diffusion.benchmarking has no checkpoint-loading entry (run_cell with "
                    "cell['checkpoint']) in this branch; un-skip after merging the benchmark rewrite")
    from sde_diffusion.configs.benchmark import resolve_cell
    ring = {"name": "ring8", "mixture": {"_target_": "sde_diffusion.analytic.ring_of_gaussians",
                                         "n": 8, "radius": 4.0, "std": 0.3}}
    for place in ("config.sde", "model_spec.net"):
        key = hostile_run(tmp_path / place, traps, "builtins.open", place)
        cell = {"problem": ring,
                "sde": {"_target_": "sde_diffusion.sdes.VPSDE"},
                "sampler": {"name": "euler", "steps": 2, "options": {}}, "nfe": None, "seed": 0,
                "n_samples": 8, "n_heldout": 8, "metrics": ["sliced_wasserstein"],
                "checkpoint": str(tmp_path / place), "device": "cpu", "dtype": "float32"}
        try:
            problem, sde = resolve_cell(cell)   # the script's path; no SDE object with a checkpoint
            assert sde is None
            rec = run_cell(cell, problem=problem)
        except registry.RegistryError as e:
            assert f"{key}='builtins.open' is not an allowed target" in str(e)
        else:
            assert f"{key}='builtins.open' is not an allowed target" in str(rec.get("error")), rec
        traps.assert_untouched()
