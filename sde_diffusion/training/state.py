"""The Trainer's state: what a checkpoint holds, writing it, and resuming from the newest one.

Resuming restores weights, every EMA, optimiser, step, RNG states and the loader position, so
a killed and restarted run ends with the same parameters as an uninterrupted one (CPU, tested).
A run folder whose checkpoints come from another run (seed, data or model differ) is refused
unless ``options.resume_ignore`` accepts the difference.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Dict, Optional

import torch

from ..io.checkpoints import UnsafeCheckpointError, checkpoint_dir, latest_checkpoint, save_checkpoint
from .run_folder import identity_differences, spec_or_none

__all__ = ["TrainerState", "CHECKPOINT_FORMAT"]

log = logging.getLogger(__name__)
CHECKPOINT_FORMAT = 2


class TrainerState:
    """``state_dict`` / ``load_state`` / ``save`` / ``_resume`` of ``Trainer`` (a base class of it;
    reads the trainer's model, EMAs, optimiser, generator, step and data position)."""

    def _resume(self) -> None:
        """Load the newest readable checkpoint of the run folder, if any, after checking that
        it belongs to this run."""
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
