"""Registration at the class and the package's layering.

- A user's SDE, network and data set (``tests/user_extension.py``, outside the package, one
  ``@register`` line each) train, save as a checkpoint and as a model folder, and reload in a
  fresh process with bit-identical scores; the fresh process imports the user's module itself
  (a file never causes an import), and without that import the same folder is refused.
- ``import sde_diffusion.sdes`` imports neither ``models`` nor ``training``; ``registry`` imports
  no model; module-level imports between models/, registry, io and training form no circle.
"""
from __future__ import annotations

import ast
import functools
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import sde_diffusion.registry as registry
from sde_diffusion.io import load_model, save_pretrained
from sde_diffusion.models import MLP, ScoreModel
from sde_diffusion.registry import RegistryError, register
from sde_diffusion.sdes import VPSDE
from sde_diffusion.training import Trainer, TrainOptions

import user_extension as ext
from sde_diffusion.models.precond import PRECONDS

# The import above registered the user's parameterisation for the whole test session; take it
# out again, so that other tests' exact lists of valid choices stay the package's, and put it
# back only inside the tests that use it (the fresh processes import the module themselves).
PRECONDS.pop("x0_skip", None)


@pytest.fixture
def user_precond(monkeypatch):
    monkeypatch.setitem(PRECONDS, "x0_skip", ext.SkipX0Precond)

HERE = Path(ext.__file__).resolve().parent  # the folder of the user's module
ROOT = next(p for p in Path(__file__).resolve().parents if (p / "sde_diffusion").is_dir())
PKG = ROOT / "sde_diffusion"


def _env():
    import os
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(HERE), env.get("PYTHONPATH", "")])
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_env(),
                          timeout=300, cwd=str(ROOT))


# ------------------------------------------------------------------- a user's own classes
def _probe():
    g = torch.Generator().manual_seed(7)
    return torch.randn(16, 1, generator=g), torch.rand(16, generator=g) * 0.9 + 0.05


def _scores_in_a_fresh_process(tmp_path, folders: dict, check: str = "") -> dict:
    """{name: model(x, t)} for each model folder / run, loaded in a fresh process that imports
    the user's module itself (a file never causes an import) and runs ``check`` on ``m``."""
    code = ("import torch, user_extension\n"
            "from sde_diffusion.io import load_model\n"
            "g = torch.Generator().manual_seed(7)\n"
            "x, t = torch.randn(16, 1, generator=g), torch.rand(16, generator=g) * 0.9 + 0.05\n"
            "out = {}\n"
            f"for name, path in {({k: str(v) for k, v in folders.items()})!r}.items():\n"
            f"    m = load_model(path).model\n"
            + "".join(f"    {line}\n" for line in check.splitlines()) +
            "    with torch.no_grad():\n"
            "        out[name] = m(x, t)\n"
            f"torch.save(out, {str(tmp_path / 'out.pt')!r})\n")
    out = _python(code)
    assert out.returncode == 0, out.stderr
    return torch.load(tmp_path / "out.pt")


def test_user_sde_and_network_train_save_and_reload_in_a_fresh_process(tmp_path):
    torch.manual_seed(0)
    data = registry.build({"_target_": "user_extension.two_points", "n_train": 256})
    model = ScoreModel(ext.TwoLayerNet(1, width=8), ext.OrnsteinUhlenbeckSDE(theta=3.0), "eps")
    opts = TrainOptions(steps=1, batch_size=32, checkpoint_every=1, eval_samples=0, n_samples=0,
                        log_every=1, progress=False, warmup_steps=0, seed=0, lr=1e-2)
    before = [p.detach().clone() for p in model.parameters()]
    Trainer(model, data=data, options=opts, run_dir=tmp_path / "run",
            sampler={"name": "euler", "steps": 4}).fit()
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))  # it trained
    folder = save_pretrained(model, tmp_path / "folder")
    spec = json.loads((folder / "config.json").read_text())["model"]
    assert spec["sde"] == {"_target_": "user_extension.OrnsteinUhlenbeckSDE", "theta": 3.0, "T": 1.0,
                           "eps": 1e-3}
    x, t = _probe()
    with torch.no_grad():
        want = model(x, t)
        ema_want = load_model(tmp_path / "run")[0](x, t)  # the checkpoint's EMA weights, here
    got = _scores_in_a_fresh_process(
        tmp_path, {"folder": folder, "ckpt": tmp_path / "run"},
        check="assert type(m.sde).__name__ == 'OrnsteinUhlenbeckSDE' and m.sde.theta == 3.0")
    assert torch.equal(got["folder"], want) and torch.equal(got["ckpt"], ema_want)


