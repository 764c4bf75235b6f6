import os

import pytest
import torch

# Tests never talk to wandb's servers and never show progress bars.
os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("WANDB_SILENT", "true")
os.environ.setdefault("SDE_DIFFUSION_PROGRESS", "0")


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def gen():
    return torch.Generator().manual_seed(1234)


_DIST_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT", "SUBMITIT_EXECUTOR")


@pytest.fixture(autouse=True)
def _no_leaked_distributed_environment():
    """A test that leaves torchrun/SLURM variables behind would make every later Trainer wait
    for ranks that never come: fail that test instead of hanging the suite."""
    before = {k: os.environ.get(k) for k in _DIST_VARS}
    yield
    after = {k: os.environ.get(k) for k in _DIST_VARS}
    if after != before:
        for k, v in before.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
        pytest.fail(f"test leaked distributed environment variables: {after}")
