"""Gaussian mixtures with the exact score of p_t under any SDE of this package: ground truth.

Data p_0 = sum_k w_k N(mu_k, diag(c_k)). Under a linear SDE with kernel
x_t = m(t) x_0 + s(t) z the marginal is again a mixture,

    p_t = sum_k w_k N(m mu_k, diag(m^2 c_k + s^2)),

so log p_t, its score, and the posterior mean E[x_0 | x_t] (Tweedie) are closed forms:

    score(x)      = sum_k r_k(x) (m mu_k - x) / (m^2 c_k + s^2)
    E[x_0 | x_t]  = sum_k r_k(x) (mu_k + c_k m (x - m mu_k) / (m^2 c_k + s^2))

with responsibilities r_k(x) of component k under p_t. Computations run in float64;
results come back in the input's dtype. Data may have any per-sample shape (flattened inside).
"""
from __future__ import annotations

import math
from typing import Callable, Optional, Tuple

import torch

from .sdes.base import SDE

__all__ = ["GaussianMixture", "ring_of_gaussians", "three_clusters_1d", "random_mixture"]


class GaussianMixture:
    """A mixture of axis-aligned Gaussians.

    Args:
        means: (K, *shape) component means.
        stds: (K,) isotropic or (K, *shape) diagonal standard deviations (> 0).
        weights: (K,) non-negative mixture weights (normalised here); uniform if omitted.
    """

    def __init__(self, means, stds, weights=None):
        means = torch.as_tensor(means, dtype=torch.float64)
        if means.ndim < 2:
            raise ValueError(f"means must have shape (K, *data_shape), got {tuple(means.shape)}")
        K = means.shape[0]
        self.data_shape = tuple(means.shape[1:])
        self.means = means.reshape(K, -1)
        self.dim = self.means.shape[1]
        stds = torch.as_tensor(stds, dtype=torch.float64)
        if stds.ndim == 0:
            stds = stds.expand(K)
        if stds.shape == (K,):
            stds = stds[:, None].expand(K, self.dim)
        else:
            stds = stds.reshape(K, -1) if stds.numel() == K * self.dim else None
            if stds is None:
                raise ValueError("stds must have shape (K,) or (K, *data_shape)")
        if not bool((stds > 0).all()):
            raise ValueError(f"mixture stds must be positive, got min {float(stds.min())!r}")
        self.vars = stds.pow(2).contiguous()
        w = torch.full((K,), 1.0 / K, dtype=torch.float64) if weights is None else \
            torch.as_tensor(weights, dtype=torch.float64)
        if w.shape != (K,) or not bool((w >= 0).all()) or float(w.sum()) <= 0:
            raise ValueError(f"weights must be {K} non-negative numbers with positive sum")
        self.weights = w / w.sum()

    # ------------------------------------------------------------------ data
    def sample(self, n: int, generator: Optional[torch.Generator] = None,
               dtype: torch.dtype = torch.float32, return_labels: bool = False):
        """n samples (n, *shape); with ``return_labels`` also the component of each."""
        k = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        z = torch.randn(n, self.dim, generator=generator, dtype=torch.float64)
        x = (self.means[k] + self.vars[k].sqrt() * z).reshape((n,) + self.data_shape).to(dtype)
        return (x, k) if return_labels else x

    def mean(self) -> torch.Tensor:
        return (self.weights[:, None] * self.means).sum(0).reshape(self.data_shape)

    def covariance_trace(self) -> float:
        """Total variance E||x - E x||^2 (used by tests for scale)."""
        mu = (self.weights[:, None] * self.means).sum(0)
        second = (self.weights[:, None] * (self.vars + self.means ** 2)).sum(0)
        return float((second - mu ** 2).sum())

    # ------------------------------------------------------------------ p_t
    def _coeffs(self, sde: Optional[SDE], t, n: int, device) -> Tuple[torch.Tensor, torch.Tensor]:
        if sde is None:
            one = torch.ones(n, dtype=torch.float64, device=device)
            return one, torch.zeros_like(one)
        m, s = sde.marginal(torch.as_tensor(t, dtype=torch.float64).to(device))
        return m.expand(n), s.expand(n)

    def _stats(self, x: torch.Tensor, sde: Optional[SDE], t):
        """Flattened float64 x, component means/vars at t, and log N_k(x) per component."""
        n = x.shape[0]
        xf = x.reshape(n, -1).to(torch.float64)
        if xf.shape[1] != self.dim:
            raise ValueError(f"x has {xf.shape[1]} values per sample, the mixture has {self.dim}")
        mu, var0 = self.means.to(xf.device), self.vars.to(xf.device)
        m, s = self._coeffs(sde, t, n, xf.device)
        mean_t = m[:, None, None] * mu[None]                      # (n, K, d)
        var_t = m[:, None, None] ** 2 * var0[None] + s[:, None, None] ** 2
        diff = xf[:, None, :] - mean_t
        logn = -0.5 * (diff ** 2 / var_t + torch.log(2 * math.pi * var_t)).sum(-1)  # (n, K)
        return xf, m, mean_t, var_t, diff, logn

    def log_prob(self, x: torch.Tensor, sde: Optional[SDE] = None, t=None) -> torch.Tensor:
        """log p_t(x) per sample (float64, shape (N,)); the data density when ``sde`` is None."""
        *_, logn = self._stats(x, sde, t)
        return torch.logsumexp(logn + torch.log(self.weights.to(logn.device)), dim=1)

    def responsibilities(self, x, sde=None, t=None) -> torch.Tensor:
        *_, logn = self._stats(x, sde, t)
        return torch.softmax(logn + torch.log(self.weights.to(logn.device)), dim=1)

    def score(self, x: torch.Tensor, sde: Optional[SDE] = None, t=None) -> torch.Tensor:
        """grad_x log p_t(x), in x's dtype."""
        xf, m, mean_t, var_t, diff, logn = self._stats(x, sde, t)
        r = torch.softmax(logn + torch.log(self.weights.to(logn.device)), dim=1)
        sc = (r[:, :, None] * (-diff / var_t)).sum(1)
        return sc.reshape(x.shape).to(x.dtype)

    def posterior_mean(self, x: torch.Tensor, sde: SDE, t) -> torch.Tensor:
        """E[x_0 | x_t = x] (Tweedie's denoiser), in x's dtype."""
        xf, m, mean_t, var_t, diff, logn = self._stats(x, sde, t)
        r = torch.softmax(logn + torch.log(self.weights.to(logn.device)), dim=1)
        var0 = self.vars.to(xf.device)[None]
        comp = self.means.to(xf.device)[None] + var0 * m[:, None, None] * diff / var_t
        return (r[:, :, None] * comp).sum(1).reshape(x.shape).to(x.dtype)

    def marginal(self, sde: SDE, t: float) -> "GaussianMixture":
        """p_t itself as a GaussianMixture (scalar t)."""
        m, s = sde.marginal(float(t))
        var = m ** 2 * self.vars + s ** 2
        return GaussianMixture((m * self.means).reshape((-1,) + self.data_shape),
                               var.sqrt().reshape((-1,) + self.data_shape), self.weights)

    # ------------------------------------------------------------------ callables
    def score_fn(self, sde: SDE) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
        """The exact score (x, t) -> grad log p_t(x), interchangeable with a trained model."""
        def fn(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            return self.score(x, sde, t)
        fn.sde = sde
        return fn

    def denoiser_fn(self, sde: SDE) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
        """The exact posterior mean (x, t) -> E[x_0 | x_t]."""
        return lambda x, t: self.posterior_mean(x, sde, t)

    def __repr__(self):
        return f"GaussianMixture(K={len(self.weights)}, data_shape={self.data_shape})"


# ---------------------------------------------------------------------- reference problems
def ring_of_gaussians(n: int = 8, radius: float = 4.0, std: float = 0.3) -> GaussianMixture:
    """n equal Gaussians on a circle in 2-D (the '8 Gaussians' toy)."""
    ang = torch.arange(n, dtype=torch.float64) * (2 * math.pi / n)
    means = radius * torch.stack([torch.cos(ang), torch.sin(ang)], 1)
    return GaussianMixture(means, torch.full((n,), std), None)


def three_clusters_1d() -> GaussianMixture:
    """The tutorial's 1-D example: three clusters, blurred into one blob by the forward SDE."""
    return GaussianMixture([[-3.0], [0.5], [3.0]], [0.35, 0.25, 0.5], [0.3, 0.2, 0.5])


def random_mixture(dim: int = 16, k: int = 5, seed: int = 0, spread: float = 3.0) -> GaussianMixture:
    """A seeded ``dim``-D mixture with unequal weights and per-dimension widths."""
    g = torch.Generator().manual_seed(seed)
    means = spread * torch.randn(k, dim, generator=g, dtype=torch.float64)
    stds = 0.2 + 0.6 * torch.rand(k, dim, generator=g, dtype=torch.float64)
    weights = 0.5 + torch.rand(k, generator=g, dtype=torch.float64) * 2
    return GaussianMixture(means, stds, weights)
