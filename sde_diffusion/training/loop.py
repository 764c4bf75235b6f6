"""The training loop over objects: a ScoreModel, a per-sample loss, an optimiser factory, a
data loader, ``TrainOptions``; checkpointing, signals, plots and evaluation are callbacks.

One optimiser step (A = ``accumulate`` micro-batches of the loader's batch B):

    L   = (1/A) sum_a mean_i loss(model, x0_a)_i     (t and noise from the trainer's generator)
    lr  = base_lr * f(step)                           (``schedule.lr_factor``: warm-up, then decay)
    clip |grad| to grad_clip;  optimiser step;  ema_d <- d ema_d + (1 - d) theta  for every decay

Class-conditional (``options.conditional``): each label goes to the loss as given, or with
probability ``options.label_dropout`` as the null label ``model.num_classes`` (drawn from the
trainer's generator before the loss draws t and noise).

A model built with ``data_std=None`` gets sigma_data = ``training_data_std`` of the data
given here (set before the model's spec is recorded, so checkpoints hold the number).

Resuming restores weights, every EMA, optimiser, step, RNG states and the loader position, so
a killed and restarted run ends with the same parameters as an uninterrupted one (CPU, tested).
"""
from __future__ import annotations

import inspect
import logging
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np
import torch

from ..data import DataBundle, as_training_data, data_identity, make_loader, training_data_std
from ..data.datasets import ResumableBatchSampler
from .callbacks import (Callback, Checkpointing, FinalEvaluation, FunctionCallback, SamplePlots,
                        SignalHandling)
from ..io.checkpoints import (UnsafeCheckpointError, checkpoint_dir, latest_checkpoint,
                         save_checkpoint)
from .ema import EMA
from ..progress import progress
from ..threads import use_thread_plan
from .options import MAX_LR, TrainOptions
from .runtime import NonFiniteLossError, TrainResult, dist_info, seed_everything
from .run_folder import identity_differences, prepare_run_dir, spec_or_none
from .sampling import check_sampler, generate_samples, sampler_arguments
from .schedule import make_lr_schedule

__all__ = ["Trainer", "CHECKPOINT_FORMAT"]

log = logging.getLogger(__name__)
progress_log = logging.getLogger("sde_diffusion.training.progress")  # loss lines
CHECKPOINT_FORMAT = 2


def _check_arguments(loss, optimizer, run_dir, lr_schedule, tracker, callbacks) -> None:
    """Types of the Trainer's arguments, before anything is built (one line naming the bad one)."""
    from ..tracking import Tracker
    if loss is not None and not callable(loss):
        raise TypeError(f"loss must be callable loss(model, x0, ...) -> (N,), got {loss!r}")
    if optimizer is not None and not callable(optimizer):
        raise TypeError(f"optimizer must be a factory params -> Optimizer (e.g. "
                        f"partial(torch.optim.AdamW, lr=1e-3)), got {optimizer!r}")
    if isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError("optimizer must be a factory params -> Optimizer, not an Optimizer "
                        "instance: pass partial(torch.optim.AdamW, lr=...)")
    if not isinstance(run_dir, (str, Path)) or not str(run_dir).strip():
        raise ValueError(f"run_dir must name a folder for checkpoints and samples, got {run_dir!r}")
    if lr_schedule is not None and not callable(lr_schedule):
        raise TypeError(f"lr_schedule must be a function step -> factor, got {lr_schedule!r}")
    if tracker is not None and not (isinstance(tracker, Tracker) or callable(tracker)):
        raise TypeError(f"tracker must be a tracking.Tracker or a factory run_id -> Tracker, "
                        f"got {tracker!r}")
    if isinstance(callbacks, (str, bytes)) or not hasattr(callbacks, "__iter__"):
        raise TypeError(f"callbacks must be a list of Callbacks or functions fn(trainer), got "
                        f"{callbacks!r}")
    for i, c in enumerate(callbacks):
        if not (isinstance(c, Callback) or callable(c)):
            raise TypeError(f"callbacks[{i}] must be a Callback or a function fn(trainer), got {c!r}")


