"""Conditional generation: classifier-free and classifier guidance, linear inverse problems.

Every function here returns a *score function* ``(x, t) -> score`` (or, for the replacement
method, an ``after_step`` hook), so it works with every sampler of ``sde_diffusion.solvers``.

Classifier-free guidance (Ho & Salimans 2021), convention used throughout the package:

    s_w(x, t | c) = (1 + w) s(x, t | c) - w s(x, t)        w = 0: the conditional model;
                                                             w = -1: the unconditional model.

The two network evaluations are batched into one call on the doubled batch (labels c and the
null label). ``nfe`` counts *network evaluations* (2 per guided score, 1 at w = 0 or w = -1),
``calls`` counts forward calls (1 per guided score when batched).

Classifier guidance (Song et al. 2021; Dhariwal & Nichol 2021):
    s(x, t) + scale * grad_x log p_phi(c | x_t, t).

Linear inverse problems y = A x_0 + sigma n (``LinearMeasurement``), with the Tweedie estimate
x0_hat(x_t) = (x_t + s^2 score) / m and its Jacobian J = d x0_hat / d x_t:

    DPS (Chung et al. 2023):     grad log p(y | x_t) ~ -scale grad_x |y - A x0_hat|^2 / (2 sigma^2)
    PiGDM (Song et al. 2023):    grad log p(y | x_t) ~ scale J^T A^T (r_t^2 A A^T + sigma^2 I)^{-1} (y - A x0_hat),
                                 r_t^2 = data_var s^2 / (m^2 data_var + s^2)

PiGDM is exact when the data are one Gaussian N(mu, data_var I). DPS needs sigma > 0 (its
likelihood is a delta otherwise): for a noiseless measurement pass ``dps_noise``. The
replacement method of score_sde (``replacement``) projects x_t after every step onto the
perturbed measurement {x : A x = m(t) y + s(t) A z}; for a mask this overwrites the observed
pixels with a fresh noisy copy of y (PC inpainting); the measurement noise is ignored.
"""
from __future__ import annotations

import math
from typing import Callable, Optional, Sequence, Tuple, Union

import torch

from .utils import check_choice

__all__ = ["LinearMeasurement", "GuidedScore", "cfg_score", "classifier_score",
           "posterior_score", "replacement", "POSTERIOR_METHODS"]

POSTERIOR_METHODS = ("dps", "pigdm")
Label = Union[int, torch.Tensor]


