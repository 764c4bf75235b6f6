"""Guidance wrappers (classifier-free, classifier) and the counting score wrapper; see the
package docstring for the conventions."""
from __future__ import annotations

import math
from typing import Callable, Optional, Tuple, Union

import torch

from .measurement import LinearMeasurement

__all__ = ["GuidedScore", "cfg_score", "classifier_score"]

Label = Union[int, torch.Tensor]


# ---------------------------------------------------------------------- helpers
def _num_classes(model) -> int:
    n = getattr(model, "num_classes", None)
    if n is None and hasattr(model, "net"):
        n = getattr(model.net, "num_classes", None)
    return int(n or 0)


def _labels(label: Label, num_classes: int, what: str) -> Label:
    """Check a class label (int or integer tensor) against 0..num_classes-1 now, not mid-sampling."""
    if isinstance(label, bool):
        raise TypeError(f"label must be an integer class, got {label!r}")
    if torch.is_tensor(label):
        if label.dtype.is_floating_point or label.dtype == torch.bool or label.ndim > 1:
            raise TypeError(f"label must be an int or a 1-D integer tensor, got dtype {label.dtype} "
                            f"shape {tuple(label.shape)}")
        vals = label.reshape(-1).tolist()
    elif isinstance(label, int):
        vals = [label]
    else:
        raise TypeError(f"label must be an int or a 1-D integer tensor, got {type(label).__name__}")
    bad = [v for v in vals if not 0 <= v < num_classes]
    if bad:
        raise ValueError(f"label {bad[0]} is outside the classes 0..{num_classes - 1} of the {what}")
    return label


def _label_batch(label: Label, n: int, device) -> torch.Tensor:
    if torch.is_tensor(label) and label.ndim == 1:
        if label.shape[0] != n:
            raise ValueError(f"got {label.shape[0]} labels for a batch of {n} samples")
        return label.to(device=device, dtype=torch.long)
    return torch.full((n,), int(label), dtype=torch.long, device=device)


def _finite_number(name: str, v) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise ValueError(f"{name} must be a finite number, got {v!r}")
    return float(v)


def _infer_data_shape(score_fn) -> Optional[Tuple[Tuple[int, ...], bool]]:
    """(shape, exact) of what ``score_fn`` accepts, if it says: exact=False means only the number
    of values per sample is known (an MLP flattens its input)."""
    shape = getattr(score_fn, "data_shape", None)
    if shape is not None:
        return tuple(shape), True
    net = getattr(score_fn, "net", None)
    if net is not None and hasattr(net, "image_size") and hasattr(net, "in_channels"):
        return (net.in_channels, net.image_size, net.image_size), True
    if net is not None and isinstance(getattr(net, "dim", None), int):
        return (net.dim,), False
    return None


def _check_measurement(meas, score_fn, data_shape) -> None:
    if not isinstance(meas, LinearMeasurement):
        raise TypeError(f"meas must be a LinearMeasurement, got {type(meas).__name__}")
    known = (tuple(data_shape), True) if data_shape is not None else _infer_data_shape(score_fn)
    if known is None:
        return
    shape, exact = known
    if exact or meas.mask is None:
        meas.check_data_shape(shape)
    elif math.prod(meas.data_shape) != math.prod(shape):
        meas.check_data_shape(shape)


class GuidedScore:
    """A score function ``(x, t) -> score`` with evaluation counters (see each constructor).

    ``nfe``: network evaluations (a batched call on the doubled batch counts 2);
    ``calls``: forward calls; ``reset()`` zeroes both."""

    def __init__(self, fn: Callable, description: str, evals_per_call: int, calls_per_call: int):
        self._fn, self.description = fn, description
        self.evals_per_call, self.calls_per_call = evals_per_call, calls_per_call
        self.nfe = self.calls = 0

    def __call__(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        out = self._fn(x, t)
        self.nfe += self.evals_per_call
        self.calls += self.calls_per_call
        return out

    def reset(self) -> None:
        self.nfe = self.calls = 0

    def __repr__(self):
        return f"GuidedScore({self.description}, nfe={self.nfe}, calls={self.calls})"


# ---------------------------------------------------------------------- guidance
def cfg_score(model, label: Label, w: float = 1.0, batched: bool = True) -> GuidedScore:
    """Classifier-free guidance ``(1 + w) s(x|c) - w s(x)`` (w = 0: conditional).

    Args:
        model: a class-conditional score ``model(x, t, y)`` with ``num_classes > 0`` (a
            ``ScoreModel`` over a net built with ``num_classes``, or ``GaussianMixture.score_fn``);
            the null label ``num_classes`` gives the unconditional score.
        label: the class, an int or one per sample (N,).
        w: guidance scale (finite). batched: evaluate both scores in one call on the doubled
            batch (False: two calls, for a net whose memory does not allow it).
    """
    C = _num_classes(model)
    if C <= 0:
        raise ValueError("classifier-free guidance needs a class-conditional model (num_classes > 0); "
                         "this model is unconditional")
    if not callable(model):
        raise TypeError(f"model must be callable (x, t, y) -> score, got {type(model).__name__}")
    label = _labels(label, C, "model")
    w = _finite_number("guidance scale w", w)

    if w == 0.0 or w == -1.0:  # one score only
        uncond = w == -1.0

        def one(x, t):
            y = _label_batch(C if uncond else label, x.shape[0], x.device)
            return model(x, t, y)
        return GuidedScore(one, f"cfg(label={label}, w={w:g})", 1, 1)

    def guided(x, t):
        n = x.shape[0]
        y = _label_batch(label, n, x.device)
        null = torch.full_like(y, C)
        tt = torch.as_tensor(t, device=x.device)
        tt = tt.expand(n) if tt.ndim == 0 else tt
        if batched:
            out = model(torch.cat([x, x]), torch.cat([tt, tt]), torch.cat([y, null]))
            cond, unc = out[:n], out[n:]
        else:
            cond, unc = model(x, tt, y), model(x, tt, null)
        return (1.0 + w) * cond - w * unc
    return GuidedScore(guided, f"cfg(label={label}, w={w:g})", 2, 1 if batched else 2)


def classifier_score(score_fn, classifier, label: Label, scale: float = 1.0) -> GuidedScore:
    """``s(x, t) + scale * grad_x log p_phi(label | x_t, t)``; classifier(x, t) -> logits (N, C).

    nfe counts the score network and the classifier (one forward + backward) per call."""
    if not callable(score_fn) or not callable(classifier):
        raise TypeError("score_fn and classifier must be callable")
    C = _num_classes(classifier)
    if C > 0:
        label = _labels(label, C, "classifier")
    else:
        _labels(label, 1 << 62, "classifier")  # type check now; range checked on the logits
    scale = _finite_number("classifier guidance scale", scale)

    def fn(x, t):
        base = score_fn(x, t)
        y = _label_batch(label, x.shape[0], x.device)
        with torch.enable_grad():
            xg = x.detach().requires_grad_(True)
            logits = classifier(xg, t)
            if logits.ndim != 2 or logits.shape[0] != x.shape[0]:
                raise ValueError(f"classifier must return logits (N, C), got {tuple(logits.shape)}")
            if int(y.max()) >= logits.shape[1]:
                raise ValueError(f"label {int(y.max())} is outside the classifier's "
                                 f"{logits.shape[1]} classes")
            logp = torch.log_softmax(logits, -1).gather(1, y[:, None]).sum()
            (grad,) = torch.autograd.grad(logp, xg)
        return base + scale * grad.to(base.dtype)
    return GuidedScore(fn, f"classifier(label={label}, scale={scale:g})", 2, 2)
