"""EDM preconditioning (Karras et al. 2022, Table 1) for any SDE of this package.

With the kernel x_t = m x_0 + s z, the scaled state x_hat = x_t / m = x_0 + sigma z has noise
level sigma = s / m. The denoiser is

    D(x_hat; sigma) = c_skip(sigma) x_hat + c_out(sigma) F(c_in(sigma) x_hat, c_noise(sigma))

    c_skip = sigma_d^2 / (sigma^2 + sigma_d^2)     c_out   = sigma sigma_d / sqrt(sigma^2 + sigma_d^2)
    c_in   = 1 / sqrt(sigma^2 + sigma_d^2)         c_noise = ln(sigma) / 4

and D is an x0-prediction, so EDM is one more parameterisation of ``ScoreModel``
(``parameterization="edm"``, ``data_std`` = sigma_d): its ``native`` returns ("x0", D).
The network's training target is ``F* = (x_0 - c_skip x_hat) / c_out``, and
``|D - x_0|^2 = c_out^2 |F - F*|^2``; EDM's loss weight lambda(sigma) = 1 / c_out^2 makes the
effective weight on |F - F*|^2 equal to one (see ``losses.py``, weighting "edm").
"""
from __future__ import annotations

from typing import NamedTuple

import torch

from ..utils import append_dims
from ..contract import check_positive

__all__ = ["EDMCoefficients", "edm_coefficients", "edm_loss_weight", "edm_to_x0", "x0_to_edm",
           "scaled_input"]


class EDMCoefficients(NamedTuple):
    """c_skip, c_out, c_in, c_noise, each of sigma's shape and dtype."""
    c_skip: torch.Tensor
    c_out: torch.Tensor
    c_in: torch.Tensor
    c_noise: torch.Tensor


def edm_coefficients(sigma: torch.Tensor, sigma_data: float = 0.5) -> EDMCoefficients:
    """EDM's preconditioning coefficients at noise level(s) ``sigma`` (any shape)."""
    check_positive("sigma_data", sigma_data)
    sigma = torch.as_tensor(sigma)
    sd2 = sigma_data ** 2
    r = torch.rsqrt(sigma * sigma + sd2)
    return EDMCoefficients(c_skip=sd2 * r * r, c_out=sigma * sigma_data * r, c_in=r,
                           c_noise=0.25 * torch.log(sigma))


def edm_loss_weight(sigma: torch.Tensor, sigma_data: float = 0.5) -> torch.Tensor:
    """EDM's lambda(sigma) = (sigma^2 + sigma_d^2) / (sigma sigma_d)^2 on |D - x_0|^2 (= 1 / c_out^2)."""
    check_positive("sigma_data", sigma_data)
    sigma = torch.as_tensor(sigma)
    return (sigma * sigma + sigma_data ** 2) / (sigma * sigma_data) ** 2


def scaled_input(x_t: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """x_hat = x_t / m(t) (m of shape (N,) or ()), the state of Karras' kernel with s(t) = m(t)."""
    m = m.to(x_t.dtype)
    return x_t / (append_dims(m, x_t.ndim) if m.ndim else m)


def edm_to_x0(F: torch.Tensor, x_t: torch.Tensor, m: torch.Tensor, s: torch.Tensor,
              sigma_data: float = 0.5) -> torch.Tensor:
    """D = c_skip x_hat + c_out F: the x0-prediction from the raw network output F.

    Args: F, x_t of shape (N, ...); m, s of shape (N,) or () (the kernel at the same t)."""
    c = edm_coefficients((s / m).to(x_t.dtype), sigma_data)
    bc = (lambda v: append_dims(v, x_t.ndim)) if c.c_skip.ndim else (lambda v: v)
    return bc(c.c_skip) * scaled_input(x_t, m) + bc(c.c_out) * F


def x0_to_edm(x0: torch.Tensor, x_t: torch.Tensor, m: torch.Tensor, s: torch.Tensor,
              sigma_data: float = 0.5) -> torch.Tensor:
    """F = (x0 - c_skip x_hat) / c_out: the network output that yields the x0-prediction ``x0``
    (the EDM training target when x0 is the clean data). Inverse of ``edm_to_x0``."""
    c = edm_coefficients((s / m).to(x_t.dtype), sigma_data)
    bc = (lambda v: append_dims(v, x_t.ndim)) if c.c_skip.ndim else (lambda v: v)
    return (x0 - bc(c.c_skip) * scaled_input(x_t, m)) / bc(c.c_out)
