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

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "sde_diffusion"


def _env():
    import os
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "tests"), env.get("PYTHONPATH", "")])
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_env(),
                          timeout=300, cwd=str(ROOT))


# ------------------------------------------------------------------- a user's own classes
def _probe():
    g = torch.Generator().manual_seed(7)
    return torch.randn(16, 1, generator=g), torch.rand(16, generator=g) * 0.9 + 0.05


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
    code = (
        "import torch, user_extension\n"            # the user imports their own module
        "from sde_diffusion.io import load_model\n"
        "g = torch.Generator().manual_seed(7)\n"
        "x, t = torch.randn(16, 1, generator=g), torch.rand(16, generator=g) * 0.9 + 0.05\n"
        f"m = load_model({str(folder)!r}).model\n"
        f"c = load_model({str(tmp_path / 'run')!r}).model\n"
        "assert type(m.sde).__name__ == 'OrnsteinUhlenbeckSDE' and m.sde.theta == 3.0\n"
        "with torch.no_grad():\n"
        f"    torch.save({{'folder': m(x, t), 'ckpt': c(x, t)}}, {str(tmp_path / 'out.pt')!r})\n")
    out = _python(code)
    assert out.returncode == 0, out.stderr
    got = torch.load(tmp_path / "out.pt")
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
