"""The training loop: DSM loss, AdamW with linear warm-up, gradient clipping, EMA, bf16 autocast
on CUDA, optional ``torch.compile``, atomic checkpoints with exact resume, signal handling.

One optimiser step:

    x0  = next batch of the epoch's seeded permutation (data position saved in checkpoints)
    L   = mean_i DSMLoss(model, x0)_i          (t and noise drawn from the trainer's generator)
    lr  = train.lr * min(1, (step + 1) / warmup_steps)
    clip |grad| to grad_clip;  AdamW step;  ema <- d ema + (1 - d) theta

Resuming restores weights, EMA, optimiser, step, every RNG state and the data position, so a
run killed and restarted from its last checkpoint ends with the same parameters as an
uninterrupted run (same device, same seed; tested on CPU).
"""
from __future__ import annotations

import copy
import inspect
import json
import logging
import os
import random
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Sequence, Tuple

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from ..data import DataBundle, build_data
from ..losses import DSMLoss
from ..models import ScoreModel
from .checkpoint import (checkpoint_dir, latest_checkpoint, save_checkpoint)
from .ema import EMA

__all__ = ["Trainer", "TrainResult", "NonFiniteLossError", "build_model", "build_sde",
           "instantiate_node", "select_device", "seed_everything", "sampler_arguments",
           "generate_samples", "sliced_wasserstein_report", "CHECKPOINT_FORMAT"]

log = logging.getLogger(__name__)
CHECKPOINT_FORMAT = 1


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
    """Single-process stand-in for ``distributed.DistInfo``."""
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    is_main: bool = True


# ----------------------------------------------------------------------------- building blocks
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


def instantiate_node(node, what: str, **kwargs):
    """``hydra.utils.instantiate`` that surfaces the library's own ValueError/TypeError messages."""
    from hydra.utils import instantiate
    if node is None or "_target_" not in node:
        raise ValueError(f"the {what} config needs a '_target_'; see conf/{what}/")
    try:
        return instantiate(node, _convert_="all", **kwargs)
    except Exception as e:
        cause = e.__cause__ or e
        if cause is not e and isinstance(cause, (ValueError, TypeError, ImportError, FileNotFoundError)):
            raise type(cause)(f"{what}: {cause}") from None
        raise


def build_sde(cfg_sde):
    """The forward SDE from ``cfg.sde``."""
    return instantiate_node(cfg_sde, "sde")


def _shape_kwargs(target: Callable, data_shape: Sequence[int], data_name: str) -> Dict[str, Any]:
    """Data-dependent constructor arguments a network declares: ``dim`` (values per sample),
    ``in_channels`` + ``image_size`` (square images), or ``data_shape``."""
    params = inspect.signature(target).parameters
    shape = tuple(int(d) for d in data_shape)
    out: Dict[str, Any] = {}
    if "data_shape" in params:
        out["data_shape"] = shape
    if "dim" in params:
        out["dim"] = int(np.prod(shape))
    if "in_channels" in params or "image_size" in params:
        if len(shape) != 3 or shape[1] != shape[2]:
            raise ValueError(f"{getattr(target, '__name__', target)} needs square images "
                             f"(C, S, S) but data {data_name!r} has per-sample shape {shape}; "
                             f"use model=mlp for point data")
        if "in_channels" in params:
            out["in_channels"] = shape[0]
        if "image_size" in params:
            out["image_size"] = shape[1]
    return out


