"""The application layer sits on top: nothing in the library imports ``sde_diffusion.app`` (the
Hydra glue in ``configs/`` is the other edge and may), and the scripts stay thin."""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PKG = ROOT / "sde_diffusion"
EDGE = ("app", "configs")


def _imports(path: Path, root: Path = ROOT):
    """Absolute module names imported by ``path`` (relative imports resolved against ``root``)."""
    tree = ast.parse(path.read_text(), str(path))
    parts = list(path.relative_to(root).with_suffix("").parts)
    package = parts[:-1] if parts[-1] != "__init__" else parts[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            mod = ".".join(base + ([node.module] if node.module else []))
            yield mod
            yield from (f"{mod}.{a.name}" for a in node.names)


def test_the_library_never_imports_the_app_layer():
    offenders = []
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(PKG).parts
        if rel[0] in EDGE:
            continue
        offenders += [f"{path.relative_to(ROOT)}: {m}" for m in _imports(path)
                      if m == "sde_diffusion.app" or m.startswith("sde_diffusion.app.")]
    assert offenders == []


def test_the_scan_sees_relative_imports(tmp_path):
    """The scan resolves ``from ..app import x`` inside sde_diffusion/training/ (a planted case)."""
    p = tmp_path / "sde_diffusion" / "training" / "planted.py"
    p.parent.mkdir(parents=True)
    p.write_text("from ..app import folders\nfrom . import sampling\n")
    found = set(_imports(p, tmp_path))
    assert "sde_diffusion.app" in found and "sde_diffusion.training.sampling" in found


@pytest.mark.parametrize("script", ["sample", "likelihood"])
def test_scripts_are_thin_and_call_the_app(script):
    text = (ROOT / "scripts" / f"{script}.py").read_text()
    assert len(text.splitlines()) < 60
    assert "from sde_diffusion.app import" in text


def test_old_run_modules_are_gone():
    for old in ("runs.py", "runs_conditional.py", "training/runs.py"):
        assert not (PKG / old).exists(), old
