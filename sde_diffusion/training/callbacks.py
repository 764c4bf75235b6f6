"""Pieces the training loop calls: checkpointing, signal handling, periodic sample plots,
final evaluation. Each is a ``Callback`` with hooks the loop invokes in order:

    on_fit_start(trainer)  ->  [on_step_end(trainer)] * steps  ->  on_fit_end(trainer, result)
    on_fit_exit(trainer)   (always, also after an exception)

A plain function ``fn(trainer)`` passed as a callback runs as ``on_step_end``.
"""
from __future__ import annotations

import json
import logging
import signal
import threading
import time
from pathlib import Path
from typing import Any, Dict

import torch

__all__ = ["Callback", "FunctionCallback", "Checkpointing", "SignalHandling", "SamplePlots",
           "FinalEvaluation", "EvaluationInterrupted", "sample_and_plot"]

log = logging.getLogger(__name__)


class EvaluationInterrupted(Exception):
    """A signal arrived during the final evaluation; it stops at once."""


def sample_and_plot(trainer, n: int, tag: str):
    """Draw n EMA samples, save a scatter plot / image grid under samples/<tag>.png, log it."""
    if not trainer.dist.is_main:
        return torch.empty(0), None
    from .plots import save_data_and_samples, save_points
    rng_state = torch.get_rng_state()  # sampling must not perturb the training RNG stream
    try:
        x, info, _ = trainer.generate(n)
    finally:
        torch.set_rng_state(rng_state)
    path = trainer.run_dir / "samples" / f"{tag}.png"
    if trainer.data_info.kind == "images":
        lo, hi = trainer.data_info.value_range or (0.0, 1.0)
        unit = lambda v: ((v[:64].float() - lo) / (hi - lo)).clamp(0, 1)  # noqa: E731
        ref = getattr(trainer.reference, "test", None)
        save_data_and_samples(unit(x), unit(ref) if ref is not None else None, path,
                              title=f"step {trainer.step}, {info.sampler}, {info.nfe} NFE")
    else:
        save_points(x, path, reference=trainer.reference.test if trainer.reference else None,
                    title=f"{trainer.data_info.name}, step {trainer.step} ({info.sampler}, {info.nfe} NFE)")
    trainer.tracker.log_image("samples", str(path), step=trainer.step)
    return x, path


class Callback:
    """No-op hooks; subclasses override what they need."""

    def on_fit_start(self, trainer) -> None:
        pass

    def on_step_end(self, trainer) -> None:
        pass

    def on_fit_end(self, trainer, result) -> None:
        pass

    def on_fit_exit(self, trainer) -> None:
        pass


class FunctionCallback(Callback):
    def __init__(self, fn):
        self.fn = fn

    def on_step_end(self, trainer) -> None:
        self.fn(trainer)


class Checkpointing(Callback):
    """Save every ``options.checkpoint_every`` steps and once at the end (main process only)."""

    def on_step_end(self, trainer) -> None:
        o = trainer.options
        if trainer.step % o.checkpoint_every == 0 and trainer.step < o.steps:
            trainer.save()

    def on_fit_end(self, trainer, result) -> None:
        last = trainer.last_checkpoint
        if trainer.step > 0 and (last is None or not last.name.endswith(f"{trainer.step:08d}.pt")):
            trainer.save()


class SignalHandling(Callback):
    """SIGINT/SIGTERM: the first stops training after the current step (a checkpoint is
    written) or stops the final evaluation at once; a second exits immediately with
    ``SystemExit(128 + signal)`` (no traceback; a half-written checkpoint is removed)."""

    def __init__(self):
        self.old: Dict[int, Any] = {}

    def on_fit_start(self, trainer) -> None:
        if threading.current_thread() is not threading.main_thread():
            return

        def handler(signum, frame):
            if trainer.stop_signal is not None:
                log.warning("second signal %d: exiting now (last checkpoint %s)", signum,
                            trainer.last_checkpoint)
                raise SystemExit(128 + signum)
            trainer.stop_signal = signum
            if trainer.phase == "eval":
                raise EvaluationInterrupted(f"signal {signum} during the final evaluation")
            log.warning("received signal %d: saving a checkpoint and stopping", signum)

        self.old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}

    def on_fit_exit(self, trainer) -> None:
        for s, h in self.old.items():
            signal.signal(s, h)
        self.old = {}


class SamplePlots(Callback):
    """Every ``options.sample_every`` steps: ``options.n_samples`` EMA samples plotted under
    ``samples/`` and logged (0 = never)."""

    def on_step_end(self, trainer) -> None:
        every = trainer.options.sample_every
        if every > 0 and trainer.step % every == 0 and trainer.step < trainer.options.steps:
            trainer.sample_and_plot(trainer.options.n_samples, tag=f"step_{trainer.step:08d}")


class FinalEvaluation(Callback):
    """At the end: a sample picture; for points the sliced Wasserstein distance against its
    true-vs-true floor; for the digits the Frechet distance in a small classifier's features.
    Written to ``metrics.json`` and the tracker; ``result.metrics`` holds them."""

    def on_fit_end(self, trainer, result) -> None:
        if result.status != "completed" or not trainer.dist.is_main:
            return
        o, info = trainer.options, trainer.data_info
        n = o.eval_samples if info.kind == "points" else o.n_samples
        if n <= 0:
            return
        trainer.phase = "eval"
        try:
            t0 = time.perf_counter()
            x, _ = trainer.sample_and_plot(n, tag="final")
            metrics: Dict[str, float] = {"step": float(trainer.step),
                                         "sample_seconds": time.perf_counter() - t0}
            ref = trainer.reference
            if info.kind == "points" and ref is not None:
                from .sampling import sliced_wasserstein_report
                metrics.update(sliced_wasserstein_report(x, ref, n=n, seed=trainer.seed))
                log.info("sliced Wasserstein %.4f vs true-vs-true floor %.4f +- %.4f (sd of %d draws): "
                         "ratio %.2f, %.1f floor sds above (n=%d)", metrics["sw"], metrics["sw_floor"],
                         metrics["sw_floor_sd"], int(metrics["sw_floor_draws"]), metrics["sw_ratio"],
                         metrics["sw_z"], int(metrics["sw_n"]))
            if info.name == "digits" and o.eval_fd and ref is not None and info.kind == "images":
                from .quality import digits_frechet
                metrics.update(digits_frechet(x, ref, seed=trainer.seed))
                log.info("digits Frechet distance %.2f (train-vs-test floor %.2f)",
                         metrics["digits_fd"], metrics["digits_fd_floor"])
        except EvaluationInterrupted:
            log.warning("final evaluation stopped by signal %s", trainer.stop_signal)
            result.status = "interrupted"
            result.signal = trainer.stop_signal
            return
        finally:
            trainer.phase = "train"
        run_dir = Path(trainer.run_dir)
        torch.save(x, run_dir / "samples" / "final.pt")
        (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
        trainer.tracker.summary({f"final/{k}": v for k, v in metrics.items()})
        trainer.tracker.log({f"final/{k}": v for k, v in metrics.items()}, step=trainer.step)
        result.metrics.update(metrics)
