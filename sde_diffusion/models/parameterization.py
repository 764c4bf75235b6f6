"""The four parameterisations of a denoiser and the linear maps between them, in one place.

With the kernel x_t = m x_0 + s eps (m = m(t), s = s(t)) and a = m / r, b = s / r, r = sqrt(m^2 + s^2)
(so a^2 + b^2 = 1; for VP r = 1):

    score = -eps / s
    x0    = (x_t - s eps) / m
    v     = a eps - b x0          (Salimans & Ho's velocity, normalised for any m, s)

Inverse maps, with z_t = x_t / r = a x_0 + b eps:  eps = b z_t + a v,  x0 = a z_t - b v.

The Tweedie step (the posterior mean E[x_0 | x_t] from the score) is the score -> x0 map:
x0 = (x_t + s^2 score) / m (``tweedie``). Coefficients m, s may be tensors of shape (N,) or
() or Python floats (samplers pass host floats so that their loops never sync).

Squared errors are proportional to the eps-error with a factor that depends only on (m, s):

    |score err|^2 = |eps err|^2 / s^2
    |x0 err|^2    = |eps err|^2 s^2 / m^2
    |v err|^2     = |eps err|^2 (m^2 + s^2) / m^2

Flow paths (``sdes.AffinePath``, m = alpha, s = sigma) add the velocity u = m' x_0 + s' eps
(rectified flow: eps - x_0; not Salimans & Ho's v). Its maps need the rates (m', s') too, passed
as ``rates=(dm, ds)``; with D = m s' - m' s > 0 they divide by D only, so they are finite at
both ends (m = 0 at t = 1, s = 0 at t = 0):

    x0  = (s' x_t - s u) / D,      eps = (m u - m' x_t) / D,      |u err|^2 = (D/m)^2 |eps err|^2
"""
from __future__ import annotations

from typing import Union

import torch

from ..utils import append_dims
from ..contract import check_choice

__all__ = ["PARAMETERIZATIONS", "to_eps", "from_eps", "convert", "eps_loss_factor", "tweedie",
           "velocity_to", "to_velocity", "check_velocity_sde", "FunctionModel"]

PARAMETERIZATIONS = ("score", "eps", "x0", "v", "velocity")
Coeff = Union[float, torch.Tensor]


def _bc(c: Coeff, x: torch.Tensor) -> Coeff:
    if not torch.is_tensor(c):
        return float(c)
    c = c.to(device=x.device, dtype=x.dtype)
    return append_dims(c, x.ndim) if c.ndim else c


def tweedie(x_t: torch.Tensor, score: torch.Tensor, m: Coeff, s: Coeff) -> torch.Tensor:
    """E[x_0 | x_t] = (x_t + s^2 score) / m (Tweedie's formula for the kernel N(m x_0, s^2 I));
    two kernels when m, s are host floats (the samplers' case)."""
    if not (torch.is_tensor(m) or torch.is_tensor(s)):
        return torch.add(x_t, score, alpha=float(s) * float(s)).mul_(1.0 / float(m))
    m, s = _bc(m, x_t), _bc(s, x_t)
    return (x_t + s * s * score) / m


def to_eps(pred: torch.Tensor, kind: str, x_t: torch.Tensor, m: Coeff, s: Coeff,
           rates=None) -> torch.Tensor:
    """Convert a prediction in parameterisation ``kind`` to the implied eps (``rates``: the
    path's (m', s'), needed by "velocity" only)."""
    check_choice("parameterization", kind, PARAMETERIZATIONS)
    if kind == "velocity":
        return velocity_to("eps", pred, x_t, m, s, rates)
    m, s = _bc(m, x_t), _bc(s, x_t)
    if kind == "eps":
        return pred
    if kind == "score":
        return -s * pred
    if kind == "x0":
        return (x_t - m * pred) / s
    r = (m * m + s * s) ** 0.5
    return (s * x_t / r + m * pred) / r  # eps = b z_t + a v


def from_eps(eps: torch.Tensor, kind: str, x_t: torch.Tensor, m: Coeff, s: Coeff,
             rates=None) -> torch.Tensor:
    """Express an eps prediction in parameterisation ``kind``."""
    check_choice("parameterization", kind, PARAMETERIZATIONS)
    if kind == "velocity":
        return to_velocity(eps, "eps", x_t, m, s, rates)
    m, s = _bc(m, x_t), _bc(s, x_t)
    if kind == "eps":
        return eps
    if kind == "score":
        return -eps / s
    x0 = (x_t - s * eps) / m
    if kind == "x0":
        return x0
    r = (m * m + s * s) ** 0.5
    return (m * eps - s * x0) / r


def convert(pred: torch.Tensor, source: str, target: str, x_t: torch.Tensor, m: Coeff,
            s: Coeff, rates=None) -> torch.Tensor:
    """Map a prediction between any two of score / eps / x0 / v / velocity at the same
    (x_t, m, s); "velocity" also needs ``rates=(m', s')``."""
    check_choice("parameterization", target, PARAMETERIZATIONS)
    if source == target:
        check_choice("parameterization", source, PARAMETERIZATIONS)
        return pred
    if source == "velocity":
        return velocity_to(target, pred, x_t, m, s, rates)
    if target == "velocity":
        return to_velocity(pred, source, x_t, m, s, rates)
    return from_eps(to_eps(pred, source, x_t, m, s), target, x_t, m, s)


