"""Process-level helpers of the training loop: device choice, seeding, DDP detection, the
result type and the non-finite-loss error."""
from __future__ import annotations

import os
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Optional

import numpy as np
import torch

__all__ = ["NonFiniteLossError", "TrainResult", "select_device", "seed_everything", "dist_info",
           "progress_enabled"]


class NonFiniteLossError(FloatingPointError):
    """The loss (or gradient norm) became NaN or inf; training stopped before the update."""


@dataclass
class TrainResult:
    """What ``Trainer.fit`` did. status: "completed" or "interrupted" (by ``signal``)."""
    status: str
    step: int
    run_dir: Path
    checkpoint: Optional[Path]
    last_loss: float = float("nan")
    signal: Optional[int] = None
    metrics: Dict[str, float] = field(default_factory=dict)


@dataclass
class _LocalDist:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    is_main: bool = True


def select_device(name: str = "auto") -> torch.device:
    """"auto" -> cuda if available, else cpu; otherwise ``torch.device(name)`` (validated)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise ValueError(f"unknown device {name!r}; valid choices: 'auto', 'cpu', 'cuda', 'cuda:N'") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"train.device={name!r} but CUDA is not available; use train.device=cpu or auto")
    return dev


def seed_everything(seed: int, deterministic: bool = False) -> None:
    """Seed Python, NumPy and torch (all devices); optionally deterministic kernels."""
    random.seed(seed)
    np.random.seed(seed % 2 ** 32)
    torch.manual_seed(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")


def dist_info(device_name: str):
    from .distributed import init_distributed, is_launched
    if is_launched():
        return init_distributed(device=device_name)
    return _LocalDist(device=select_device(device_name))


def progress_enabled(flag: Optional[bool]) -> bool:
    if flag is not None:
        return flag
    import sys
    return os.environ.get("SDE_DIFFUSION_PROGRESS") != "0" and sys.stderr.isatty()
