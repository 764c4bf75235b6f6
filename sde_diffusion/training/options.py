"""``TrainOptions``: every setting of the training loop, a plain dataclass validated on creation.

It is also the schema of Hydra's ``train:`` group (``conf/train/default.yaml``), so a misspelt
key fails at compose time and a bad value (``grad_clip=-1``, ``lr=inf``, ``betas=[0.9]``) fails
here, with the name and the valid range, before any data are loaded or any step is taken.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Dict, List, Optional

from ..contract import close_match

__all__ = ["TrainOptions", "LossOptions", "LR_SCHEDULES", "FRESH_START", "RESUME_CHECKS"]

LR_SCHEDULES = ("constant", "cosine", "linear")
FRESH_START = ("refuse", "move")
RESUME_CHECKS = ("seed", "data", "model")


@dataclass
class LossOptions:
    """``losses.make_loss`` options (used when the trainer builds the default loss)."""
    kind: str = "dsm"  # dsm | flow_matching (needs a flow path)
    coupling: str = "independent"  # flow_matching: independent | ot (minibatch OT, pot)
    weighting: str = "sigma2"
    t_sampling: str = "uniform"
    reduce: str = "mean"
    max_weight: Optional[float] = None
    sigma_data: Optional[float] = None
    p_mean: float = -1.2
    p_std: float = 1.2


def _num(name: str, value: Any, *, integer: bool = False, low: Optional[float] = None,
         low_open: bool = False, high: Optional[float] = None, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    kind = "an integer" if integer else "a number"
    if isinstance(value, bool) or not isinstance(value, (int, float)) or \
            (integer and not float(value).is_integer()):
        raise TypeError(f"train.{name} must be {kind}, got {value!r}")
    if not math.isfinite(float(value)):
        raise ValueError(f"train.{name} must be finite, got {value!r}")
    if low is not None and (value <= low if low_open else value < low):
        raise ValueError(f"train.{name} must be {'>' if low_open else '>='} {low}, got {value!r}")
    if high is not None and value > high:
        raise ValueError(f"train.{name} must be <= {high}, got {value!r}")


#: Largest learning rate accepted (larger ones overflow float32 updates at the first step).
MAX_LR = 100.0


def _check_available(device: str) -> None:
    """``train.device`` names a backend this machine has (checked before any work)."""
    import torch
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"train.device={device!r} but CUDA is not available on this machine; "
                         f"valid here: 'auto', 'cpu'")
    mps = getattr(torch.backends, "mps", None)
    if device == "mps" and not (mps is not None and mps.is_available()):
        raise ValueError("train.device='mps' but MPS (Apple GPU) is not available on this machine; "
                         "valid here: 'auto', 'cpu'" + (", 'cuda'" if torch.cuda.is_available() else ""))


def _choice(name: str, value: Any, choices) -> None:
    if value not in choices:
        raise ValueError(f"train.{name}={value!r} is not valid; valid choices: {list(choices)}"
                         f"{close_match(value, choices)}")


@dataclass
class TrainOptions:
    """Options of ``Trainer`` (defaults of ``conf/train/default.yaml``).

    Optimisation: ``lr``, ``betas``, ``weight_decay`` build the default AdamW when no optimiser
    factory is given; ``lr_schedule`` multiplies the optimiser's learning rate by
    ``min(1, (k + 1) / warmup_steps)`` during warm-up and then by 1 (constant),
    ``min_lr_ratio + (1 - min_lr_ratio) (1 + cos(pi u)) / 2`` (cosine) or
    ``1 - (1 - min_lr_ratio) u`` (linear), u = progress after warm-up in [0, 1].
    ``accumulate`` micro-batches are averaged per optimiser step; ``steps`` counts optimiser steps.
    ``ema_decay`` is the primary EMA (sampling, evaluation); ``ema_extra`` more decays kept too.

    Class-conditional training (``conditional``): the data's labels go to the loss as ``y``;
    ``label_dropout`` = p replaces each by the null label ``model.num_classes`` with
    probability p (one network learns the conditional and the unconditional score, for
    classifier-free guidance); the losses never see p.

    Safety: ``max_weight_abs`` refuses to write a checkpoint whose weights exceed it in magnitude
    (a diverged run); ``fresh_start`` says what ``resume=false`` does in a folder with
    checkpoints ("refuse" or "move" them aside); ``resume_ignore`` lists the identity checks
    (seed, data, model) a resume may skip.
    """
    steps: int = 10_000
    batch_size: int = 256
    lr: float = 2e-4
    weight_decay: float = 0.0
    betas: List[float] = field(default_factory=lambda: [0.9, 0.999])
    warmup_steps: int = 500
    lr_schedule: str = "constant"
    min_lr_ratio: float = 0.0
    accumulate: int = 1
    grad_clip: Optional[float] = 1.0
    ema_decay: float = 0.999
    ema_extra: List[float] = field(default_factory=list)
    loss: LossOptions = field(default_factory=LossOptions)
    conditional: bool = False
    label_dropout: float = 0.0
    seed: Optional[int] = None
    device: str = "auto"
    amp: bool = True
    compile: bool = False
    deterministic: bool = False
    num_threads: int = 0
    num_workers: int = 0
    log_every: int = 100
    sample_every: int = 0
    checkpoint_every: int = 1000
    keep_checkpoints: int = 3
    n_samples: int = 64
    eval_samples: int = 2000
    eval_sampler: Optional[str] = None
    eval_steps: Optional[int] = None
    eval_fd: bool = True
    resume: bool = True
    fresh_start: str = "refuse"
    resume_ignore: List[str] = field(default_factory=list)
    max_weight_abs: Optional[float] = 1e6
    progress: Optional[bool] = None

    def __post_init__(self):
        if isinstance(self.loss, dict):
            self.loss = LossOptions(**self.loss)
        self.validate()

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "TrainOptions":
        """Build from a plain dict; unknown keys raise ``ValueError`` naming them."""
        if not isinstance(d, dict):
            raise TypeError(f"train options must be a dict, got {type(d).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown train option(s) {unknown}; valid: {sorted(known)}")
        return cls(**d)

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)

    def validate(self) -> None:
        """Raise ``ValueError``/``TypeError`` naming the first bad option."""
        for name in ("steps", "batch_size", "accumulate", "log_every", "checkpoint_every",
                     "keep_checkpoints"):
            _num(name, getattr(self, name), integer=True, low=1)
        for name in ("warmup_steps", "sample_every", "n_samples", "eval_samples", "num_threads",
                     "num_workers"):
            _num(name, getattr(self, name), integer=True, low=0)
        _num("lr", self.lr, low=0, low_open=True, high=MAX_LR)
        _num("weight_decay", self.weight_decay, low=0)
        if not isinstance(self.betas, (list, tuple)) or len(self.betas) != 2:
            raise ValueError(f"train.betas must be two numbers [beta1, beta2] in [0, 1), got "
                             f"{self.betas!r}")
        for i, b in enumerate(self.betas):
            _num(f"betas[{i}]", b, low=0)
            if not b < 1:
                raise ValueError(f"train.betas[{i}] must be < 1, got {b!r}")
        _choice("lr_schedule", self.lr_schedule, LR_SCHEDULES)
        _num("min_lr_ratio", self.min_lr_ratio, low=0, high=1)
        _num("grad_clip", self.grad_clip, low=0, low_open=True, allow_none=True)
        _num("ema_decay", self.ema_decay, low=0)
        if not isinstance(self.ema_extra, (list, tuple)):
            raise TypeError(f"train.ema_extra must be a list of decays, got {self.ema_extra!r}")
        for d in [self.ema_decay, *self.ema_extra]:
            _num("ema decay", d, low=0)
            if not d < 1:
                raise ValueError(f"train EMA decay must lie in [0, 1), got {d!r}")
        if len(set(map(float, [self.ema_decay, *self.ema_extra]))) != 1 + len(self.ema_extra):
            raise ValueError(f"train.ema_extra {list(self.ema_extra)} repeats a decay "
                             f"(primary ema_decay={self.ema_decay})")
        _num("seed", self.seed, integer=True, low=0, allow_none=True)
        if not isinstance(self.device, str) or not (self.device in ("auto", "cpu", "cuda", "mps")
                                                    or self.device.startswith("cuda:")):
            raise ValueError(f"train.device={self.device!r} is not valid; valid choices: 'auto', "
                             f"'cpu', 'cuda', 'cuda:N', 'mps'")
        _check_available(self.device)
        for name in ("amp", "compile", "deterministic", "resume", "conditional", "eval_fd"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"train.{name} must be true or false, got {getattr(self, name)!r}")
        if self.progress is not None and not isinstance(self.progress, bool):
            raise TypeError(f"train.progress must be true, false or null, got {self.progress!r}")
        if self.eval_sampler is not None:
            from ..solvers import SAMPLERS
            _choice("eval_sampler", self.eval_sampler, sorted(SAMPLERS))
        _num("eval_steps", self.eval_steps, integer=True, low=1, allow_none=True)
        _choice("fresh_start", self.fresh_start, FRESH_START)
        if not isinstance(self.resume_ignore, (list, tuple)):
            raise TypeError(f"train.resume_ignore must be a list, got {self.resume_ignore!r}")
        for k in self.resume_ignore:
            _choice("resume_ignore", k, RESUME_CHECKS)
        _num("max_weight_abs", self.max_weight_abs, low=0, low_open=True, allow_none=True)
        _choice("loss.kind", self.loss.kind, ("dsm", "flow_matching"))
        _choice("loss.coupling", self.loss.coupling, ("independent", "ot"))
        _num("label_dropout", self.label_dropout, low=0, high=1)
        if self.label_dropout > 0 and not self.conditional:
            raise ValueError(f"train.label_dropout={self.label_dropout!r} needs "
                             f"train.conditional=true (labels to drop)")
        if self.warmup_steps > self.steps and self.lr_schedule != "constant":
            raise ValueError(f"train.warmup_steps={self.warmup_steps} exceeds train.steps="
                             f"{self.steps}: the {self.lr_schedule} decay would never start")