def test_without_the_users_import_the_same_folder_is_refused_before_building(tmp_path):
    model = ScoreModel(ext.TwoLayerNet(1), ext.OrnsteinUhlenbeckSDE(), "eps")
    folder = save_pretrained(model, tmp_path / "folder")
    out = _python("from sde_diffusion.io import load_model\n"
                  "import sys\n"
                  f"try:\n    load_model({str(folder)!r})\n"
                  "except Exception as e:\n    print(type(e).__name__, e)\n"
                  "print('user_extension' in sys.modules)\n")
    assert out.returncode == 0, out.stderr
    assert "RegistryError" in out.stdout and \
        "model.net._target_='user_extension.TwoLayerNet' is not an allowed target" in out.stdout
    assert out.stdout.strip().endswith("False")  # the file did not import the module it names


def test_user_parameterisation_trains_saves_and_reloads_in_a_fresh_process(tmp_path, user_precond):
    torch.manual_seed(0)
    data = registry.build({"_target_": "user_extension.two_points", "n_train": 256})
    net = ext.TwoLayerNet(1, width=8)
    model = ScoreModel(net, VPSDE(), "x0_skip", data_std=1.0)
    x, t = _probe()
    with torch.no_grad():  # the user's output map is the one used: x0 differs from plain "x0"
        assert not torch.allclose(model(x, t), ScoreModel(net, VPSDE(), "x0", data_std=1.0)(x, t))
    opts = TrainOptions(steps=1, batch_size=32, checkpoint_every=1, eval_samples=0, n_samples=0,
                        log_every=1, progress=False, warmup_steps=0, seed=0, lr=1e-2)
    Trainer(model, data=data, options=opts, run_dir=tmp_path / "run",
            sampler={"name": "euler", "steps": 4}).fit()
    folder = save_pretrained(model, tmp_path / "folder")
    with torch.no_grad():
        want = model(x, t)
    got = _scores_in_a_fresh_process(tmp_path, {"folder": folder},
                                     check="assert m.parameterization == 'x0_skip'")
    assert torch.equal(got["folder"], want)
    # without the user's import the name is unknown: refused with the valid choices (a package
    # network here, so that the parameterisation is the only foreign name in the folder)
    plain = save_pretrained(ScoreModel(MLP(1, hidden=8, depth=2), VPSDE(), "x0_skip", data_std=1.0),
                            tmp_path / "plain")
    out = _python("from sde_diffusion.io import load_model\n"
                  f"try:\n    load_model({str(plain)!r})\n"
                  "except Exception as e:\n    print(type(e).__name__, e)\n")
    assert out.returncode == 0, out.stderr
    assert "unknown parameterization 'x0_skip'" in out.stdout and "'edm'" in out.stdout


def test_a_registered_parameterisation_is_the_map_the_model_uses(user_precond):
    """With F = 0 the user's skip map gives x0 = x_hat / (1 + sigma^2); the model's score must be
    the Tweedie inverse of that, (m x0 - x) / s^2 (closed form, not the precond's own code)."""
    sde = VPSDE()
    model = ScoreModel(lambda x, label: torch.zeros_like(x), sde, "x0_skip", data_std=1.0)
    assert type(model.precond) is ext.SkipX0Precond
    x, t = _probe()
    m, s = (c.reshape(-1, 1).float() for c in sde.marginal(t))
    x0 = (x / m) / (1 + (s / m) ** 2)
    with torch.no_grad():
        torch.testing.assert_close(model(x, t), (m * x0 - x) / s ** 2, rtol=1e-5, atol=1e-5)


def test_register_precond_refuses_a_foreign_kind_and_a_taken_name():
    from sde_diffusion.models.precond import EDMPrecond, Precond, register_precond

    class Odd(Precond):
        kind = "logits"

    with pytest.raises(ValueError, match="unknown Odd.kind 'logits'; valid choices: 'score'"):
        register_precond("odd")(Odd)
    with pytest.raises(ValueError, match="'edm' is already registered by EDMPrecond"):
        register_precond("edm")(type("Other", (EDMPrecond,), {}))
    with pytest.raises(TypeError, match="must decorate a Precond subclass"):
        register_precond("plain")(dict)