class Trainer:
    """Train a ScoreModel.

    Args:
        model: the ``ScoreModel`` (its ``sde`` defines the loss' kernel); ``data_std=None`` is
            set here from ``data`` (``training_data_std``).
        loss: ``loss(model, x0, generator=g[, y=labels]) -> (N,)`` per-sample losses; default
            ``losses.make_loss(**options.loss)``. Labels are passed only with ``options.conditional``,
            after label dropout (``options.label_dropout``).
        optimizer: a factory ``params -> Optimizer`` (``partial(torch.optim.AdamW, lr=...)``);
            default AdamW(lr, betas, weight_decay) from the options.
        data: a ``DataLoader`` (best: ``data.make_loader``, which resumes exactly), a Dataset
            or a ``DataBundle`` (wrapped with ``make_loader(options.batch_size)``).
        options: ``TrainOptions``. run_dir: the run folder (checkpoints/, samples/, metrics.json).
        lr_schedule: ``step -> factor`` on the base learning rate; default from the options.
        tracker: a ``tracking.Tracker``, or a factory ``run_id -> Tracker`` called after resuming
            (so a resumed run continues the same tracker run); default none.
        callbacks: extra ``Callback``s or functions ``fn(trainer)`` run after every step.
        sampler: ``{"name", "steps", ...options}`` for plots and the final evaluation.
        reference: a ``DataBundle`` for the final metrics (default: ``data`` if it is one).
        run_config: the full config of the run (plain dict), stored in checkpoints.
    Every validation error is raised here, before any step.
    """

    def __init__(self, model, loss=None, optimizer: Optional[Callable] = None, data=None, *,
                 options: Optional[TrainOptions] = None, run_dir, lr_schedule=None, tracker=None,
                 callbacks: Sequence = (), sampler: Optional[Dict[str, Any]] = None,
                 reference: Optional[DataBundle] = None, run_config: Optional[dict] = None):
        from ..models import ScoreModel
        if not isinstance(model, ScoreModel):
            raise TypeError(f"model must be a ScoreModel, got {type(model).__name__}")
        self.options = o = options if options is not None else TrainOptions()
        if not isinstance(o, TrainOptions):
            raise TypeError(f"options must be TrainOptions, got {type(o).__name__}")
        o.validate()
        _check_arguments(loss, optimizer, run_dir, lr_schedule, tracker, callbacks)
        use_thread_plan(o.num_threads or None)  # the process's plan (a script's, or decided here)
        self.run_dir = Path(run_dir)
        self.dist = dist_info(o.device)
        self.device = torch.device(self.dist.device)
        self.seed = int(o.seed or 0)
        seed_everything(self.seed + self.dist.rank, o.deterministic)
        name, steps, opts = sampler_arguments(sampler, o.eval_steps)
        name = o.eval_sampler or name
        check_sampler(name, steps)
        self.sampler = {"name": name, "steps": steps, **opts}
        # data: a tensor, TensorDataset, Dataset, DataLoader or DataBundle
        if data is None:
            raise ValueError("Trainer needs data: a tensor (N, *shape), a TensorDataset, a Dataset, "
                             "a DataLoader or a DataBundle")
        own_info = getattr(getattr(data, "dataset", data), "info", None) is not None
        data, info, bundle = as_training_data(data)
        reference = reference if reference is not None else bundle
        if not own_info and bundle is None and reference is not None:
            info = reference.info
        if not isinstance(data, torch.utils.data.DataLoader):
            data = make_loader(data, o.batch_size, self.seed, o.num_workers, self.device,
                               self.dist.rank, self.dist.world_size)
        self.loader, self.reference, self.data_info = data, reference, info
        self.batch_sampler = data.batch_sampler if isinstance(data.batch_sampler, ResumableBatchSampler) else None
        log.info("training data: %s, %d samples of shape %s (%s)", info.name,
                 len(data.dataset), tuple(info.data_shape), info.kind)
        self.identity = {"seed": self.seed, "data": data_identity(data.dataset)}
        # model, loss, optimiser
        if not model.data_std_resolved:
            model.set_data_std(training_data_std(bundle if bundle is not None else data.dataset))
            log.info("data_std (sigma_data) from the training data: %g", model.data_std)
        self.model = model.to(self.device)
        # the data are cast to the model's floating dtype at every batch (float64 data, float32 net)
        self.data_dtype = next((p.dtype for p in self.model.parameters() if p.is_floating_point()),
                               torch.get_default_dtype())
        self.identity["model"] = spec_or_none(self.model)
        if loss is None:
            from ..losses import make_loss
            loss = make_loss(**asdict(o.loss))
        self.loss_fn = loss
        params = inspect.signature(loss.__call__ if not inspect.isfunction(loss) else loss).parameters
        self._loss_takes_generator = "generator" in params or any(
            p.kind == p.VAR_KEYWORD for p in params.values())
        if o.conditional and self.data_info.num_classes is None:
            raise ValueError(f"train.conditional=true but data {self.data_info.name!r} has no labels")
        if o.label_dropout > 0 and model.num_classes == 0:
            raise ValueError(f"train.label_dropout={o.label_dropout!r} needs a class-conditional "
                             f"network (num_classes > 0, whose index is the null label); "
                             f"{type(model.net).__name__} has none")
        if o.conditional and not ("y" in params or any(p.kind == p.VAR_KEYWORD for p in params.values())):
            raise TypeError("train.conditional=true but the loss takes no `y` (labels) argument")
        self.train_model = self._training_view()
        factory = optimizer or (lambda p: torch.optim.AdamW(p, lr=o.lr, betas=tuple(o.betas),
                                                            weight_decay=o.weight_decay))
        self.optimizer = factory(self.model.parameters())
        self.base_lrs = [float(g["lr"]) for g in self.optimizer.param_groups]
        for lr in self.base_lrs:
            if not (np.isfinite(lr) and 0 < lr <= MAX_LR):
                raise ValueError(f"the optimiser's learning rate must lie in (0, {MAX_LR:g}], got {lr!r}")
        self.lr_schedule = lr_schedule or make_lr_schedule(o)
        self.emas = {float(d): EMA(self.model, float(d)) for d in [o.ema_decay, *o.ema_extra]}
        self.ema = self.emas[float(o.ema_decay)]
        self.amp = o.amp and self.device.type == "cuda"
        self.generator = torch.Generator().manual_seed(self.seed * 7919 + 1 + self.dist.rank)
        self.step, self.epoch, self.batch_index = 0, 0, 0
        self._iter = None
        self.last_loss, self.tracker_id = float("nan"), ""
        self.last_checkpoint: Optional[Path] = None
        self.stop_signal: Optional[int] = None
        self.phase = "train"
        self.run_config = run_config
        self.callbacks: List[Callback] = [SignalHandling(), Checkpointing(), SamplePlots(),
                                          FinalEvaluation()]
        self.callbacks += [c if isinstance(c, Callback) else FunctionCallback(c) for c in callbacks]
        self.resumed_from: Optional[Path] = None
        if prepare_run_dir(self.run_dir, o, self.dist.is_main):
            self._resume()
        self.tracker = self._make_tracker(tracker)

    # ---------------------------------------------------------------- setup
    def _training_view(self):
        """A ScoreModel sharing the parameters whose net is DDP-wrapped and/or compiled."""
        net = self.model.net
        if self.dist.world_size > 1:
            from .distributed import wrap_model
            net = wrap_model(net, self.dist)
        if self.options.compile:
            net = torch.compile(net)
        if net is self.model.net:
            return self.model
        import copy
        view = copy.copy(self.model)
        view._modules = dict(self.model._modules)
        view._modules["net"] = net
        return view

    def _make_tracker(self, tracker):
        from ..tracking import NullTracker, Tracker
        if tracker is None:
            return NullTracker()
        if isinstance(tracker, Tracker) or not callable(tracker):
            return tracker
        return tracker(run_id=self.tracker_id or None)

    def _resume(self) -> None:
        path, state = latest_checkpoint(checkpoint_dir(self.run_dir), map_location=self.device)
        if state is None:
            return
        meta = state["meta"]
        old = {"seed": meta.get("seed"), "data": meta.get("data"),
               "model": state.get("model_spec") or meta.get("model_spec")}
        old_std = old["model"].get("data_std") if isinstance(old["model"], dict) else None
        if "data" in self.options.resume_ignore and self.model.data_std_from_data and \
                old_std is not None and old_std != self.model.data_std:
            self.model.set_data_std(old_std)  # other data accepted: keep the trained sigma_data
            self.identity["model"] = spec_or_none(self.model)
        diffs = identity_differences(old, self.identity, self.options.resume_ignore)
        if diffs:
            raise ValueError(f"{self.run_dir} holds checkpoints of a different run ({'; '.join(diffs)}); "
                             f"use another output folder, train.resume=false with "
                             f"train.fresh_start=move, or train.resume_ignore=[...] to accept it")
        self.load_state(state)
        self.resumed_from = path
        log.info("resumed from %s at step %d", path, self.step)

    # ---------------------------------------------------------------- state
    def state_dict(self) -> Dict[str, Any]:
        """Everything a resume needs. ``config``: the run's config (the script's resolved one, or
        options + sampler) holding the model spec as ``config["model_spec"]``, also stored as
        ``model_spec`` and ``meta["model_spec"]`` (what ``load_model`` rebuilds from)."""
        spec = self.identity["model"]
        smp = {k: v for k, v in self.sampler.items() if k not in ("name", "steps")}
        config = dict(self.run_config or {"train": self.options.to_dict(), "seed": self.seed},
                      sampler={"name": self.sampler["name"], "steps": self.sampler["steps"],
                               "options": smp},  # the shape of a conf/sampler node
                      model_spec=spec)
        rng = {"generator": self.generator.get_state(), "torch": torch.get_rng_state(),
               "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []}
        info = self.data_info
        meta = {"format": CHECKPOINT_FORMAT, "data_shape": list(info.data_shape),
                "data_kind": info.kind, "data_name": info.name,
                "value_range": list(info.value_range) if info.value_range else None,
                "bits": info.bits, "data": self.identity["data"], "seed": self.seed,
                "ema_decay": float(self.options.ema_decay), "world_size": self.dist.world_size,
                "train_options": self.options.to_dict(), "model_spec": spec,
                "torch": str(torch.__version__)}
        B = self.options.batch_size
        return {"model": self.model.state_dict(), "ema": self.ema.state_dict(),
                "ema_extra": {str(d): e.state_dict() for d, e in self.emas.items() if e is not self.ema},
                "optimizer": self.optimizer.state_dict(), "step": self.step,
                "ema_updates": self.ema.num_updates, "rng": rng,
                "data_position": {"epoch": self.epoch, "index": self.batch_index * B},
                "tracker_id": self.tracker_id, "config": config, "model_spec": spec,
                "meta": meta, "loss": float(self.last_loss)}

    def load_state(self, state: Dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        n = int(state.get("ema_updates", 0))
        self.ema.load_state_dict(state["ema"], n)
        extra = state.get("ema_extra") or {}
        for d, e in self.emas.items():
            if e is not self.ema:
                if str(d) in extra:
                    e.load_state_dict(extra[str(d)], n)
                else:  # a decay added on resume starts from the primary EMA
                    e.load_state_dict(state["ema"], n)
        self.optimizer.load_state_dict(state["optimizer"])
        self.step = int(state["step"])
        self.epoch = int(state["data_position"]["epoch"])
        self.batch_index = int(state["data_position"]["index"]) // self.options.batch_size
        self._iter = None
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
        """Write a checkpoint (main process only) if the state is finite and bounded, else
        raise ``UnsafeCheckpointError`` naming the tensor and the last good checkpoint."""
        if not self.dist.is_main:
            return None
        self.tracker_id = getattr(self.tracker, "run_id", "") or self.tracker_id
        try:
            self.last_checkpoint = save_checkpoint(
                self.state_dict(), checkpoint_dir(self.run_dir), self.step,
                keep=self.options.keep_checkpoints, max_weight_abs=self.options.max_weight_abs,
                check=True)
        except UnsafeCheckpointError as e:
            raise UnsafeCheckpointError(
                f"not saving step {self.step}: {e}. The last good checkpoint is "
                f"{self.last_checkpoint or 'none'}; lower train.lr or set train.grad_clip") from None
        return self.last_checkpoint

    # ---------------------------------------------------------------- data
    def _next_batch(self):
        if self._iter is None:
            if self.batch_sampler is not None:
                self.batch_sampler.set_position(self.epoch, self.batch_index)
            rng = torch.get_rng_state()  # a new iterator draws a seed from the global RNG,
            self._iter = iter(self.loader)  # which dropout uses too: keep that stream unperturbed
            torch.set_rng_state(rng)
        try:
            batch = next(self._iter)
        except StopIteration:
            self.epoch, self.batch_index, self._iter = self.epoch + 1, 0, None
            if self.batch_sampler is None:
                log.debug("epoch %d", self.epoch)
            return self._next_batch()
        self.batch_index += 1
        if isinstance(batch, (list, tuple)):
            x, y = batch[0], (batch[1] if len(batch) > 1 else None)
        else:
            x, y = batch, None
        x = x.to(self.device, self.data_dtype, non_blocking=True)
        return x, (y.to(self.device, non_blocking=True) if y is not None else None)

    # ---------------------------------------------------------------- loop
    def lr_at(self, step: int) -> float:
        return self.base_lrs[0] * float(self.lr_schedule(step))

    def drop_labels(self, y: torch.Tensor) -> torch.Tensor:
        """Label dropout: each label becomes the null label ``model.num_classes`` with
        probability ``options.label_dropout`` (one uniform per label from the generator)."""
        p = self.options.label_dropout
        if p == 0:
            return y
        u = torch.rand(y.shape[0], generator=self.generator, dtype=torch.float64).to(y.device)
        return torch.where(u < p, torch.full_like(y, self.model.num_classes), y)

    def train_step(self) -> torch.Tensor:
        """One optimiser step; raises NonFiniteLossError before updating on NaN/inf."""
        self.model.train()
        o = self.options
        self.optimizer.zero_grad(set_to_none=True)
        total = torch.zeros((), device=self.device)
        for a in range(o.accumulate):
            x0, y = self._next_batch()
            kw: Dict[str, Any] = {"generator": self.generator} if self._loss_takes_generator else {}
            if o.conditional:
                kw["y"] = self.drop_labels(y)
            with torch.autocast(device_type=self.device.type, dtype=torch.bfloat16, enabled=self.amp):
                per_sample = self.loss_fn(self.train_model, x0, **kw)
            if not torch.is_tensor(per_sample) or per_sample.shape != (x0.shape[0],):
                got = tuple(per_sample.shape) if torch.is_tensor(per_sample) else type(per_sample).__name__
                raise ValueError(f"the loss must return one value per sample, shape ({x0.shape[0]},), "
                                 f"got {got}; return the unreduced loss (the trainer averages it)")
            loss = per_sample.float().mean() / o.accumulate
            loss.backward()
            total = total + loss.detach()
        clip = o.grad_clip
        gnorm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), float(clip)) if clip else None
        ok = torch.isfinite(total) if gnorm is None else torch.isfinite(total) & torch.isfinite(gnorm)
        if not bool(ok):
            what = f"loss={float(total)}" + ("" if gnorm is None else f", grad norm={float(gnorm)}")
            raise NonFiniteLossError(
                f"non-finite training signal at step {self.step + 1} ({what}, lr={self.lr_at(self.step):g}). "
                f"The update was not applied and no checkpoint was written after the last good one "
                f"({self.last_checkpoint or 'none yet'}). Try a lower train.lr, a train.grad_clip, "
                f"a longer train.warmup_steps, or check the data for extreme values.")
        f = float(self.lr_schedule(self.step))
        for group, base in zip(self.optimizer.param_groups, self.base_lrs):
            group["lr"] = base * f
        self.optimizer.step()
        for e in self.emas.values():
            e.update(self.model)
        self.step += 1
        return total

    def _log(self, loss: torch.Tensor, t0: float, s0: int, bar) -> None:
        if self.dist.world_size > 1:
            from .distributed import all_reduce_mean
            loss = all_reduce_mean(loss, self.dist)
        self.last_loss = float(loss)
        rate = (self.step - s0) / max(time.perf_counter() - t0, 1e-9)
        lr = self.lr_at(self.step - 1)
        bar.set_postfix(loss=f"{self.last_loss:.4f}", lr=f"{lr:.2e}")
        self.tracker.log({"train/loss": self.last_loss, "train/lr": lr, "train/steps_per_s": rate,
                          "train/samples_per_s": rate * self.options.batch_size * self.options.accumulate},
                         step=self.step)
        if self.dist.is_main:
            progress_log.info("step %d/%d loss %.4f lr %.2e (%.1f steps/s)", self.step,
                              self.options.steps, self.last_loss, lr, rate)

    def fit(self) -> TrainResult:
        """Train to ``options.steps``, calling the callbacks; returns a ``TrainResult``."""
        o, total = self.options, self.options.steps
        self.stop_signal, exit_code = None, 1
        bar = progress(total, "train", o.progress if self.dist.is_main else False,
                       initial=self.step, unit="step", leave=True)
        try:
            for cb in self.callbacks:
                cb.on_fit_start(self)
            t0, s0 = time.perf_counter(), self.step
            while self.step < total and self.stop_signal is None:
                loss = self.train_step()
                bar.update(1)
                if self.step % o.log_every == 0 or self.step == total:
                    self._log(loss, t0, s0, bar)
                for cb in self.callbacks:
                    cb.on_step_end(self)
            bar.close()
            status = "interrupted" if self.stop_signal is not None else "completed"
            result = TrainResult(status, self.step, self.run_dir, None, float(self.last_loss),
                                 self.stop_signal)
            for cb in self.callbacks:
                cb.on_fit_end(self, result)
            result.checkpoint = self.last_checkpoint
            if result.status == "interrupted":
                log.warning("stopped by signal %s at step %d; checkpoint %s", result.signal,
                            self.step, self.last_checkpoint)
            exit_code = 0 if result.status == "completed" else 128 + int(result.signal or 0)
            return result
        finally:
            bar.close()
            for cb in self.callbacks:
                cb.on_fit_exit(self)
            self.tracker.finish(exit_code=exit_code)

    # ---------------------------------------------------------------- sampling
    @torch.no_grad()
    def generate(self, n: int, use_ema: bool = True, seed: Optional[int] = None,
                 return_trajectory: bool = False, steps: Optional[int] = None):
        """Samples from the model (EMA weights by default): (x on CPU, SampleInfo, trajectory)."""
        args = dict(n=n, data_shape=self.data_info.data_shape, sampler_cfg=self.sampler,
                    seed=self.seed if seed is None else seed, steps=steps,
                    return_trajectory=return_trajectory, device=self.device)
        if use_ema:
            with self.ema.swapped(self.model):
                return generate_samples(self.model, **args)
        return generate_samples(self.model, **args)

    def sample_and_plot(self, n: int, tag: str):
        """Draw n EMA samples, save a plot under samples/<tag>.png, log it: (x, path)."""
        from .callbacks import sample_and_plot
        return sample_and_plot(self, n, tag)
