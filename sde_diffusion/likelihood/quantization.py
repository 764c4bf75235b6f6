"""Quantisation conventions and bits/dim: how continuous model space relates to 8-bit data.

bits/dim = -(log p(y) + d log a) / (d ln 2), a = (hi - lo) / 2^bits, for dequantised data y
(``Quantization`` docstring); ``bits_per_dim`` applies it to the PF-ODE likelihood.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Tuple

import torch

from ..sdes.base import SDE, ScoreFn
from ..contract import check_finite
from ._common import LN2, check_data
from .ode import LikelihoodResult, log_likelihood

__all__ = ["Quantization", "BitsPerDimResult", "bits_per_dim"]


@dataclass(frozen=True)
class Quantization:
    """How continuous model space relates to ``bits``-bit integer data k in {0, .., L-1}, L = 2^bits.

    Data as fed to the model: ``x = lo + (hi - lo) k / (L - 1)`` (e.g. [0, 255] -> [-1, 1]).

    Continuous models (ODE, continuous ELBO, Gaussian decoder) are evaluated on uniformly
    dequantised data ``y = lo + (hi - lo) (k + u) / L``, u ~ U[0, 1)^d. Since y is an affine
    image of k + u with Jacobian a = (hi - lo) / L per dimension,

        log P(k) >= E_u[log p(y)] + d log a          (Jensen; Theis et al. 2016)
        bits/dim  = -(log p(y) + d log a) / (d ln 2) = -log p(y) / (d ln 2) + bits - log2(hi - lo)

    i.e. the familiar "+8 bits" offset of [0, 1] data, minus the 1 bit of the [-1, 1] scaling.
    Discrete-mass models (the discretised decoder) give log P(k) directly: bits/dim =
    -log P / (d ln 2); their bins are centred on the grid points, half-width (hi-lo)/(2(L-1)),
    the outer bins extended to +-inf (Ho et al. 2020).
    """

    bits: int = 8
    value_range: Tuple[float, float] = (-1.0, 1.0)
    grid_tol: float = 1e-3  # tolerance, in units of one level, for "x lies on the grid"

    def __post_init__(self):
        if isinstance(self.bits, bool) or not (isinstance(self.bits, int) and self.bits >= 1):
            raise ValueError(f"bits must be a positive integer, got {self.bits!r}")
        if len(tuple(self.value_range)) != 2:
            raise ValueError(f"value_range must be (lo, hi), got {self.value_range!r}")
        lo, hi = self.value_range
        if not (math.isfinite(lo) and math.isfinite(hi) and hi > lo):
            raise ValueError(f"value_range must be (lo, hi) with hi > lo, got {self.value_range!r}")

    @property
    def levels(self) -> int:
        return 2 ** self.bits

    @property
    def bits_offset(self) -> float:
        """-log2 of the per-dimension Jacobian a: bits - log2(hi - lo) (7 for [-1, 1], 8 for [0, 1])."""
        lo, hi = self.value_range
        return self.bits - math.log2(hi - lo)

    def check(self, x: torch.Tensor) -> torch.Tensor:
        """Raise ValueError unless x lies in value_range on the 2^bits-level grid."""
        check_finite("x", x)
        lo, hi = self.value_range
        xmin, xmax = float(x.min()), float(x.max())
        span = (hi - lo) / (self.levels - 1)
        if xmin < lo - self.grid_tol * span or xmax > hi + self.grid_tol * span:
            raise ValueError(f"data range [{xmin:.4g}, {xmax:.4g}] lies outside the declared "
                             f"value_range {self.value_range} of {self.bits}-bit data")
        k = (x.double() - lo) / span
        off = float((k - k.round()).abs().max())
        if off > self.grid_tol:
            raise ValueError(f"data are not on the {self.levels}-level grid of value_range "
                             f"{self.value_range} (off by {off:.3g} levels); pass dequantize=False "
                             "for data that are already continuous")
        return x

    def to_int(self, x: torch.Tensor) -> torch.Tensor:
        """Grid points -> integer levels k (int64)."""
        lo, hi = self.value_range
        return ((x.double() - lo) * (self.levels - 1) / (hi - lo)).round().clamp(0, self.levels - 1).long()

    def dequantize(self, x: torch.Tensor, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """y = lo + (hi - lo) (k + u) / L with u ~ U[0, 1) (in x's dtype and device)."""
        self.check(x)
        lo, hi = self.value_range
        u = torch.rand(x.shape, generator=generator, dtype=torch.float64,
                       device=generator.device if generator is not None else x.device).to(x.device)
        y = lo + (hi - lo) * (self.to_int(x).double() + u) / self.levels
        return y.to(x.dtype)

    def log_det(self, dim: int) -> float:
        """d log a, a = (hi - lo) / L: log-Jacobian from the integer lattice to model space."""
        lo, hi = self.value_range
        return dim * math.log((hi - lo) / self.levels)

    def bpd_from_density(self, logp: torch.Tensor, dim: int) -> torch.Tensor:
        """Bits/dim of the integer data from the log-density (nats) of dequantised data."""
        return -(logp + self.log_det(dim)) / (dim * LN2)

    @staticmethod
    def bpd_from_mass(logP: torch.Tensor, dim: int) -> torch.Tensor:
        """Bits/dim from a log-probability mass (nats) of the integer data."""
        return -logP / (dim * LN2)

    def bin_edges(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Lower and upper edges (float64, model space) of the bins of the grid points x."""
        self.check(x)
        lo, hi = self.value_range
        k = self.to_int(x)
        centre = lo + (hi - lo) * k.double() / (self.levels - 1)
        half = 0.5 * (hi - lo) / (self.levels - 1)
        lower = torch.where(k == 0, torch.full_like(centre, -math.inf), centre - half)
        upper = torch.where(k == self.levels - 1, torch.full_like(centre, math.inf), centre + half)
        return lower, upper


@dataclass
class BitsPerDimResult:
    """Bits/dim of 8-bit data (``bpd`` (N,)) and the ODE result on the dequantised data."""

    bpd: torch.Tensor
    likelihood: LikelihoodResult
    quantization: Quantization


def bits_per_dim(sde: SDE, score_fn: ScoreFn, x: torch.Tensor,
                 quantization: Optional[Quantization] = None, dequantize: bool = True,
                 generator: Optional[torch.Generator] = None, **ode_options) -> BitsPerDimResult:
    """Bits/dim of ``bits``-bit data through the PF-ODE, with ``Quantization``'s conventions.

    x: data on the grid ``lo + (hi - lo) k / (2^bits - 1)`` (checked: a ValueError names data
    outside the declared range). With ``dequantize`` (default) one uniform dequantisation draw
    per sample is used (an unbiased estimate of the Jensen bound); ``dequantize=False`` takes x as
    already-continuous data in the range. ``ode_options`` go to ``log_likelihood``.
    """
    q = quantization if quantization is not None else Quantization()
    check_data(x)
    if dequantize:
        y = q.dequantize(x, generator)
    else:
        lo, hi = q.value_range
        if float(x.min()) < lo or float(x.max()) > hi:
            raise ValueError(f"data range [{float(x.min()):.4g}, {float(x.max()):.4g}] lies outside "
                             f"the declared value_range {q.value_range}")
        y = x
    res = log_likelihood(sde, score_fn, y, generator=generator, **ode_options)
    return BitsPerDimResult(bpd=q.bpd_from_density(res.logp, res.dim), likelihood=res, quantization=q)
