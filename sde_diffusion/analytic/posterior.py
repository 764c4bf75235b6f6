"""The exact posterior of a Gaussian mixture under a linear-Gaussian measurement.

Prior p(x_0) = sum_k w_k N(mu_k, C_k); measurement y = A x_0 + sigma n, n ~ N(0, I_m), A (m, d).
Each component is conjugate, so p(x_0 | y) = sum_k w'_k N(mu'_k, C'_k) with

    S_k   = A C_k A^T + sigma^2 I                 (covariance of y under component k)
    K_k   = C_k A^T S_k^{-1}                      (Kalman gain)
    mu'_k = mu_k + K_k (y - A mu_k),    C'_k = C_k - K_k A C_k
    w'_k  ∝ w_k N(y; A mu_k, S_k)                 (evidence of component k)

and the posterior keeps each component's label. With sigma = 0 (noiseless inpainting) C'_k is
singular along the observed directions; S_k must still be invertible (A of full row rank where
C_k is positive definite), else ``ValueError``. Everything in float64.
"""
from __future__ import annotations

import math

import torch

from .mixture import GaussianMixture

__all__ = ["linear_gaussian_posterior"]


def linear_gaussian_posterior(gm: GaussianMixture, meas) -> GaussianMixture:
    """p(x_0 | y) for ``meas`` with attributes ``A`` (m, d), ``y`` (m,) and ``noise_std``."""
    for attr in ("A", "y", "noise_std"):
        if not hasattr(meas, attr):
            raise TypeError(f"posterior needs a LinearMeasurement (with A, y, noise_std), "
                            f"got {type(meas).__name__}")
    A = torch.as_tensor(meas.A, dtype=torch.float64).cpu()
    y = torch.as_tensor(meas.y, dtype=torch.float64).cpu()
    if A.ndim != 2 or A.shape[1] != gm.dim:
        raise ValueError(f"measurement matrix A has shape {tuple(A.shape)}; the mixture has "
                         f"{gm.dim} values per sample, so A must be (m, {gm.dim})")
    if y.ndim == 2 and y.shape[0] == 1:
        y = y[0]
    if y.shape != (A.shape[0],):
        raise ValueError(f"the exact posterior is for one measurement y of shape ({A.shape[0]},), "
                         f"got {tuple(y.shape)}; make one posterior per measurement")
    sigma = float(meas.noise_std)
    m = A.shape[0]
    C, mu = gm.covs, gm.means                                      # (K, d, d), (K, d)
    AC = A @ C                                                     # (K, m, d)
    S = AC @ A.T + sigma ** 2 * torch.eye(m, dtype=torch.float64)  # (K, m, m)
    L, info = torch.linalg.cholesky_ex(S)
    if bool((info != 0).any()):
        raise ValueError("A C_k A^T + noise_std^2 I is singular for some component: with "
                         "noise_std = 0 the rows of A must be independent (observe each "
                         "coordinate once) and see only directions where the prior has variance")
    r = y[None] - mu @ A.T                                         # (K, m)
    sol = torch.cholesky_solve(r[:, :, None], L)                   # S^{-1} r, (K, m, 1)
    mean = mu + (AC.transpose(1, 2) @ sol)[:, :, 0]
    cov = C - AC.transpose(1, 2) @ torch.cholesky_solve(AC, L)
    cov = 0.5 * (cov + cov.transpose(1, 2))
    log_ev = (-0.5 * (r[:, :, None] * sol).sum((1, 2))
              - torch.log(torch.diagonal(L, dim1=1, dim2=2)).sum(1) - 0.5 * m * math.log(2 * math.pi))
    w = torch.softmax(torch.log(gm.weights) + log_ev, 0)
    lam, U = torch.linalg.eigh(cov)
    return GaussianMixture._from_eig(mean, lam, U, w, gm.labels.clone(), gm.data_shape)
