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

The arguments are checked first (``checks``); checkpoints and resuming are ``state.TrainerState``.
"""
from __future__ import annotations

import logging
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

import torch

from ..data import DataBundle, as_training_data, data_identity, make_loader, training_data_std
from ..data.datasets import ResumableBatchSampler
from ..progress import progress
from ..threads import use_thread_plan
from .callbacks import (Callback, Checkpointing, FinalEvaluation, FunctionCallback, SamplePlots,
                        SignalHandling)
from .checks import check_arguments, check_conditioning, check_learning_rates, loss_arguments
from .distributed import training_view
from .ema import EMA
from .options import TrainOptions
from .run_folder import prepare_run_dir, spec_or_none
from .runtime import NonFiniteLossError, TrainResult, dist_info, seed_everything
from .sampling import check_sampler, generate_samples, sampler_arguments
from .schedule import make_lr_schedule
from .state import TrainerState

__all__ = ["Trainer"]

log = logging.getLogger(__name__)
progress_log = logging.getLogger("sde_diffusion.training.progress")  # loss lines


class Trainer(TrainerState):
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
        self.options = o = check_arguments(model, options, loss, optimizer, data, run_dir,
                                           lr_schedule, tracker, callbacks)
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
        self._loss_takes_generator, takes_labels = loss_arguments(loss)
        check_conditioning(o, self.data_info, model, takes_labels)
        self.train_model = training_view(self.model, self.dist, o.compile)
        factory = optimizer or (lambda p: torch.optim.AdamW(p, lr=o.lr, betas=tuple(o.betas),
                                                            weight_decay=o.weight_decay))
        self.optimizer = factory(self.model.parameters())
        self.base_lrs = [float(g["lr"]) for g in self.optimizer.param_groups]
        check_learning_rates(self.base_lrs)
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
    def _make_tracker(self, tracker):
        from ..tracking import NullTracker, Tracker
        if tracker is None:
            return NullTracker()
        if isinstance(tracker, Tracker) or not callable(tracker):
            return tracker
        return tracker(run_id=self.tracker_id or None)

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
