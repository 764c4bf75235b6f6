"""Low-dimensional toy data: the tutorial's 1-D three clusters and 2-D toys.

Every function returns a ``DataBundle`` of kind "points" with ``n_train`` and ``n_test``
independent samples drawn from a ``torch.Generator`` seeded with ``seed``. The two that are
Gaussian mixtures (``three_clusters``, ``ring``) carry the exact density as ``reference``, so
sample quality can be compared with the true-vs-true sliced-Wasserstein floor. All 2-D toys
are scaled to roughly [-4, 4]^2.
"""
from __future__ import annotations

import math
from typing import Callable

import torch

from ..analytic import GaussianMixture, ring_of_gaussians, three_clusters_1d
from .bundle import DataBundle
from ..registry import register

__all__ = ["three_clusters", "ring", "checkerboard", "swiss_roll", "two_moons", "pinwheel",
           "mixture_bundle"]


def _check_sizes(n_train: int, n_test: int) -> None:
    if int(n_train) < 1 or int(n_test) < 1:
        raise ValueError(f"n_train and n_test must be >= 1, got {n_train}, {n_test}")


def _bundle(fn: Callable[[int, torch.Generator], torch.Tensor], name: str, n_train: int,
            n_test: int, seed: int) -> DataBundle:
    _check_sizes(n_train, n_test)
    g = torch.Generator().manual_seed(int(seed))
    train, test = fn(int(n_train), g), fn(int(n_test), g)
    return DataBundle(train.float(), test.float(), tuple(train.shape[1:]), "points", name=name)


def mixture_bundle(mixture: GaussianMixture, name: str, n_train: int = 50_000,
                   n_test: int = 5_000, seed: int = 0) -> DataBundle:
    """Samples of an ``analytic.GaussianMixture`` (kept as the bundle's reference), labelled by
    the component each point was drawn from."""
    _check_sizes(n_train, n_test)
    g = torch.Generator().manual_seed(int(seed))
    (train, y_train), (test, y_test) = (mixture.sample(int(n), generator=g, return_labels=True)
                                        for n in (n_train, n_test))
    return DataBundle(train.float(), test.float(), tuple(train.shape[1:]), "points", name=name,
                      reference=mixture, train_labels=y_train, test_labels=y_test)


@register("data", "sde_diffusion.data.three_clusters")
def three_clusters(n_train: int = 50_000, n_test: int = 5_000, seed: int = 0) -> DataBundle:
    """The tutorial's 1-D example (``analytic.three_clusters_1d``), shape (1,)."""
    return mixture_bundle(three_clusters_1d(), "three_clusters", n_train, n_test, seed)


@register("data", "sde_diffusion.data.ring")
def ring(n_train: int = 50_000, n_test: int = 5_000, seed: int = 0, n_modes: int = 8,
         radius: float = 4.0, std: float = 0.3) -> DataBundle:
    """'8 Gaussians': equal Gaussians on a circle (``analytic.ring_of_gaussians``)."""
    return mixture_bundle(ring_of_gaussians(n_modes, radius, std), "ring", n_train, n_test, seed)


def _checkerboard(n: int, g: torch.Generator) -> torch.Tensor:
    x1 = 4 * torch.rand(n, generator=g) - 2
    x2 = torch.rand(n, generator=g) - 2 * torch.randint(0, 2, (n,), generator=g) + torch.floor(x1) % 2
    return 2 * torch.stack([x1, x2], 1)


@register("data", "sde_diffusion.data.checkerboard")
def checkerboard(n_train: int = 50_000, n_test: int = 5_000, seed: int = 0) -> DataBundle:
    """Uniform on the 8 black squares of a 4x4 checkerboard on [-4, 4]^2."""
    return _bundle(_checkerboard, "checkerboard", n_train, n_test, seed)


def _swiss_roll(n: int, g: torch.Generator) -> torch.Tensor:
    t = 1.5 * math.pi * (1 + 2 * torch.rand(n, generator=g))
    x = torch.stack([t * torch.cos(t), t * torch.sin(t)], 1)
    return (x + 0.5 * torch.randn(n, 2, generator=g)) / 3.5


@register("data", "sde_diffusion.data.swiss_roll")
def swiss_roll(n_train: int = 50_000, n_test: int = 5_000, seed: int = 0) -> DataBundle:
    """2-D swiss roll: t ~ U[1.5 pi, 4.5 pi], (t cos t, t sin t) + N(0, 0.5^2), scaled by 1/3.5."""
    return _bundle(_swiss_roll, "swiss_roll", n_train, n_test, seed)


def _two_moons(n: int, g: torch.Generator) -> torch.Tensor:
    theta = math.pi * torch.rand(n, generator=g)
    upper = torch.randint(0, 2, (n,), generator=g).bool()
    x = torch.where(upper[:, None], torch.stack([theta.cos(), theta.sin()], 1),
                    torch.stack([1 - theta.cos(), 0.5 - theta.sin()], 1))
    x = x + 0.08 * torch.randn(n, 2, generator=g)
    return 2.5 * (x - torch.tensor([0.5, 0.25]))


@register("data", "sde_diffusion.data.two_moons")
def two_moons(n_train: int = 50_000, n_test: int = 5_000, seed: int = 0) -> DataBundle:
    """Two interleaved half circles with N(0, 0.08^2) noise, centred, scaled by 2.5."""
    return _bundle(_two_moons, "two_moons", n_train, n_test, seed)


def _pinwheel(n: int, g: torch.Generator, arms: int = 5) -> torch.Tensor:
    labels = torch.randint(0, arms, (n,), generator=g)
    feats = torch.randn(n, 2, generator=g) * torch.tensor([0.3, 0.05]) + torch.tensor([1.0, 0.0])
    ang = labels * (2 * math.pi / arms) + 0.25 * torch.exp(feats[:, 0])
    rot = torch.stack([torch.stack([ang.cos(), -ang.sin()], -1),
                       torch.stack([ang.sin(), ang.cos()], -1)], -2)  # (n, 2, 2)
    return 2.5 * (rot @ feats[:, :, None])[..., 0]


@register("data", "sde_diffusion.data.pinwheel")
def pinwheel(n_train: int = 50_000, n_test: int = 5_000, seed: int = 0) -> DataBundle:
    """Five curved arms: radial N(1, 0.3^2), tangential N(0, 0.05^2), twisted by 0.25 e^r."""
    return _bundle(_pinwheel, "pinwheel", n_train, n_test, seed)
