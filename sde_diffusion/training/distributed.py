"""Data-parallel training with ``torch.distributed`` (DDP), launched by ``torchrun`` or SLURM.

The trainer runs unchanged in one process and under ``torchrun --nproc_per_node=N`` (or a
multi-task SLURM job through Hydra's submitit launcher). The contract that keeps the two
identical:

* **Global batch.** ``train.batch_size`` is the *global* batch B; each of the W ranks
  processes ``B / W`` samples (``local_batch_size``; B must be divisible by W). DDP averages
  the gradients over ranks, and the mean of W equal-sized per-rank means is the mean over the
  global batch, so one DDP step computes the gradient of the same objective as one
  single-process step on the same B samples (equal up to float summation order).
* **Same samples.** Every rank draws the *same* global permutation / index batch (same seed)
  and keeps its own slice (``shard``; ``make_sampler`` wraps ``DistributedSampler``, whose
  union over ranks of step k is the same set for every W).
* **Different noise.** Diffusion time and noise are drawn per rank from ``rank_seed(seed,
  rank)`` (rank 0 keeps the base seed, so a 1-process run is the single-process run).
* **Same weights, same EMA.** DDP broadcasts rank 0's parameters at wrap time and every step
  applies the same averaged gradient, so parameters stay identical; the EMA is updated on
  every rank from those weights and is therefore identical too. Only rank 0 writes
  checkpoints, logs and plots (``rank_zero_only`` / ``info.is_main``).

Hydra and torchrun both want ``argv``: ``hydra_ddp_argv`` (called by the entry point before
Hydra parses) makes every rank run with rank 0's output directory, so checkpoints can be read
back by all ranks on resume and nothing collides. See docs/scaling.md.
"""
from __future__ import annotations

import datetime as _dt
import functools
import os
import sys
from dataclasses import dataclass
from typing import Any, Callable, List, Optional, Sequence, TypeVar

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from ..utils import check_choice

__all__ = ["DistInfo", "init_distributed", "wrap_model", "unwrap_model", "barrier", "cleanup",
           "cleanup_process_group",
           "rank_zero_only", "get_rank", "is_launched", "local_batch_size", "shard", "make_sampler",
           "rank_seed", "all_reduce_mean", "broadcast_object", "DDPScoreModel", "hydra_ddp_argv",
           "autocast", "PRECISIONS", "BACKENDS"]

BACKENDS = ("nccl", "gloo", "mpi")
PRECISIONS = ("fp32", "bf16", "fp16")
F = TypeVar("F", bound=Callable[..., Any])


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


