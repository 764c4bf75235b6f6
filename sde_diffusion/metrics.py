"""Sample-quality metrics between two sample sets x (N, ...) and y (M, ...).

- sliced Wasserstein-2: sqrt(E_theta W_2^2(theta.x, theta.y)) over random unit directions,
  the 1-D distances from sorted projections (quantiles when N != M);
- MMD^2 with a Gaussian kernel (unbiased U-statistic);
- energy distance 2 E|x-y| - E|x-x'| - E|y-y'|;
- Frechet distance between Gaussians fitted to features (the FID formula, any feature map);
- kernel distance (KID): the unbiased MMD^2 with the cubic polynomial kernel
  k(a, b) = (a.b / d + 1)^3 over random subsets, its mean and spread;
- precision / recall (Kynkaanniemi et al. 2019) and density / coverage (Naeem et al. 2020) from
  k-nearest-neighbour balls in feature space;
- mean negative log-likelihood under a density with ``log_prob``.
All are computed in float64 and return Python floats. ``sample_quality`` reports FD, KID and
PRDC together with what they were computed on (n, seeds, feature network, reference split) and
the same metrics for real data at the same n (the floor a perfect sampler reaches).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Dict, Optional, Sequence, Tuple

import numpy as np
import torch

from .contract import as_int, as_steps, check_positive

__all__ = ["sliced_wasserstein", "mmd", "energy_distance", "frechet_distance", "mean_nll",
           "kid", "KID", "precision_recall", "features", "feature_network", "FEATURE_NETWORKS",
           "sample_quality", "METRICS"]


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
    n_projections = as_steps(n_projections, "n_projections")
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


@dataclass(frozen=True)
class KID:
    """KID over ``subsets`` random subsets of ``subset_size`` points from each set: ``mean`` and
    ``std`` (population std over subsets, as torchmetrics), and the subsets' values."""

    mean: float
    std: float
    values: Tuple[float, ...]
    subset_size: int


def _poly_mmd2(a: torch.Tensor, b: torch.Tensor, degree: int, gamma: float, coef: float) -> torch.Tensor:
    """Unbiased MMD^2 = mean_{i!=j} k(a_i,a_j) + mean_{i!=j} k(b_i,b_j) - 2 mean k(a_i,b_j)."""
    k = lambda u, v: (u @ v.T * gamma + coef) ** degree
    kaa, kbb, kab = k(a, a), k(b, b), k(a, b)
    n, m = a.shape[0], b.shape[0]
    return ((kaa.sum() - kaa.diagonal().sum()) / (n * (n - 1))
            + (kbb.sum() - kbb.diagonal().sum()) / (m * (m - 1)) - 2 * kab.mean())


def kid(feat_x: torch.Tensor, feat_y: torch.Tensor, subsets: int = 100, subset_size: int = 1000,
        degree: int = 3, gamma: Optional[float] = None, coef: float = 1.0, seed: int = 0) -> KID:
    """Kernel inception distance (Binkowski et al. 2018) on any features (N, d), (M, d).

    Each subset draws ``min(subset_size, N, M)`` rows of each set without replacement (seeded);
    k(a, b) = (gamma a.b + coef)^degree with gamma = 1/d by default.
    """
    a, b = _flat(feat_x), _flat(feat_y)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"feature sets differ in dimension: {a.shape[1]} vs {b.shape[1]}")
    subsets = as_int(subsets, "subsets", 1)
    size = min(as_int(subset_size, "subset_size", 2), a.shape[0], b.shape[0])
    gamma = 1.0 / a.shape[1] if gamma is None else float(check_positive("gamma", gamma))
    g = torch.Generator().manual_seed(int(seed))
    vals = []
    for _ in range(subsets):
        ia = torch.randperm(a.shape[0], generator=g)[:size].to(a.device)
        ib = torch.randperm(b.shape[0], generator=g)[:size].to(b.device)
        vals.append(float(_poly_mmd2(a[ia], b[ib], int(degree), gamma, float(coef))))
    v = torch.tensor(vals, dtype=torch.float64)
    return KID(float(v.mean()), float(v.std(unbiased=False)), tuple(vals), size)


