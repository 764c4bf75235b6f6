"""Data-parallel training with ``torch.distributed`` (DDP), launched by ``torchrun`` or SLURM.

The trainer runs unchanged in one process and under ``torchrun --nproc_per_node=N`` (or a
multi-task SLURM job through Hydra's submitit launcher). The contract that keeps the two
identical:

* **Global batch.** ``train.batch_size`` is the *global* batch B; each of the W ranks
  processes ``B / W`` samples (B must be divisible by W). DDP averages the gradients over
  ranks, and the mean of W equal-sized per-rank means is the mean over the global batch, so
  one DDP step computes the gradient of the same objective as one single-process step on the
  same B samples (equal up to float summation order).
* **Same samples.** Every rank draws the *same* global permutation and keeps its own slice of
  each global batch (``data.ResumableBatchSampler``).
* **Different noise.** Diffusion time and noise are drawn per rank from ``rank_seed(seed,
  rank)`` (rank 0 keeps the base seed, so a 1-process run is the single-process run).
* **Same weights, same EMA.** DDP broadcasts rank 0's parameters at wrap time and every step
  applies the same averaged gradient; the EMA, updated on every rank from those weights, is
  identical too. Only rank 0 writes checkpoints, logs and plots.

Hydra's argv handling under torchrun lives in ``sde_diffusion.configs`` (the only Hydra code).
"""
from __future__ import annotations

import datetime as _dt
import os
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from ..contract import check_choice

__all__ = ["DistInfo", "init_distributed", "is_launched", "wrap_model", "rank_seed",
           "all_reduce_mean", "broadcast_object", "cleanup_process_group", "BACKENDS"]

BACKENDS = ("nccl", "gloo", "mpi")


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits in the job.

    Attributes:
        rank: global rank in [0, world_size).
        world_size: number of processes (1 = single process, no process group).
        local_rank: rank on this node; selects the GPU ``cuda:local_rank``.
        device: the device this rank computes on.
        is_main: ``rank == 0``; the only rank that writes files, logs and plots.
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    is_main: bool = True

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def _env_int(name: str) -> Optional[int]:
    value = os.environ.get(name)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"environment variable {name}={value!r} is not an integer") from None


def _export_submitit_env() -> None:
    """Inside a multi-task submitit (SLURM) job without torchrun, export the env:// variables
    (MASTER_ADDR, MASTER_PORT, RANK, WORLD_SIZE, LOCAL_RANK) from submitit's job environment."""
    if "RANK" in os.environ or not os.environ.get("SUBMITIT_EXECUTOR"):
        return
    try:
        import submitit  # noqa: F401
        from submitit.helpers import TorchDistributedEnvironment
    except ImportError:  # pragma: no cover - submitit is an optional extra
        return
    env = TorchDistributedEnvironment()
    if env.world_size > 1:
        # keep every GPU visible; we select cuda:local_rank ourselves (like torchrun)
        env.export(set_cuda_visible_devices=False)


def is_launched() -> bool:
    """True when this process is one of several ranks: torchrun's WORLD_SIZE > 1, or a
    multi-task submitit (SLURM) job. Cheap; creates no process group."""
    if (_env_int("WORLD_SIZE") or 1) > 1:
        return True
    if "RANK" not in os.environ and os.environ.get("SUBMITIT_EXECUTOR"):
        try:
            import submitit
            return submitit.JobEnvironment().num_tasks > 1
        except Exception:  # pragma: no cover - not inside a submitit job after all
            return False
    return False


def _default_device(local_rank: int, device: Optional[str]) -> torch.device:
    if device not in (None, "auto"):
        dev = torch.device(device)
        if dev.type == "cuda" and dev.index is None:
            dev = torch.device("cuda", local_rank)
        return dev
    if torch.cuda.is_available():
        return torch.device("cuda", local_rank % max(torch.cuda.device_count(), 1))
    return torch.device("cpu")