class LinearMeasurement:
    """y = A x_0 + noise_std * n: A (m, d) acting on flattened samples, y (m,) or (N, m).

    ``LinearMeasurement.inpainting(mask, y)`` builds A from a 0/1 mask of the data's shape
    (A = the rows of the identity where mask = 1); y may then be given in the data's shape.
    """

    def __init__(self, A, y, noise_std: float = 0.0):
        if not torch.is_tensor(A):
            A = torch.as_tensor(A)
        if A.dtype.is_complex:
            raise TypeError(f"A must be a real matrix, got dtype {A.dtype}")
        if A.ndim != 2 or A.shape[0] < 1 or A.shape[1] < 1:
            raise ValueError(f"A must be a non-empty (m, d) matrix, got shape {tuple(A.shape)}")
        A = A.to(torch.float64)
        if not bool(torch.isfinite(A).all()):
            raise ValueError("A contains non-finite values (NaN or inf)")
        y = torch.as_tensor(y).to(torch.float64)
        if y.ndim not in (1, 2) or y.shape[-1] != A.shape[0]:
            raise ValueError(f"y must have shape ({A.shape[0]},) or (N, {A.shape[0]}) for A of shape "
                             f"{tuple(A.shape)}, got {tuple(y.shape)}")
        if not bool(torch.isfinite(y).all()):
            raise ValueError("y contains non-finite values (NaN or inf)")
        if isinstance(noise_std, bool) or not isinstance(noise_std, (int, float)) \
                or not math.isfinite(noise_std) or noise_std < 0:
            raise ValueError(f"noise_std must be a finite number >= 0, got {noise_std!r}")
        self.A, self.y, self.noise_std = A, y, float(noise_std)
        self.mask: Optional[torch.Tensor] = None
        self.data_shape: Optional[Tuple[int, ...]] = None

    @classmethod
    def inpainting(cls, mask, y, noise_std: float = 0.0) -> "LinearMeasurement":
        """Observe the entries where ``mask`` (data shape, values 0/1) is 1. ``y``: the data's
        shape, (N, *data shape) (unobserved entries ignored), or the observed values (m,)/(N, m)."""
        mask = torch.as_tensor(mask)
        if mask.ndim < 1 or mask.numel() == 0:
            raise ValueError(f"mask must have the data's shape, got {tuple(mask.shape)}")
        flat = mask.reshape(-1).to(torch.float64)
        if not bool(((flat == 0) | (flat == 1)).all()):
            raise ValueError("mask must contain only 0 and 1 (1 = observed)")
        keep = flat.bool()
        if not bool(keep.any()):
            raise ValueError("mask observes nothing (all zeros): there is no measurement")
        y = torch.as_tensor(y).to(torch.float64)
        shape = tuple(mask.shape)
        if tuple(y.shape) == shape:
            y = y.reshape(-1)[keep]
        elif tuple(y.shape[1:]) == shape and y.ndim == mask.ndim + 1:
            y = y.reshape(y.shape[0], -1)[:, keep]
        A = torch.eye(flat.numel(), dtype=torch.float64)[keep]
        meas = cls(A, y, noise_std)
        meas.mask, meas.data_shape = mask.to(torch.float64), shape
        return meas

    @property
    def dim(self) -> int:
        """Values per sample the measurement acts on (d)."""
        return self.A.shape[1]

    def check_data_shape(self, data_shape: Sequence[int]) -> None:
        """ValueError if this measurement cannot act on samples of ``data_shape``."""
        data_shape = tuple(int(s) for s in data_shape)
        if self.mask is not None and self.data_shape != data_shape:
            raise ValueError(f"mask has shape {self.data_shape} but the data have shape {data_shape}")
        d = math.prod(data_shape)
        if d != self.dim:
            raise ValueError(f"A has {self.dim} columns but the data have {d} values per sample "
                             f"(shape {data_shape})")

    def _y_for(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        flat = x.reshape(n, -1)
        if flat.shape[1] != self.dim:
            raise ValueError(f"A has {self.dim} columns but x has {flat.shape[1]} values per sample")
        y = self.y.to(device=x.device, dtype=x.dtype)
        if y.ndim == 2 and y.shape[0] != n:
            raise ValueError(f"y holds {y.shape[0]} measurements but the batch has {n} samples")
        return y.expand(n, -1)

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        """A x for x (N, *shape): (N, m)."""
        return x.reshape(x.shape[0], -1) @ self.A.to(device=x.device, dtype=x.dtype).T

    def __repr__(self):
        kind = "inpainting" if self.mask is not None else "matrix"
        return f"LinearMeasurement({kind}, m={self.A.shape[0]}, d={self.dim}, noise_std={self.noise_std})"


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


# ---------------------------------------------------------------------- inverse problems
def posterior_score(sde, score_fn, meas: LinearMeasurement, method: str = "dps",
                    scale: float = 1.0, data_var: float = 1.0, dps_noise: Optional[float] = None,
                    data_shape: Optional[Sequence[int]] = None) -> GuidedScore:
    """Approximate score of p_t(x_t | y): ``score_fn(x, t) + grad log p(y | x_t)`` (DPS or PiGDM,
    see the module docstring). One network evaluation with a backward pass per call (nfe 1).

    Args:
        scale: multiplies the likelihood term (1 = the method's own approximation).
        data_var: PiGDM's prior variance per value (its r_t^2); 1 for unit-variance data.
        dps_noise: the sigma DPS uses when ``meas.noise_std`` is 0.
        data_shape: the samples' shape, to check the measurement against now (inferred from
            ``score_fn`` when it says, e.g. a ScoreModel over an MLP/U-Net or an exact mixture).
    """
    method = check_choice("posterior method", method, POSTERIOR_METHODS)
    _check_measurement(meas, score_fn, data_shape)
    if not callable(score_fn):
        raise TypeError(f"score_fn must be callable (x, t) -> score, got {type(score_fn).__name__}")
    scale = _finite_number("scale", scale)
    sigma = meas.noise_std
    if method == "dps":
        if sigma == 0.0:
            if dps_noise is None:
                raise ValueError("DPS needs a measurement with noise_std > 0 (its likelihood is a "
                                 "delta otherwise): pass dps_noise=..., or use method='pigdm' or "
                                 "the replacement method for noiseless inpainting")
            sigma = _finite_number("dps_noise", dps_noise)
            if sigma <= 0:
                raise ValueError(f"dps_noise must be positive, got {dps_noise!r}")
    elif not (isinstance(data_var, (int, float)) and math.isfinite(data_var) and data_var > 0):
        raise ValueError(f"data_var must be a positive finite number, got {data_var!r}")

    def fn(x, t):
        n = x.shape[0]
        y = meas._y_for(x)
        tt = torch.as_tensor(t, device=x.device)
        tt = tt.expand(n) if tt.ndim == 0 else tt
        m, s = (v.to(x.dtype).reshape((n,) + (1,) * (x.ndim - 1)) for v in sde.marginal(tt))
        with torch.enable_grad():
            xg = x.detach().requires_grad_(True)
            sc = score_fn(xg, tt)
            x0 = (xg + s * s * sc) / m
            r = y - meas.apply(x0)                                        # (N, m)
            if method == "dps":
                obj = -(r * r).sum() / (2 * sigma * sigma)
            else:
                A = meas.A.to(device=x.device, dtype=torch.float64)
                m1, s1 = m.reshape(n).double(), s.reshape(n).double()
                rt2 = data_var * s1 * s1 / (m1 * m1 * data_var + s1 * s1)   # Var[x0 | x_t]
                cov = rt2[:, None, None] * (A @ A.T) + sigma ** 2 * torch.eye(A.shape[0], dtype=A.dtype,
                                                                              device=A.device)
                v = torch.linalg.solve(cov, r.detach().double()[:, :, None])[:, :, 0].to(x.dtype)
                obj = (meas.apply(x0) * v).sum()                          # grad = J^T A^T v
            (grad,) = torch.autograd.grad(obj, xg)
        return sc.detach() + scale * grad
    return GuidedScore(fn, f"posterior({method}, scale={scale:g})", 1, 1)


def replacement(sde, meas: LinearMeasurement,
                data_shape: Optional[Sequence[int]] = None) -> Callable:
    """The replacement method as an ``after_step(x, t, noise) -> x`` hook for ``solvers.sample``:

        x <- x + A^+ (m(t) y + s(t) A z - A x),   z = noise(x) ~ N(0, I)

    (for a mask: the observed entries are set to m(t) y + s(t) z). Measurement noise ignored.
    """
    if not isinstance(meas, LinearMeasurement):
        raise TypeError(f"meas must be a LinearMeasurement, got {type(meas).__name__}")
    if data_shape is not None:
        meas.check_data_shape(data_shape)
    A = meas.A
    if meas.mask is not None:
        pinv = A.T
    else:
        gram = A @ A.T
        if float(torch.linalg.matrix_rank(gram)) < A.shape[0]:
            raise ValueError("the replacement method needs A with independent rows "
                             f"(A A^T of shape {tuple(gram.shape)} is singular)")
        pinv = A.T @ torch.linalg.inv(gram)

    def after_step(x: torch.Tensor, t: float, noise: Callable) -> torch.Tensor:
        y = meas._y_for(x)
        m, s = (float(v) for v in sde.marginal(float(t)))
        target = m * y + s * meas.apply(noise(x))
        P = pinv.to(device=x.device, dtype=x.dtype)
        return x + ((target - meas.apply(x)) @ P.T).reshape(x.shape)
    after_step.meas = meas
    return after_step