def precision_recall(real: torch.Tensor, fake: torch.Tensor, k: int = 5) -> Dict[str, float]:
    """Precision, recall, density and coverage of ``fake`` against ``real`` features.

    With r_k(u) the distance from u to its k-th nearest neighbour in its own set:
    precision = P_fake[ some real x: |y - x| <= r_k(x) ]; recall = P_real[ some fake y:
    |x - y| <= r_k(y) ]; density = (1/k) E_fake #{real x: |y - x| <= r_k(x)};
    coverage = P_real[ nearest fake within r_k(x) ]. Same distribution: density -> 1,
    coverage -> 1 - 2^-k (Naeem et al. 2020).
    """
    x, y = _flat(real), _flat(fake)
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"feature sets differ in dimension: {x.shape[1]} vs {y.shape[1]}")
    k = as_int(k, "k", 1)
    if k >= min(x.shape[0], y.shape[0]):
        raise ValueError(f"k={k} needs more than k points in each set, got {x.shape[0]} and {y.shape[0]}")
    dist = lambda a, b: torch.cdist(a, b, compute_mode="donot_use_mm_for_euclid_dist")  # exact
    r_x = dist(x, x).kthvalue(k + 1, dim=1).values  # k+1: the point itself is at 0
    r_y = dist(y, y).kthvalue(k + 1, dim=1).values
    d = dist(y, x)                                   # (fake, real)
    inside = d <= r_x[None, :]
    return {"precision": float(inside.any(1).double().mean()),
            "recall": float((d <= r_y[:, None]).any(0).double().mean()),
            "density": float(inside.double().sum(1).mean() / k),
            "coverage": float((d.min(0).values <= r_x).double().mean()),
            "k": k}


FEATURE_NETWORKS = ("digits", "inception")


def feature_network(name: str = "digits", weights: Optional[str] = None, seed: int = 0):
    """A feature map for FD / KID / PRDC: "digits" (the 64-d penultimate layer of a small MLP
    classifier trained on the digits' training split, ``training.quality``) or "inception"
    (InceptionV3's 2048-d pool features, ``models.inception``; needs a local ``weights`` file)."""
    from .contract import check_choice
    check_choice("feature network", name, FEATURE_NETWORKS)
    if name == "inception":
        if weights is None:
            raise ValueError("the inception feature network needs weights=<local state dict> (e.g. "
                             "pytorch-fid's FID Inception weights); none are downloaded")
        from .models.inception import load_inception
        return load_inception(weights)
    from .data import digits
    from .training.quality import train_digits_classifier
    feat, _, _ = train_digits_classifier(digits(), seed=seed)
    return feat.eval()


@torch.no_grad()
def features(net: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor,
             batch_size: int = 500) -> torch.Tensor:
    """net(x) in batches, flattened to (N, d) float64."""
    outs = [net(x[i:i + batch_size]).reshape(min(batch_size, x.shape[0] - i), -1)
            for i in range(0, x.shape[0], batch_size)]
    return torch.cat(outs).to(torch.float64)


def sample_quality(samples: torch.Tensor, reference: torch.Tensor, feature_net: Callable,
                   feature_name: str, reference_split: str, seeds: Sequence[int],
                   floor_data: Optional[torch.Tensor] = None, k: int = 5,
                   kid_subsets: int = 100, kid_subset_size: int = 1000) -> Dict[str, Any]:
    """FD, KID (mean, std) and PRDC of ``samples`` against ``reference`` in ``feature_net``'s
    features, with the provenance every reported figure needs (n, n_reference, seeds, feature
    network, reference split) and, when ``floor_data`` (real data not in ``reference``) is given,
    the same metrics for ``floor_data[:n]``: the exact-data floor at the same n."""
    n = samples.shape[0]
    f_ref = features(feature_net, reference)

    def all_of(x):
        f = features(feature_net, x)
        kd = kid(f, f_ref, kid_subsets, kid_subset_size)
        return {"fd": frechet_distance(f, f_ref), "kid": kd.mean, "kid_std": kd.std,
                **{m: v for m, v in precision_recall(f_ref, f, k).items() if m != "k"}}

    out: Dict[str, Any] = {"n": n, "n_reference": reference.shape[0], "seeds": list(seeds),
                           "feature_network": feature_name, "reference_split": reference_split,
                           "k": k, "kid_subset_size": min(kid_subset_size, n, reference.shape[0]),
                           **all_of(samples)}
    if floor_data is not None:
        if floor_data.shape[0] < n:
            raise ValueError(f"floor_data has {floor_data.shape[0]} points, fewer than the n={n} "
                             f"samples it must match")
        out["floor"] = all_of(floor_data[:n])
    return out


def mean_nll(x: torch.Tensor, log_prob: Callable[[torch.Tensor], torch.Tensor]) -> float:
    """-mean log p(x) in nats."""
    return float(-log_prob(x).to(torch.float64).mean())


METRICS = {"sliced_wasserstein": sliced_wasserstein, "mmd": mmd, "energy_distance": energy_distance}
