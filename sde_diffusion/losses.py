"""Denoising score matching (DSM) with weightings and time sampling; per-sample losses.

The objective for any parameterisation is the weighted score-matching loss

    J = E_{t ~ U[eps, T]} E_{x_0, z} [ lambda(t) |s_theta(x_t, t) - grad log p(x_t | x_0)|^2 ],
    grad log p(x_t | x_0) = -z / s(t),

which equals ``w(t) |eps_theta - z|^2`` with ``w(t) = lambda(t) / s(t)^2`` and, in a model's own
parameterisation, ``w(t) / c(t) |pred - target|^2`` with c(t) from ``eps_loss_factor``:

    weighting    lambda(t)     w(t) on the eps-loss
    "sigma2"     s(t)^2        1                    (the standard eps-prediction loss)
    "likelihood" g(t)^2        g^2 / s^2 = -d log-SNR / dt   (Song et al. 2021: bound on -log p)
    "none"       1             1 / s^2

Time sampling: "uniform" on [eps, T], or "importance" with density proportional to g^2/s^2,
i.e. log-SNR uniform on [lambda(T), lambda(eps)], reweighted so the expectation is unchanged
(the likelihood weighting then becomes the constant Z / (T - eps), Z = lambda(eps) - lambda(T)).

Losses return one value per sample (shape (N,)); the caller reduces, weights and logs.
"""
from __future__ import annotations

from typing import Optional, Tuple

import torch

from .models.parameterization import eps_loss_factor, from_eps
from .sdes.base import SDE
from .utils import append_dims, check_choice

__all__ = ["WEIGHTINGS", "T_SAMPLINGS", "sample_time", "eps_weight", "dsm_loss", "DSMLoss"]

WEIGHTINGS = ("sigma2", "likelihood", "none")
T_SAMPLINGS = ("uniform", "importance")


def sample_time(sde: SDE, n: int, method: str = "uniform", generator: Optional[torch.Generator] = None,
                device=None) -> Tuple[torch.Tensor, torch.Tensor]:
    """Draw n times in [eps, T] and the factor that turns E_q into E_{U[eps, T]}.

    Returns float64 ``t`` and ``correction = (1/(T - eps)) / q(t)`` (ones for uniform).
    """
    check_choice("t_sampling", method, T_SAMPLINGS)
    u = torch.rand(n, generator=generator, dtype=torch.float64, device=generator.device
                   if generator is not None else None).to(device)
    if method == "uniform":
        t = sde.eps + (sde.T - sde.eps) * u
        return t, torch.ones_like(t)
    lam_hi, lam_lo = sde.log_snr(sde.eps), sde.log_snr(sde.T)
    t = sde.t_from_log_snr(lam_lo + (lam_hi - lam_lo) * u).clamp(sde.eps, sde.T)
    Z = (lam_hi - lam_lo).to(t.device)
    q = likelihood_eps_weight(sde, t) / Z
    return t, 1.0 / ((sde.T - sde.eps) * q)


def likelihood_eps_weight(sde: SDE, t: torch.Tensor) -> torch.Tensor:
    """g(t)^2 / s(t)^2 (= -d lambda / dt for every linear SDE)."""
    g = sde.diffusion(t)
    return g * g / sde.marginal(t)[1] ** 2


def eps_weight(sde: SDE, t: torch.Tensor, weighting: str = "sigma2") -> torch.Tensor:
    """w(t) = lambda(t) / s(t)^2, the weight on |eps_theta - eps|^2 (float64)."""
    check_choice("weighting", weighting, WEIGHTINGS)
    if weighting == "sigma2":
        return torch.ones_like(torch.as_tensor(t, dtype=torch.float64))
    if weighting == "likelihood":
        return likelihood_eps_weight(sde, t)
    return 1.0 / sde.marginal(t)[1] ** 2


def dsm_loss(model, x0: torch.Tensor, weighting: str = "sigma2", t_sampling: str = "uniform",
             t: Optional[torch.Tensor] = None, noise: Optional[torch.Tensor] = None,
             generator: Optional[torch.Generator] = None, reduce: str = "mean",
             max_weight: Optional[float] = None) -> torch.Tensor:
    """Per-sample DSM loss of a ``ScoreModel`` (anything with ``.sde`` and ``.native(x, t)``).

    Args:
        x0: clean data (N, ...).
        t, noise: fix the time (float, shape (N,)) and the noise instead of sampling them.
        reduce: "mean" or "sum" of the squared error over the data dimensions.
        max_weight: optional clamp of the weight in the model's own parameterisation, where the
            exact factor explodes (e.g. an x0-model under the sigma2 weighting as s -> 0).
    Returns:
        (N,) tensor: w(t)/c(t) |pred - target|^2, unbiased for J / (data dims if "mean").
    """
    check_choice("reduce", reduce, ("mean", "sum"))
    sde: SDE = model.sde
    n = x0.shape[0]
    if t is None:
        t, corr = sample_time(sde, n, t_sampling, generator=generator, device=x0.device)
    else:
        t = torch.as_tensor(t, dtype=torch.float64, device=x0.device).expand(n)
        corr = torch.ones_like(t)
    if noise is None:
        noise = torch.randn(x0.shape, generator=generator, dtype=x0.dtype,
                            device=generator.device if generator is not None else x0.device).to(x0.device)
    x_t = sde.perturb(x0, t, noise)
    kind, pred = model.native(x_t, t.to(x0.dtype))
    m, s = sde.marginal(t)
    target = from_eps(noise, kind, x_t, m, s) if kind != "x0" else x0
    weight = eps_weight(sde, t, weighting) * corr / eps_loss_factor(kind, m, s)
    if max_weight is not None:
        weight = weight.clamp(max=max_weight)
    err = (pred - target).pow(2).reshape(n, -1)
    err = err.mean(1) if reduce == "mean" else err.sum(1)
    return weight.to(err.dtype) * err


class DSMLoss:
    """Configured DSM loss: ``DSMLoss(weighting, t_sampling)(model, x0, generator) -> (N,)``."""

    def __init__(self, weighting: str = "sigma2", t_sampling: str = "uniform", reduce: str = "mean",
                 max_weight: Optional[float] = None):
        self.weighting = check_choice("weighting", weighting, WEIGHTINGS)
        self.t_sampling = check_choice("t_sampling", t_sampling, T_SAMPLINGS)
        self.reduce = check_choice("reduce", reduce, ("mean", "sum"))
        self.max_weight = max_weight

    def __call__(self, model, x0: torch.Tensor, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        return dsm_loss(model, x0, self.weighting, self.t_sampling, generator=generator,
                        reduce=self.reduce, max_weight=self.max_weight)

    def __repr__(self):
        return f"DSMLoss(weighting={self.weighting!r}, t_sampling={self.t_sampling!r})"
