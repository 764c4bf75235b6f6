"""Coefficients of exponential integrators in half-log-SNR time lambda = log(m/s).

For the probability-flow ODE in data prediction x0(lambda), one step of length h from lambda
to lambda + h is exactly (see ``exponential.py``)

    x' = (s'/s) x + m' * int_0^1 h e^{-h(1-v)} x0(lambda + v h) dv.

With x0 replaced by a polynomial in v through nodes r_k (x0 known at lambda + r_k h), the
integral is a weighted sum of the node values. Everything here is host-side float64.

- ``psi(h, n)``: psi_j(h) = h int_0^1 e^{-h(1-v)} v^j dv, j = 0..n (psi_0 = 1 - e^{-h}).
- ``lagrange_weights(nodes, h)``: w_k with int_0^1 h e^{-h(1-v)} P(v) dv = sum_k w_k P(r_k)
  for every polynomial P of degree < len(nodes).
- ``gauss_legendre(n)``: nodes and weights on [0, 1] (the DEIS quadrature in sigma).
"""
from __future__ import annotations

import math
from functools import lru_cache
from typing import List, Sequence, Tuple

import numpy as np

__all__ = ["psi", "lagrange_weights", "moment_solve", "gauss_legendre"]


def psi(h: float, n: int) -> List[float]:
    """[psi_0(h), ..., psi_n(h)], psi_j(h) = h int_0^1 e^{-h(1-v)} v^j dv (h >= 0).

    Series h j! sum_k (-h)^k / (j+k+1)! for h < 1 (no cancellation), else the recurrence
    psi_j = 1 - j psi_{j-1} / h (stable when h >= j)."""
    h = float(h)
    if h < 1.0:
        out = []
        for j in range(n + 1):
            term, total = 1.0 / math.factorial(j + 1), 0.0
            for k in range(40):
                total += term
                if abs(term) < 1e-17 * abs(total):  # below half an ulp: the sum is final
                    break
                term *= -h / (j + k + 2)
            out.append(h * math.factorial(j) * total)
        return out
    out = [-math.expm1(-h)]
    for j in range(1, n + 1):
        out.append(1.0 - j * out[-1] / h)
    return out


def lagrange_weights(nodes: Sequence[float], h: float) -> List[float]:
    """Weights w_k of the exponentially weighted integral of the Lagrange interpolant
    through ``nodes`` (distinct, in units of h): solves V^T w = psi with V[k, j] = r_k^j."""
    r = np.asarray(nodes, dtype=np.float64)
    p = r.size
    V = np.vander(r, p, increasing=True)
    return np.linalg.solve(V.T, np.asarray(psi(h, p - 1))).tolist()


def moment_solve(nodes: Sequence[float], rhs: Sequence[float]) -> List[float]:
    """rho with sum_k rho_k r_k^(j-1) = rhs_j for j = 1..len(nodes) (UniPC's R rho = b)."""
    r = np.asarray(nodes, dtype=np.float64)
    R = np.vander(r, r.size, increasing=True).T
    return np.linalg.solve(R, np.asarray(rhs, dtype=np.float64)).tolist()


@lru_cache(maxsize=16)
def gauss_legendre(n: int) -> Tuple[np.ndarray, np.ndarray]:
    """n-point Gauss-Legendre nodes and weights on [0, 1]."""
    x, w = np.polynomial.legendre.leggauss(n)
    return 0.5 * (x + 1.0), 0.5 * w

