"""Reference mixtures: the 8-Gaussian ring, the tutorial's 1-D clusters, seeded random mixtures
(diagonal, and with full covariances) in any dimension."""
from __future__ import annotations

import math

import torch

from .mixture import GaussianMixture
from ..registry import register

__all__ = ["ring_of_gaussians", "three_clusters_1d", "random_mixture", "random_full_mixture"]


@register("mixture", "sde_diffusion.analytic.ring_of_gaussians")
def ring_of_gaussians(n: int = 8, radius: float = 4.0, std: float = 0.3) -> GaussianMixture:
    """n equal Gaussians on a circle in 2-D (the '8 Gaussians' toy)."""
    ang = torch.arange(n, dtype=torch.float64) * (2 * math.pi / n)
    means = radius * torch.stack([torch.cos(ang), torch.sin(ang)], 1)
    return GaussianMixture(means, torch.full((n,), std), None)


@register("mixture", "sde_diffusion.analytic.three_clusters_1d")
def three_clusters_1d() -> GaussianMixture:
    """The tutorial's 1-D example: three clusters, blurred into one blob by the forward SDE."""
    return GaussianMixture([[-3.0], [0.5], [3.0]], [0.35, 0.25, 0.5], [0.3, 0.2, 0.5])


@register("mixture", "sde_diffusion.analytic.random_mixture")
def random_mixture(dim: int = 16, k: int = 5, seed: int = 0, spread: float = 3.0) -> GaussianMixture:
    """A seeded ``dim``-D mixture with unequal weights and per-dimension widths."""
    g = torch.Generator().manual_seed(seed)
    means = spread * torch.randn(k, dim, generator=g, dtype=torch.float64)
    stds = 0.2 + 0.6 * torch.rand(k, dim, generator=g, dtype=torch.float64)
    weights = 0.5 + torch.rand(k, generator=g, dtype=torch.float64) * 2
    return GaussianMixture(means, stds, weights)


@register("mixture", "sde_diffusion.analytic.random_full_mixture")
def random_full_mixture(dim: int = 16, k: int = 5, seed: int = 0, spread: float = 3.0,
                        labels=None) -> GaussianMixture:
    """A seeded ``dim``-D mixture with full covariances C_k = B_k B_k^T / dim + 0.05 I
    (correlated, well conditioned) and unequal weights."""
    g = torch.Generator().manual_seed(seed)
    means = spread * torch.randn(k, dim, generator=g, dtype=torch.float64)
    B = torch.randn(k, dim, dim, generator=g, dtype=torch.float64) * 0.6
    covs = B @ B.transpose(1, 2) / dim + 0.05 * torch.eye(dim, dtype=torch.float64)
    weights = 0.5 + torch.rand(k, generator=g, dtype=torch.float64) * 2
    return GaussianMixture(means, weights=weights, covs=covs, labels=labels)
