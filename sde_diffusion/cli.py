"""Console entry points (setup.cfg): ``sde-train``, ``sde-sample``, ``sde-likelihood``,
``sde-benchmark`` run ``scripts/<name>.py`` with the same command-line arguments (Hydra
overrides), e.g. ``sde-train experiment=toy2d``.

The scripts and ``conf/`` live in the source checkout next to the package (``pip install -e .``).
The process is replaced by the script (``os.execv``), so Hydra sees its own ``argv`` and
signals (SIGTERM from a scheduler, Ctrl-C) reach the training loop directly.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import List, NoReturn, Optional

__all__ = ["train", "sample", "likelihood", "benchmark", "script_path"]

ROOT = Path(__file__).resolve().parent.parent


def script_path(name: str) -> Path:
    """Path of ``scripts/<name>.py``; a clear error outside a source checkout."""
    path = ROOT / "scripts" / f"{name}.py"
    if not path.is_file() or not (ROOT / "conf").is_dir():
        raise SystemExit(f"sde-{name}: {path} or {ROOT / 'conf'} not found. The console entry "
                         f"points run the Hydra scripts of a source checkout: clone the repository "
                         f"and `pip install -e .` there, or run `python scripts/{name}.py` directly.")
    return path


def _run(name: str, argv: Optional[List[str]] = None) -> NoReturn:
    path = script_path(name)
    args = list(sys.argv[1:] if argv is None else argv)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, str(path), *args])


def train() -> NoReturn:
    """``sde-train [overrides]`` = ``python scripts/train.py [overrides]``."""
    _run("train")


def sample() -> NoReturn:
    """``sde-sample run=<dir> [overrides]`` = ``python scripts/sample.py ...``."""
    _run("sample")


def likelihood() -> NoReturn:
    """``sde-likelihood [overrides]`` = ``python scripts/likelihood.py ...``."""
    _run("likelihood")


def benchmark() -> NoReturn:
    """``sde-benchmark [overrides]`` = ``python scripts/benchmark.py ...``."""
    _run("benchmark")
