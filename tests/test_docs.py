"""The documentation: the site builds with warnings as errors, every Python block of the docs
and the README runs (page by page, in order, in a temporary folder), and every script command
in them composes (the same check the scripts run before any work)."""
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted(p for p in (ROOT / "docs").rglob("*.md") if "background" not in p.parts)
SCRIPT_CONFIG = {"train": "config", "sample": "sample", "likelihood": "likelihood",
                 "benchmark": "benchmark"}
# the docs train for real; the tests train 3 steps without the final evaluation and plots
QUICK = [(r"TrainOptions\(steps=\d+", "TrainOptions(steps=3, eval_samples=0, n_samples=0")]


def blocks(path: Path, lang: str):
    return re.findall(rf"```{lang}\n(.*?)```", path.read_text(), flags=re.S)


def test_mkdocs_build_strict(tmp_path):
    pytest.importorskip("mkdocs")
    r = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q",
                        "-d", str(tmp_path / "site")], cwd=ROOT, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    site = tmp_path / "site"
    cli = (site / "cli" / "index.html").read_text()
    for needle in ("scripts/train.py", "sampler=unipc", "train=default", "warmup_steps",
                   "net.fourier_scale", "seeds"):
        assert needle in cli, needle
    samplers = (site / "samplers" / "index.html").read_text()
    from sde_diffusion.solvers import SAMPLERS
    assert all(f"<code>{name}</code>" in samplers for name in SAMPLERS)
    for name, order in (("dpm_solver2", "2"), ("dpm_solver3", "3"),
                        ("unipc", r"6 on short steps \(4 on long, 3 on the longest\)")):
        assert re.search(rf"<td><code>{name}</code></td>\s*<td>{order}</td>", samplers), name
    assert "Migration notes" in (site / "changelog" / "index.html").read_text()


@pytest.mark.parametrize("page", [ROOT / "README.md", *PAGES], ids=lambda p: p.name)
def test_python_blocks_run(page, tmp_path, monkeypatch):
    code = blocks(page, "python")
    if not code:
        pytest.skip("no Python block")
    monkeypatch.chdir(tmp_path)
    import torch
    ns = {"__name__": "docs", "x": torch.randn(512, 2)}  # the README's `x`: your own data
    for i, block in enumerate(code):
        if "path/to/" in block or re.search(r"weights=\"[^\"]+\.(pth|pt|safetensors)\"", block):
            continue  # needs a model folder or weights file the reader supplies: shown, not run
        for pattern, repl in QUICK:
            block = re.sub(pattern, repl, block)
        exec(compile(block, f"{page.name}[block {i}]", "exec"), ns)


def commands(text: str):
    """(script, args) of every ``python scripts/<name>.py ...`` line of shell blocks."""
    for line in text.replace("\\\n", " ").splitlines():
        line = line.split("  #")[0].strip()
        m = re.search(r"scripts/(train|sample|likelihood|benchmark)\.py(.*)$", line)
        if m and not line.startswith("$"):
            yield m.group(1), shlex.split(m.group(2))


SHELL = [(page.name, script, args) for page in [ROOT / "README.md", *PAGES]
         for text in blocks(page, "bash") for script, args in commands(text)]


def test_there_are_commands_to_check():
    assert len(SHELL) >= 20 and {s for _, s, _ in SHELL} == set(SCRIPT_CONFIG)


@pytest.mark.parametrize("page,script,args", SHELL, ids=[f"{p}:{s}" for p, s, _ in SHELL])
def test_shell_commands_compose(page, script, args):
    from sde_diffusion.configs import check_arguments
    args = [a for a in args if not a.startswith("hydra/launcher=")]
    check_arguments(args, SCRIPT_CONFIG[script], script)  # exits with status 2 on a bad override


def _page_orders():
    sys.path.insert(0, str(ROOT / "docs" / "hooks"))
    try:
        import reference
    finally:
        sys.path.remove(str(ROOT / "docs" / "hooks"))
    table = reference.samplers_page().split("## Options")[0]
    rows = [r.split("|") for r in table.splitlines() if r.startswith("| `")]
    return {r[1].strip().strip("`"): r[2].strip() for r in rows}


def test_sampler_page_shows_the_order_of_the_default_configuration():
    # the class attribute is 1 for samplers whose order is an option; the page must not show it
    import inspect
    from sde_diffusion.solvers import SAMPLERS
    pytest.importorskip("mkdocs")
    orders = _page_orders()
    assert set(orders) == set(SAMPLERS)
    default = {n: inspect.signature(SAMPLERS[n].__init__).parameters["order"].default
               for n in ("deis", "unipc", "ipndm", "ipndm_v")}
    assert default == {"deis": 3, "unipc": 5, "ipndm": 4, "ipndm_v": 4}  # else update below
    # measured orders of these configurations: tests/solvers/test_fewstep.py ORDERS
    assert orders["dpm_solver2"] == "2" and orders["dpm_solver3"] == "3"
    assert orders["deis"] == "3" and orders["ipndm_v"] == "4"
    # UniPC-5 with its corrector: p + 1 = 6 where the steps are short (order.MAX_STEP), else
    # UniPC-3's 4 (measured in test_fewstep.py: 5.5-6.0 and 3.6-3.9), UniPC-2's 3 on h > 1.5
    assert orders["unipc"] == "6 on short steps (4 on long, 3 on the longest)"
    assert orders["ipndm"].startswith("2 ")  # fixed weights, non-uniform default grid
    assert orders["torchsde"] == "0.5" and orders["heun"] == "2" and orders["euler"] == "1"