def build_model(cfg_model, sde, data_shape: Sequence[int], data_name: str = "data") -> ScoreModel:
    """``ScoreModel(net, sde, ...)`` from ``cfg.model``; the net's shape arguments come from
    the data (``data_shape``), so one model config works for every data set it can take."""
    from hydra.utils import get_object
    if cfg_model is None or "net" not in cfg_model or "_target_" not in cfg_model.net:
        raise ValueError("the model config needs a 'net' with a '_target_'; see conf/model/")
    try:
        target = get_object(cfg_model.net._target_)
    except Exception as e:
        raise ValueError(f"model.net._target_={cfg_model.net._target_!r} cannot be imported: {e}") from None
    net = instantiate_node(cfg_model.net, "model", **_shape_kwargs(target, data_shape, data_name))
    data_std = cfg_model.get("data_std", None)
    return ScoreModel(net, sde, parameterization=cfg_model.get("parameterization", "eps"),
                      data_std=1.0 if data_std is None else float(data_std),
                      input_scaling=bool(cfg_model.get("input_scaling", True)))


def sampler_arguments(sampler_cfg, steps: Optional[int] = None) -> Tuple[str, int, Dict[str, Any]]:
    """(name, steps, options) from a ``conf/sampler`` node {name, steps, options}; defaults
    to the predictor-corrector sampler with 1000 steps when no sampler is configured."""
    if sampler_cfg is None:
        return "pc", int(steps or 1000), {}
    c = OmegaConf.to_container(sampler_cfg, resolve=True) if isinstance(sampler_cfg, DictConfig) \
        else dict(sampler_cfg)
    name = c.pop("name", "pc")
    n = int(steps if steps is not None else c.pop("steps", 1000))
    c.pop("steps", None)
    options = dict(c.pop("options", None) or {})
    options.update(c)  # any extra top-level keys are sampler options too
    return name, n, options


def generate_samples(model: ScoreModel, n: int, data_shape: Sequence[int], sampler_cfg=None,
                     seed: int = 0, steps: Optional[int] = None, batch_size: int = 4096,
                     return_trajectory: bool = False, device=None):
    """Draw ``n`` samples with ``solvers.sample`` in batches; returns (x on CPU, last SampleInfo,
    trajectory of the first batch or None). Seeded: one generator per batch from ``seed``."""
    from ..solvers import sample
    name, nsteps, options = sampler_arguments(sampler_cfg, steps)
    device = device or next(model.parameters()).device
    outs, info, traj = [], None, None
    was_training = model.training
    model.eval()
    try:
        for b, start in enumerate(range(0, n, batch_size)):
            m = min(batch_size, n - start)
            g = torch.Generator(device=device).manual_seed(int(seed) * 1_000_003 + b)
            x, info = sample(model.sde, model, (m, *data_shape), sampler=name, steps=nsteps,
                             generator=g, device=device, progress=False,
                             return_trajectory=return_trajectory and b == 0, **options)
            if return_trajectory and b == 0:
                traj = info.trajectory.cpu() if info.trajectory is not None else None
            outs.append(x.float().cpu())
    finally:
        model.train(was_training)
    return torch.cat(outs), info, traj


def sliced_wasserstein_report(samples: torch.Tensor, data: DataBundle, n: int = 2000,
                              seed: int = 0) -> Dict[str, float]:
    """Sliced W2 of samples vs held-out data, and the floor: the same distance between two
    independent true sample sets of the same size (fresh draws of ``data.reference`` when the
    data have an exact density, else a training subset vs the test set)."""
    from ..metrics import sliced_wasserstein
    n = int(min(n, samples.shape[0], data.test.shape[0]))
    g = torch.Generator().manual_seed(seed + 17)
    if data.reference is not None:
        true_a = data.reference.sample(n, generator=g)
        true_b = data.reference.sample(n, generator=g)
        true_c = data.reference.sample(n, generator=g)
        sw = sliced_wasserstein(samples[:n], true_a, seed=seed)
        floor = 0.5 * (sliced_wasserstein(true_b, true_c, seed=seed)
                       + sliced_wasserstein(true_a, true_b, seed=seed + 1))
    else:
        idx = torch.randperm(data.train.shape[0], generator=g)[:n]
        sw = sliced_wasserstein(samples[:n], data.test[:n], seed=seed)
        floor = sliced_wasserstein(data.train[idx], data.test[:n], seed=seed)
    return {"sw": sw, "sw_floor": floor, "sw_ratio": sw / floor, "sw_n": float(n)}