def test_an_undecorated_subclass_records_nothing_and_is_refused():
    class Plain(ext.OrnsteinUhlenbeckSDE):
        pass

    @register("sde")
    class Decorated(ext.OrnsteinUhlenbeckSDE):
        pass

    with pytest.raises(RegistryError, match=r"it is a .*Plain, not one of the allow-listed"):
        registry.spec_of(Plain(theta=2.0))
    spec = registry.spec_of(Decorated(theta=2.0))
    assert spec["_target_"].endswith("Decorated") and spec["theta"] == 2.0
    assert type(registry.build(spec)) is Decorated
    # the parent still records itself, not as the subclass
    assert registry.spec_of(ext.OrnsteinUhlenbeckSDE(theta=5.0))["_target_"] == \
        "user_extension.OrnsteinUhlenbeckSDE"


def test_register_checks_its_arguments_and_name_clashes():
    with pytest.raises(ValueError, match=r"unknown register kind 'sdee'.*did you mean 'sde'"):
        register("sdee")
    with pytest.raises(TypeError, match="register name must be a non-empty string"):
        register("sde", "")
    with pytest.raises(RegistryError, match=r"name 'sde_diffusion.sdes.VPSDE' is already taken"):
        register("sde", "sde_diffusion.sdes.VPSDE")(type("Other", (VPSDE,), {}))
    assert registry.lookup("sde_diffusion.sdes.VPSDE") is VPSDE


def test_registration_is_visible_at_every_allow_listed_definition():
    """Every package target is defined under an ``@register`` line naming it (no central table,
    no patching from elsewhere)."""
    import sde_diffusion.io  # noqa: F401  (imports the package's modules)
    sources = {p: p.read_text() for p in PKG.rglob("*.py")}
    decorated = {}
    for p, text in sources.items():
        for node in ast.walk(ast.parse(text)):
            for dec in getattr(node, "decorator_list", []):
                if isinstance(dec, ast.Call) and getattr(dec.func, "id", None) == "register":
                    decorated[dec.args[1].value if len(dec.args) > 1 else node.name] = node.name
    pkg = [n for n in registry.allowed_targets(training=True) if n.startswith("sde_diffusion.")]
    assert pkg and sorted(pkg) == sorted(decorated)
    assert all(decorated[n] == n.rsplit(".", 1)[-1] for n in pkg)
    assert "__init__ =" not in sources[PKG / "registry.py"].split("def _recording_class")[0]


# ------------------------------------------------------------------------------ layering
def test_import_sdes_imports_neither_models_nor_training():
    out = _python("import sys, sde_diffusion.sdes\n"
                  "print(sorted(m for m in sys.modules if m.startswith('sde_diffusion.')))")
    assert out.returncode == 0, out.stderr
    loaded = eval(out.stdout)
    assert not [m for m in loaded if m.split(".")[1] in ("models", "training", "io", "data",
                                                          "analytic", "tracking")], loaded
    out = _python("import sys, sde_diffusion.registry\n"
                  "print(sorted(m for m in sys.modules if m.startswith('sde_diffusion.')))")
    assert eval(out.stdout) == ["sde_diffusion.contract", "sde_diffusion.registry"]


def _module_imports(path: Path) -> set:
    """The sde_diffusion modules ``path`` imports at module level (not inside functions)."""
    pkg = list(path.relative_to(ROOT).parts[:-1])  # the package a relative import starts from
    out = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.ImportFrom):
            base = pkg[:len(pkg) - node.level + 1] if node.level else []
            mod = base + (node.module.split(".") if node.module else [])
            names = [mod] if node.module else [mod + [a.name] for a in node.names]
            out.update(".".join(n) for n in names)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return {m for m in out if m.startswith("sde_diffusion")}


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_no_import_circle_between_models_registry_io_and_training():
    layers = ("models", "registry", "io", "training")
    edges = {a: set() for a in layers}
    for p in PKG.rglob("*.py"):
        src = _layer(".".join(p.relative_to(ROOT).with_suffix("").parts))
        if src not in layers:
            continue
        for m in _module_imports(p):
            dst = _layer(m)
            if dst in layers and dst != src:
                edges[src].add(dst)

    @functools.lru_cache(None)
    def reach(a):
        seen, todo = set(), list(edges[a])
        while todo:
            b = todo.pop()
            if b not in seen:
                seen.add(b)
                todo.extend(edges[b])
        return frozenset(seen)

    assert edges["registry"] == set(), edges
    assert "training" not in reach("io") and "io" not in reach("models"), edges
    assert all(a not in reach(a) for a in layers), edges


# ------------------------------------------------------------------ one source per default
def _defaults(schema) -> dict:
    import dataclasses
    out = {}
    for f in dataclasses.fields(schema):
        out[f.name] = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
    return out


