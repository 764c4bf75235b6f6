"""The problem suite: analytic Gaussian mixtures that span what a few-step sampler meets, split
once at random into a tuning half and a validation half.

Every default, threshold and rule of the few-step samplers is chosen on ``problem_suite("tuning")``;
every reported table uses ``problem_suite("validation")``. The split is a seeded permutation
(``SPLIT_SEED``) of the sorted names of ``SUITE``, computed here; ``TUNING_ADDITIONS`` (problems
added after the split, to the tuning half only) follow it. ``tests/analytic/test_problem_suite.py``
pins the resulting halves, so a change of the lists or the seed is a visible decision.
``HOLDOUT`` and ``FRESH`` to ``FRESH12`` are reserved sets, in neither half (see their
docstrings).

The problems vary, one axis at a time where possible (spread = typical distance between means):
mode sharpness (component std 0.02 to 1 of the spread), dimension (1 to 256), isotropic,
diagonal, full (eigenvalue ratio up to 2000) and low-rank (singular) covariances, very unequal
weights (ratio 1000), many modes (50 to 100), far outlier modes (weight 0.5-1 %).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Dict, List, Tuple

import torch

from ..contract import check_choice
from ..registry import register
from .mixture import GaussianMixture
from .problems import random_full_mixture, random_mixture, ring_of_gaussians, three_clusters_1d

__all__ = ["SuiteProblem", "SUITE", "TUNING_ADDITIONS", "HOLDOUT", "FRESH", "FRESH2", "FRESH3",
           "FRESH4", "FRESH5", "FRESH6", "FRESH7", "FRESH8", "FRESH9", "FRESH10", "FRESH11", "FRESH12", "RESERVED", "SUITE_HALVES", "SPLIT_SEED", "problem_suite", "suite_problem", "suite_split", "suite_mixture"]

SPLIT_SEED = 20261203
"""Seed of the one random tuning / validation split (``suite_split``)."""


@dataclass(frozen=True)
class SuiteProblem:
    """A named analytic problem: ``mixture`` (exact density), ``tags`` (what it stresses)."""

    name: str
    mixture: GaussianMixture
    tags: Tuple[str, ...]

    @property
    def dim(self) -> int:
        return self.mixture.dim


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _f64(*shape, g) -> torch.Tensor:
    return torch.randn(*shape, generator=g, dtype=torch.float64)


def _ring_sharp() -> GaussianMixture:
    return ring_of_gaussians(8, radius=1.0, std=0.02 * 2 * math.sin(math.pi / 8))


def _lattice(n: int, spacing: float, std: float) -> GaussianMixture:
    """n x n equal modes of std ``std`` on a square lattice of ``spacing``, centred at 0."""
    a = (torch.arange(n, dtype=torch.float64) - (n - 1) / 2) * spacing
    means = torch.stack(torch.meshgrid(a, a, indexing="ij"), -1).reshape(n * n, 2)
    return GaussianMixture(means, torch.full((n * n,), std), None)


def _line(n: int, spacing: float, std: float, slope: float) -> GaussianMixture:
    """n equal modes of std ``std`` on a straight segment in 2-D (x steps of ``spacing``, y = slope x)."""
    x = (torch.arange(n, dtype=torch.float64) - (n - 1) / 2) * spacing
    return GaussianMixture(torch.stack([x, slope * x], 1), torch.full((n,), std), None)


def _embedded_modes(means2d: torch.Tensor, std: float, dim: int) -> GaussianMixture:
    """Equal isotropic modes of std ``std`` at ``means2d`` in the first two of ``dim`` coordinates."""
    means = torch.zeros(len(means2d), dim, dtype=torch.float64)
    means[:, :2] = means2d
    return GaussianMixture(means, torch.full((len(means2d),), std), None)


def _embedded_ring(n: int, radius: float, std: float, dim: int) -> GaussianMixture:
    """``ring_of_gaussians`` in the first two of ``dim`` coordinates, each mode isotropic of std ``std``."""
    return _embedded_modes(ring_of_gaussians(n, radius=radius, std=std).means, std, dim)


def _concentric(n_inner: int, r_inner: float, n_outer: int, r_outer: float, std: float) -> GaussianMixture:
    """Two concentric rings of equal modes of std ``std`` (``ring_of_gaussians`` each)."""
    means = torch.cat([ring_of_gaussians(n_inner, r_inner, std).means, ring_of_gaussians(n_outer, r_outer, std).means])
    return GaussianMixture(means, torch.full((n_inner + n_outer,), std), None)


def _many(k: int, dim: int, std: float, seed: int, spread: float = 1.0) -> GaussianMixture:
    g = _gen(seed)
    means = spread * _f64(k, dim, g=g)
    weights = 0.5 + torch.rand(k, generator=g, dtype=torch.float64)
    return GaussianMixture(means, torch.full((k,), std * spread), weights)


def _with_outlier(k: int, dim: int, seed: int, at: float, std: float, outlier_std: float,
                  outlier_weight: float, spread: float = 1.0) -> GaussianMixture:
    """k equal-weight modes (means spread * N(0, I), std ``std``) and one outlier mode at
    (at, ..., at) with std ``outlier_std`` and weight ``outlier_weight`` against 1 for each other."""
    means = torch.cat([_f64(k, dim, g=_gen(seed)) * spread,
                       torch.full((1, dim), at, dtype=torch.float64)])
    stds = torch.tensor([std] * k + [outlier_std], dtype=torch.float64)
    weights = torch.tensor([1.0] * k + [outlier_weight], dtype=torch.float64)
    return GaussianMixture(means, stds, weights)


def _unequal(k: int, dim: int, seed: int, scale: float, std: float,
             decay: float) -> GaussianMixture:
    """k modes (means scale * N(0, I), std ``std``) with weights 10^(-decay i), i = 0..k-1."""
    weights = 10.0 ** (-decay * torch.arange(k, dtype=torch.float64))
    return GaussianMixture(scale * _f64(k, dim, g=_gen(seed)), torch.full((k,), std), weights)


def _diag(k: int, dim: int, seed: int, lo: float, std_scale: float,
          mean_scale: float) -> GaussianMixture:
    """k modes with diagonal stds std_scale * exp(U(log lo, 0)) per coordinate, then means
    mean_scale * N(0, I), both from one generator."""
    g = _gen(seed)
    stds = torch.exp(torch.empty(k, dim, dtype=torch.float64).uniform_(math.log(lo), 0.0,
                                                                       generator=g)) * std_scale
    return GaussianMixture(_f64(k, dim, g=g) * mean_scale, stds, None)


def _outlier_1d() -> GaussianMixture:
    return GaussianMixture([[-1.0], [1.0], [12.0]], [0.4, 0.3, 0.3], [0.5, 0.49, 0.01])


def _unequal_2d() -> GaussianMixture:
    ang = torch.arange(6, dtype=torch.float64) * (2 * math.pi / 6)
    means = 2.0 * torch.stack([torch.cos(ang), torch.sin(ang)], 1)
    weights = 10.0 ** (-0.6 * torch.arange(6, dtype=torch.float64))    # ratio 10^3
    return GaussianMixture(means, torch.full((6,), 0.2), weights)


def _mix16_10() -> GaussianMixture:
    g = _gen(1610)
    means = 1.5 * _f64(10, 16, g=g)
    stds = 0.05 + 0.5 * torch.rand(10, generator=g, dtype=torch.float64)
    return GaussianMixture(means, stds, 0.5 + torch.rand(10, generator=g, dtype=torch.float64))


def _rotations(k: int, d: int, g: torch.Generator) -> torch.Tensor:
    q, _ = torch.linalg.qr(_f64(k, d, d, g=g))
    return q


def _ill_conditioned(d: int = 8, k: int = 3, ratio: float = 2000.0) -> GaussianMixture:
    g = _gen(80 + d)
    U = _rotations(k, d, g)
    lam = torch.logspace(0, -math.log10(ratio), d, dtype=torch.float64) * 0.5 ** 2
    covs = U @ (lam[None, :, None] * U.transpose(1, 2))
    covs = 0.5 * (covs + covs.transpose(1, 2))
    return GaussianMixture(2.0 * _f64(k, d, g=g), weights=torch.tensor([1.0, 2.0, 3.0][:k]),
                           covs=covs)


def _low_rank(d: int, k: int, rank: int, seed: int, floor: float = 0.0) -> GaussianMixture:
    """k components, covariance B B^T (rank ``rank``; singular) plus ``floor``^2 I."""
    g = _gen(seed)
    B = _f64(k, d, rank, g=g) * (0.6 / math.sqrt(rank))
    covs = B @ B.transpose(1, 2) + floor ** 2 * torch.eye(d, dtype=torch.float64)
    covs = 0.5 * (covs + covs.transpose(1, 2))
    return GaussianMixture(_f64(k, d, g=g), covs=covs)


def _diag_256() -> GaussianMixture:
    g = _gen(256)
    means = _f64(8, 256, g=g) * 0.5
    stds = torch.exp(torch.empty(8, 256, dtype=torch.float64).uniform_(math.log(0.02), 0.0,
                                                                         generator=g)) * 0.5
    return GaussianMixture(means, stds, None)


def _aniso_gaussian_64() -> GaussianMixture:
    stds = torch.logspace(math.log10(0.02), 0.0, 64, dtype=torch.float64)
    return GaussianMixture(torch.zeros(1, 64, dtype=torch.float64), stds[None], None)


def _two_scales_1d() -> GaussianMixture:
    return GaussianMixture([[-1.0], [1.0]], [1.0, 0.02], [0.5, 0.5])


def _multiscale_line() -> GaussianMixture:
    x = torch.tensor([-6.0, -2.0, -0.5, 0.0, 0.25, 4.0], dtype=torch.float64)
    means = torch.stack([x, 0.3 * x], 1)
    return GaussianMixture(means, torch.tensor([0.5, 0.2, 0.05, 0.03, 0.03, 0.8]), None)


SUITE: Dict[str, Tuple[Callable[[], GaussianMixture], Tuple[str, ...]]] = {
    "ring8": (lambda: ring_of_gaussians(8), ("2d", "moderate")),
    "ring8_sharp": (_ring_sharp, ("2d", "sharp")),
    "grid25": (lambda: _lattice(5, 1.0, 0.05), ("2d", "sharp", "many_modes")),
    "modes100_2d": (lambda: _many(100, 2, 0.03, seed=102, spread=2.0), ("2d", "sharp", "many_modes")),
    "modes64_8d": (lambda: _many(64, 8, 0.1, seed=648), ("many_modes",)),
    "modes50_32d": (lambda: _many(50, 32, 0.2, seed=5032, spread=0.5), ("many_modes", "high_dim")),
    "clusters1d": (three_clusters_1d, ("1d",)),
    "two_scales_1d": (_two_scales_1d, ("1d", "sharp")),
    "outlier_1d": (_outlier_1d, ("1d", "outlier", "unequal_weights")),
    "outlier_16d": (lambda: _with_outlier(5, 16, 16, 2.5, 0.3, 0.1, 0.025),
                    ("outlier", "unequal_weights")),
    "unequal_2d": (_unequal_2d, ("2d", "unequal_weights")),
    "multiscale_line": (_multiscale_line, ("2d", "sharp")),
    "mix16": (lambda: random_mixture(16, 5, seed=0), ("diagonal",)),
    "mix16_10": (_mix16_10, ("diagonal", "sharp")),
    "full8_cond2000": (_ill_conditioned, ("full_cov", "ill_conditioned")),
    "full32": (lambda: random_full_mixture(32, 4, seed=32), ("full_cov",)),
    "lowrank64": (lambda: _low_rank(64, 4, 4, seed=64), ("low_rank", "high_dim")),
    "lowrank256": (lambda: _low_rank(256, 3, 8, seed=256), ("low_rank", "high_dim")),
    "diag256": (_diag_256, ("diagonal", "high_dim", "sharp")),
    "aniso_gauss64": (_aniso_gaussian_64, ("gaussian", "high_dim", "sharp")),
}
"""name -> (builder, tags). Mixtures are built on request (``suite_problem``)."""

TUNING_ADDITIONS: Dict[str, Tuple[Callable[[], GaussianMixture], Tuple[str, ...]]] = {
    "lowrank32_r4": (lambda: _low_rank(32, 3, 4, seed=3204), ("low_rank", "high_dim")),
    "lowrank128_r12": (lambda: _low_rank(128, 5, 12, seed=12812), ("low_rank", "high_dim")),
    "lowrank48_floor": (lambda: _low_rank(48, 4, 6, seed=486, floor=0.01),
                        ("low_rank", "near_singular")),
    "ring7_sharp": (lambda: ring_of_gaussians(7, radius=1.2, std=0.02), ("2d", "sharp")),
    "ring12_sharp": (lambda: ring_of_gaussians(12, radius=2.5, std=0.04), ("2d", "sharp")),
}
"""Added to the tuning half after the split (never to the validation half, which is unchanged).
The random split put both singular-covariance problems (lowrank64, lowrank256) into the
validation half, so no tuning problem could show what ending a run on sigma = 0 (the denoiser)
gains on data that fill a subspace. These are new problems of that kind (other dimensions,
ranks, component counts and seeds; one with a small off-subspace std 0.01): they tell the
tuning which *kind* of problem matters, not any validation number. The two sharp rings joined
later (few-step section 15) for the same reason: the split put ring8_sharp into the validation
half, and every reserved set's sharp ring showed a gap at EDM 10 NFE that no tuning problem
could show (other mode counts, radii and stds: mode std 0.019 and 0.031 of the chord)."""


HOLDOUT: Dict[str, Tuple[Callable[[], GaussianMixture], Tuple[str, ...]]] = {
    "ring6_sharp": (lambda: ring_of_gaussians(6, radius=2.0, std=0.03), ("2d", "sharp")),
    "modes80_4d": (lambda: _many(80, 4, 0.06, seed=804, spread=1.5), ("sharp", "many_modes")),
    "modes20_64d": (lambda: _many(20, 64, 0.15, seed=2064), ("many_modes", "high_dim")),
    "three_scales_1d": (lambda: GaussianMixture([[-2.0], [0.0], [3.0]], [0.5, 0.05, 0.01],
                                                [0.4, 0.4, 0.2]), ("1d", "sharp")),
    "outlier_8d": (lambda: _with_outlier(4, 8, 808, -3.0, 0.25, 0.05, 0.04),
                   ("outlier", "unequal_weights")),
    "unequal_3d": (lambda: _unequal(5, 3, 303, 1.5, 0.15, 1.0), ("unequal_weights",)),  # ratio 10^4
    "full16_cond500": (lambda: _ill_conditioned(16, 2, 500.0), ("full_cov", "ill_conditioned")),
    "lowrank96_r6": (lambda: _low_rank(96, 3, 6, seed=9606), ("low_rank", "high_dim")),
    "diag128": (lambda: _diag(6, 128, 128, 0.03, 0.5, 0.6), ("diagonal", "high_dim", "sharp")),
}
"""A third set, in neither half and out of ``"all"``: new members of the suite's families,
fixed before any run on them (``benchmarks/RESULTS.md``, few-step section 11h). They were
first run to report section 12's change, which was chosen on the tuning half beforehand;
they have been seen since, so a later change they inform needs another fresh set."""

FRESH: Dict[str, Tuple[Callable[[], GaussianMixture], Tuple[str, ...]]] = {
    "ring10_sharp": (lambda: ring_of_gaussians(10, radius=1.5, std=0.025), ("2d", "sharp")),
    "modes150_2d": (lambda: _many(150, 2, 0.02, seed=1502, spread=3.0), ("2d", "sharp", "many_modes")),
    "modes60_16d": (lambda: _many(60, 16, 0.12, seed=6016), ("many_modes",)),
    "four_scales_1d": (lambda: GaussianMixture([[-3.0], [-1.0], [1.5], [4.0]], [0.8, 0.2, 0.04, 0.01],
                                               [0.3, 0.3, 0.3, 0.1]), ("1d", "sharp")),
    "outlier_32d": (lambda: _with_outlier(6, 32, 3232, 3.0, 0.3, 0.08, 0.03, spread=0.8),
                    ("outlier", "unequal_weights", "high_dim")),
    "unequal_5d": (lambda: _unequal(4, 5, 505, 1.2, 0.2, 1.0), ("unequal_weights",)),  # ratio 10^3
    "full24_cond1000": (lambda: _ill_conditioned(24, 3, 1000.0), ("full_cov", "ill_conditioned")),
    "lowrank160_r10": (lambda: _low_rank(160, 4, 10, seed=16010), ("low_rank", "high_dim")),
    "diag64_sharp": (lambda: _diag(5, 64, 6464, 0.04, 0.6, 0.7), ("diagonal", "high_dim", "sharp")),
}
"""A fourth set, in neither half nor ``HOLDOUT``: new members of the suite's families, fixed in
code (``benchmarks/RESULTS.md``, few-step section 14) before any sampler ran on them, to report
a change chosen on the tuning half after ``HOLDOUT`` had been seen."""


FRESH2: Dict[str, Tuple[Callable[[], GaussianMixture], Tuple[str, ...]]] = {
    "ring5_sharp": (lambda: ring_of_gaussians(5, radius=1.0, std=0.04), ("2d", "sharp")),
    "modes120_3d": (lambda: _many(120, 3, 0.05, seed=1203, spread=2.0), ("sharp", "many_modes")),
    "modes40_24d": (lambda: _many(40, 24, 0.18, seed=4024), ("many_modes", "high_dim")),
    "five_scales_1d": (lambda: GaussianMixture([[-4.0], [-1.5], [0.0], [2.0], [5.0]],
                                               [1.0, 0.3, 0.05, 0.02, 0.2], [0.2, 0.2, 0.2, 0.2, 0.2]),
                       ("1d", "sharp")),
    "outlier_4d": (lambda: _with_outlier(3, 4, 404, 5.0, 0.3, 0.05, 0.01),
                   ("outlier", "unequal_weights")),
    "unequal_12d": (lambda: _unequal(5, 12, 1212, 1.0, 0.25, 0.75), ("unequal_weights",)),
    "full12_cond3000": (lambda: _ill_conditioned(12, 3, 3000.0), ("full_cov", "ill_conditioned")),
    "lowrank200_r5": (lambda: _low_rank(200, 3, 5, seed=2005), ("low_rank", "high_dim")),
    "diag192": (lambda: GaussianMixture(_f64(4, 192, g=_gen(192)) * 0.5,
                                        torch.exp(torch.empty(4, 192, dtype=torch.float64).uniform_(
                                            math.log(0.03), 0.0, generator=_gen(1920))) * 0.5, None),
                ("diagonal", "high_dim", "sharp")),
}
"""A fifth set, in no other: fixed in code (``benchmarks/RESULTS.md``, few-step section 14i) before
any sampler ran on it, to report the order-4 step limit chosen on the tuning half after
``FRESH`` had been seen."""

FRESH3: Dict[str, Tuple[Callable[[], GaussianMixture], Tuple[str, ...]]] = {
    "ring9_sharp": (lambda: ring_of_gaussians(9, radius=1.8, std=0.03), ("2d", "sharp")),
    "modes110_6d": (lambda: _many(110, 6, 0.07, seed=1106, spread=1.2), ("sharp", "many_modes")),
    "modes30_48d": (lambda: _many(30, 48, 0.16, seed=3048), ("many_modes", "high_dim")),
    "six_scales_1d": (lambda: GaussianMixture([[-5.0], [-2.0], [-0.5], [1.0], [3.0], [6.0]],
                                              [1.2, 0.4, 0.06, 0.03, 0.1, 0.015],
                                              [0.25, 0.25, 0.2, 0.15, 0.1, 0.05]), ("1d", "sharp")),
    "outlier_24d": (lambda: _with_outlier(5, 24, 2424, -3.5, 0.3, 0.06, 0.02, spread=0.9),
                    ("outlier", "unequal_weights", "high_dim")),
    "unequal_8d": (lambda: _unequal(5, 8, 888, 1.3, 0.2, 0.8), ("unequal_weights",)),  # 10^3.2
    "full20_cond1500": (lambda: _ill_conditioned(20, 3, 1500.0), ("full_cov", "ill_conditioned")),
    "lowrank144_r7": (lambda: _low_rank(144, 5, 7, seed=14407), ("low_rank", "high_dim")),
    "diag96_sharp": (lambda: _diag(4, 96, 9696, 0.035, 0.5, 0.65), ("diagonal", "high_dim", "sharp")),
}
"""A sixth set, in no other: fixed in code (``benchmarks/RESULTS.md``, few-step section 15) before
any sampler ran on it, to report the order-4 step limit re-chosen on the tuning half with its
two sharp rings, after ``FRESH2`` had been seen (the limit lost there and was not kept)."""

FRESH4: Dict[str, Tuple[Callable[[], GaussianMixture], Tuple[str, ...]]] = {
    "ring11_sharp": (lambda: ring_of_gaussians(11, radius=2.2, std=0.035), ("2d", "sharp")),
    "modes130_3d": (lambda: _many(130, 3, 0.05, seed=1303, spread=1.8), ("sharp", "many_modes")),
    "modes25_80d": (lambda: _many(25, 80, 0.17, seed=2580), ("many_modes", "high_dim")),
    "seven_scales_1d": (lambda: GaussianMixture([[-6.0], [-3.0], [-1.0], [0.5], [2.0], [4.0], [7.0]],
                                                [0.8, 0.3, 0.05, 0.02, 0.2, 0.04, 0.5],
                                                [0.2, 0.2, 0.15, 0.15, 0.1, 0.1, 0.1]), ("1d", "sharp")),
    "outlier_12d": (lambda: _with_outlier(4, 12, 1200, 4.0, 0.3, 0.07, 0.015, spread=1.1),
                    ("outlier", "unequal_weights")),
    "unequal_6d": (lambda: _unequal(6, 6, 606, 1.4, 0.2, 0.7), ("unequal_weights",)),  # 10^3.5
    "full28_cond2500": (lambda: _ill_conditioned(28, 3, 2500.0), ("full_cov", "ill_conditioned")),
    "lowrank176_r9": (lambda: _low_rank(176, 4, 9, seed=17609), ("low_rank", "high_dim")),
    "diag112_sharp": (lambda: _diag(5, 112, 11211, 0.03, 0.55, 0.6), ("diagonal", "high_dim", "sharp")),
}
"""A seventh set, in no other: fixed in code (``benchmarks/RESULTS.md``, few-step section 15h)
before any sampler ran on it, to report optimize_grid over UniPC and iPNDM (the one with the
smaller held-out RMS), chosen on the tuning half after ``FRESH3`` had been seen."""

FRESH5: Dict[str, Tuple[Callable[[], GaussianMixture], Tuple[str, ...]]] = {
    "ring13_sharp": (lambda: ring_of_gaussians(13, radius=2.6, std=0.04), ("2d", "sharp")),
    "modes140_5d": (lambda: _many(140, 5, 0.06, seed=1405, spread=1.5), ("sharp", "many_modes")),
    "modes35_64d": (lambda: _many(35, 64, 0.15, seed=3564), ("many_modes", "high_dim")),
    "eight_scales_1d": (lambda: GaussianMixture(
        [[-7.0], [-4.0], [-2.0], [-0.5], [1.0], [2.5], [5.0], [8.0]],
        [0.6, 0.25, 0.1, 0.04, 0.03, 0.15, 0.3, 0.08],
        [0.3, 0.1, 0.2, 0.05, 0.05, 0.1, 0.15, 0.05]), ("1d", "sharp")),
    "outlier_20d": (lambda: _with_outlier(6, 20, 2020, 3.0, 0.25, 0.05, 0.012, spread=1.0),
                    ("outlier", "unequal_weights", "high_dim")),
    "unequal_10d": (lambda: _unequal(5, 10, 1010, 1.5, 0.25, 0.85), ("unequal_weights",)),  # 10^3.4
    "full36_cond2200": (lambda: _ill_conditioned(36, 3, 2200.0), ("full_cov", "ill_conditioned")),
    "lowrank136_r8": (lambda: _low_rank(136, 4, 8, seed=13608), ("low_rank", "high_dim")),
    "diag120_sharp": (lambda: _diag(5, 120, 12012, 0.03, 0.5, 0.6), ("diagonal", "high_dim", "sharp")),
}
"""An eighth set, in no other: fixed in code (``benchmarks/RESULTS.md``, few-step section 16)
before any sampler ran on it, to report optimize_grid's calibration batch re-chosen on the
tuning half after ``FRESH4`` had been seen."""

FRESH6: Dict[str, Tuple[Callable[[], GaussianMixture], Tuple[str, ...]]] = {
    "ring14_sharp": (lambda: ring_of_gaussians(14, radius=2.8, std=0.035), ("2d", "sharp")),
    "modes120_4d": (lambda: _many(120, 4, 0.055, seed=1204, spread=1.6), ("sharp", "many_modes")),
    "modes45_40d": (lambda: _many(45, 40, 0.15, seed=4540), ("many_modes", "high_dim")),
    "nine_scales_1d": (lambda: GaussianMixture(
        [[-8.0], [-5.0], [-3.0], [-1.5], [0.0], [1.5], [3.5], [6.0], [9.0]],
        [0.5, 0.2, 0.08, 0.04, 0.3, 0.03, 0.12, 0.25, 0.06],
        [0.2, 0.1, 0.15, 0.05, 0.2, 0.05, 0.1, 0.1, 0.05]), ("1d", "sharp")),
    "outlier_28d": (lambda: _with_outlier(5, 28, 2828, -3.2, 0.28, 0.05, 0.01, spread=1.0),
                    ("outlier", "unequal_weights", "high_dim")),
    "unequal_7d": (lambda: _unequal(6, 7, 707, 1.4, 0.22, 0.7), ("unequal_weights",)),  # 10^3.5
    "full26_cond3000": (lambda: _ill_conditioned(26, 3, 3000.0), ("full_cov", "ill_conditioned")),
    "lowrank152_r6": (lambda: _low_rank(152, 5, 6, seed=15206), ("low_rank", "high_dim")),
    "diag136_sharp": (lambda: _diag(4, 136, 13613, 0.03, 0.5, 0.6), ("diagonal", "high_dim", "sharp")),
}
"""A ninth set, in no other: fixed in code (``benchmarks/RESULTS.md``, few-step section 16f)
before any sampler ran on it, to report iPNDM's orders as candidates of its optimize_grid
search, chosen on the tuning half after ``FRESH5`` had been seen."""

FRESH7: Dict[str, Tuple[Callable[[], GaussianMixture], Tuple[str, ...]]] = {
    "ring15_sharp": (lambda: ring_of_gaussians(15, radius=3.0, std=0.045), ("2d", "sharp")),
    "ring16_sharp": (lambda: ring_of_gaussians(16, radius=1.6, std=0.018), ("2d", "sharp")),
    "grid16_sharp": (lambda: _lattice(4, 1.0, 0.025), ("2d", "sharp", "many_modes")),
    "modes100_3d": (lambda: _many(100, 3, 0.05, seed=1003, spread=1.7), ("sharp", "many_modes")),
    "modes40_56d": (lambda: _many(40, 56, 0.16, seed=4056), ("many_modes", "high_dim")),
    "ten_scales_1d": (lambda: GaussianMixture(
        [[-9.0], [-6.0], [-4.0], [-2.0], [-0.7], [0.5], [1.8], [3.5], [6.0], [8.5]],
        [0.6, 0.2, 0.08, 0.05, 0.03, 0.25, 0.04, 0.1, 0.3, 0.05],
        [0.15, 0.1, 0.1, 0.05, 0.05, 0.15, 0.05, 0.1, 0.15, 0.1]), ("1d", "sharp")),
    "outlier_36d": (lambda: _with_outlier(5, 36, 3636, 3.4, 0.27, 0.05, 0.012, spread=0.95),
                    ("outlier", "unequal_weights", "high_dim")),
    "unequal_9d": (lambda: _unequal(5, 9, 909, 1.3, 0.22, 0.8), ("unequal_weights",)),  # 10^3.2
    "full30_cond2800": (lambda: _ill_conditioned(30, 3, 2800.0), ("full_cov", "ill_conditioned")),
    "lowrank168_r5": (lambda: _low_rank(168, 4, 5, seed=16805), ("low_rank", "high_dim")),
    "diag104_sharp": (lambda: _diag(5, 104, 10410, 0.035, 0.5, 0.6), ("diagonal", "high_dim", "sharp")),
}
"""A tenth set, in no other: fixed in code (``benchmarks/RESULTS.md``, few-step section 18) before
any sampler or probe ran on it, to report the sharp-modes probe (section 18's first version of
``solvers.sharp_modes``), whose thresholds were chosen on the tuning half. Besides
one member of each family it holds a second sharp ring and a sharp square lattice (grid25's
family, whose modes sit just below the probe's threshold on the tuning half), so that the probe
can be seen to fire and to err."""

FRESH8: Dict[str, Tuple[Callable[[], GaussianMixture], Tuple[str, ...]]] = {
    "ring17_sharp": (lambda: ring_of_gaussians(17, radius=3.2, std=0.04), ("2d", "sharp")),
    "modes105_5d": (lambda: _many(105, 5, 0.06, seed=1055, spread=1.4), ("sharp", "many_modes")),
    "modes28_72d": (lambda: _many(28, 72, 0.16, seed=2872), ("many_modes", "high_dim")),
    "eleven_scales_1d": (lambda: GaussianMixture(
        [[-10.0], [-7.0], [-5.0], [-3.0], [-1.5], [0.0], [1.2], [2.5], [4.5], [7.0], [9.5]],
        [0.4, 0.15, 0.06, 0.1, 0.03, 0.5, 0.04, 0.08, 0.2, 0.06, 0.3],
        [0.1, 0.05, 0.1, 0.1, 0.05, 0.15, 0.05, 0.1, 0.1, 0.05, 0.15]), ("1d", "sharp")),
    "outlier_40d": (lambda: _with_outlier(5, 40, 4040, 3.0, 0.26, 0.05, 0.011, spread=1.0),
                    ("outlier", "unequal_weights", "high_dim")),
    "unequal_11d": (lambda: _unequal(5, 11, 1111, 1.35, 0.21, 0.8), ("unequal_weights",)),  # 10^3.2
    "full22_cond2600": (lambda: _ill_conditioned(22, 3, 2600.0), ("full_cov", "ill_conditioned")),
    "lowrank184_r6": (lambda: _low_rank(184, 4, 6, seed=18406), ("low_rank", "high_dim")),
    "lowrank72_r3": (lambda: _low_rank(72, 3, 3, seed=7203), ("low_rank", "high_dim")),
    "lowrank56_floor": (lambda: _low_rank(56, 4, 5, seed=5605, floor=0.01), ("low_rank", "near_singular")),
    "diag144_sharp": (lambda: _diag(5, 144, 14414, 0.03, 0.5, 0.6), ("diagonal", "high_dim", "sharp")),
}
"""An eleventh set, in no other: fixed in code (``benchmarks/RESULTS.md``, few-step section 19)
before any sampler ran on it, to report optimize_grid's search of the last time before a final
step onto sigma = 0, chosen on the tuning half after ``FRESH7`` had been seen. Besides one member
of each family it holds two more low-rank mixtures (one with an off-subspace floor, like the
tuning half's lowrank48_floor), the data where that step matters."""

FRESH9: Dict[str, Tuple[Callable[[], GaussianMixture], Tuple[str, ...]]] = {
    "ring18_sharp": (lambda: ring_of_gaussians(18, radius=3.4, std=0.045), ("2d", "sharp")),
    "ring4_sharp": (lambda: ring_of_gaussians(4, radius=1.0, std=0.02), ("2d", "sharp")),
    "modes115_4d": (lambda: _many(115, 4, 0.05, seed=1154, spread=1.5), ("sharp", "many_modes")),
    "modes32_96d": (lambda: _many(32, 96, 0.15, seed=3296), ("many_modes", "high_dim")),
    "modes60_24d": (lambda: _many(60, 24, 0.14, seed=6024), ("many_modes", "high_dim")),
    "twelve_scales_1d": (lambda: GaussianMixture(
        [[-11.0], [-8.0], [-6.0], [-4.0], [-2.5], [-1.0], [0.0], [1.5], [3.0], [5.0], [7.5], [10.0]],
        [0.3, 0.1, 0.05, 0.2, 0.04, 0.08, 0.4, 0.03, 0.15, 0.06, 0.25, 0.1],
        [0.1, 0.05, 0.1, 0.1, 0.05, 0.1, 0.15, 0.05, 0.1, 0.05, 0.1, 0.05]), ("1d", "sharp")),
    "outlier_44d": (lambda: _with_outlier(5, 44, 4444, -3.1, 0.25, 0.05, 0.012, spread=1.0),
                    ("outlier", "unequal_weights", "high_dim")),
    "unequal_13d": (lambda: _unequal(5, 13, 1313, 1.3, 0.2, 0.8), ("unequal_weights",)),  # 10^3.2
    "full34_cond1800": (lambda: _ill_conditioned(34, 3, 1800.0), ("full_cov", "ill_conditioned")),
    "lowrank192_r7": (lambda: _low_rank(192, 4, 7, seed=19207), ("low_rank", "high_dim")),
    "diag160_sharp": (lambda: _diag(5, 160, 16016, 0.03, 0.5, 0.6), ("diagonal", "high_dim", "sharp")),
}
"""A twelfth set, in no other: fixed in code (``benchmarks/RESULTS.md``, few-step section 21)
before any sampler ran on it, to report EDM DPM-Solver-3's step onto sigma = 0 from higher up,
chosen on the tuning half after ``FRESH8`` had been seen. Besides one member of each family it
holds a second sharp ring (of four modes) and a second many-mode mixture in 24 dimensions."""

FRESH10: Dict[str, Tuple[Callable[[], GaussianMixture], Tuple[str, ...]]] = {
    "ring19_sharp": (lambda: ring_of_gaussians(19, radius=3.6, std=0.045), ("2d", "sharp")),
    "ring3_wide": (lambda: ring_of_gaussians(3, radius=1.2, std=0.06), ("2d", "sharp")),
    "embedded_ring9_6d": (lambda: _embedded_ring(9, 1.6, 0.03, 6), ("sharp",)),
    "grid9_sharp": (lambda: _lattice(3, 1.0, 0.03), ("2d", "sharp")),
    "line8_sharp": (lambda: _line(8, 0.5, 0.02, 0.3), ("2d", "sharp")),
    "modes104_4d": (lambda: _many(104, 4, 0.055, seed=1044, spread=1.5), ("sharp", "many_modes")),
    "modes36_48d": (lambda: _many(36, 48, 0.16, seed=3648), ("many_modes", "high_dim")),
    "seven_scales_b_1d": (lambda: GaussianMixture(
        [[-6.5], [-3.5], [-1.2], [0.3], [2.2], [4.4], [7.5]],
        [0.5, 0.08, 0.25, 0.03, 0.12, 0.04, 0.6],
        [0.15, 0.1, 0.2, 0.1, 0.15, 0.1, 0.2]), ("1d", "sharp")),
    "outlier_30d": (lambda: _with_outlier(5, 30, 3030, 3.2, 0.26, 0.05, 0.012, spread=1.0),
                    ("outlier", "unequal_weights", "high_dim")),
    "unequal_14d": (lambda: _unequal(5, 14, 1414, 1.3, 0.21, 0.8), ("unequal_weights",)),  # 10^3.2
    "full18_cond2400": (lambda: _ill_conditioned(18, 3, 2400.0), ("full_cov", "ill_conditioned")),
    "lowrank132_r6": (lambda: _low_rank(132, 4, 6, seed=13206), ("low_rank", "high_dim")),
    "diag88_sharp": (lambda: _diag(5, 88, 8888, 0.035, 0.5, 0.6), ("diagonal", "high_dim", "sharp")),
}
"""A thirteenth set, in no other: fixed in code (``benchmarks/RESULTS.md``, few-step section 22)
before any sampler or probe ran on it, to report two changes chosen on the sets seen before
(the tuning half, the validation half, ``HOLDOUT`` and ``FRESH`` to ``FRESH9``): the
sharp-modes probe re-chosen (UniPC's settings for data whose modes merge as noise grows) and
EDM DPM-Solver-3's step onto sigma = 0 from higher up. Besides one member of each family it
holds rings of other crowding (19 modes; 3 wide modes), a ring embedded in 6 dimensions, a
3 x 3 lattice and sharp modes on a line."""

FRESH11: Dict[str, Tuple[Callable[[], GaussianMixture], Tuple[str, ...]]] = {
    "grid36_sharp": (lambda: _lattice(6, 0.8, 0.02), ("2d", "sharp", "many_modes")),
    "line10_sharp": (lambda: _line(10, 0.4, 0.018, -0.5), ("2d", "sharp")),
    "line5_sharp": (lambda: _line(5, 0.8, 0.03, 1.0), ("2d", "sharp")),
    "concentric_rings_sharp": (lambda: _concentric(5, 0.8, 11, 2.0, 0.025), ("2d", "sharp")),
    "modes110_2d": (lambda: _many(110, 2, 0.025, seed=1102, spread=2.5), ("2d", "sharp", "many_modes")),
    "eight_scales_b_1d": (lambda: GaussianMixture(
        [[-7.5], [-4.5], [-2.2], [-0.6], [0.8], [2.6], [5.0], [8.0]],
        [0.35, 0.05, 0.2, 0.03, 0.1, 0.04, 0.3, 0.08],
        [0.15, 0.1, 0.15, 0.1, 0.15, 0.1, 0.15, 0.1]), ("1d", "sharp")),
    "six_scales_b_1d": (lambda: GaussianMixture(
        [[-5.5], [-2.5], [-0.4], [1.3], [3.6], [6.5]],
        [0.25, 0.04, 0.12, 0.02, 0.3, 0.06],
        [0.2, 0.15, 0.2, 0.1, 0.2, 0.15]), ("1d", "sharp")),
    "ring20_sharp": (lambda: ring_of_gaussians(20, radius=3.8, std=0.045), ("2d", "sharp")),
    "lowrank140_r5": (lambda: _low_rank(140, 4, 5, seed=14005), ("low_rank", "high_dim")),
    "full16_cond3500": (lambda: _ill_conditioned(16, 3, 3500.0), ("full_cov", "ill_conditioned")),
    "unequal_15d": (lambda: _unequal(5, 15, 1515, 1.3, 0.2, 0.8), ("unequal_weights",)),  # 10^3.2
}
"""A fourteenth set, in no other: fixed in code (``benchmarks/RESULTS.md``, few-step section 23)
before any sampler or probe ran on it, to report DEIS-3 for sharp data that is not ring-like at
13-24 steps (``solvers.sharp_modes``), chosen on every set seen before. Most of it is sharp data
of the kinds that branch takes (a lattice, modes on two lines, two concentric rings, many sharp
modes in 2-D, two sharp 1-D mixtures) and one ring, which it must leave to UniPC; three more
problems keep the suite's axes."""

FRESH12: Dict[str, Tuple[Callable[[], GaussianMixture], Tuple[str, ...]]] = {
    "ring21_sharp": (lambda: ring_of_gaussians(21, radius=4.0, std=0.04), ("2d", "sharp")),
    "ring22_sharp": (lambda: ring_of_gaussians(22, radius=2.4, std=0.015), ("2d", "sharp")),
    "ring23_sharp": (lambda: ring_of_gaussians(23, radius=4.4, std=0.05), ("2d", "sharp")),
    "ring25_sharp": (lambda: ring_of_gaussians(25, radius=3.0, std=0.02), ("2d", "sharp")),
    "ring26_sharp": (lambda: ring_of_gaussians(26, radius=5.0, std=0.055), ("2d", "sharp")),
    "weighted_ring11_sharp": (lambda: GaussianMixture(ring_of_gaussians(11, radius=2.0, std=0.03).means,
                                                      torch.full((11,), 0.03),
                                                      torch.linspace(1.0, 4.0, 11, dtype=torch.float64)),
                              ("2d", "sharp", "unequal_weights")),
    "modes102_3d": (lambda: _many(102, 3, 0.05, seed=1023, spread=1.7), ("sharp", "many_modes")),
    "five_scales_b_1d": (lambda: GaussianMixture([[-4.5], [-1.8], [0.2], [2.4], [5.5]],
                                                 [0.6, 0.05, 0.25, 0.03, 0.4], [0.25, 0.15, 0.25, 0.15, 0.2]),
                         ("1d", "sharp")),
    "lowrank150_r4": (lambda: _low_rank(150, 4, 4, seed=15004), ("low_rank", "high_dim")),
    "full20_cond4000": (lambda: _ill_conditioned(20, 3, 4000.0), ("full_cov", "ill_conditioned")),
    "unequal_16d": (lambda: _unequal(5, 16, 1616, 1.3, 0.2, 0.8), ("unequal_weights",)),  # 10^3.2
}
"""A fifteenth set, in no other: fixed in code (``benchmarks/RESULTS.md``, few-step section 24)
before any sampler or probe ran on it, to report UniPC-2 for ring-like sharp data at 13-22 steps
(``solvers.sharp_modes``), chosen on every set seen before. It holds five rings of other mode
counts, radii and widths and a ring with unequal weights, which that branch should take, and one
member of each other family."""

FRESH13: Dict[str, Tuple[Callable[[], GaussianMixture], Tuple[str, ...]]] = {
    "emb_ring11_7d": (lambda: _embedded_ring(11, 1.8, 0.025, 7), ("sharp", "embedded")),
    "emb_ring14_12d": (lambda: _embedded_ring(14, 2.2, 0.03, 12), ("sharp", "embedded")),
    "emb_ring7_3d": (lambda: _embedded_ring(7, 1.0, 0.03, 3), ("sharp", "embedded")),
    "emb_ring20_20d": (lambda: _embedded_ring(20, 3.0, 0.025, 20), ("sharp", "embedded", "high_dim")),
    "emb_lattice16_5d": (lambda: _embedded_modes(_lattice(4, 0.6, 0.025).means, 0.025, 5), ("sharp", "embedded")),
    "emb_line9_4d": (lambda: _embedded_modes(_line(9, 0.4, 0.02, 0.5).means, 0.02, 4), ("sharp", "embedded")),
    "few4_9d": (lambda: _many(4, 9, 0.05, seed=1349), ("sharp",)),
    "few3_14d": (lambda: _many(3, 14, 0.06, seed=1314), ("sharp",)),
    "full14_cond2500": (lambda: _ill_conditioned(14, 3, 2500.0), ("full_cov", "ill_conditioned")),
    "ring27_sharp": (lambda: ring_of_gaussians(27, 3.2, 0.02), ("2d", "sharp")),
    "four_scales_c_1d": (lambda: GaussianMixture([[-3.0], [-0.5], [1.5], [4.0]], [0.3, 0.04, 0.5, 0.06],
                                                 [0.3, 0.2, 0.3, 0.2]), ("1d", "sharp")),
    "lowrank160_r3": (lambda: _low_rank(160, 4, 3, seed=16003), ("low_rank", "high_dim")),
    "modes105_3d": (lambda: _many(105, 3, 0.05, seed=1053, spread=1.7), ("sharp", "many_modes")),
    "unequal_17d": (lambda: _unequal(5, 17, 1717, 1.3, 0.2, 0.8), ("unequal_weights",)),  # 10^3.2
}
"""A sixteenth set, in no other: fixed in code (``benchmarks/RESULTS.md``, few-step section 25)
before any sampler or probe ran on it, to report the probe on embedded data (R in the principal
subspace, ``solvers.sharp_modes.principal_basis``), chosen on every set seen before and
``bench_sharp_modes.EXTRA2``. It holds six sharp 2-D data embedded in 3-20 coordinates, which the
probe should now take, and eight it should leave as before: few random modes in 9-D and 14-D, an
ill-conditioned full covariance, a plain 2-D ring, and one member of each other family (1-D,
low-rank in 160-D, 105 modes, unequal weights)."""

FRESH14: Dict[str, Tuple[Callable[[], GaussianMixture], Tuple[str, ...]]] = {
    "line7_sharp": (lambda: _line(7, 0.6, 0.02, -0.7), ("2d", "sharp")),
    "line13_sharp": (lambda: _line(13, 0.3, 0.012, 0.1), ("2d", "sharp")),
    "emb_line6_3d": (lambda: _embedded_modes(_line(6, 0.7, 0.025, 0.4).means, 0.025, 3), ("sharp", "embedded")),
    "emb_line11_6d": (lambda: _embedded_modes(_line(11, 0.35, 0.015, -0.3).means, 0.015, 6), ("sharp", "embedded")),
    "emb_line8_10d": (lambda: _embedded_modes(_line(8, 0.5, 0.02, 1.5).means, 0.02, 10), ("sharp", "embedded")),
    "emb_line5_8d": (lambda: _embedded_modes(_line(5, 0.9, 0.03, 0.0).means, 0.03, 8), ("sharp", "embedded")),
    "grid49_sharp": (lambda: _lattice(7, 0.5, 0.02), ("2d", "sharp")),
    "emb_ring10_5d": (lambda: _embedded_ring(10, 1.4, 0.025, 5), ("sharp", "embedded")),
    "five_scales_c_1d": (lambda: GaussianMixture([[-4.0], [-1.5], [0.5], [2.0], [4.5]], [0.05, 0.3, 0.03, 0.6, 0.08],
                                                 [0.2, 0.2, 0.2, 0.2, 0.2]), ("1d", "sharp")),
    "lowrank170_r4": (lambda: _low_rank(170, 4, 4, seed=17004), ("low_rank", "high_dim")),
    "full22_cond3200": (lambda: _ill_conditioned(22, 3, 3200.0), ("full_cov", "ill_conditioned")),
    "modes108_3d": (lambda: _many(108, 3, 0.05, seed=1083, spread=1.7), ("sharp", "many_modes")),
    "unequal_18d": (lambda: _unequal(5, 18, 1818, 1.3, 0.2, 0.8), ("unequal_weights",)),  # 10^3.2
}
"""A seventeenth set, in no other: fixed in code (``benchmarks/RESULTS.md``, few-step section 26)
before any sampler or probe ran on it, to report DEIS-3 for line-like sharp data at 10-12 steps
(``solvers.sharp_modes``), chosen on every set seen before. It holds six lines of sharp modes (two in
2-D, four embedded in 3-10 coordinates), which that entry should take, and seven it should leave
alone: a lattice, an embedded ring, a sharp 1-D mixture and one member of each other family."""

FRESH15: Dict[str, Tuple[Callable[[], GaussianMixture], Tuple[str, ...]]] = {
    "line9_sharp": (lambda: _line(9, 0.45, 0.015, 0.6), ("2d", "sharp")),
    "line6_sharp": (lambda: _line(6, 0.8, 0.03, -0.2), ("2d", "sharp")),
    "emb_line7_4d": (lambda: _embedded_modes(_line(7, 0.55, 0.02, -1.2).means, 0.02, 4), ("sharp", "embedded")),
    "emb_line10_7d": (lambda: _embedded_modes(_line(10, 0.4, 0.018, 0.25).means, 0.018, 7), ("sharp", "embedded")),
    "emb_line12_12d": (lambda: _embedded_modes(_line(12, 0.3, 0.012, 0.8).means, 0.012, 12), ("sharp", "embedded")),
    "emb_line4_6d": (lambda: _embedded_modes(_line(4, 1.0, 0.035, 0.5).means, 0.035, 6), ("sharp", "embedded")),
    "lattice16_sharp": (lambda: _lattice(4, 0.7, 0.025), ("2d", "sharp")),
    "emb_ring13_9d": (lambda: _embedded_ring(13, 2.0, 0.025, 9), ("sharp", "embedded")),
    "six_scales_c_1d": (lambda: GaussianMixture([[-5.0], [-2.5], [-0.5], [1.0], [3.0], [5.5]],
                                                [0.04, 0.5, 0.06, 0.2, 0.03, 0.7], None), ("1d", "sharp")),
    "lowrank180_r5": (lambda: _low_rank(180, 4, 5, seed=18005), ("low_rank", "high_dim")),
    "full23_cond2700": (lambda: _ill_conditioned(23, 3, 2700.0), ("full_cov", "ill_conditioned")),
    "modes112_3d": (lambda: _many(112, 3, 0.05, seed=1123, spread=1.7), ("sharp", "many_modes")),
    "unequal_19d": (lambda: _unequal(5, 19, 1919, 1.3, 0.2, 0.8), ("unequal_weights",)),  # 10^3.2
}
"""An eighteenth set, in no other: fixed in code (``benchmarks/RESULTS.md``, few-step section 26d)
before any sampler or probe ran on it, for a second test of DEIS-3 for line-like sharp data at
10-12 steps (``solvers.sharp_modes``' ``"line"`` entry), which failed section 26's count of improved cells on
``FRESH14`` while making no cell worse. Six lines (two in 2-D, four embedded in 4-12 coordinates)
and seven controls (a lattice, an embedded ring, a sharp 1-D mixture, one member of each other family)."""

FRESH16: Dict[str, Tuple[Callable[[], GaussianMixture], Tuple[str, ...]]] = {
    "lowrank100_r4": (lambda: _low_rank(100, 3, 4, seed=10004), ("low_rank", "high_dim")),
    "lowrank210_r6": (lambda: _low_rank(210, 5, 6, seed=21006), ("low_rank", "high_dim")),
    "lowrank40_r5": (lambda: _low_rank(40, 4, 5, seed=4005), ("low_rank", "high_dim")),
    "lowrank120_r8_floor": (lambda: _low_rank(120, 4, 8, seed=12008, floor=0.02), ("low_rank", "high_dim")),
    "lowrank64_r2": (lambda: _low_rank(64, 6, 2, seed=6402), ("low_rank", "high_dim")),
    "lowrank230_r9": (lambda: _low_rank(230, 2, 9, seed=23009), ("low_rank", "high_dim")),
    "lowrank28_r7": (lambda: _low_rank(28, 3, 7, seed=2807), ("low_rank",)),
    "full25_cond2900": (lambda: _ill_conditioned(25, 3, 2900.0), ("full_cov", "ill_conditioned")),
    "unequal_20d": (lambda: _unequal(5, 20, 2020, 1.3, 0.2, 0.8), ("unequal_weights",)),
    "modes115_3d": (lambda: _many(115, 3, 0.05, seed=1153, spread=1.7), ("sharp", "many_modes")),
    "emb_ring12_6d": (lambda: _embedded_ring(12, 2.0, 0.025, 6), ("sharp", "embedded")),
    "outlier_22d": (lambda: _with_outlier(5, 22, 2221, 2.8, 0.3, 0.08, 0.03), ("outlier",)),
    "diag150_sharp": (lambda: _diag(5, 150, 15015, 0.03, 0.5, 0.6), ("diagonal", "high_dim", "sharp")),
    "seven_scales_d_1d": (lambda: GaussianMixture([[-6.0], [-3.5], [-1.5], [0.0], [1.5], [3.0], [5.0]],
                                                  [0.05, 0.6, 0.04, 0.3, 0.08, 0.03, 0.9], None), ("1d", "sharp")),
}
"""A nineteenth set, in no other: fixed in code (``benchmarks/RESULTS.md``, few-step section 27b)
before any sampler or probe ran on it, to test the low-rank entry of ``solvers.sharp_modes`` on VP
(UniPC ending early with the denoiser where R stays high at both probe levels). Seven mixtures of
low-rank Gaussians (28-230 coordinates, ranks 2-9, one with a noise floor) and seven controls
(one of each other family)."""

FRESH17: Dict[str, Tuple[Callable[[], GaussianMixture], Tuple[str, ...]]] = {
    "lowrank90_r3": (lambda: _low_rank(90, 4, 3, seed=9003), ("low_rank", "high_dim")),
    "lowrank190_r8": (lambda: _low_rank(190, 3, 8, seed=19008), ("low_rank", "high_dim")),
    "lowrank50_r6": (lambda: _low_rank(50, 5, 6, seed=5006), ("low_rank", "high_dim")),
    "lowrank140_r7_floor": (lambda: _low_rank(140, 3, 7, seed=14007, floor=0.015), ("low_rank", "high_dim")),
    "lowrank76_r2": (lambda: _low_rank(76, 5, 2, seed=7602), ("low_rank", "high_dim")),
    "lowrank250_r10": (lambda: _low_rank(250, 2, 10, seed=25010), ("low_rank", "high_dim")),
    "lowrank36_r4": (lambda: _low_rank(36, 4, 4, seed=3604), ("low_rank",)),
    "full21_cond2200": (lambda: _ill_conditioned(21, 3, 2200.0), ("full_cov", "ill_conditioned")),
    "unequal_21d": (lambda: _unequal(5, 21, 2121, 1.3, 0.2, 0.8), ("unequal_weights",)),
    "modes118_3d": (lambda: _many(118, 3, 0.05, seed=1183, spread=1.7), ("sharp", "many_modes")),
    "emb_ring13_7d": (lambda: _embedded_ring(13, 2.0, 0.025, 7), ("sharp", "embedded")),
    "outlier_26d": (lambda: _with_outlier(5, 26, 2626, 3.0, 0.28, 0.06, 0.02), ("outlier",)),
    "diag170_sharp": (lambda: _diag(5, 170, 17017, 0.03, 0.5, 0.6), ("diagonal", "high_dim", "sharp")),
    "eight_scales_e_1d": (lambda: GaussianMixture([[-7.0], [-4.5], [-2.5], [-1.0], [0.5], [2.0], [4.0], [6.5]],
                                                  [0.04, 0.5, 0.06, 0.25, 0.03, 0.7, 0.08, 0.35], None),
                          ("1d", "sharp")),
}
"""A twentieth set, in no other: fixed in code (``benchmarks/RESULTS.md``, few-step section 28b)
before any sampler or probe ran on it, to test the low-rank entry of ``solvers.sharp_modes`` on EDM
(UniPC ending early with the denoiser where R stays high at both probe levels). Seven mixtures of
low-rank Gaussians (36-250 coordinates, ranks 2-10, one with a noise floor) and seven controls
(one of each other family)."""

FRESH18: Dict[str, Tuple[Callable[[], GaussianMixture], Tuple[str, ...]]] = {
    "lowrank60_r3": (lambda: _low_rank(60, 4, 3, seed=6003), ("low_rank", "high_dim")),
    "lowrank110_r5": (lambda: _low_rank(110, 3, 5, seed=11005), ("low_rank", "high_dim")),
    "lowrank160_r6": (lambda: _low_rank(160, 4, 6, seed=16006), ("low_rank", "high_dim")),
    "lowrank200_r8": (lambda: _low_rank(200, 2, 8, seed=20008), ("low_rank", "high_dim")),
    "lowrank44_r4": (lambda: _low_rank(44, 5, 4, seed=4404), ("low_rank",)),
    "lowrank84_r2": (lambda: _low_rank(84, 6, 2, seed=8402), ("low_rank", "high_dim")),
    "lowrank130_r9_floor": (lambda: _low_rank(130, 3, 9, seed=13009, floor=0.012), ("low_rank", "high_dim")),
    "lowrank240_r7": (lambda: _low_rank(240, 3, 7, seed=24007), ("low_rank", "high_dim")),
    "full19_cond2400": (lambda: _ill_conditioned(19, 3, 2400.0), ("full_cov", "ill_conditioned")),
    "unequal_22d": (lambda: _unequal(5, 22, 2222, 1.3, 0.2, 0.8), ("unequal_weights",)),
    "modes122_3d": (lambda: _many(122, 3, 0.05, seed=1223, spread=1.7), ("sharp", "many_modes")),
    "six_scales_e_1d": (lambda: GaussianMixture([[-5.0], [-2.5], [-0.5], [1.0], [3.0], [5.5]],
                                                [0.06, 0.45, 0.03, 0.3, 0.08, 0.6], None), ("1d", "sharp")),
}
"""A twenty-first set, in no other: fixed in code (``benchmarks/RESULTS.md``, few-step section 29b)
before any sampler, probe or search ran on it, to test ``optimize_grid`` with the probe's low-rank
pick among UniPC's candidates. Eight mixtures of low-rank Gaussians (44-240 coordinates, ranks 2-9,
one with a noise floor) and four controls (an ill-conditioned covariance, unequal weights, 122
modes, a 1-D mixture of six scales)."""

FRESH19: Dict[str, Tuple[Callable[[], GaussianMixture], Tuple[str, ...]]] = {
    "lowrank70_r5": (lambda: _low_rank(70, 4, 5, seed=7005), ("low_rank", "high_dim")),
    "lowrank105_r3": (lambda: _low_rank(105, 5, 3, seed=10503), ("low_rank", "high_dim")),
    "lowrank135_r7": (lambda: _low_rank(135, 3, 7, seed=13507), ("low_rank", "high_dim")),
    "lowrank175_r4": (lambda: _low_rank(175, 6, 4, seed=17504), ("low_rank", "high_dim")),
    "lowrank220_r9": (lambda: _low_rank(220, 2, 9, seed=22009), ("low_rank", "high_dim")),
    "lowrank52_r2": (lambda: _low_rank(52, 5, 2, seed=5202), ("low_rank",)),
    "lowrank95_r6_floor": (lambda: _low_rank(95, 3, 6, seed=9506, floor=0.018), ("low_rank", "high_dim")),
    "lowrank260_r8": (lambda: _low_rank(260, 3, 8, seed=26008), ("low_rank", "high_dim")),
    "full24_cond2300": (lambda: _ill_conditioned(24, 3, 2300.0), ("full_cov", "ill_conditioned")),
    "unequal_23d": (lambda: _unequal(5, 23, 2323, 1.3, 0.2, 0.8), ("unequal_weights",)),
    "modes125_3d": (lambda: _many(125, 3, 0.05, seed=1253, spread=1.7), ("sharp", "many_modes")),
    "five_scales_f_1d": (lambda: GaussianMixture([[-4.5], [-2.0], [0.0], [2.5], [5.0]],
                                                 [0.05, 0.5, 0.04, 0.35, 0.07], None), ("1d", "sharp")),
}
"""A twenty-second set, in no other: fixed in code (``benchmarks/RESULTS.md``, few-step section 31b)
before any sampler or probe ran on it, to test the re-chosen VP low-rank entry at 18-20 steps.
Eight mixtures of low-rank Gaussians (52-260 coordinates, ranks 2-9, 2-6 components, one with a
noise floor) and four controls (an ill-conditioned covariance, unequal weights, 125 modes, a 1-D
mixture of five scales)."""

FRESH20: Dict[str, Tuple[Callable[[], GaussianMixture], Tuple[str, ...]]] = {
    "lowrank80_r4_floor": (lambda: _low_rank(80, 3, 4, seed=8004, floor=0.015), ("low_rank", "high_dim")),
    "lowrank150_r5_floor": (lambda: _low_rank(150, 4, 5, seed=15005, floor=0.02), ("low_rank", "high_dim")),
    "lowrank190_r7_floor": (lambda: _low_rank(190, 3, 7, seed=19007, floor=0.012), ("low_rank", "high_dim")),
    "lowrank66_r3_floor": (lambda: _low_rank(66, 5, 3, seed=6603, floor=0.025), ("low_rank", "high_dim")),
    "lowrank235_r6_floor": (lambda: _low_rank(235, 2, 6, seed=23506, floor=0.018), ("low_rank", "high_dim")),
    "lowrank88_r4": (lambda: _low_rank(88, 4, 4, seed=8804), ("low_rank", "high_dim")),
    "lowrank145_r6": (lambda: _low_rank(145, 3, 6, seed=14506), ("low_rank", "high_dim")),
    "lowrank205_r3": (lambda: _low_rank(205, 5, 3, seed=20503), ("low_rank", "high_dim")),
    "full26_cond2500": (lambda: _ill_conditioned(26, 3, 2500.0), ("full_cov", "ill_conditioned")),
    "unequal_24d": (lambda: _unequal(5, 24, 2424, 1.3, 0.2, 0.8), ("unequal_weights",)),
    "modes128_3d": (lambda: _many(128, 3, 0.05, seed=1283, spread=1.7), ("sharp", "many_modes")),
    "five_scales_g_1d": (lambda: GaussianMixture([[-5.0], [-2.2], [0.3], [2.6], [4.8]],
                                                 [0.06, 0.4, 0.05, 0.5, 0.04], None), ("1d", "sharp")),
}
"""A twenty-third set, in no other: fixed in code (``benchmarks/RESULTS.md``, few-step section 32b)
before any sampler or probe ran on it, to test the noise-floor entry of ``solvers.sharp_modes``
(``has_floor``, ``LOW_RANK_FLOOR_RECIPES``). Five mixtures of low-rank Gaussians with a noise floor
(std 0.012-0.025; 66-235 coordinates, ranks 3-7), three without one, and four controls (an
ill-conditioned covariance, unequal weights, 128 modes, a 1-D mixture of five scales)."""

FRESH21: Dict[str, Tuple[Callable[[], GaussianMixture], Tuple[str, ...]]] = {
    "lowrank58_r3_floor": (lambda: _low_rank(58, 5, 3, seed=5803, floor=0.022), ("low_rank",)),
    "lowrank98_r4_floor": (lambda: _low_rank(98, 3, 4, seed=9804, floor=0.015), ("low_rank", "high_dim")),
    "lowrank125_r6_floor": (lambda: _low_rank(125, 4, 6, seed=12506, floor=0.02), ("low_rank", "high_dim")),
    "lowrank170_r5_floor": (lambda: _low_rank(170, 3, 5, seed=17005, floor=0.012), ("low_rank", "high_dim")),
    "lowrank74_r3": (lambda: _low_rank(74, 4, 3, seed=7403), ("low_rank", "high_dim")),
    "lowrank115_r5": (lambda: _low_rank(115, 3, 5, seed=11505), ("low_rank", "high_dim")),
    "lowrank165_r7": (lambda: _low_rank(165, 4, 7, seed=16507), ("low_rank", "high_dim")),
    "lowrank185_r4": (lambda: _low_rank(185, 5, 4, seed=18504), ("low_rank", "high_dim")),
    "full27_cond2600": (lambda: _ill_conditioned(27, 3, 2600.0), ("full_cov", "ill_conditioned")),
    "unequal_25d": (lambda: _unequal(5, 25, 2525, 1.3, 0.2, 0.8), ("unequal_weights",)),
    "modes131_3d": (lambda: _many(131, 3, 0.05, seed=1315, spread=1.7), ("sharp", "many_modes")),
    "five_scales_h_1d": (lambda: GaussianMixture([[-4.8], [-2.1], [0.2], [2.4], [5.2]],
                                                 [0.05, 0.45, 0.04, 0.4, 0.06], None), ("1d", "sharp")),
}
"""A twenty-fourth set, in no other: fixed in code (``benchmarks/RESULTS.md``, few-step section 33b)
before any sampler or probe ran on it, to test UniPC's B(h) = h variant (``bh1``) in the VP low-rank
entries of ``solvers.sharp_modes``. Four mixtures of low-rank Gaussians with a noise floor (std
0.012-0.022; 58-170 coordinates, ranks 3-6), four without one (74-185 coordinates, ranks 3-7), and four
controls (an ill-conditioned covariance, unequal weights, 131 modes, a 1-D mixture of five scales)."""

FRESH22: Dict[str, Tuple[Callable[[], GaussianMixture], Tuple[str, ...]]] = {
    "lowrank62_r3_floor": (lambda: _low_rank(62, 4, 3, seed=6203, floor=0.02), ("low_rank",)),
    "lowrank108_r5_floor": (lambda: _low_rank(108, 3, 5, seed=10805, floor=0.016), ("low_rank", "high_dim")),
    "lowrank138_r4_floor": (lambda: _low_rank(138, 5, 4, seed=13804, floor=0.014), ("low_rank", "high_dim")),
    "lowrank178_r6_floor": (lambda: _low_rank(178, 3, 6, seed=17806, floor=0.022), ("low_rank", "high_dim")),
    "lowrank68_r4": (lambda: _low_rank(68, 3, 4, seed=6804), ("low_rank",)),
    "lowrank102_r6": (lambda: _low_rank(102, 4, 6, seed=10206), ("low_rank", "high_dim")),
    "lowrank142_r3": (lambda: _low_rank(142, 5, 3, seed=14203), ("low_rank", "high_dim")),
    "lowrank195_r5": (lambda: _low_rank(195, 3, 5, seed=19505), ("low_rank", "high_dim")),
    "full29_cond2700": (lambda: _ill_conditioned(29, 3, 2700.0), ("full_cov", "ill_conditioned")),
    "unequal_26d": (lambda: _unequal(5, 26, 2627, 1.3, 0.2, 0.8), ("unequal_weights",)),
    "modes134_3d": (lambda: _many(134, 3, 0.05, seed=1343, spread=1.7), ("sharp", "many_modes")),
    "five_scales_i_1d": (lambda: GaussianMixture([[-5.1], [-2.3], [0.1], [2.7], [4.9]],
                                                 [0.05, 0.42, 0.05, 0.45, 0.05], None), ("1d", "sharp")),
}
"""A twenty-fifth set, in no other: fixed in code (``benchmarks/RESULTS.md``, few-step section 33d)
before any sampler or probe ran on it, for the second test of UniPC's B(h) = h in the VP low-rank entries
(its first, on ``FRESH21``, failed by one far point). Four mixtures of low-rank Gaussians with a noise
floor (std 0.014-0.022; 62-178 coordinates, ranks 3-6), four without one (68-195 coordinates, ranks 3-6),
and four controls (an ill-conditioned covariance, unequal weights, 134 modes, a 1-D mixture of five
scales)."""

FRESH23: Dict[str, Tuple[Callable[[], GaussianMixture], Tuple[str, ...]]] = {
    "lowrank86_r5_floor": (lambda: _low_rank(86, 4, 5, seed=8605, floor=0.018), ("low_rank",)),
    "lowrank156_r4_floor": (lambda: _low_rank(156, 3, 4, seed=15604, floor=0.015), ("low_rank", "high_dim")),
    "lowrank78_r4": (lambda: _low_rank(78, 3, 4, seed=7804), ("low_rank",)),
    "lowrank112_r3": (lambda: _low_rank(112, 4, 3, seed=11203), ("low_rank", "high_dim")),
    "lowrank148_r6": (lambda: _low_rank(148, 5, 6, seed=14806), ("low_rank", "high_dim")),
    "lowrank172_r5": (lambda: _low_rank(172, 3, 5, seed=17205), ("low_rank", "high_dim")),
    "lowrank198_r4": (lambda: _low_rank(198, 4, 4, seed=19804), ("low_rank", "high_dim")),
    "lowrank226_r7": (lambda: _low_rank(226, 3, 7, seed=22607), ("low_rank", "high_dim")),
    "full31_cond2800": (lambda: _ill_conditioned(31, 3, 2800.0), ("full_cov", "ill_conditioned")),
    "unequal_27d": (lambda: _unequal(5, 27, 2727, 1.3, 0.2, 0.8), ("unequal_weights",)),
    "modes137_3d": (lambda: _many(137, 3, 0.05, seed=1373, spread=1.7), ("sharp", "many_modes")),
    "five_scales_j_1d": (lambda: GaussianMixture([[-4.9], [-2.2], [0.3], [2.5], [5.0]],
                                                 [0.06, 0.43, 0.04, 0.42, 0.05], None), ("1d", "sharp")),
}
"""A twenty-sixth set, in no other: fixed in code (``benchmarks/RESULTS.md``, few-step section 34b) before
any sampler or probe ran on it, to test the band allocation of the VP low-rank pick's steps at 17-20 steps
(``solvers.sharp_modes.LOW_RANK_BANDS``). Six mixtures of low-rank Gaussians without a noise floor (78-226
coordinates, ranks 3-7; the bands apply to them from 17 steps), two with one (std 0.015-0.018; the bands
apply at 17 steps), and four controls (an ill-conditioned covariance, unequal weights, 137 modes, a 1-D
mixture of five scales)."""

FRESH24: Dict[str, Tuple[Callable[[], GaussianMixture], Tuple[str, ...]]] = {
    "four_scales_d_1d": (lambda: GaussianMixture([[-3.5], [-1.0], [1.2], [3.8]], [0.05, 0.45, 0.04, 0.55], None),
                         ("1d", "sharp")),
    "five_scales_k_1d": (lambda: GaussianMixture([[-4.7], [-2.0], [0.4], [2.8], [5.1]],
                                                 [0.045, 0.48, 0.05, 0.38, 0.065], None), ("1d", "sharp")),
    "six_scales_f_1d": (lambda: GaussianMixture([[-5.4], [-2.8], [-0.6], [1.2], [3.3], [5.8]],
                                                [0.05, 0.55, 0.035, 0.25, 0.07, 0.65], None), ("1d", "sharp")),
    "seven_scales_e_1d": (lambda: GaussianMixture([[-6.2], [-3.7], [-1.6], [0.1], [1.7], [3.4], [5.6]],
                                                  [0.06, 0.5, 0.045, 0.35, 0.07, 0.04, 0.8], None), ("1d", "sharp")),
    "six_scales_g_1d": (lambda: GaussianMixture([[-5.2], [-2.4], [-0.3], [1.5], [3.8], [6.2]],
                                                [0.3, 0.05, 0.15, 0.025, 0.35, 0.07],
                                                [0.2, 0.12, 0.2, 0.1, 0.23, 0.15]), ("1d", "sharp")),
    "seven_scales_f_1d": (lambda: GaussianMixture([[-6.8], [-3.9], [-1.4], [0.4], [2.4], [4.6], [7.2]],
                                                  [0.45, 0.07, 0.22, 0.035, 0.1, 0.05, 0.55],
                                                  [0.17, 0.1, 0.18, 0.1, 0.15, 0.1, 0.2]), ("1d", "sharp")),
    "eight_scales_f_1d": (lambda: GaussianMixture([[-7.3], [-4.6], [-2.4], [-0.8], [0.9], [2.7], [4.8], [7.7]],
                                                  [0.4, 0.06, 0.18, 0.035, 0.09, 0.045, 0.3, 0.1],
                                                  [0.15, 0.1, 0.15, 0.1, 0.15, 0.1, 0.15, 0.1]), ("1d", "sharp")),
    "nine_scales_b_1d": (lambda: GaussianMixture([[-8.2], [-5.3], [-3.1], [-1.4], [0.2], [1.8], [3.7], [6.1], [8.8]],
                                                 [0.45, 0.15, 0.07, 0.035, 0.3, 0.03, 0.1, 0.22, 0.05],
                                                 [0.15, 0.1, 0.12, 0.06, 0.17, 0.06, 0.12, 0.12, 0.1]), ("1d", "sharp")),
    "lowrank164_r4": (lambda: _low_rank(164, 3, 4, seed=16404), ("low_rank", "high_dim")),
    "full33_cond2900": (lambda: _ill_conditioned(33, 3, 2900.0), ("full_cov", "ill_conditioned")),
    "unequal_28d": (lambda: _unequal(5, 28, 2828, 1.3, 0.2, 0.8), ("unequal_weights",)),
    "modes142_3d": (lambda: _many(142, 3, 0.05, seed=1423, spread=1.7), ("sharp", "many_modes")),
}
"""A twenty-seventh set, in no other: fixed in code (``benchmarks/RESULTS.md``, few-step section 35b) before
any sampler or probe ran on it, to test UniPC-3 on the log-SNR grid to sigma = 0.005 in place of DEIS-3 for
sharp data of one coordinate on EDM at 20-24 steps (``solvers.sharp_modes.SHARP_RECIPES``' ``"one_dim"``
entry). Eight 1-D mixtures of four to nine scales (four with equal weights and sharp and wide modes in
turn, four with unequal weights and scales in no order) and four controls (a low-rank mixture in 164
coordinates, an ill-conditioned covariance, unequal weights, 142 modes in 3-D)."""

FRESH25: Dict[str, Tuple[Callable[[], GaussianMixture], Tuple[str, ...]]] = {
    "lowrank82_r3": (lambda: _low_rank(82, 4, 3, seed=8203), ("low_rank",)),
    "lowrank118_r5": (lambda: _low_rank(118, 3, 5, seed=11805), ("low_rank", "high_dim")),
    "lowrank152_r4": (lambda: _low_rank(152, 5, 4, seed=15204), ("low_rank", "high_dim")),
    "lowrank188_r6": (lambda: _low_rank(188, 4, 6, seed=18806), ("low_rank", "high_dim")),
    "lowrank216_r3": (lambda: _low_rank(216, 3, 3, seed=21603), ("low_rank", "high_dim")),
    "lowrank92_r4_floor": (lambda: _low_rank(92, 4, 4, seed=9204, floor=0.016), ("low_rank",)),
    "lowrank134_r5_floor": (lambda: _low_rank(134, 3, 5, seed=13405, floor=0.02), ("low_rank", "high_dim")),
    "lowrank182_r3_floor": (lambda: _low_rank(182, 5, 3, seed=18203, floor=0.013), ("low_rank", "high_dim")),
    "full35_cond3100": (lambda: _ill_conditioned(35, 3, 3100.0), ("full_cov", "ill_conditioned")),
    "unequal_29d": (lambda: _unequal(5, 29, 2929, 1.3, 0.2, 0.8), ("unequal_weights",)),
    "modes145_3d": (lambda: _many(145, 3, 0.05, seed=1453, spread=1.7), ("sharp", "many_modes")),
    "five_scales_l_1d": (lambda: GaussianMixture([[-5.0], [-2.4], [0.2], [2.6], [5.3]],
                                                 [0.05, 0.44, 0.045, 0.41, 0.06], None), ("1d", "sharp")),
}
"""A twenty-eighth set, in no other: fixed in code (``benchmarks/RESULTS.md``, few-step section 36b) before
any sampler or probe ran on it, to test the VP low-rank pick extended to 21-40 steps (``solvers.sharp_modes.
LOW_RANK_RECIPES``) with UniPC's defaults kept there for data with a noise floor (``LOW_RANK_FLOOR_RECIPES``).
Five mixtures of low-rank Gaussians without a noise floor (82-216 coordinates, ranks 3-6), three with one
(std 0.013-0.02; 92-182 coordinates, ranks 3-5), and four controls (an ill-conditioned covariance, unequal
weights, 145 modes, a 1-D mixture of five scales)."""

FRESH26: Dict[str, Tuple[Callable[[], GaussianMixture], Tuple[str, ...]]] = {
    "lowrank76_r4": (lambda: _low_rank(76, 4, 4, seed=7604), ("low_rank",)),
    "lowrank124_r3": (lambda: _low_rank(124, 5, 3, seed=12403), ("low_rank",)),
    "lowrank160_r5": (lambda: _low_rank(160, 3, 5, seed=16005), ("low_rank", "high_dim")),
    "lowrank196_r4": (lambda: _low_rank(196, 4, 4, seed=19604), ("low_rank", "high_dim")),
    "lowrank232_r6": (lambda: _low_rank(232, 3, 6, seed=23206), ("low_rank", "high_dim")),
    "lowrank110_r4_floor": (lambda: _low_rank(110, 4, 4, seed=11004, floor=0.015), ("low_rank",)),
    "full37_cond3300": (lambda: _ill_conditioned(37, 3, 3300.0), ("full_cov", "ill_conditioned")),
    "unequal_30d": (lambda: _unequal(5, 30, 3030, 1.3, 0.2, 0.8), ("unequal_weights",)),
    "modes148_3d": (lambda: _many(148, 3, 0.05, seed=1483, spread=1.7), ("sharp", "many_modes")),
    "five_scales_m_1d": (lambda: GaussianMixture([[-4.9], [-2.2], [0.3], [2.7], [5.2]],
                                                 [0.055, 0.46, 0.04, 0.43, 0.07], None), ("1d", "sharp")),
}
"""A twenty-ninth set, in no other: fixed in code (``benchmarks/RESULTS.md``, few-step section 37b) before
any sampler or probe ran on it, to test the VP low-rank pick's sigma_j at 31-40 steps (``solvers.sharp_modes.
LOW_RANK_RECIPES``). Five mixtures of low-rank Gaussians without a noise floor (76-232 coordinates, ranks 3-6),
one with one (std 0.015), and four controls (an ill-conditioned covariance, unequal weights, 148 modes, a 1-D
mixture of five scales)."""

FRESH27: Dict[str, Tuple[Callable[[], GaussianMixture], Tuple[str, ...]]] = {
    "lowrank130_r4": (lambda: _low_rank(130, 4, 4, seed=13004), ("low_rank", "high_dim")),
    "lowrank144_r5": (lambda: _low_rank(144, 3, 5, seed=14405), ("low_rank", "high_dim")),
    "lowrank168_r3": (lambda: _low_rank(168, 5, 3, seed=16803), ("low_rank", "high_dim")),
    "lowrank192_r6": (lambda: _low_rank(192, 4, 6, seed=19206), ("low_rank", "high_dim")),
    "lowrank220_r4": (lambda: _low_rank(220, 3, 4, seed=22004), ("low_rank", "high_dim")),
    "lowrank250_r5": (lambda: _low_rank(250, 4, 5, seed=25005), ("low_rank", "high_dim")),
    "lowrank108_r3": (lambda: _low_rank(108, 4, 3, seed=10803), ("low_rank",)),
    "lowrank121_r5": (lambda: _low_rank(121, 3, 5, seed=12105), ("low_rank",)),
    "lowrank158_r4_floor": (lambda: _low_rank(158, 4, 4, seed=15804, floor=0.015), ("low_rank", "high_dim")),
    "full39_cond3500": (lambda: _ill_conditioned(39, 3, 3500.0), ("full_cov", "ill_conditioned")),
    "unequal_31d": (lambda: _unequal(5, 31, 3131, 1.3, 0.2, 0.8), ("unequal_weights",)),
    "modes151_3d": (lambda: _many(151, 3, 0.05, seed=1513, spread=1.7), ("sharp", "many_modes")),
    "five_scales_n_1d": (lambda: GaussianMixture([[-5.1], [-2.3], [0.1], [2.8], [5.0]],
                                                 [0.05, 0.45, 0.05, 0.42, 0.03], None), ("1d", "sharp")),
}
"""A thirtieth set, in no other: fixed in code (``benchmarks/RESULTS.md``, few-step section 39b) before any
sampler or probe ran on it, to test the VP low-rank entry for large data at 36-40 steps (``solvers.sharp_modes.
LOW_RANK_HIGH_DIM_RECIPES``). Six mixtures of low-rank Gaussians without a noise floor of 130-250 coordinates
(ranks 3-6), two of 108 and 121 (below the entry's 125), one of 158 with a floor (std 0.015), and four controls
(an ill-conditioned covariance, unequal weights, 151 modes, a 1-D mixture of five scales)."""

FRESH28: Dict[str, Tuple[Callable[[], GaussianMixture], Tuple[str, ...]]] = {
    "lowrank66_r3": (lambda: _low_rank(66, 4, 3, seed=6603), ("low_rank",)),
    "lowrank96_r4": (lambda: _low_rank(96, 3, 4, seed=9604), ("low_rank",)),
    "lowrank134_r6": (lambda: _low_rank(134, 4, 6, seed=13406), ("low_rank", "high_dim")),
    "lowrank178_r5": (lambda: _low_rank(178, 3, 5, seed=17805), ("low_rank", "high_dim")),
    "lowrank214_r3": (lambda: _low_rank(214, 5, 3, seed=21403), ("low_rank", "high_dim")),
    "lowrank246_r6": (lambda: _low_rank(246, 4, 6, seed=24606), ("low_rank", "high_dim")),
    "lowrank56_r3": (lambda: _low_rank(56, 4, 3, seed=5603), ("low_rank",)),
    "lowrank174_r4_floor": (lambda: _low_rank(174, 4, 4, seed=17404, floor=0.015), ("low_rank", "high_dim")),
    "full40_cond3600": (lambda: _ill_conditioned(40, 3, 3600.0), ("full_cov", "ill_conditioned")),
    "unequal_32d": (lambda: _unequal(5, 32, 3232, 1.3, 0.2, 0.8), ("unequal_weights",)),
    "modes154_3d": (lambda: _many(154, 3, 0.05, seed=1543, spread=1.7), ("sharp", "many_modes")),
    "five_scales_o_1d": (lambda: GaussianMixture([[-5.2], [-2.1], [0.2], [2.9], [5.1]],
                                                 [0.045, 0.47, 0.04, 0.41, 0.035], None), ("1d", "sharp")),
}
"""A thirty-first set, in no other: fixed in code (``benchmarks/RESULTS.md``, few-step section 40b) before any
sampler or probe ran on it, to test the VP low-rank entry at 41-50 steps (``solvers.sharp_modes.
LOW_RANK_HIGH_DIM_RECIPES``, from 60 coordinates). Six mixtures of low-rank Gaussians without a noise floor of
66-246 coordinates (ranks 3-6), one of 56 (below the entry's 60), one of 174 with a floor (std 0.015), and four
controls (an ill-conditioned covariance, unequal weights, 154 modes, a 1-D mixture of five scales)."""

FRESH29: Dict[str, Tuple[Callable[[], GaussianMixture], Tuple[str, ...]]] = {
    "lowrank70_r4": (lambda: _low_rank(70, 4, 4, seed=7004), ("low_rank",)),
    "lowrank92_r5": (lambda: _low_rank(92, 3, 5, seed=9205), ("low_rank",)),
    "lowrank138_r3": (lambda: _low_rank(138, 5, 3, seed=13803), ("low_rank", "high_dim")),
    "lowrank182_r6": (lambda: _low_rank(182, 4, 6, seed=18206), ("low_rank", "high_dim")),
    "lowrank218_r4": (lambda: _low_rank(218, 3, 4, seed=21804), ("low_rank", "high_dim")),
    "lowrank242_r5": (lambda: _low_rank(242, 4, 5, seed=24205), ("low_rank", "high_dim")),
    "lowrank52_r4": (lambda: _low_rank(52, 4, 4, seed=5204), ("low_rank",)),
    "lowrank186_r5_floor": (lambda: _low_rank(186, 4, 5, seed=18605, floor=0.015), ("low_rank", "high_dim")),
    "full41_cond3700": (lambda: _ill_conditioned(41, 3, 3700.0), ("full_cov", "ill_conditioned")),
    "unequal_33d": (lambda: _unequal(5, 33, 3333, 1.3, 0.2, 0.8), ("unequal_weights",)),
    "modes157_3d": (lambda: _many(157, 3, 0.05, seed=1573, spread=1.7), ("sharp", "many_modes")),
    "five_scales_p_1d": (lambda: GaussianMixture([[-5.3], [-2.2], [0.3], [2.7], [5.2]],
                                                 [0.04, 0.48, 0.045, 0.4, 0.035], None), ("1d", "sharp")),
}
"""A thirty-second set, in no other: fixed in code (``benchmarks/RESULTS.md``, few-step section 41b) before any
sampler or probe ran on it, to test the VP low-rank entry carried on from 50 to 100 steps (``solvers.sharp_modes.
LOW_RANK_HIGH_DIM_RECIPES``, from 60 coordinates; it failed, few-step 41c). Six mixtures of low-rank Gaussians
without a noise floor of 70-242 coordinates (ranks 3-6), one of 52 (below the entry's 60), one of 186 with a floor
(std 0.015), and four controls (an ill-conditioned covariance, unequal weights, 157 modes, a 1-D mixture of five
scales)."""

FRESH30: Dict[str, Tuple[Callable[[], GaussianMixture], Tuple[str, ...]]] = {
    "lowrank68_r5": (lambda: _low_rank(68, 4, 5, seed=6805), ("low_rank",)),
    "lowrank104_r3": (lambda: _low_rank(104, 5, 3, seed=10403), ("low_rank", "high_dim")),
    "lowrank146_r4": (lambda: _low_rank(146, 3, 4, seed=14604), ("low_rank", "high_dim")),
    "lowrank204_r5": (lambda: _low_rank(204, 4, 5, seed=20405), ("low_rank", "high_dim")),
    "lowrank228_r3": (lambda: _low_rank(228, 4, 3, seed=22803), ("low_rank", "high_dim")),
    "lowrank256_r6": (lambda: _low_rank(256, 3, 6, seed=25606), ("low_rank", "high_dim")),
    "lowrank54_r5": (lambda: _low_rank(54, 4, 5, seed=5405), ("low_rank",)),
    "lowrank162_r4_floor": (lambda: _low_rank(162, 4, 4, seed=16204, floor=0.015), ("low_rank", "high_dim")),
    "full43_cond3800": (lambda: _ill_conditioned(43, 3, 3800.0), ("full_cov", "ill_conditioned")),
    "unequal_34d": (lambda: _unequal(5, 34, 3434, 1.3, 0.2, 0.8), ("unequal_weights",)),
    "modes160_3d": (lambda: _many(160, 3, 0.05, seed=1603, spread=1.7), ("sharp", "many_modes")),
    "five_scales_q_1d": (lambda: GaussianMixture([[-5.4], [-2.3], [0.4], [2.8], [5.3]],
                                                 [0.045, 0.47, 0.04, 0.41, 0.035], None), ("1d", "sharp")),
}
"""A thirty-third set, in no other: fixed in code (``benchmarks/RESULTS.md``, few-step section 42b) before any
sampler or probe ran on it, to test the VP low-rank entry carried on from 50 to 80 steps (``solvers.sharp_modes.
LOW_RANK_HIGH_DIM_RECIPES``, from 60 coordinates). Six mixtures of low-rank Gaussians without a noise floor of
68-256 coordinates (ranks 3-6), one of 54 (below the entry's 60), one of 162 with a floor (std 0.015), and four
controls (an ill-conditioned covariance, unequal weights, 160 modes, a 1-D mixture of five scales)."""

FRESH31: Dict[str, Tuple[Callable[[], GaussianMixture], Tuple[str, ...]]] = {
    "lowrank106_r4": (lambda: _low_rank(106, 4, 4, seed=10604), ("low_rank", "high_dim")),
    "lowrank122_r5": (lambda: _low_rank(122, 3, 5, seed=12205), ("low_rank", "high_dim")),
    "lowrank158_r3": (lambda: _low_rank(158, 5, 3, seed=15803), ("low_rank", "high_dim")),
    "lowrank194_r6": (lambda: _low_rank(194, 4, 6, seed=19406), ("low_rank", "high_dim")),
    "lowrank232_r4": (lambda: _low_rank(232, 3, 4, seed=23204), ("low_rank", "high_dim")),
    "lowrank252_r5": (lambda: _low_rank(252, 4, 5, seed=25205), ("low_rank", "high_dim")),
    "lowrank86_r4": (lambda: _low_rank(86, 4, 4, seed=8604), ("low_rank",)),
    "lowrank176_r3_floor": (lambda: _low_rank(176, 4, 3, seed=17603, floor=0.015), ("low_rank", "high_dim")),
    "full44_cond3900": (lambda: _ill_conditioned(44, 3, 3900.0), ("full_cov", "ill_conditioned")),
    "unequal_35d": (lambda: _unequal(5, 35, 3535, 1.3, 0.2, 0.8), ("unequal_weights",)),
    "modes163_3d": (lambda: _many(163, 3, 0.05, seed=1633, spread=1.7), ("sharp", "many_modes")),
    "five_scales_r_1d": (lambda: GaussianMixture([[-5.5], [-2.4], [0.5], [2.9], [5.4]],
                                                 [0.04, 0.47, 0.045, 0.41, 0.035], None), ("1d", "sharp")),
}
"""A thirty-fourth set, in no other: fixed in code (``benchmarks/RESULTS.md``, few-step section 43b) before any
sampler or probe ran on it, to test the VP low-rank entry at 81-100 steps (``solvers.sharp_modes.
LOW_RANK_HIGH_DIM_RECIPES``, from 100 coordinates). Six mixtures of low-rank Gaussians without a noise floor of
106-252 coordinates (ranks 3-6), one of 86 (below the entry's 100), one of 176 with a floor (std 0.015), and four
controls (an ill-conditioned covariance, unequal weights, 163 modes, a 1-D mixture of five scales)."""

FRESH32: Dict[str, Tuple[Callable[[], GaussianMixture], Tuple[str, ...]]] = {
    "five_scales_s_1d": (lambda: GaussianMixture([[-5.0], [-2.2], [0.3], [2.7], [5.3]],
                                                 [0.05, 0.5, 0.04, 0.42, 0.06], None), ("1d", "sharp")),
    "six_scales_h_1d": (lambda: GaussianMixture([[-5.8], [-3.1], [-0.9], [1.0], [3.2], [5.9]],
                                                [0.6, 0.045, 0.38, 0.055, 0.5, 0.035], None), ("1d", "sharp")),
    "seven_scales_g_1d": (lambda: GaussianMixture([[-6.5], [-4.0], [-1.8], [0.0], [1.9], [4.1], [6.6]],
                                                  [0.04, 0.45, 0.06, 0.3, 0.05, 0.55, 0.07], None), ("1d", "sharp")),
    "eight_scales_g_1d": (lambda: GaussianMixture([[-7.6], [-5.0], [-2.7], [-0.9], [0.8], [2.6], [4.9], [7.4]],
                                                  [0.55, 0.05, 0.4, 0.04, 0.35, 0.065, 0.6, 0.045], None),
                          ("1d", "sharp")),
    "five_scales_t_1d": (lambda: GaussianMixture([[-4.9], [-2.1], [0.2], [2.6], [5.2]],
                                                 [0.08, 0.3, 0.03, 0.5, 0.12],
                                                 [0.15, 0.3, 0.1, 0.3, 0.15]), ("1d", "sharp")),
    "six_scales_i_1d": (lambda: GaussianMixture([[-5.6], [-2.9], [-0.5], [1.4], [3.6], [6.0]],
                                                [0.25, 0.04, 0.45, 0.06, 0.15, 0.03],
                                                [0.25, 0.1, 0.2, 0.12, 0.23, 0.1]), ("1d", "sharp")),
    "seven_scales_h_1d": (lambda: GaussianMixture([[-6.9], [-4.2], [-1.9], [0.1], [2.2], [4.4], [6.8]],
                                                  [0.12, 0.5, 0.035, 0.2, 0.07, 0.4, 0.05],
                                                  [0.1, 0.2, 0.12, 0.18, 0.1, 0.2, 0.1]), ("1d", "sharp")),
    "nine_scales_c_1d": (lambda: GaussianMixture([[-8.5], [-5.6], [-3.4], [-1.5], [0.3], [2.0], [3.9], [6.2],
                                                  [8.9]],
                                                 [0.3, 0.045, 0.2, 0.06, 0.5, 0.035, 0.25, 0.08, 0.4],
                                                 [0.12, 0.08, 0.12, 0.1, 0.15, 0.08, 0.12, 0.1, 0.13]), ("1d", "sharp")),
    "two_wide_1d": (lambda: GaussianMixture([[-1.0], [1.2]], [0.8, 0.9], None), ("1d",)),
    "line11_sharp": (lambda: _line(11, 0.42, 0.016, 0.45), ("2d", "sharp")),
    "modes127_3d": (lambda: _many(127, 3, 0.05, seed=1273, spread=1.7), ("sharp", "many_modes")),
    "lowrank136_r4": (lambda: _low_rank(136, 4, 4, seed=13604), ("low_rank", "high_dim")),
    "full40_cond2500": (lambda: _ill_conditioned(40, 3, 2500.0), ("full_cov", "ill_conditioned")),
    "unequal_39d": (lambda: _unequal(5, 39, 3939, 1.3, 0.2, 0.8), ("unequal_weights",)),
}
"""A thirty-fifth set, in no other: fixed in code (``benchmarks/RESULTS.md``, few-step section 44b) before any
sampler or probe ran on it, to test the EDM entry for sharp data of one coordinate at 25-50 steps
(``solvers.sharp_modes.SHARP_ONE_DIM_RECIPES``). Eight 1-D mixtures of five to nine scales (four with equal
weights and sharp and wide modes in turn, four with unequal weights and scales in no order), and six controls
(two wide modes in 1-D, a line of sharp modes in 2-D, 127 modes in 3-D, a low-rank mixture in 136 coordinates,
an ill-conditioned covariance, unequal weights)."""

FRESH33: Dict[str, Tuple[Callable[[], GaussianMixture], Tuple[str, ...]]] = {
    "four_scales_e_1d": (lambda: GaussianMixture([[-4.2], [-1.3], [1.4], [4.3]], [0.045, 0.45, 0.05, 0.5], None),
                         ("1d", "sharp")),
    "six_scales_j_1d": (lambda: GaussianMixture([[-6.0], [-3.3], [-1.0], [1.1], [3.4], [6.1]],
                                                [0.5, 0.04, 0.42, 0.06, 0.55, 0.05], None), ("1d", "sharp")),
    "seven_scales_i_1d": (lambda: GaussianMixture([[-6.7], [-4.1], [-1.9], [0.2], [2.1], [4.3], [6.9]],
                                                  [0.06, 0.5, 0.035, 0.4, 0.05, 0.45, 0.065], None), ("1d", "sharp")),
    "eight_scales_h_1d": (lambda: GaussianMixture([[-7.9], [-5.2], [-2.9], [-1.0], [0.9], [2.8], [5.1], [7.8]],
                                                  [0.045, 0.5, 0.06, 0.38, 0.04, 0.55, 0.07, 0.42], None),
                          ("1d", "sharp")),
    "five_scales_u_1d": (lambda: GaussianMixture([[-5.1], [-2.3], [0.1], [2.5], [5.0]],
                                                 [0.35, 0.04, 0.2, 0.06, 0.45],
                                                 [0.25, 0.1, 0.3, 0.12, 0.23]), ("1d", "sharp")),
    "six_scales_k_1d": (lambda: GaussianMixture([[-5.5], [-2.7], [-0.4], [1.6], [3.7], [6.3]],
                                                [0.06, 0.3, 0.04, 0.5, 0.08, 0.25],
                                                [0.12, 0.22, 0.1, 0.26, 0.1, 0.2]), ("1d", "sharp")),
    "seven_scales_j_1d": (lambda: GaussianMixture([[-7.0], [-4.4], [-2.0], [0.0], [2.3], [4.6], [7.1]],
                                                  [0.4, 0.05, 0.25, 0.035, 0.5, 0.07, 0.15],
                                                  [0.18, 0.1, 0.16, 0.1, 0.2, 0.1, 0.16]), ("1d", "sharp")),
    "nine_scales_d_1d": (lambda: GaussianMixture([[-8.8], [-5.9], [-3.6], [-1.6], [0.2], [2.1], [4.0], [6.4],
                                                  [9.1]],
                                                 [0.05, 0.35, 0.04, 0.25, 0.06, 0.45, 0.035, 0.3, 0.08],
                                                 [0.09, 0.13, 0.08, 0.12, 0.1, 0.14, 0.08, 0.14, 0.12]), ("1d", "sharp")),
    "three_wide_1d": (lambda: GaussianMixture([[-1.5], [0.0], [1.6]], [0.7, 0.6, 0.8], None), ("1d",)),
    "line12_sharp": (lambda: _line(12, 0.35, 0.015, -0.35), ("2d", "sharp")),
    "modes109_3d": (lambda: _many(109, 3, 0.05, seed=1093, spread=1.7), ("sharp", "many_modes")),
    "lowrank132_r3": (lambda: _low_rank(132, 4, 3, seed=13203), ("low_rank", "high_dim")),
    "full42_cond2700": (lambda: _ill_conditioned(42, 3, 2700.0), ("full_cov", "ill_conditioned")),
    "unequal_41d": (lambda: _unequal(5, 41, 4141, 1.3, 0.2, 0.8), ("unequal_weights",)),
}
"""A thirty-sixth set, in no other: fixed in code (``benchmarks/RESULTS.md``, few-step section 45b) before any
sampler or probe ran on it, to test an EDM entry for sharp data of one coordinate at 20-22 steps (UniPC-3 ending
at a multiple of the spread; it failed, few-step 45c). Eight 1-D mixtures of four to nine scales (four with equal
weights and sharp and wide modes in turn, four with unequal weights and scales in no order), and six controls
(three wide modes in 1-D, a line of twelve sharp modes in 2-D, 109 modes in 3-D, a low-rank mixture in 132
coordinates, an ill-conditioned covariance, unequal weights)."""

FRESH34: Dict[str, Tuple[Callable[[], GaussianMixture], Tuple[str, ...]]] = {
    "four_scales_f_1d": (lambda: GaussianMixture([[-4.4], [-1.5], [1.2], [4.0]], [0.5, 0.05, 0.4, 0.04], None),
                         ("1d", "sharp")),
    "five_scales_v_1d": (lambda: GaussianMixture([[-5.3], [-2.5], [0.0], [2.4], [5.1]],
                                                 [0.04, 0.55, 0.05, 0.45, 0.035], None), ("1d", "sharp")),
    "six_scales_l_1d": (lambda: GaussianMixture([[-6.2], [-3.5], [-1.2], [0.9], [3.1], [5.8]],
                                                [0.06, 0.4, 0.045, 0.5, 0.04, 0.35], None), ("1d", "sharp")),
    "eight_scales_i_1d": (lambda: GaussianMixture([[-8.1], [-5.4], [-3.0], [-1.1], [0.7], [2.7], [5.0], [7.6]],
                                                  [0.5, 0.04, 0.45, 0.06, 0.4, 0.05, 0.55, 0.035], None),
                          ("1d", "sharp")),
    "five_scales_w_1d": (lambda: GaussianMixture([[-4.8], [-2.0], [0.4], [2.9], [5.5]],
                                                 [0.05, 0.4, 0.3, 0.04, 0.2],
                                                 [0.12, 0.25, 0.28, 0.1, 0.25]), ("1d", "sharp")),
    "six_scales_m_1d": (lambda: GaussianMixture([[-5.9], [-3.0], [-0.7], [1.3], [3.5], [6.0]],
                                                [0.3, 0.06, 0.5, 0.035, 0.25, 0.08],
                                                [0.2, 0.1, 0.25, 0.1, 0.2, 0.15]), ("1d", "sharp")),
    "seven_scales_k_1d": (lambda: GaussianMixture([[-7.2], [-4.5], [-2.1], [-0.1], [2.0], [4.3], [6.9]],
                                                  [0.045, 0.35, 0.15, 0.05, 0.5, 0.04, 0.3],
                                                  [0.1, 0.18, 0.16, 0.1, 0.2, 0.08, 0.18]), ("1d", "sharp")),
    "eight_scales_j_1d": (lambda: GaussianMixture([[-8.0], [-5.3], [-3.2], [-1.2], [0.8], [2.9], [5.2], [7.9]],
                                                  [0.25, 0.05, 0.4, 0.035, 0.2, 0.06, 0.45, 0.04],
                                                  [0.14, 0.1, 0.15, 0.1, 0.14, 0.1, 0.17, 0.1]), ("1d", "sharp")),
    "two_wide_b_1d": (lambda: GaussianMixture([[-0.8], [1.4]], [0.9, 0.7], [0.6, 0.4]), ("1d",)),
    "line14_sharp": (lambda: _line(14, 0.3, 0.013, 0.8), ("2d", "sharp")),
    "modes113_3d": (lambda: _many(113, 3, 0.05, seed=1133, spread=1.7), ("sharp", "many_modes")),
    "lowrank138_r5": (lambda: _low_rank(138, 4, 5, seed=13805), ("low_rank", "high_dim")),
    "full46_cond3100": (lambda: _ill_conditioned(46, 3, 3100.0), ("full_cov", "ill_conditioned")),
    "unequal_43d": (lambda: _unequal(5, 43, 4343, 1.3, 0.2, 0.8), ("unequal_weights",)),
}
"""A thirty-seventh set, in no other: fixed in code (``benchmarks/RESULTS.md``, few-step section 45f) before any
sampler or probe ran on it, to test the EDM entry for sharp data of one coordinate at 20-24 steps chosen again
after ``FRESH33`` (``solvers.sharp_modes.SHARP_ONE_DIM_RECIPES``). Eight 1-D mixtures of four to eight scales (four
with equal weights, sharp and wide modes in turn; four with unequal weights and scales in no order) and six
controls (two wide modes in 1-D, a line of fourteen sharp modes in 2-D, 113 modes in 3-D, a low-rank mixture in
138 coordinates, an ill-conditioned covariance, unequal weights)."""

FRESH35: Dict[str, Tuple[Callable[[], GaussianMixture], Tuple[str, ...]]] = {
    "four_scales_g_1d": (lambda: GaussianMixture([[-4.6], [-1.6], [1.3], [4.4]], [0.04, 0.5, 0.06, 0.45], None),
                         ("1d", "sharp")),
    "five_scales_x_1d": (lambda: GaussianMixture([[-5.6], [-2.6], [0.2], [2.8], [5.7]],
                                                 [0.5, 0.045, 0.4, 0.05, 0.55], None), ("1d", "sharp")),
    "six_scales_n_1d": (lambda: GaussianMixture([[-6.4], [-3.6], [-1.3], [1.0], [3.3], [6.2]],
                                                [0.035, 0.45, 0.06, 0.5, 0.045, 0.4], None), ("1d", "sharp")),
    "seven_scales_l_1d": (lambda: GaussianMixture([[-7.4], [-4.7], [-2.2], [0.1], [2.3], [4.6], [7.3]],
                                                  [0.55, 0.05, 0.4, 0.04, 0.45, 0.06, 0.5], None), ("1d", "sharp")),
    "five_scales_y_1d": (lambda: GaussianMixture([[-5.2], [-2.4], [0.3], [2.7], [5.4]],
                                                 [0.25, 0.05, 0.45, 0.035, 0.3],
                                                 [0.22, 0.12, 0.3, 0.1, 0.26]), ("1d", "sharp")),
    "six_scales_o_1d": (lambda: GaussianMixture([[-6.1], [-3.2], [-0.8], [1.2], [3.6], [6.4]],
                                                [0.045, 0.35, 0.2, 0.05, 0.5, 0.06],
                                                [0.1, 0.2, 0.18, 0.12, 0.28, 0.12]), ("1d", "sharp")),
    "seven_scales_m_1d": (lambda: GaussianMixture([[-7.1], [-4.3], [-1.9], [0.2], [2.4], [4.8], [7.4]],
                                                  [0.3, 0.04, 0.5, 0.06, 0.2, 0.035, 0.4],
                                                  [0.16, 0.1, 0.2, 0.1, 0.16, 0.08, 0.2]), ("1d", "sharp")),
    "eight_scales_k_1d": (lambda: GaussianMixture([[-8.3], [-5.5], [-3.1], [-1.0], [1.0], [3.0], [5.4], [8.2]],
                                                  [0.06, 0.45, 0.04, 0.3, 0.05, 0.5, 0.035, 0.25],
                                                  [0.1, 0.16, 0.1, 0.14, 0.1, 0.18, 0.08, 0.14]), ("1d", "sharp")),
    "three_wide_b_1d": (lambda: GaussianMixture([[-1.8], [0.2], [1.7]], [0.8, 0.7, 0.6], [0.3, 0.4, 0.3]), ("1d",)),
    "line15_sharp": (lambda: _line(15, 0.28, 0.012, -0.6), ("2d", "sharp")),
    "modes117_3d": (lambda: _many(117, 3, 0.05, seed=1173, spread=1.7), ("sharp", "many_modes")),
    "lowrank134_r4": (lambda: _low_rank(134, 4, 4, seed=13404), ("low_rank", "high_dim")),
    "full48_cond3300": (lambda: _ill_conditioned(48, 3, 3300.0), ("full_cov", "ill_conditioned")),
    "unequal_45d": (lambda: _unequal(5, 45, 4545, 1.3, 0.2, 0.8), ("unequal_weights",)),
}
"""A thirty-eighth set, in no other: fixed in code (``benchmarks/RESULTS.md``, few-step section 46b) before any
sampler or probe ran on it, to test the EDM entry for sharp data of one coordinate at 13-19 steps (DEIS-3 ending
at a multiple of the spread; ``solvers.sharp_modes.SHARP_ONE_DIM_RECIPES``). Eight 1-D mixtures of four to eight
scales (four with equal weights, sharp and wide modes in turn; four with unequal weights and scales in no order)
and six controls (three wide modes in 1-D, a line of fifteen sharp modes in 2-D, 117 modes in 3-D, a low-rank
mixture in 134 coordinates, an ill-conditioned covariance, unequal weights)."""

FRESH36: Dict[str, Tuple[Callable[[], GaussianMixture], Tuple[str, ...]]] = {
    "four_scales_h_1d": (lambda: GaussianMixture([[-4.3], [-1.4], [1.5], [4.2]], [0.45, 0.035, 0.55, 0.05], None),
                         ("1d", "sharp")),
    "five_scales_z_1d": (lambda: GaussianMixture([[-5.5], [-2.7], [0.1], [2.6], [5.3]],
                                                 [0.05, 0.5, 0.04, 0.45, 0.06], None), ("1d", "sharp")),
    "six_scales_p_1d": (lambda: GaussianMixture([[-6.3], [-3.4], [-1.1], [1.1], [3.4], [6.1]],
                                                [0.4, 0.05, 0.55, 0.035, 0.45, 0.06], None), ("1d", "sharp")),
    "seven_scales_n_1d": (lambda: GaussianMixture([[-7.3], [-4.6], [-2.3], [-0.1], [2.2], [4.5], [7.2]],
                                                  [0.04, 0.45, 0.06, 0.5, 0.05, 0.4, 0.035], None), ("1d", "sharp")),
    "five_scales_aa_1d": (lambda: GaussianMixture([[-5.0], [-2.2], [0.5], [2.8], [5.2]],
                                                  [0.3, 0.04, 0.5, 0.06, 0.25],
                                                  [0.26, 0.1, 0.3, 0.12, 0.22]), ("1d", "sharp")),
    "six_scales_q_1d": (lambda: GaussianMixture([[-6.0], [-3.3], [-0.9], [1.4], [3.7], [6.3]],
                                                [0.06, 0.3, 0.045, 0.5, 0.2, 0.05],
                                                [0.12, 0.2, 0.1, 0.28, 0.16, 0.12]), ("1d", "sharp")),
    "seven_scales_o_1d": (lambda: GaussianMixture([[-7.0], [-4.4], [-2.0], [0.3], [2.5], [4.9], [7.3]],
                                                  [0.5, 0.05, 0.35, 0.04, 0.25, 0.06, 0.45],
                                                  [0.2, 0.1, 0.16, 0.08, 0.14, 0.1, 0.18]), ("1d", "sharp")),
    "eight_scales_l_1d": (lambda: GaussianMixture([[-8.2], [-5.6], [-3.0], [-0.9], [1.1], [3.1], [5.5], [8.0]],
                                                  [0.04, 0.35, 0.06, 0.5, 0.035, 0.3, 0.05, 0.45],
                                                  [0.08, 0.14, 0.1, 0.18, 0.1, 0.16, 0.1, 0.14]), ("1d", "sharp")),
    "two_wide_c_1d": (lambda: GaussianMixture([[-1.1], [1.0]], [0.7, 0.8], [0.5, 0.5]), ("1d",)),
    "line16_sharp": (lambda: _line(16, 0.26, 0.011, 0.3), ("2d", "sharp")),
    "modes121_3d": (lambda: _many(121, 3, 0.05, seed=1213, spread=1.7), ("sharp", "many_modes")),
    "lowrank146_r3": (lambda: _low_rank(146, 4, 3, seed=14603), ("low_rank", "high_dim")),
    "full50_cond3500": (lambda: _ill_conditioned(50, 3, 3500.0), ("full_cov", "ill_conditioned")),
    "unequal_47d": (lambda: _unequal(5, 47, 4747, 1.3, 0.2, 0.8), ("unequal_weights",)),
}
"""A thirty-ninth set, in no other: fixed in code (``benchmarks/RESULTS.md``, few-step section 47b) before any
sampler or probe ran on it, to test the EDM entry for sharp data of one coordinate at 7-12 steps (DEIS-3 on the
Karras grid ending at a multiple of the spread; ``solvers.sharp_modes.SHARP_ONE_DIM_RECIPES``). Eight 1-D mixtures
of four to eight scales (four with equal weights, sharp and wide modes in turn; four with unequal weights and
scales in no order) and six controls (two wide modes in 1-D, a line of sixteen sharp modes in 2-D, 121 modes in
3-D, a low-rank mixture in 146 coordinates, an ill-conditioned covariance, unequal weights)."""

FRESH37: Dict[str, Tuple[Callable[[], GaussianMixture], Tuple[str, ...]]] = {
    "full17_cond2100": (lambda: _ill_conditioned(17, 3, 2100.0), ("full_cov", "ill_conditioned")),
    "full32_cond2600": (lambda: _ill_conditioned(32, 3, 2600.0), ("full_cov", "ill_conditioned")),
    "full38_cond3000": (lambda: _ill_conditioned(38, 3, 3000.0), ("full_cov", "ill_conditioned")),
    "full45_cond3400": (lambda: _ill_conditioned(45, 3, 3400.0), ("full_cov", "ill_conditioned")),
    "full52_cond2900": (lambda: _ill_conditioned(52, 3, 2900.0), ("full_cov", "ill_conditioned")),
    "unequal_49d": (lambda: _unequal(5, 49, 4949, 1.3, 0.2, 0.8), ("unequal_weights",)),
    "outlier_34d": (lambda: _with_outlier(5, 34, 3434, 3.2, 0.3, 0.06, 0.015, spread=0.9),
                    ("outlier", "unequal_weights", "high_dim")),
    "modes38_52d": (lambda: _many(38, 52, 0.2, seed=3852, spread=0.5), ("many_modes", "high_dim")),
    "five_scales_ab_1d": (lambda: GaussianMixture([[-5.4], [-2.5], [0.2], [2.9], [5.6]],
                                                  [0.045, 0.5, 0.05, 0.4, 0.06], None), ("1d", "sharp")),
    "lowrank156_r4": (lambda: _low_rank(156, 4, 4, seed=15604), ("low_rank", "high_dim")),
    "modes123_3d": (lambda: _many(123, 3, 0.05, seed=1233, spread=1.7), ("sharp", "many_modes")),
}
"""A fortieth set, in no other: fixed in code (``benchmarks/RESULTS.md``, few-step section 50b) before any sampler
or probe ran on it, to test the EDM entry for ill-conditioned data at 40-50 steps (UniPC-4 on the Karras grid onto
0; ``solvers.sharp_modes.ILL_CONDITIONED_RECIPES``). Five full covariances of 17-52 coordinates (eigenvalue ratio
2100-3400) and six controls (unequal weights in 49, an outlier in 34, 38 modes in 52, a sharp 1-D mixture, a
low-rank mixture in 156 coordinates, 123 sharp modes in 3-D)."""

FRESH38: Dict[str, Tuple[Callable[[], GaussianMixture], Tuple[str, ...]]] = {
    "full13_cond2800": (lambda: _ill_conditioned(13, 3, 2800.0), ("full_cov", "ill_conditioned")),
    "full15_cond3100": (lambda: _ill_conditioned(15, 3, 3100.0), ("full_cov", "ill_conditioned")),
    "full47_cond2700": (lambda: _ill_conditioned(47, 3, 2700.0), ("full_cov", "ill_conditioned")),
    "full49_cond3600": (lambda: _ill_conditioned(49, 3, 3600.0), ("full_cov", "ill_conditioned")),
    "full51_cond2400": (lambda: _ill_conditioned(51, 3, 2400.0), ("full_cov", "ill_conditioned")),
    "full54_cond3200": (lambda: _ill_conditioned(54, 3, 3200.0), ("full_cov", "ill_conditioned")),
    "full58_cond2900": (lambda: _ill_conditioned(58, 3, 2900.0), ("full_cov", "ill_conditioned")),
    "unequal_51d": (lambda: _unequal(5, 51, 5151, 1.3, 0.2, 0.8), ("unequal_weights", "high_dim")),
    "outlier_58d": (lambda: _with_outlier(5, 58, 5858, 3.1, 0.3, 0.06, 0.015, spread=0.9),
                    ("outlier", "unequal_weights", "high_dim")),
    "modes44_60d": (lambda: _many(44, 60, 0.2, seed=4460, spread=0.5), ("many_modes", "high_dim")),
    "five_scales_ac_1d": (lambda: GaussianMixture([[-5.1], [-2.2], [0.4], [3.1], [5.9]],
                                                  [0.05, 0.45, 0.04, 0.35, 0.07], None), ("1d", "sharp")),
    "lowrank166_r4": (lambda: _low_rank(166, 4, 4, seed=16604), ("low_rank", "high_dim")),
    "modes139_3d": (lambda: _many(139, 3, 0.05, seed=1393, spread=1.7), ("sharp", "many_modes")),
}
"""A forty-first set, in no other: fixed in code (``benchmarks/RESULTS.md``, few-step section 51b) before any sampler
or probe ran on it, to test the EDM entry for ill-conditioned data of at least 28 coordinates at 46-50 steps
(UniPC-5 on the Karras grid onto 0; ``solvers.sharp_modes.ILL_CONDITIONED_HIGH_DIM_RECIPES``). Five full
covariances of 47-58 coordinates (eigenvalue ratio 2400-3600), two of 13 and 15 (below the entry's dimension) and
six controls (unequal weights in 51, an outlier in 58, 44 modes in 60, a sharp 1-D mixture, a low-rank mixture in
166 coordinates, 139 sharp modes in 3-D)."""

FRESH39: Dict[str, Tuple[Callable[[], GaussianMixture], Tuple[str, ...]]] = {
    "lowrank46_r3": (lambda: _low_rank(46, 3, 3, seed=4603), ("low_rank",)),
    "lowrank93_r4": (lambda: _low_rank(93, 4, 4, seed=9304), ("low_rank", "high_dim")),
    "lowrank127_r5": (lambda: _low_rank(127, 3, 5, seed=12705), ("low_rank", "high_dim")),
    "lowrank179_r4": (lambda: _low_rank(179, 4, 4, seed=17904), ("low_rank", "high_dim")),
    "lowrank222_r6": (lambda: _low_rank(222, 3, 6, seed=22206), ("low_rank", "high_dim")),
    "lowrank248_r3": (lambda: _low_rank(248, 4, 3, seed=24803), ("low_rank", "high_dim")),
    "lowrank114_r4_floor": (lambda: _low_rank(114, 3, 4, seed=11404, floor=0.015), ("low_rank", "high_dim")),
    "lowrank209_r5_floor": (lambda: _low_rank(209, 4, 5, seed=20905, floor=0.012), ("low_rank", "high_dim")),
    "full57_cond3100": (lambda: _ill_conditioned(57, 3, 3100.0), ("full_cov", "ill_conditioned")),
    "unequal_53d": (lambda: _unequal(5, 53, 5353, 1.3, 0.2, 0.8), ("unequal_weights", "high_dim")),
    "five_scales_ad_1d": (lambda: GaussianMixture([[-5.6], [-2.4], [0.3], [2.7], [5.4]],
                                                  [0.06, 0.4, 0.05, 0.45, 0.04], None), ("1d", "sharp")),
    "modes143_3d": (lambda: _many(143, 3, 0.05, seed=1433, spread=1.7), ("sharp", "many_modes")),
}
"""A forty-second set, in no other: fixed in code (``benchmarks/RESULTS.md``, few-step section 52b) before any sampler
or probe ran on it, to test the EDM entry for low-rank data at 30-50 steps (UniPC-4 on the Karras grid onto 0;
``solvers.sharp_modes.LOW_RANK_RECIPES``). Six low-rank mixtures of 46-248 coordinates (ranks 3-6), two with a
noise floor (114 and 209 coordinates) and four controls (a full covariance in 57 coordinates, unequal weights in 53,
a sharp 1-D mixture, 143 sharp modes in 3-D)."""

FRESH40: Dict[str, Tuple[Callable[[], GaussianMixture], Tuple[str, ...]]] = {
    "full11_cond3300": (lambda: _ill_conditioned(11, 3, 3300.0), ("full_cov", "ill_conditioned")),
    "full53_cond2600": (lambda: _ill_conditioned(53, 3, 2600.0), ("full_cov", "ill_conditioned")),
    "full55_cond3000": (lambda: _ill_conditioned(55, 3, 3000.0), ("full_cov", "ill_conditioned")),
    "full56_cond2300": (lambda: _ill_conditioned(56, 3, 2300.0), ("full_cov", "ill_conditioned")),
    "full60_cond3400": (lambda: _ill_conditioned(60, 3, 3400.0), ("full_cov", "ill_conditioned")),
    "full63_cond2800": (lambda: _ill_conditioned(63, 3, 2800.0), ("full_cov", "ill_conditioned")),
    "unequal_55d": (lambda: _unequal(5, 55, 5555, 1.3, 0.2, 0.8), ("unequal_weights", "high_dim")),
    "outlier_46d": (lambda: _with_outlier(5, 46, 4646, 3.1, 0.3, 0.06, 0.015, spread=0.9),
                    ("outlier", "unequal_weights", "high_dim")),
    "modes46_64d": (lambda: _many(46, 64, 0.2, seed=4664, spread=0.5), ("many_modes", "high_dim")),
    "five_scales_ae_1d": (lambda: GaussianMixture([[-5.3], [-2.6], [0.1], [2.8], [5.7]],
                                                  [0.055, 0.42, 0.05, 0.48, 0.045], None), ("1d", "sharp")),
    "lowrank187_r4": (lambda: _low_rank(187, 4, 4, seed=18704), ("low_rank", "high_dim")),
    "modes147_3d": (lambda: _many(147, 3, 0.05, seed=1473, spread=1.7), ("sharp", "many_modes")),
}
"""A forty-third set, in no other: fixed in code (``benchmarks/RESULTS.md``, few-step section 53b) before any sampler
or probe ran on it, to test the entries for ill-conditioned data at 6-7 steps on VP and 6-8 on EDM (UniPC-4 to
sigma_j = c (10 / n)^p spreads, then onto 0; ``solvers.sharp_modes.ILL_CONDITIONED_RECIPES``). Six full covariances
of 11-63 coordinates (eigenvalue ratio 2300-3400) and six controls (unequal weights in 55, an outlier in 46, 46
modes in 64, a sharp 1-D mixture, a low-rank mixture in 187 coordinates, 147 sharp modes in 3-D)."""

FRESH41: Dict[str, Tuple[Callable[[], GaussianMixture], Tuple[str, ...]]] = {
    "full10_cond2700": (lambda: _ill_conditioned(10, 3, 2700.0), ("full_cov", "ill_conditioned")),
    "full59_cond3100": (lambda: _ill_conditioned(59, 3, 3100.0), ("full_cov", "ill_conditioned")),
    "full61_cond2500": (lambda: _ill_conditioned(61, 3, 2500.0), ("full_cov", "ill_conditioned")),
    "full62_cond3600": (lambda: _ill_conditioned(62, 3, 3600.0), ("full_cov", "ill_conditioned")),
    "full64_cond2200": (lambda: _ill_conditioned(64, 3, 2200.0), ("full_cov", "ill_conditioned")),
    "full66_cond3000": (lambda: _ill_conditioned(66, 3, 3000.0), ("full_cov", "ill_conditioned")),
    "unequal_57d": (lambda: _unequal(5, 57, 5757, 1.3, 0.2, 0.8), ("unequal_weights", "high_dim")),
    "outlier_48d": (lambda: _with_outlier(5, 48, 4848, 3.1, 0.3, 0.06, 0.015, spread=0.9),
                    ("outlier", "unequal_weights", "high_dim")),
    "modes48_66d": (lambda: _many(48, 66, 0.2, seed=4866, spread=0.5), ("many_modes", "high_dim")),
    "five_scales_af_1d": (lambda: GaussianMixture([[-5.5], [-2.3], [0.2], [3.0], [5.8]],
                                                  [0.05, 0.47, 0.055, 0.41, 0.06], None), ("1d", "sharp")),
    "lowrank189_r5": (lambda: _low_rank(189, 4, 5, seed=18905), ("low_rank", "high_dim")),
    "modes149_3d": (lambda: _many(149, 3, 0.05, seed=1493, spread=1.7), ("sharp", "many_modes")),
}
"""A forty-fourth set, in no other: fixed in code (``benchmarks/RESULTS.md``, few-step section 54b) before any sampler
or probe ran on it, to test the entries for ill-conditioned data at 5-8 steps on VP and EDM chosen with ties counted
apart (``solvers.sharp_modes.ILL_CONDITIONED_RECIPES``). Six full covariances of 10-66 coordinates (eigenvalue ratio
2200-3600) and six controls (unequal weights in 57, an outlier in 48, 48 modes in 66, a sharp 1-D mixture, a
low-rank mixture in 189 coordinates, 149 sharp modes in 3-D)."""

FRESH42: Dict[str, Tuple[Callable[[], GaussianMixture], Tuple[str, ...]]] = {
    "full9_cond2900": (lambda: _ill_conditioned(9, 3, 2900.0), ("full_cov", "ill_conditioned")),
    "full65_cond2400": (lambda: _ill_conditioned(65, 3, 2400.0), ("full_cov", "ill_conditioned")),
    "full67_cond3300": (lambda: _ill_conditioned(67, 3, 3300.0), ("full_cov", "ill_conditioned")),
    "full68_cond2700": (lambda: _ill_conditioned(68, 3, 2700.0), ("full_cov", "ill_conditioned")),
    "full70_cond3500": (lambda: _ill_conditioned(70, 3, 3500.0), ("full_cov", "ill_conditioned")),
    "full72_cond2300": (lambda: _ill_conditioned(72, 3, 2300.0), ("full_cov", "ill_conditioned")),
    "unequal_59d": (lambda: _unequal(5, 59, 5959, 1.3, 0.2, 0.8), ("unequal_weights", "high_dim")),
    "outlier_50d": (lambda: _with_outlier(5, 50, 5050, 3.1, 0.3, 0.06, 0.015, spread=0.9),
                    ("outlier", "unequal_weights", "high_dim")),
    "modes50_68d": (lambda: _many(50, 68, 0.2, seed=5068, spread=0.5), ("many_modes", "high_dim")),
    "five_scales_ag_1d": (lambda: GaussianMixture([[-5.2], [-2.7], [0.3], [2.6], [5.5]],
                                                  [0.06, 0.44, 0.045, 0.5, 0.05], None), ("1d", "sharp")),
    "lowrank191_r4": (lambda: _low_rank(191, 4, 4, seed=19104), ("low_rank", "high_dim")),
    "modes153_3d": (lambda: _many(153, 3, 0.05, seed=1533, spread=1.7), ("sharp", "many_modes")),
}
"""A forty-fifth set, in no other: fixed in code (``benchmarks/RESULTS.md``, few-step section 55b) before any sampler
or probe ran on it, to test the VP entry for ill-conditioned data carried on to 9 steps
(``solvers.sharp_modes.ILL_CONDITIONED_RECIPES``). Six full covariances of 9-72 coordinates (eigenvalue ratio
2300-3500) and six controls (unequal weights in 59, an outlier in 50, 50 modes in 68, a sharp 1-D mixture, a
low-rank mixture in 191 coordinates, 153 sharp modes in 3-D)."""

FRESH43: Dict[str, Tuple[Callable[[], GaussianMixture], Tuple[str, ...]]] = {
    "lowrank58_r4": (lambda: _low_rank(58, 3, 4, seed=5804), ("low_rank",)),
    "lowrank83_r3": (lambda: _low_rank(83, 4, 3, seed=8303), ("low_rank", "high_dim")),
    "lowrank117_r5": (lambda: _low_rank(117, 3, 5, seed=11705), ("low_rank", "high_dim")),
    "lowrank153_r4": (lambda: _low_rank(153, 4, 4, seed=15304), ("low_rank", "high_dim")),
    "lowrank201_r6": (lambda: _low_rank(201, 3, 6, seed=20106), ("low_rank", "high_dim")),
    "lowrank238_r3": (lambda: _low_rank(238, 4, 3, seed=23803), ("low_rank", "high_dim")),
    "lowrank101_r4_floor": (lambda: _low_rank(101, 3, 4, seed=10104, floor=0.013), ("low_rank", "high_dim")),
    "lowrank197_r5_floor": (lambda: _low_rank(197, 4, 5, seed=19705, floor=0.011), ("low_rank", "high_dim")),
    "full69_cond2600": (lambda: _ill_conditioned(69, 3, 2600.0), ("full_cov", "ill_conditioned")),
    "unequal_61d": (lambda: _unequal(5, 61, 6161, 1.3, 0.2, 0.8), ("unequal_weights", "high_dim")),
    "five_scales_ah_1d": (lambda: GaussianMixture([[-5.4], [-2.5], [0.2], [2.8], [5.3]],
                                                  [0.05, 0.42, 0.05, 0.43, 0.05], None), ("1d", "sharp")),
    "modes159_3d": (lambda: _many(159, 3, 0.05, seed=1593, spread=1.7), ("sharp", "many_modes")),
}
"""A forty-sixth set, in no other: fixed in code (``benchmarks/RESULTS.md``, few-step section 56b) before any sampler
or probe ran on it, to test the EDM entry for low-rank data at 21-29 steps (``solvers.sharp_modes.LOW_RANK_RECIPES``).
Eight low-rank mixtures of 58-238 coordinates (ranks 3-6), two with a noise floor (101, 197 coordinates), and four
controls (a full covariance in 69 coordinates, unequal weights in 61, a sharp 1-D mixture, 159 sharp modes in 3-D)."""

FRESH44: Dict[str, Tuple[Callable[[], GaussianMixture], Tuple[str, ...]]] = {
    "lowrank63_r4": (lambda: _low_rank(63, 3, 4, seed=6304), ("low_rank",)),
    "lowrank97_r3": (lambda: _low_rank(97, 4, 3, seed=9703), ("low_rank", "high_dim")),
    "lowrank131_r5": (lambda: _low_rank(131, 3, 5, seed=13105), ("low_rank", "high_dim")),
    "lowrank167_r4": (lambda: _low_rank(167, 4, 4, seed=16704), ("low_rank", "high_dim")),
    "lowrank213_r6": (lambda: _low_rank(213, 3, 6, seed=21306), ("low_rank", "high_dim")),
    "lowrank244_r3": (lambda: _low_rank(244, 4, 3, seed=24403), ("low_rank", "high_dim")),
    "lowrank119_r4_floor": (lambda: _low_rank(119, 3, 4, seed=11904, floor=0.012), ("low_rank", "high_dim")),
    "lowrank183_r5_floor": (lambda: _low_rank(183, 4, 5, seed=18305, floor=0.013), ("low_rank", "high_dim")),
    "full71_cond2800": (lambda: _ill_conditioned(71, 3, 2800.0), ("full_cov", "ill_conditioned")),
    "unequal_63d": (lambda: _unequal(5, 63, 6363, 1.3, 0.2, 0.8), ("unequal_weights", "high_dim")),
    "five_scales_ai_1d": (lambda: GaussianMixture([[-5.5], [-2.6], [0.1], [2.9], [5.2]],
                                                  [0.05, 0.43, 0.05, 0.42, 0.05], None), ("1d", "sharp")),
    "modes161_3d": (lambda: _many(161, 3, 0.05, seed=1613, spread=1.7), ("sharp", "many_modes")),
}
"""A forty-seventh set, in no other: fixed in code (``benchmarks/RESULTS.md``, few-step section 57b) before any sampler
or probe ran on it, to test the EDM low-rank entry carried on to 41-50 steps (``solvers.sharp_modes.LOW_RANK_RECIPES``).
Eight low-rank mixtures of 63-244 coordinates (ranks 3-6), two with a noise floor (119, 183 coordinates), and four
controls (a full covariance in 71 coordinates, unequal weights in 63, a sharp 1-D mixture, 161 sharp modes in 3-D)."""

FRESH45: Dict[str, Tuple[Callable[[], GaussianMixture], Tuple[str, ...]]] = {
    "full73_cond2500": (lambda: _ill_conditioned(73, 3, 2500.0), ("full_cov", "ill_conditioned")),
    "full74_cond3200": (lambda: _ill_conditioned(74, 3, 3200.0), ("full_cov", "ill_conditioned")),
    "full75_cond2200": (lambda: _ill_conditioned(75, 3, 2200.0), ("full_cov", "ill_conditioned")),
    "full76_cond3600": (lambda: _ill_conditioned(76, 3, 3600.0), ("full_cov", "ill_conditioned")),
    "full77_cond2800": (lambda: _ill_conditioned(77, 3, 2800.0), ("full_cov", "ill_conditioned")),
    "full78_cond3000": (lambda: _ill_conditioned(78, 3, 3000.0), ("full_cov", "ill_conditioned")),
    "unequal_65d": (lambda: _unequal(5, 65, 6565, 1.3, 0.2, 0.8), ("unequal_weights", "high_dim")),
    "outlier_52d": (lambda: _with_outlier(5, 52, 5252, 3.1, 0.3, 0.06, 0.015, spread=0.9),
                    ("outlier", "unequal_weights", "high_dim")),
    "modes52_70d": (lambda: _many(52, 70, 0.2, seed=5270, spread=0.5), ("many_modes", "high_dim")),
    "five_scales_aj_1d": (lambda: GaussianMixture([[-5.3], [-2.6], [0.4], [2.7], [5.4]],
                                                  [0.05, 0.45, 0.04, 0.41, 0.05], None), ("1d", "sharp")),
    "lowrank193_r4": (lambda: _low_rank(193, 4, 4, seed=19304), ("low_rank", "high_dim")),
    "modes165_3d": (lambda: _many(165, 3, 0.05, seed=1653, spread=1.7), ("sharp", "many_modes")),
}
"""A forty-eighth set, in no other: fixed in code (``benchmarks/RESULTS.md``, few-step section 58b) before any sampler
or probe ran on it, to test a VP entry for ill-conditioned data at 10 steps (``solvers.sharp_modes.
ILL_CONDITIONED_RECIPES``). Six full covariances of 73-78 coordinates (eigenvalue ratio 2200-3600) and six controls
(unequal weights in 65, an outlier in 52, 52 modes in 70, a sharp 1-D mixture, a low-rank mixture in 193 coordinates,
165 sharp modes in 3-D)."""

FRESH46: Dict[str, Tuple[Callable[[], GaussianMixture], Tuple[str, ...]]] = {
    "lowrank64_r4_floor": (lambda: _low_rank(64, 4, 4, seed=6404, floor=0.018), ("low_rank",)),
    "lowrank72_r5_floor": (lambda: _low_rank(72, 3, 5, seed=7205, floor=0.015), ("low_rank",)),
    "lowrank88_r3_floor": (lambda: _low_rank(88, 5, 3, seed=8803, floor=0.02), ("low_rank",)),
    "lowrank104_r6_floor": (lambda: _low_rank(104, 4, 6, seed=10406, floor=0.016), ("low_rank", "high_dim")),
    "lowrank128_r4_floor": (lambda: _low_rank(128, 3, 4, seed=12804, floor=0.014), ("low_rank", "high_dim")),
    "lowrank146_r5_floor": (lambda: _low_rank(146, 4, 5, seed=14605, floor=0.017), ("low_rank", "high_dim")),
    "lowrank166_r3_floor": (lambda: _low_rank(166, 4, 3, seed=16603, floor=0.013), ("low_rank", "high_dim")),
    "lowrank214_r6_floor": (lambda: _low_rank(214, 3, 6, seed=21406, floor=0.02), ("low_rank", "high_dim")),
    "lowrank142_r4": (lambda: _low_rank(142, 4, 4, seed=14204), ("low_rank", "high_dim")),
    "full79_cond2600": (lambda: _ill_conditioned(79, 3, 2600.0), ("full_cov", "ill_conditioned")),
    "unequal_67d": (lambda: _unequal(5, 67, 6767, 1.3, 0.2, 0.8), ("unequal_weights", "high_dim")),
    "five_scales_ak_1d": (lambda: GaussianMixture([[-5.2], [-2.4], [0.3], [2.9], [5.5]],
                                                  [0.05, 0.44, 0.05, 0.41, 0.05], None), ("1d", "sharp")),
    "modes167_3d": (lambda: _many(167, 3, 0.05, seed=1673, spread=1.7), ("sharp", "many_modes")),
}
"""A forty-ninth set, in no other: fixed in code (``benchmarks/RESULTS.md``, few-step section 59c) before any sampler
or probe ran on it, to test the VP floor entry carried on to 21 steps (``solvers.sharp_modes.
LOW_RANK_FLOOR_RECIPES``). Eight low-rank mixtures with a noise floor (64-214 coordinates, ranks 3-6, floors
0.013-0.02) and five controls (a low-rank mixture without a floor in 142, a full covariance in 79, unequal weights
in 67, a sharp 1-D mixture, 167 sharp modes in 3-D)."""

FRESH47: Dict[str, Tuple[Callable[[], GaussianMixture], Tuple[str, ...]]] = {
    "four_scales_i_1d": (lambda: GaussianMixture([[-4.1], [-1.3], [1.6], [4.4]], [0.5, 0.04, 0.5, 0.06], None),
                         ("1d", "sharp")),
    "five_scales_al_1d": (lambda: GaussianMixture([[-5.4], [-2.5], [0.2], [2.8], [5.6]],
                                                  [0.06, 0.48, 0.035, 0.43, 0.05], None), ("1d", "sharp")),
    "five_scales_am_1d": (lambda: GaussianMixture([[-5.0], [-2.3], [0.5], [3.0], [5.7]],
                                                  [0.4, 0.05, 0.5, 0.04, 0.3], [0.18, 0.09, 0.22, 0.08, 0.15]),
                          ("1d", "sharp")),
    "six_scales_r_1d": (lambda: GaussianMixture([[-6.2], [-3.5], [-1.0], [1.3], [3.6], [6.0]],
                                                [0.05, 0.45, 0.04, 0.5, 0.06, 0.4], None), ("1d", "sharp")),
    "six_scales_s_1d": (lambda: GaussianMixture([[-6.1], [-3.2], [-0.8], [1.5], [3.8], [6.4]],
                                                [0.45, 0.06, 0.35, 0.04, 0.5, 0.05],
                                                [0.2, 0.1, 0.16, 0.08, 0.24, 0.11]), ("1d", "sharp")),
    "seven_scales_p_1d": (lambda: GaussianMixture([[-7.2], [-4.6], [-2.1], [0.2], [2.6], [5.0], [7.4]],
                                                  [0.04, 0.4, 0.06, 0.5, 0.035, 0.35, 0.05], None), ("1d", "sharp")),
    "eight_scales_m_1d": (lambda: GaussianMixture([[-8.0], [-5.4], [-2.9], [-0.7], [1.3], [3.3], [5.8], [8.3]],
                                                  [0.45, 0.05, 0.3, 0.04, 0.5, 0.06, 0.35, 0.05],
                                                  [0.16, 0.09, 0.14, 0.08, 0.2, 0.1, 0.15, 0.09]), ("1d", "sharp")),
    "nine_scales_e_1d": (lambda: GaussianMixture([[-9.1], [-6.8], [-4.4], [-2.2], [0.1], [2.3], [4.6], [6.9], [9.2]],
                                                 [0.05, 0.4, 0.04, 0.5, 0.06, 0.45, 0.035, 0.3, 0.05], None),
                         ("1d", "sharp")),
    "full80_cond2700": (lambda: _ill_conditioned(80, 3, 2700.0), ("full_cov", "ill_conditioned")),
    "lowrank122_r4": (lambda: _low_rank(122, 4, 4, seed=12204), ("low_rank",)),
    "lowrank196_r5": (lambda: _low_rank(196, 3, 5, seed=19605), ("low_rank", "high_dim")),
    "unequal_69d": (lambda: _unequal(5, 69, 6969, 1.3, 0.2, 0.8), ("unequal_weights", "high_dim")),
    "modes169_3d": (lambda: _many(169, 3, 0.05, seed=1693, spread=1.7), ("sharp", "many_modes")),
}
"""A fiftieth set, in no other: fixed in code (``benchmarks/RESULTS.md``, few-step section 59g) before any sampler or
probe ran on it, to test the EDM one-coordinate entry carried on to 8-9 steps (``solvers.sharp_modes.
SHARP_ONE_DIM_RECIPES``). Eight sharp 1-D mixtures (4-9 modes, weights 0.035-0.5) and five controls (a full covariance
in 80, low-rank mixtures in 122 and 196, unequal weights in 69, 169 sharp modes in 3-D)."""

RESERVED = {"holdout": HOLDOUT, "fresh": FRESH, "fresh2": FRESH2, "fresh3": FRESH3, "fresh4": FRESH4,
            "fresh5": FRESH5, "fresh6": FRESH6, "fresh7": FRESH7, "fresh8": FRESH8, "fresh9": FRESH9,
            "fresh10": FRESH10, "fresh11": FRESH11,
            "fresh12": FRESH12, "fresh13": FRESH13, "fresh14": FRESH14, "fresh15": FRESH15,
            "fresh16": FRESH16, "fresh17": FRESH17, "fresh18": FRESH18, "fresh19": FRESH19,
            "fresh20": FRESH20, "fresh21": FRESH21, "fresh22": FRESH22,
            "fresh23": FRESH23, "fresh24": FRESH24, "fresh25": FRESH25, "fresh26": FRESH26,
            "fresh27": FRESH27, "fresh28": FRESH28, "fresh29": FRESH29,
            "fresh30": FRESH30, "fresh31": FRESH31, "fresh32": FRESH32,
            "fresh33": FRESH33, "fresh34": FRESH34, "fresh35": FRESH35,
            "fresh36": FRESH36, "fresh37": FRESH37, "fresh38": FRESH38,
            "fresh39": FRESH39, "fresh40": FRESH40, "fresh41": FRESH41,
            "fresh42": FRESH42, "fresh43": FRESH43, "fresh44": FRESH44,
            "fresh45": FRESH45, "fresh46": FRESH46,
            "fresh47": FRESH47}
"""The reserved sets by the name ``problem_suite`` takes."""
SUITE_HALVES = ("tuning", "validation", "all", *RESERVED)
"""Every name ``problem_suite`` takes (the benchmarks' ``--half`` choices)."""

_ALL = {**SUITE, **TUNING_ADDITIONS}
_BY_NAME = {**_ALL, **{name: p for table in RESERVED.values() for name, p in table.items()}}


def suite_split() -> Dict[str, List[str]]:
    """{"tuning": [...], "validation": [...]}: the sorted names of ``SUITE`` permuted by
    ``SPLIT_SEED``, first half tuning, second half validation; then ``TUNING_ADDITIONS`` join
    the tuning half (each half sorted)."""
    names = sorted(SUITE)
    perm = torch.randperm(len(names), generator=_gen(SPLIT_SEED)).tolist()
    half = len(names) // 2
    return {"tuning": sorted([names[i] for i in perm[:half]] + list(TUNING_ADDITIONS)),
            "validation": sorted(names[i] for i in perm[half:])}


def suite_problem(name: str) -> SuiteProblem:
    """One problem of the suite by name."""
    check_choice("suite problem", name, sorted(_BY_NAME))
    build, tags = _BY_NAME[name]
    return SuiteProblem(name, build(), tags)


@register("mixture", "sde_diffusion.analytic.suite_mixture")
def suite_mixture(name: str) -> GaussianMixture:
    """The exact mixture of suite problem ``name`` (the benchmark's ``conf/problem/suite.yaml``)."""
    return suite_problem(name).mixture


def problem_suite(half: str = "validation") -> List[SuiteProblem]:
    """The problems of one half (``"tuning"``, ``"validation"``), ``"all"`` (both), or a
    reserved set by its name in ``RESERVED`` (``"holdout"``: ``HOLDOUT``; ``"fresh"``: ``FRESH``;
    ``"freshN"``: ``FRESHN``), in name order."""
    check_choice("suite half", half, SUITE_HALVES)
    names = (sorted(_ALL) if half == "all" else sorted(RESERVED[half]) if half in RESERVED
             else suite_split()[half])
    return [suite_problem(n) for n in names]


if __name__ == "__main__":  # the names of a half, comma-separated, for a Hydra sweep
    import sys
    print(",".join(p for p in (sorted(_ALL) if sys.argv[1:] == ["all"]
                               else suite_split()[check_choice("suite half", (sys.argv[1:] or
                                                                              ["validation"])[0],
                                                               ("tuning", "validation"))])))