def _hydra_group(cfg) -> Optional[str]:
    """In a Hydra multirun: a group name shared by the sweep's jobs (for the tracker)."""
    try:
        from hydra.core.hydra_config import HydraConfig
        from hydra.types import RunMode
        if HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN:
            return f"{cfg.get('name', 'sweep')}-{Path(HydraConfig.get().sweep.dir).name}"
    except Exception:  # pragma: no cover - not under Hydra
        pass
    return None


def _dist_info(device_name: str):
    from .distributed import init_distributed, is_launched
    if is_launched():  # torchrun (WORLD_SIZE > 1) or a multi-task submitit/SLURM job
        return init_distributed(device=device_name)
    return _LocalDist(device=select_device(device_name))


def _progress_enabled(flag: Optional[bool]) -> bool:
    if flag is not None:
        return bool(flag)
    if os.environ.get("SDE_DIFFUSION_PROGRESS") == "0":
        return False
    import sys
    return hasattr(sys.stderr, "isatty") and sys.stderr.isatty()


# ----------------------------------------------------------------------------- the trainer
class Trainer:
    """Train a ScoreModel from a composed config (see ``conf/config.yaml``).

    Args:
        cfg: the composed config (DictConfig): sde, model, data, sampler, train, logger, seed.
        run_dir: output directory (checkpoints/, samples/, metrics.json, wandb/).
        data: a DataBundle to use instead of building ``cfg.data``.
        tracker: a ``tracking.Tracker`` to use instead of instantiating ``cfg.logger``.
        on_step: callbacks ``fn(trainer)`` run after every optimiser step (tests, custom logging).

    Everything that can be wrong with the config (unknown data set, bad image size, ...) raises
    here, before any training; ``fit()`` then runs the loop.
    """

    def __init__(self, cfg: DictConfig, run_dir, data: Optional[DataBundle] = None,
                 tracker=None, on_step: Sequence[Callable[["Trainer"], None]] = ()):
        if not isinstance(cfg, DictConfig):
            cfg = OmegaConf.create(cfg)
        self.cfg = cfg
        missing = sorted(OmegaConf.missing_keys(cfg))
        if missing:
            raise ValueError(f"the config leaves {missing} unset (???); give them on the command "
                             f"line, e.g. {missing[0]}=...")
        tc = cfg.train
        self.tc = tc
        for key in ("steps", "batch_size", "checkpoint_every", "keep_checkpoints", "log_every"):
            if int(tc[key]) < 1:
                raise ValueError(f"train.{key} must be >= 1, got {tc[key]!r}")
        if not float(tc.lr) > 0:
            raise ValueError(f"train.lr must be positive, got {tc.lr!r}")
        self.run_dir = Path(run_dir)
        self.on_step = list(on_step)
        self.dist = _dist_info(str(tc.device))
        self.device = torch.device(self.dist.device)
        self.seed = int(cfg.get("seed", 0))
        seed_everything(self.seed + self.dist.rank, bool(tc.deterministic))

        # data and model: all config errors surface here
        self.data = data if data is not None else build_data(cfg.data)
        if int(tc.batch_size) % self.dist.world_size:  # train.batch_size is the global batch
            raise ValueError(f"train.batch_size={tc.batch_size} (the global batch) is not divisible "
                             f"by the {self.dist.world_size} processes; use a multiple of "
                             f"{self.dist.world_size}")
        if self.data.train.shape[0] < int(tc.batch_size):
            raise ValueError(f"train.batch_size={tc.batch_size} "
                             f"exceeds the {self.data.train.shape[0]} training samples of "
                             f"{self.data.name!r}; lower train.batch_size")
        if cfg.model.get("data_std", None) is None:
            with _unlocked(cfg):
                cfg.model.data_std = round(float(self.data.train.std()), 6)
        self.sde = build_sde(cfg.sde)
        self.model = build_model(cfg.model, self.sde, self.data.data_shape, self.data.name).to(self.device)
        self.loss_fn = _build_loss(tc.loss)
        self.train_model = self._training_view()
        betas = tuple(float(b) for b in tc.betas)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=float(tc.lr), betas=betas,
                                           weight_decay=float(tc.weight_decay))
        self.ema = EMA(self.model, float(tc.ema_decay))
        self.amp = bool(tc.amp) and self.device.type == "cuda"
        self.generator = torch.Generator().manual_seed(self.seed * 7919 + 1 + self.dist.rank)
        self.step = 0
        self.epoch, self.index = 0, 0
        self._perm: Optional[torch.Tensor] = None
        self.last_loss = float("nan")
        self.tracker_id = ""
        self.last_checkpoint: Optional[Path] = None
        self._stop_signal: Optional[int] = None
        self.train_data = self.data.train  # kept on CPU; batches are moved to the device
        self.resumed_from: Optional[Path] = None
        if bool(tc.resume):
            self._maybe_resume()
        self.tracker = tracker if tracker is not None else self._build_tracker()

    # ---------------------------------------------------------------- setup helpers
    def _training_view(self) -> ScoreModel:
        """A ScoreModel sharing the parameters whose net is DDP-wrapped and/or compiled
        (checkpoints are always written from the plain ``self.model``)."""
        net = self.model.net
        if self.dist.world_size > 1:
            from .distributed import wrap_model
            net = wrap_model(net, self.dist)
        if bool(self.tc.compile):
            net = torch.compile(net)
        if net is self.model.net:
            return self.model
        view = copy.copy(self.model)
        view._modules = dict(self.model._modules)
        view.net = net
        return view

    def _build_tracker(self):
        from ..tracking import NullTracker
        if not self.dist.is_main or self.cfg.get("logger", None) is None:
            return NullTracker()
        try:
            make = instantiate_node(self.cfg.logger, "logger", _partial_=True)
            # called outside instantiate: Hydra would instantiate the config's nested _target_s
            return make(run_dir=str(self.run_dir), run_id=self.tracker_id or None,
                        run_config=OmegaConf.to_container(self.cfg, resolve=True),
                        default_group=_hydra_group(self.cfg))
        except Exception as e:  # a tracker never stops training
            import warnings
            warnings.warn(f"could not start the tracker ({e}); training continues without it",
                          RuntimeWarning)
            return NullTracker()

    def _config_yaml(self) -> str:
        return OmegaConf.to_yaml(self.cfg, resolve=True)

    def _maybe_resume(self) -> None:
        path, state = latest_checkpoint(checkpoint_dir(self.run_dir), map_location=self.device)
        if state is None:
            return
        old = OmegaConf.create(state["config"])
        for key in ("sde", "model", "data"):
            a = OmegaConf.to_container(old.get(key), resolve=True)
            b = OmegaConf.to_container(self.cfg.get(key), resolve=True)
            if a != b:
                raise ValueError(f"{self.run_dir} holds checkpoints of a run with a different "
                                 f"'{key}' config ({a} vs {b}); use a new output directory or "
                                 f"train.resume=false")
        self.load_state(state)
        self.resumed_from = path
        log.info("resumed from %s at step %d", path, self.step)

    # ---------------------------------------------------------------- state
    def state_dict(self) -> Dict[str, Any]:
        rng = {"generator": self.generator.get_state(), "torch": torch.get_rng_state(),
               "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []}
        meta = {"format": CHECKPOINT_FORMAT, "data_shape": list(self.data.data_shape),
                "data_kind": self.data.kind, "data_name": self.data.name,
                "value_range": list(self.data.value_range) if self.data.value_range else None,
                "bits": self.data.bits, "world_size": self.dist.world_size,
                "torch": str(torch.__version__)}
        return {"model": self.model.state_dict(), "ema": self.ema.state_dict(),
                "optimizer": self.optimizer.state_dict(), "step": self.step,
                "ema_updates": self.ema.num_updates, "rng": rng,
                "data_position": {"epoch": self.epoch, "index": self.index},
                "tracker_id": self.tracker_id, "config": self._config_yaml(), "meta": meta,
                "loss": float(self.last_loss)}

    def load_state(self, state: Dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.ema.load_state_dict(state["ema"], int(state.get("ema_updates", 0)))
        self.optimizer.load_state_dict(state["optimizer"])
        self.step = int(state["step"])
        self.epoch = int(state["data_position"]["epoch"])
        self.index = int(state["data_position"]["index"])
        self._perm = None
        rng = state["rng"]
        self.generator.set_state(rng["generator"].cpu())
        torch.set_rng_state(rng["torch"].cpu())
        if rng.get("cuda") and torch.cuda.is_available():
            torch.cuda.set_rng_state_all([s.cpu() for s in rng["cuda"]])
        self.tracker_id = str(state.get("tracker_id", "") or "")
        self.last_loss = float(state.get("loss", float("nan")))
        if self.dist.rank > 0:  # the checkpoint holds rank 0's RNG streams: reseed this rank's own
            from .distributed import rank_seed
            s = rank_seed(self.seed * 1_000_003 + self.step, self.dist.rank)
            self.generator.manual_seed(s)
            torch.manual_seed(s + 1)

    def save(self) -> Optional[Path]:
        """Write a checkpoint of the current state (main process only)."""
        if not self.dist.is_main:
            return None
        self.tracker_id = getattr(self.tracker, "run_id", "") or self.tracker_id
        self.last_checkpoint = save_checkpoint(self.state_dict(), checkpoint_dir(self.run_dir),
                                               self.step, keep=int(self.tc.keep_checkpoints))
        return self.last_checkpoint

    # ---------------------------------------------------------------- data
    def _epoch_perm(self, epoch: int) -> torch.Tensor:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        return torch.randperm(self.train_data.shape[0], generator=g)

    def next_batch(self) -> torch.Tensor:
        """This process's share (B / W samples) of the next global batch of B = train.batch_size
        samples; the union over ranks is the single-process batch. Advances the data position."""
        B, w = int(self.tc.batch_size), self.dist.world_size
        b = B // w
        n = self.train_data.shape[0]
        if self.index + B > n:  # drop the incomplete tail; next epoch
            self.epoch, self.index, self._perm = self.epoch + 1, 0, None
        if self._perm is None:
            self._perm = self._epoch_perm(self.epoch)
        start = self.index + self.dist.rank * b
        idx = self._perm[start:start + b]
        self.index += B
        return self.train_data[idx].to(self.device, non_blocking=True)

    # ---------------------------------------------------------------- loop
    def lr_at(self, step: int) -> float:
        warm = int(self.tc.warmup_steps)
        return float(self.tc.lr) * (min(1.0, (step + 1) / warm) if warm > 0 else 1.0)

    def train_step(self) -> torch.Tensor:
        """One optimiser step; raises NonFiniteLossError before updating on NaN/inf."""
        self.model.train()
        x0 = self.next_batch()
        with torch.autocast(device_type=self.device.type, dtype=torch.bfloat16, enabled=self.amp):
            per_sample = self.loss_fn(self.train_model, x0, generator=self.generator)
        loss = per_sample.float().mean()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        clip = self.tc.grad_clip
        gnorm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), float(clip)) \
            if clip is not None and float(clip) > 0 else None
        ok = torch.isfinite(loss) if gnorm is None else torch.isfinite(loss) & torch.isfinite(gnorm)
        if not bool(ok):
            what = f"loss={float(loss.detach())}" + ("" if gnorm is None else f", grad norm={float(gnorm)}")
            raise NonFiniteLossError(
                f"non-finite training signal at step {self.step + 1} ({what}, lr={self.lr_at(self.step):g}). "
                f"The update was not applied and no checkpoint was written after the last good one "
                f"({self.last_checkpoint or 'none yet'}). Try a lower train.lr, a train.grad_clip, "
                f"a longer train.warmup_steps, or check the data for extreme values.")
        lr = self.lr_at(self.step)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.optimizer.step()
        self.ema.update(self.model)
        self.step += 1
        return loss.detach()  # a tensor: converting it every step would sync with the device

    def _install_signals(self):
        if threading.current_thread() is not threading.main_thread():
            return {}

        def handler(signum, frame):
            if self._stop_signal is not None:  # second signal: stop now
                raise KeyboardInterrupt
            self._stop_signal = signum
            log.warning("received signal %d: saving a checkpoint and stopping", signum)

        return {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}

    def fit(self) -> TrainResult:
        """Train to ``train.steps``; checkpoints every ``checkpoint_every`` steps and at the end;
        periodic samples every ``sample_every``; final samples and metrics at the end."""
        from tqdm.auto import tqdm
        total = int(self.tc.steps)
        old_handlers = self._install_signals()
        self._stop_signal = None
        exit_code, status = 1, "failed"
        bar = tqdm(total=total, initial=self.step, disable=not (self.dist.is_main and
                   _progress_enabled(self.tc.progress)), desc="train", dynamic_ncols=True)
        t0, s0 = time.perf_counter(), self.step
        try:
            while self.step < total and self._stop_signal is None:
                loss = self.train_step()
                bar.update(1)
                if self.step % int(self.tc.log_every) == 0 or self.step == total:
                    if self.dist.world_size > 1:  # log the global-batch mean (all ranks call)
                        from .distributed import all_reduce_mean
                        loss = all_reduce_mean(loss, self.dist)
                    self.last_loss = float(loss)
                    rate = (self.step - s0) / max(time.perf_counter() - t0, 1e-9)
                    bar.set_postfix(loss=f"{self.last_loss:.4f}", lr=f"{self.lr_at(self.step - 1):.2e}")
                    self.tracker.log({"train/loss": self.last_loss,
                                      "train/lr": self.lr_at(self.step - 1),
                                      "train/steps_per_s": rate,
                                      "train/samples_per_s": rate * int(self.tc.batch_size)},
                                     step=self.step)
                    if bar.disable and self.dist.is_main:
                        log.info("step %d/%d loss %.4f lr %.2e (%.1f steps/s)", self.step, total,
                                 self.last_loss, self.lr_at(self.step - 1), rate)
                for fn in self.on_step:
                    fn(self)
                if self.step % int(self.tc.checkpoint_every) == 0 and self.step < total:
                    self.save()
                every = int(self.tc.sample_every)
                if every > 0 and self.step % every == 0 and self.step < total:
                    self.sample_and_plot(int(self.tc.n_samples), tag=f"step_{self.step:08d}")
            bar.close()
            if self.step > 0 and (self.last_checkpoint is None or
                                  not self.last_checkpoint.name.endswith(f"{self.step:08d}.pt")):
                self.save()
            if self._stop_signal is not None:
                status, exit_code = "interrupted", 128 + int(self._stop_signal)
                metrics: Dict[str, float] = {}
                log.warning("stopped by signal %d at step %d; checkpoint %s", self._stop_signal,
                            self.step, self.last_checkpoint)
            else:
                metrics = self.final_evaluation()
                status, exit_code = "completed", 0
            return TrainResult(status, self.step, self.run_dir, self.last_checkpoint,
                               float(self.last_loss), self._stop_signal, metrics)
        finally:
            bar.close()
            for s, h in old_handlers.items():
                signal.signal(s, h)
            self.tracker.finish(exit_code=exit_code)

    # ---------------------------------------------------------------- sampling and evaluation
    @torch.no_grad()
    def generate(self, n: int, use_ema: bool = True, seed: Optional[int] = None,
                 return_trajectory: bool = False, steps: Optional[int] = None):
        """Samples from the model (EMA weights by default): (x on CPU, SampleInfo, trajectory)."""
        seed = self.seed if seed is None else seed
        args = dict(n=n, data_shape=self.data.data_shape, sampler_cfg=self.cfg.get("sampler"),
                    seed=seed, steps=steps, return_trajectory=return_trajectory, device=self.device)
        if use_ema:
            with self.ema.swapped(self.model):
                return generate_samples(self.model, **args)
        return generate_samples(self.model, **args)

    def sample_and_plot(self, n: int, tag: str) -> Tuple[torch.Tensor, Optional[Path]]:
        """Draw n EMA samples, save a scatter plot / image grid under samples/, log it."""
        if not self.dist.is_main:
            return torch.empty(0), None
        from .plots import save_image_grid, save_points
        rng_state = torch.get_rng_state()  # sampling must not perturb the training RNG stream
        try:
            x, info, _ = self.generate(n)
        finally:
            torch.set_rng_state(rng_state)
        path = self.run_dir / "samples" / f"{tag}.png"
        if self.data.kind == "images":
            save_image_grid(self.data.to_unit(x[:256]), path)
        else:
            save_points(x, path, reference=self.data.test,
                        title=f"{self.data.name}, step {self.step} ({info.sampler}, {info.nfe} NFE)")
        self.tracker.log_image("samples", str(path), step=self.step)
        return x, path

    def final_evaluation(self) -> Dict[str, float]:
        """Final sample picture and metrics (points: sliced Wasserstein vs its floor), written to
        ``metrics.json`` and the tracker."""
        if not self.dist.is_main:
            return {}
        n = int(self.tc.eval_samples) if self.data.kind == "points" else int(self.tc.n_samples)
        if n <= 0:
            return {}
        t0 = time.perf_counter()
        x, path = self.sample_and_plot(n, tag="final")
        metrics: Dict[str, float] = {"step": float(self.step), "sample_seconds": time.perf_counter() - t0}
        if self.data.kind == "points":
            metrics.update(sliced_wasserstein_report(x, self.data, n=n, seed=self.seed))
            log.info("sliced Wasserstein %.4f vs true-vs-true floor %.4f: ratio %.2f (n=%d)",
                     metrics["sw"], metrics["sw_floor"], metrics["sw_ratio"], int(metrics["sw_n"]))
        torch.save(x, self.run_dir / "samples" / "final.pt")
        (self.run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
        self.tracker.summary({f"final/{k}": v for k, v in metrics.items()})
        self.tracker.log({f"final/{k}": v for k, v in metrics.items()}, step=self.step)
        return metrics


def _build_loss(cfg_loss) -> DSMLoss:
    c = OmegaConf.to_container(cfg_loss, resolve=True) if isinstance(cfg_loss, DictConfig) else dict(cfg_loss or {})
    accepted = inspect.signature(DSMLoss.__init__).parameters
    defaults = {"sigma_data": None, "p_mean": -1.2, "p_std": 1.2}
    unknown = [k for k, v in c.items() if k not in accepted and v != defaults.get(k, object())]
    if unknown:
        raise ValueError(f"train.loss options {unknown} are not supported by DSMLoss; valid: "
                         f"{[p for p in accepted if p != 'self']}")
    return DSMLoss(**{k: v for k, v in c.items() if k in accepted})


class _unlocked:
    """Temporarily lift OmegaConf's struct/readonly flags to record a derived value."""

    def __init__(self, cfg: DictConfig):
        self.cfg = cfg

    def __enter__(self):
        self.struct, self.ro = OmegaConf.is_struct(self.cfg), OmegaConf.is_readonly(self.cfg)
        OmegaConf.set_struct(self.cfg, False)
        OmegaConf.set_readonly(self.cfg, False)

    def __exit__(self, *exc):
        OmegaConf.set_struct(self.cfg, self.struct)
        OmegaConf.set_readonly(self.cfg, self.ro)
        return False
