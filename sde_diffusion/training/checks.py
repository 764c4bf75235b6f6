"""The Trainer's arguments checked where they enter, before anything is built: one line naming
the bad argument (``TypeError`` for a wrong kind, ``ValueError`` for a bad value). The loop and
its callbacks trust what passed.
"""
from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any, Iterable, Tuple

import numpy as np
import torch

from .callbacks import Callback
from .options import MAX_LR, TrainOptions

__all__ = ["check_arguments", "loss_arguments", "check_conditioning", "check_learning_rates"]


def check_arguments(model, options, loss, optimizer, data, run_dir, lr_schedule, tracker,
                    callbacks) -> TrainOptions:
    """The options (default ``TrainOptions()``, validated) once every argument has the right
    kind: a ScoreModel, callables where functions are expected, some data, a run folder."""
    from ..models import ScoreModel
    from ..tracking import Tracker
    if not isinstance(model, ScoreModel):
        raise TypeError(f"model must be a ScoreModel, got {type(model).__name__}")
    o = options if options is not None else TrainOptions()
    if not isinstance(o, TrainOptions):
        raise TypeError(f"options must be TrainOptions, got {type(o).__name__}")
    o.validate()
    if loss is not None and not callable(loss):
        raise TypeError(f"loss must be callable loss(model, x0, ...) -> (N,), got {loss!r}")
    if optimizer is not None and not callable(optimizer):
        raise TypeError(f"optimizer must be a factory params -> Optimizer (e.g. "
                        f"partial(torch.optim.AdamW, lr=1e-3)), got {optimizer!r}")
    if isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError("optimizer must be a factory params -> Optimizer, not an Optimizer "
                        "instance: pass partial(torch.optim.AdamW, lr=...)")
    if data is None:
        raise ValueError("Trainer needs data: a tensor (N, *shape), a TensorDataset, a Dataset, "
                         "a DataLoader or a DataBundle")
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
    return o


def loss_arguments(loss) -> Tuple[bool, bool]:
    """(takes ``generator=``, takes ``y=``) of a loss function or callable object."""
    params = inspect.signature(loss.__call__ if not inspect.isfunction(loss) else loss).parameters
    any_kw = any(p.kind == p.VAR_KEYWORD for p in params.values())
    return "generator" in params or any_kw, "y" in params or any_kw


def check_conditioning(options: TrainOptions, data_info: Any, model, loss_takes_labels: bool) -> None:
    """Class-conditional training needs labelled data and a loss that takes them; label dropout
    needs a network with a null label (``num_classes > 0``)."""
    if options.conditional and data_info.num_classes is None:
        raise ValueError(f"train.conditional=true but data {data_info.name!r} has no labels")
    if options.label_dropout > 0 and model.num_classes == 0:
        raise ValueError(f"train.label_dropout={options.label_dropout!r} needs a class-conditional "
                         f"network (num_classes > 0, whose index is the null label); "
                         f"{type(model.net).__name__} has none")
    if options.conditional and not loss_takes_labels:
        raise TypeError("train.conditional=true but the loss takes no `y` (labels) argument")


def check_learning_rates(base_lrs: Iterable[float]) -> None:
    """Every parameter group's learning rate in (0, ``MAX_LR``]."""
    for lr in base_lrs:
        if not (np.isfinite(lr) and 0 < lr <= MAX_LR):
            raise ValueError(f"the optimiser's learning rate must lie in (0, {MAX_LR:g}], got {lr!r}")