def _rates(rates, x_t: torch.Tensor):
    if rates is None:
        raise ValueError("the velocity parameterisation needs the path's rates (alpha', sigma'): "
                         "use a flow path (sdes.RectifiedFlow, CosineFlow, AffinePath)")
    dm, ds = rates
    return _bc(dm, x_t), _bc(ds, x_t)


def velocity_to(kind: str, u: torch.Tensor, x_t: torch.Tensor, m: Coeff, s: Coeff,
                rates) -> torch.Tensor:
    """A velocity u = m' x_0 + s' eps in parameterisation ``kind``: x0 = (s' x - s u) / D,
    eps = (m u - m' x) / D with D = m s' - m' s (finite at m = 0 and at s = 0)."""
    check_choice("parameterization", kind, PARAMETERIZATIONS)
    dm, ds = _rates(rates, x_t)
    if kind == "velocity":
        return u
    m_, s_ = _bc(m, x_t), _bc(s, x_t)
    D = m_ * ds - dm * s_
    if kind == "x0":
        return (ds * x_t - s_ * u) / D
    eps = (m_ * u - dm * x_t) / D
    return eps if kind == "eps" else from_eps(eps, kind, x_t, m, s)


def to_velocity(pred: torch.Tensor, kind: str, x_t: torch.Tensor, m: Coeff, s: Coeff,
                rates) -> torch.Tensor:
    """u = m' x0 + s' eps from a prediction in ``kind`` (through x0 when it is native, since
    eps -> x0 divides by m, which is 0 at t = 1)."""
    check_choice("parameterization", kind, PARAMETERIZATIONS)
    dm, ds = _rates(rates, x_t)
    if kind == "velocity":
        return pred
    m_, s_ = _bc(m, x_t), _bc(s, x_t)
    if kind == "x0":
        return dm * pred + ds * (x_t - m_ * pred) / s_
    eps = to_eps(pred, kind, x_t, m, s)
    return dm * (x_t - s_ * eps) / m_ + ds * eps


def check_velocity_sde(sde) -> None:
    """ValueError unless ``sde`` is a flow path (it has ``marginal_rates``)."""
    if not callable(getattr(sde, "marginal_rates", None)):
        raise ValueError(f"parameterization 'velocity' needs a flow path (sdes.RectifiedFlow, "
                         f"CosineFlow, AffinePath); {type(sde).__name__} is not one")


def eps_loss_factor(kind: str, m: torch.Tensor, s: torch.Tensor, rates=None) -> torch.Tensor:
    """c(t) with |pred - target|^2 = c(t) |eps_pred - eps|^2 in parameterisation ``kind``."""
    check_choice("parameterization", kind, PARAMETERIZATIONS)
    if kind == "velocity":
        if rates is None:
            _rates(None, s)
        dm, ds = rates
        return ((m * ds - dm * s) / m) ** 2
    if kind == "eps":
        return torch.ones_like(s)
    if kind == "score":
        return 1.0 / (s * s)
    if kind == "x0":
        return (s * s) / (m * m)
    return (m * m + s * s) / (m * m)


class FunctionModel:
    """A plain function ``fn(x, t) -> prediction`` of parameterisation ``kind`` under ``sde``,
    with ScoreModel's interface: ``model(x, t)`` is the score, ``native(x, t)`` the function's
    own (kind, prediction), ``predict(x, t, target)`` any parameterisation. E.g. an exact
    velocity field as a model: ``FunctionModel(gm.velocity_fn(path), path, "velocity")``."""

    def __init__(self, fn, sde, kind: str):
        if not callable(fn):
            raise TypeError(f"fn must be callable (x, t) -> prediction, got {type(fn).__name__}")
        self.kind = check_choice("parameterization", kind, PARAMETERIZATIONS)
        if kind == "velocity":
            check_velocity_sde(sde)
        self.fn, self.sde = fn, sde

    def native(self, x: torch.Tensor, t: torch.Tensor, y=None):
        return self.kind, self.fn(x, t)

    def predict(self, x: torch.Tensor, t: torch.Tensor, target: str = "eps", y=None) -> torch.Tensor:
        check_choice("target", target, PARAMETERIZATIONS)
        t = torch.as_tensor(t, device=x.device)
        t = t.expand(x.shape[0]) if t.ndim == 0 else t
        out = self.fn(x, t)
        if target == self.kind:
            return out
        m, s = (c.to(x.dtype) for c in self.sde.marginal(t))
        rates = None
        if "velocity" in (self.kind, target):
            rates = tuple(c.to(x.dtype) for c in self.sde.marginal_rates(t))
        return convert(out, self.kind, target, x, m, s, rates=rates)

    def __call__(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.predict(x, t, "score")
