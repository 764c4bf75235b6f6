"""Class-conditional sampling for the scripts: labels and classifier-free guidance, checked
before the first network evaluation.

    s_w(x, t | c) = (1 + w) s(x, t | c) - w s(x, t)      w = 0: conditional, w = -1: unconditional

``label=all`` draws ``n`` samples of every class, one row per class (labels c = 0..C-1 in order).
NFE is reported as network evaluations per sample path (2 per guided score, batched in one call).
"""
from __future__ import annotations

import math
from typing import Any, Mapping, Optional, Sequence, Tuple, Union

import torch

from .. import conditional as cond
from ..training.sampling import generate_samples

__all__ = ["num_classes_of", "parse_labels", "check_guidance", "sample_labels"]

Label = Union[int, str, None]


def num_classes_of(model: Any) -> int:
    """Classes of a class-conditional model (its net's ``num_classes``); 0 = unconditional."""
    n = getattr(model, "num_classes", None)
    if n is None:
        n = getattr(getattr(model, "net", None), "num_classes", 0)
    return int(n or 0)


def parse_labels(label: Label, num_classes: int, n: int) -> Optional[torch.Tensor]:
    """The (N,) labels of a request: None -> None (unconditional); an int c -> n times c;
    "all" -> each class 0..C-1 n times, in order (C * n rows). Errors name the value."""
    if label is None:
        return None
    if isinstance(label, bool) or not isinstance(label, (int, str)) or \
            (isinstance(label, str) and label != "all"):
        raise TypeError(f"label must be a class index or 'all', got {label!r}")
    if num_classes <= 0:
        raise ValueError(f"label={label!r} needs a class-conditional model (num_classes > 0); "
                         f"this model is unconditional")
    if label == "all":
        return torch.arange(num_classes).repeat_interleave(n)
    if not 0 <= label < num_classes:
        raise ValueError(f"label={label} is outside the classes 0..{num_classes - 1} of this model")
    return torch.full((n,), int(label), dtype=torch.long)


def check_guidance(guidance: Any, num_classes: int, label: Label) -> Optional[float]:
    """The guidance scale w (finite), or None; refused on an unconditional model or without a label."""
    if guidance is None:
        return None
    if isinstance(guidance, bool) or not isinstance(guidance, (int, float)) or not math.isfinite(guidance):
        raise ValueError(f"guidance must be a finite number (w; 0 = conditional), got {guidance!r}")
    if num_classes <= 0:
        raise ValueError(f"guidance={guidance!r} needs a class-conditional model (num_classes > 0); "
                         f"this model is unconditional")
    if label is None:
        raise ValueError(f"guidance={guidance!r} needs a class: give label=<0..{num_classes - 1}> "
                         f"or label=all")
    return float(guidance)


def sample_labels(model, labels: torch.Tensor, data_shape: Sequence[int],
                  sampler: Optional[Mapping[str, Any]] = None, guidance: Optional[float] = None,
                  seed: int = 0, steps: Optional[int] = None, batch_size: int = 4096,
                  progress: Optional[bool] = None) -> Tuple[torch.Tensor, Any, int]:
    """Samples of the given classes (labels (N,)) with guidance w (None or 0: conditional).

    ``model`` is a class-conditional score ``model(x, t, y)`` with ``model.sde`` and
    ``num_classes`` (a ScoreModel, or an exact mixture score). Returns (x (N, *shape), the
    last SampleInfo, network evaluations per sample path)."""
    labels = torch.as_tensor(labels)
    w = 0.0 if guidance is None else float(guidance)
    cond.cfg_score(model, labels, w)  # checks the model, every label and w before sampling
    made = []

    def fns(start: int, m: int):
        made.append(cond.cfg_score(model, labels[start:start + m], w))
        return made[-1], None
    x, info, _ = generate_samples(model, labels.shape[0], data_shape, sampler, seed, steps,
                                  batch_size, progress=progress, batch_fns=fns)
    return x, info, made[0].nfe
