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
"""
from __future__ import annotations

from typing import Union

import torch

from ..utils import append_dims
from ..contract import check_choice

__all__ = ["PARAMETERIZATIONS", "to_eps", "from_eps", "convert", "eps_loss_factor", "tweedie"]

PARAMETERIZATIONS = ("score", "eps", "x0", "v")
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


def to_eps(pred: torch.Tensor, kind: str, x_t: torch.Tensor, m: Coeff, s: Coeff) -> torch.Tensor:
    """Convert a prediction in parameterisation ``kind`` to the implied eps."""
    check_choice("parameterization", kind, PARAMETERIZATIONS)
    m, s = _bc(m, x_t), _bc(s, x_t)
    if kind == "eps":
        return pred
    if kind == "score":
        return -s * pred
    if kind == "x0":
        return (x_t - m * pred) / s
    r = (m * m + s * s) ** 0.5
    return (s * x_t / r + m * pred) / r  # eps = b z_t + a v


def from_eps(eps: torch.Tensor, kind: str, x_t: torch.Tensor, m: Coeff, s: Coeff) -> torch.Tensor:
    """Express an eps prediction in parameterisation ``kind``."""
    check_choice("parameterization", kind, PARAMETERIZATIONS)
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
            s: Coeff) -> torch.Tensor:
    """Map a prediction between any two of score / eps / x0 / v at the same (x_t, m, s)."""
    check_choice("parameterization", target, PARAMETERIZATIONS)
    if source == target:
        check_choice("parameterization", source, PARAMETERIZATIONS)
        return pred
    return from_eps(to_eps(pred, source, x_t, m, s), target, x_t, m, s)


def eps_loss_factor(kind: str, m: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """c(t) with |pred - target|^2 = c(t) |eps_pred - eps|^2 in parameterisation ``kind``."""
    check_choice("parameterization", kind, PARAMETERIZATIONS)
    if kind == "eps":
        return torch.ones_like(s)
    if kind == "score":
        return 1.0 / (s * s)
    if kind == "x0":
        return (s * s) / (m * m)
    return (m * m + s * s) / (m * m)