def test_sde_network_and_data_schemas_are_the_constructors_signatures():
    import inspect
    from sde_diffusion.configs.schemas import GROUP_SCHEMAS, MLPNetConfig, UNetNetConfig
    from sde_diffusion.models import UNet
    derived = [(s, registry.lookup(_defaults(s)["_target_"])) for g, _, s in GROUP_SCHEMAS if g in ("sde", "data")]
    derived += [(MLPNetConfig, MLP), (UNetNetConfig, UNet)]
    assert len(derived) >= 14
    for schema, fn in derived:
        sig = inspect.signature(fn)
        for k, v in _defaults(schema).items():
            if k == "_target_":
                continue
            d = sig.parameters[k].default
            assert v == (list(d) if isinstance(d, tuple) else d) or (d is inspect.Parameter.empty and v == "???"), (fn, k)


def test_conf_yaml_states_only_what_differs_from_the_constructor():
    import yaml
    from sde_diffusion.configs.schemas import GROUP_SCHEMAS, ModelConfig
    import sde_diffusion.configs  # noqa: F401  (stores every schema, the training ones too)
    from hydra.core.config_store import ConfigStore
    repeated = []
    for group in ("sde", "model", "data"):
        for path in sorted((ROOT / "conf" / group).glob("*.yaml")):
            node = yaml.safe_load(path.read_text()) or {}
            base = next((d for d in node.get("defaults", []) if str(d).startswith("base_")), None)
            if base is None:
                continue
            from omegaconf import OmegaConf
            schema = OmegaConf.to_container(ConfigStore.instance().repo[group][f"{base}.yaml"].node)
            for k, v in node.items():
                if k == "net":
                    repeated += [f"{path.name}: net.{n}" for n, x in v.items() if schema["net"].get(n) == x]
                elif k != "defaults" and schema.get(k, object()) == v:
                    repeated.append(f"{path.name}: {k}")
    assert not repeated, repeated
    assert ModelConfig().parameterization == ScoreModel.__init__.__wrapped__.__defaults__[0]


def test_the_scripts_import_only_the_plugins_the_user_names(monkeypatch):
    code = ("import os, sde_diffusion.configs\n"
            "from sde_diffusion import registry\n"
            "from sde_diffusion.configs.store import import_plugins\n"
            "print(registry.is_allowed('user_extension.OrnsteinUhlenbeckSDE'))\n"
            "os.environ['SDE_DIFFUSION_PLUGINS'] = ' user_extension, '\n"
            "print(import_plugins(), registry.is_allowed('user_extension.OrnsteinUhlenbeckSDE'))\n")
    env = {k: v for k, v in _env().items() if k != "SDE_DIFFUSION_PLUGINS"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0 and out.stdout.split("\n")[:2] == ["False", "['user_extension'] True"], out.stderr
    from sde_diffusion.configs.store import import_plugins
    monkeypatch.setenv("SDE_DIFFUSION_PLUGINS", "os; rm")
    with pytest.raises(ValueError, match=r"SDE_DIFFUSION_PLUGINS: 'os; rm' is not a module name"):
        import_plugins()
    monkeypatch.setenv("SDE_DIFFUSION_PLUGINS", "no_such_module_xyz")
    with pytest.raises(ImportError, match=r"SDE_DIFFUSION_PLUGINS: cannot import 'no_such_module_xyz'"):
        import_plugins()


def test_the_users_classes_train_from_a_config_like_the_packages_own(tmp_path):
    """The Hydra route: the nodes a user's conf/sde, conf/model and conf/data YAML would hold
    (a ``_target_`` each and only the non-default arguments) build a ready trainer."""
    from sde_diffusion.configs import compose, to_plain
    from sde_diffusion.configs.train import build_trainer
    cfg = to_plain(compose(["experiment=toy2d", "logger=none", "train.steps=1", "train.eval_samples=0",
                            "train.n_samples=0", "train.progress=false"]))
    cfg["sde"] = {"_target_": "user_extension.OrnsteinUhlenbeckSDE", "theta": 3.0}
    cfg["model"]["net"] = {"_target_": "user_extension.TwoLayerNet", "width": 8}
    cfg["data"] = {"_target_": "user_extension.two_points", "n_train": 1024, "n_test": 32}
    trainer = build_trainer(cfg, tmp_path / "run")
    assert type(trainer.model.sde) is ext.OrnsteinUhlenbeckSDE and trainer.model.sde.theta == 3.0
    assert type(trainer.model.net) is ext.TwoLayerNet and trainer.model.net.body[0].in_features == 2