def init_distributed(backend: Optional[str] = None, device: Optional[str] = None,
                     timeout_s: float = 1800.0) -> DistInfo:
    """Join the process group described by the environment, or run as a single process.

    Reads the ``env://`` variables that ``torchrun`` sets (RANK, WORLD_SIZE, LOCAL_RANK,
    MASTER_ADDR, MASTER_PORT); inside a multi-task submitit/SLURM job they are exported from
    submitit's job environment first. With WORLD_SIZE absent or 1 no process group is created.

    Args:
        backend: "nccl" (default on CUDA) or "gloo" (default on CPU) or "mpi".
        device: "auto"/None (``cuda:local_rank`` if CUDA is available, else CPU), or an explicit
            device ("cpu", "cuda"); "cuda" without index means ``cuda:local_rank``.
        timeout_s: collective timeout.
    Returns:
        DistInfo. Calling it again returns the same information (idempotent).
    """
    if backend is not None:
        check_choice("distributed backend", backend, BACKENDS)
    _export_submitit_env()
    if dist.is_available() and dist.is_initialized():
        rank, world = dist.get_rank(), dist.get_world_size()
        local = _env_int("LOCAL_RANK") or 0
        return DistInfo(rank, world, local, _default_device(local, device), rank == 0)
    world = _env_int("WORLD_SIZE") or 1
    rank = _env_int("RANK") or 0
    local = _env_int("LOCAL_RANK")
    local = rank if local is None else local
    if world < 1 or not 0 <= rank < world:
        raise ValueError(f"inconsistent distributed environment: RANK={rank}, WORLD_SIZE={world}")
    dev = _default_device(local, device)
    if world == 1:
        return DistInfo(0, 1, local, dev, True)
    if not dist.is_available():  # pragma: no cover - builds without distributed support
        raise RuntimeError("WORLD_SIZE > 1 but this torch build has no torch.distributed")
    missing = [k for k in ("MASTER_ADDR", "MASTER_PORT") if not os.environ.get(k)]
    if missing:
        raise ValueError(f"WORLD_SIZE={world} but {', '.join(missing)} not set; launch with torchrun "
                         "or set the env:// variables (MASTER_ADDR, MASTER_PORT, RANK, WORLD_SIZE)")
    if backend is None:
        backend = "nccl" if dev.type == "cuda" else "gloo"
    if backend == "nccl" and dev.type != "cuda":
        raise ValueError(f"backend 'nccl' needs a CUDA device, got device {str(dev)!r}; use 'gloo' on CPU")
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    dist.init_process_group(backend=backend, init_method="env://", rank=rank, world_size=world,
                            timeout=_dt.timedelta(seconds=timeout_s))
    return DistInfo(rank, world, local, dev, rank == 0)


def cleanup_process_group() -> None:
    """``cleanup`` without a DistInfo, for entry points (``finally:`` after Hydra's main)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def wrap_model(model: nn.Module, info: DistInfo, **ddp_kwargs) -> nn.Module:
    """Move ``model`` (the backbone ``net(x, t)``) to ``info.device``; with world_size > 1 wrap
    it in ``DistributedDataParallel``, which broadcasts rank 0's parameters and buffers, so
    every rank starts identical. In one process the model itself is returned. Extra keyword
    arguments go to DDP (e.g. ``find_unused_parameters=True``)."""
    model = model.to(info.device)
    if not info.distributed:
        return model
    if info.device.type == "cuda":
        ddp_kwargs.setdefault("device_ids", [info.device.index])
        ddp_kwargs.setdefault("output_device", info.device.index)
    return DistributedDataParallel(model, **ddp_kwargs)


def training_view(model: nn.Module, info: DistInfo, compile: bool = False) -> nn.Module:
    """``model`` (a ScoreModel) itself, or a shallow copy sharing its parameters whose ``net``
    is DDP-wrapped (world_size > 1) and/or ``torch.compile``d: what the loss calls."""
    net = wrap_model(model.net, info) if info.world_size > 1 else model.net
    if compile:
        net = torch.compile(net)
    if net is model.net:
        return model
    import copy
    view = copy.copy(model)
    view._modules = dict(model._modules)
    view._modules["net"] = net
    return view


def rank_seed(seed: int, rank: int) -> int:
    """Per-rank seed for noise and diffusion times: rank 0 keeps ``seed`` (a one-process run is
    the single-process run); rank r > 0 gets a 63-bit seed hashed from (seed, r) by numpy's
    SeedSequence, so streams of different ranks (and of different base seeds) do not overlap."""
    if rank < 0:
        raise ValueError(f"rank must be >= 0, got {rank!r}")
    if rank == 0:
        return int(seed)
    return int(np.random.SeedSequence([int(seed) & (2 ** 63 - 1), int(rank)]).generate_state(
        1, dtype=np.uint64)[0] >> np.uint64(1))


def all_reduce_mean(x: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Mean over ranks of ``x`` (detached; for logging). A collective: call it on every rank."""
    x = x.detach()
    if not info.distributed:
        return x.clone()
    y = x.clone().to(torch.float32 if not x.is_floating_point() else x.dtype)
    dist.all_reduce(y, op=dist.ReduceOp.SUM)
    return y / info.world_size



def broadcast_object(obj: Any, info: DistInfo, src: int = 0) -> Any:
    """``obj`` from rank ``src`` on every rank (picklable objects; a collective). Used by
    ``configs.hydra_ddp_argv`` to share rank 0's output folder."""
    if not info.distributed:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src, device=info.device if info.device.type == "cuda" else None)
    return box[0]
