"""Sample-quality metrics between two sample sets x (N, ...) and y (M, ...).

- sliced Wasserstein-2: sqrt(E_theta W_2^2(theta.x, theta.y)) over random unit directions,
  the 1-D distances from sorted projections (quantiles when N != M);
- MMD^2 with a Gaussian kernel (unbiased U-statistic);
- energy distance 2 E|x-y| - E|x-x'| - E|y-y'|;
- Frechet distance between Gaussians fitted to features (the FID formula, any feature map);
- mean negative log-likelihood under a density with ``log_prob``.
All are computed in float64 and return Python floats.
"""
from __future__ import annotations

import math
from typing import Callable, Optional

import numpy as np
import torch

__all__ = ["sliced_wasserstein", "mmd", "energy_distance", "frechet_distance", "mean_nll",
           "METRICS"]


def _flat(x: torch.Tensor) -> torch.Tensor:
    """(N, ...) -> (N, d) float64; TypeError for non-tensors, ValueError for N < 2 or NaN/inf."""
    if not torch.is_tensor(x):
        raise TypeError(f"sample sets must be tensors (N, ...), got {type(x).__name__}")
    if x.ndim < 1 or x.shape[0] < 2:
        raise ValueError(f"a sample set needs at least 2 samples, got shape {tuple(x.shape)}")
    if not bool(torch.isfinite(x).all()):
        raise ValueError("sample set contains non-finite values (NaN or inf)")
    return x.reshape(x.shape[0], -1).to(torch.float64)


def sliced_wasserstein(x: torch.Tensor, y: torch.Tensor, n_projections: int = 256,
                       generator: Optional[torch.Generator] = None, seed: int = 0) -> float:
    """Sliced Wasserstein-2 distance (fixed random directions from ``seed`` by default)."""
    x, y = _flat(x), _flat(y)
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"sample sets differ in dimension: {x.shape[1]} vs {y.shape[1]}")
    if isinstance(n_projections, bool) or not isinstance(n_projections, int) or n_projections < 1:
        raise ValueError(f"n_projections must be an integer >= 1, got {n_projections!r}")
    g = generator if generator is not None else torch.Generator().manual_seed(seed)
    theta = torch.randn(x.shape[1], n_projections, generator=g, dtype=torch.float64)
    theta = (theta / theta.norm(dim=0, keepdim=True)).to(x.device)
    px, py = torch.sort(x @ theta, 0)[0], torch.sort(y @ theta, 0)[0]
    if px.shape[0] != py.shape[0]:  # compare on a common quantile grid
        n = max(px.shape[0], py.shape[0])
        q = (torch.arange(n, dtype=torch.float64, device=x.device) + 0.5) / n
        px = torch.quantile(px, q, dim=0)
        py = torch.quantile(py, q, dim=0)
    return float(((px - py) ** 2).mean().sqrt())


def mmd(x: torch.Tensor, y: torch.Tensor, bandwidth: Optional[float] = None) -> float:
    """Unbiased MMD^2 with k(a, b) = exp(-|a-b|^2 / (2 h^2)); h = median pairwise distance."""
    x, y = _flat(x), _flat(y)
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"sample sets differ in dimension: {x.shape[1]} vs {y.shape[1]}")
    if bandwidth is not None and not (math.isfinite(bandwidth) and bandwidth > 0):
        raise ValueError(f"bandwidth must be positive and finite, got {bandwidth!r}")
    dxx, dyy, dxy = torch.cdist(x, x) ** 2, torch.cdist(y, y) ** 2, torch.cdist(x, y) ** 2
    if bandwidth is None:
        bandwidth = float(torch.cdist(torch.cat([x, y])[:1000], torch.cat([x, y])[:1000]).median())
        bandwidth = max(bandwidth, 1e-12)
    k = lambda d: torch.exp(-d / (2 * bandwidth ** 2))
    n, m = x.shape[0], y.shape[0]
    kxx = (k(dxx).sum() - n) / (n * (n - 1))
    kyy = (k(dyy).sum() - m) / (m * (m - 1))
    return float(kxx + kyy - 2 * k(dxy).mean())


def energy_distance(x: torch.Tensor, y: torch.Tensor) -> float:
    """2 E|x-y| - E|x-x'| - E|y-y'| (V-statistic)."""
    x, y = _flat(x), _flat(y)
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"sample sets differ in dimension: {x.shape[1]} vs {y.shape[1]}")
    return float(2 * torch.cdist(x, y).mean() - torch.cdist(x, x).mean() - torch.cdist(y, y).mean())


def frechet_distance(feat_x: torch.Tensor, feat_y: torch.Tensor) -> float:
    """|mu_x - mu_y|^2 + tr(C_x + C_y - 2 (C_x C_y)^(1/2)) between Gaussian fits to features."""
    from scipy import linalg
    a, b = _flat(feat_x).cpu().numpy(), _flat(feat_y).cpu().numpy()
    mu_a, mu_b = a.mean(0), b.mean(0)
    ca, cb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = linalg.sqrtm(ca @ cb)
    covmean = np.real(covmean)
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(ca + cb - 2 * covmean))


def mean_nll(x: torch.Tensor, log_prob: Callable[[torch.Tensor], torch.Tensor]) -> float:
    """-mean log p(x) in nats."""
    return float(-log_prob(x).to(torch.float64).mean())


METRICS = {"sliced_wasserstein": sliced_wasserstein, "mmd": mmd, "energy_distance": energy_distance}