def get_rank() -> int:
    """Global rank of this process (0 outside a process group; reads RANK before init)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank()
    return _env_int("RANK") or 0


def rank_zero_only(fn: F) -> F:
    """Decorator: run ``fn`` on global rank 0 only; other ranks return None.

    The rank is read at call time, so functions decorated at import time work.
    Never decorate a function that calls a collective (it would hang the other ranks).
    """

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if get_rank() == 0:
            return fn(*args, **kwargs)
        return None

    return wrapper  # type: ignore[return-value]


def barrier(info: DistInfo) -> None:
    """Wait for every rank (no-op in a single process)."""
    if info.distributed and dist.is_initialized():
        if info.device.type == "cuda" and dist.get_backend() == "nccl":
            dist.barrier(device_ids=[info.device.index])
        else:
            dist.barrier()


def cleanup(info: Optional[DistInfo] = None) -> None:
    """Destroy the process group if one exists (no-op otherwise; safe to call twice)."""
    cleanup_process_group()


def cleanup_process_group() -> None:
    """``cleanup`` without a DistInfo, for entry points (``finally:`` after Hydra's main)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


# --------------------------------------------------------------------------------------------
# The model: DDP that keeps ScoreModel's interface
# --------------------------------------------------------------------------------------------

class _MethodDispatch(nn.Module):
    """``forward(*args, _method=name)`` calls ``model.<name>(*args)``, so DDP's forward (which
    arms the gradient all-reduce) is on the path of every model method the losses use."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, *args, _method: str = "forward", **kwargs):
        return getattr(self.model, _method)(*args, **kwargs)


class DDPScoreModel(nn.Module):
    """A DDP-wrapped ``ScoreModel`` that still looks like one.

    DDP only all-reduces gradients of a backward pass whose forward went through
    ``DistributedDataParallel.__call__``; the DSM loss calls ``model.native(x, t)``, not
    ``model(x, t)``. Here ``forward``, ``native``, ``predict`` and ``denoise`` are routed through
    DDP, and any other attribute (``sde``, ``parameterization``, ``coefficients`` ...) is read from
    the wrapped model. ``.module`` is the plain model (for EMA, checkpoints, sampling).
    """

    _routed = ("native", "predict", "denoise")

    def __init__(self, model: nn.Module, **ddp_kwargs):
        super().__init__()
        self.ddp = DistributedDataParallel(_MethodDispatch(model), **ddp_kwargs)

    @property
    def module(self) -> nn.Module:
        return self.ddp.module.model

    def forward(self, *args, **kwargs):
        return self.ddp(*args, **kwargs)

    def __getattr__(self, name: str):
        try:
            return super().__getattr__(name)
        except AttributeError:
            pass
        if name in DDPScoreModel._routed:
            return functools.partial(self.ddp, _method=name)
        return getattr(self.module, name)

    def state_dict(self, *args, **kwargs):  # the plain model's keys, as in a single process
        return self.module.state_dict(*args, **kwargs)

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        return self.module.load_state_dict(state_dict, strict=strict, assign=assign)


def wrap_model(model: nn.Module, info: DistInfo, **ddp_kwargs) -> nn.Module:
    """Move ``model`` to ``info.device``; with world_size > 1 wrap it in DDP.

    A ``ScoreModel`` (anything with ``native``/``predict``/``denoise``) becomes a
    ``DDPScoreModel``, so the losses can call it like the plain model; any other module (e.g. a
    backbone ``net(x, t)`` called only through ``forward``) becomes a plain
    ``DistributedDataParallel`` (the layout ``torch.compile`` optimises for DDP). DDP broadcasts
    rank 0's parameters and buffers at construction, so every rank starts identical.

    In a single process the model itself is returned. Keep a reference to the plain model (or
    use ``unwrap_model``) for the EMA, checkpoints and sampling. Extra keyword arguments go to
    ``DistributedDataParallel`` (e.g. ``find_unused_parameters=True``,
    ``gradient_as_bucket_view=True``).
    """
    model = model.to(info.device)
    if not info.distributed:
        return model
    if info.device.type == "cuda":
        ddp_kwargs.setdefault("device_ids", [info.device.index])
        ddp_kwargs.setdefault("output_device", info.device.index)
    if any(callable(getattr(model, name, None)) for name in DDPScoreModel._routed):
        return DDPScoreModel(model, **ddp_kwargs)
    return DistributedDataParallel(model, **ddp_kwargs)


def unwrap_model(model: nn.Module) -> nn.Module:
    """The plain model inside ``wrap_model``'s result (or ``torch.compile``'s), else itself."""
    if isinstance(model, DDPScoreModel):
        model = model.module
    if isinstance(model, DistributedDataParallel):
        model = model.module
    return getattr(model, "_orig_mod", model)


# --------------------------------------------------------------------------------------------
# Data, seeds, reductions
# --------------------------------------------------------------------------------------------

def local_batch_size(global_batch_size: int, info: DistInfo) -> int:
    """Per-rank batch ``B / W`` for the configured *global* batch B; B must be divisible by W."""
    if not isinstance(global_batch_size, (int, np.integer)) or global_batch_size < 1:
        raise ValueError(f"batch size must be a positive integer, got {global_batch_size!r}")
    if global_batch_size % info.world_size:
        raise ValueError(f"global batch size {global_batch_size} is not divisible by the world size "
                         f"{info.world_size}; choose a batch size that is a multiple of "
                         f"{info.world_size} (e.g. {info.world_size * max(1, global_batch_size // info.world_size)})")
    return int(global_batch_size) // info.world_size


def shard(x: torch.Tensor, info: DistInfo, dim: int = 0) -> torch.Tensor:
    """This rank's contiguous slice of a *global* batch (identical on every rank) along ``dim``.

    ``x`` of size B along ``dim`` -> size B / W; rank r gets ``[r B/W, (r+1) B/W)``, so the
    concatenation over ranks is ``x`` (what a single process would process).
    """
    n = local_batch_size(x.shape[dim], info)
    return x.narrow(dim, info.rank * n, n)


def make_sampler(dataset_len: int, info: DistInfo, shuffle: bool = True, seed: int = 0,
                 drop_last: bool = True) -> torch.utils.data.Sampler:
    """A ``torch.utils.data.DistributedSampler`` over ``range(dataset_len)`` for this rank.

    Use with ``DataLoader(..., batch_size=local_batch_size(B, info), sampler=sampler)`` and call
    ``sampler.set_epoch(epoch)`` every epoch. All ranks shuffle with the same ``seed`` and take
    interleaved indices, so step k's union over ranks is the same B indices for any W.
    """
    from torch.utils.data import DistributedSampler
    return DistributedSampler(range(dataset_len), num_replicas=info.world_size, rank=info.rank,
                              shuffle=shuffle, seed=seed, drop_last=drop_last)


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
    """``obj`` from rank ``src`` on every rank (picklable objects; a collective)."""
    if not info.distributed:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src, device=info.device if info.device.type == "cuda" else None)
    return box[0]


# --------------------------------------------------------------------------------------------
# Hydra + torchrun: one output directory for all ranks
# --------------------------------------------------------------------------------------------

def _has_override(argv: Sequence[str], key: str) -> bool:
    return any(a.lstrip("+~").startswith(key + "=") for a in argv)


def hydra_ddp_argv(argv: Optional[List[str]] = None, config_dir: Optional[str] = None,
                   config_name: str = "config", job_name: Optional[str] = None) -> List[str]:
    """Rewrite ``sys.argv`` so that every torchrun rank runs Hydra in rank 0's output directory.

    Hydra's default run directory contains ``${now:...}``, which each rank would resolve at its
    own start time. Under torchrun (WORLD_SIZE > 1) this joins the process group, lets rank 0
    compose the config with the same overrides and resolve ``hydra.run.dir`` (``hydra.sweep.dir``
    with ``-m``), broadcasts it, and appends ``hydra.run.dir=<that dir>`` on every rank. Ranks
    > 0 also get ``hydra.output_subdir=null`` (only rank 0 writes ``.hydra/``) and log to stdout
    instead of the shared log file. Unchanged in a single process or if the user set the
    directory explicitly. Call it before ``@hydra.main`` parses, e.g.
    ``sys.argv = hydra_ddp_argv(sys.argv, config_dir, "config")``.
    """
    argv = list(sys.argv if argv is None else argv)
    if (_env_int("WORLD_SIZE") or 1) <= 1:
        return argv
    info = init_distributed()
    if not info.distributed:
        return argv
    prog, args = argv[:1], argv[1:]
    multirun = any(a in ("-m", "--multirun") for a in args)
    key = "hydra.sweep.dir" if multirun else "hydra.run.dir"
    extra: List[str] = []
    if not _has_override(args, key):
        path = None
        if info.is_main:
            path = _resolve_hydra_dir(args, key, config_dir, config_name,
                                      job_name or os.path.splitext(os.path.basename(prog[0] if prog else "app"))[0])
        path = broadcast_object(path, info)
        extra.append(f"{key}={path}")
    if not info.is_main:
        if not _has_override(args, "hydra.output_subdir"):
            extra.append("hydra.output_subdir=null")
        if not _has_override(args, "hydra/job_logging"):
            extra.append("hydra/job_logging=stdout")
    return prog + args + extra


def _resolve_hydra_dir(args: Sequence[str], key: str, config_dir: Optional[str], config_name: str,
                       job_name: str) -> str:
    """Compose (rank 0 only) and resolve ``hydra.run.dir`` / ``hydra.sweep.dir``."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.utils import setup_globals
    from omegaconf import OmegaConf

    overrides = [a for a in args if not a.startswith("-")]
    if config_dir is None:
        config_dir = os.path.join(os.getcwd(), "conf")
    setup_globals()  # registers the ${now:} and ${hydra:} resolvers
    with initialize_config_dir(config_dir=os.path.abspath(config_dir), job_name=job_name,
                               version_base="1.3"):
        cfg = compose(config_name, overrides=overrides, return_hydra_config=True)
        stamp = _dt.datetime.now()
        OmegaConf.register_new_resolver("now", lambda pattern: stamp.strftime(pattern), replace=True)
        try:
            path = str(OmegaConf.select(cfg, key))
        finally:
            setup_globals()
    GlobalHydra.instance().clear()
    return path


# --------------------------------------------------------------------------------------------
# GPU path helpers
# --------------------------------------------------------------------------------------------

def autocast(device: torch.device, precision: str = "fp32"):
    """Mixed-precision context for the forward pass: ``torch.autocast`` in bf16/fp16, or a no-op
    for fp32. bf16 needs no loss scaling; fp16 does (use ``torch.amp.GradScaler``)."""
    check_choice("precision", precision, PRECISIONS)
    device = torch.device(device)
    if precision == "fp32":
        return torch.autocast(device_type=device.type, enabled=False)
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)
