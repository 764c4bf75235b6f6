"""EDM's samplers (Karras et al. 2022, Algorithms 1 and 2) for any SDE of this package.

In the scaled state x_hat = x / m(t) and noise level sigma = s(t)/m(t) the probability-flow
ODE of every linear SDE reads

    dx_hat / dsigma = (x_hat - D(x_hat; sigma)) / sigma = -s(t) score(m x_hat, t)  (= eps_hat),

with the denoiser D = E[x_0 | x_t] = x_hat + (s^2/m) score. Both samplers step in sigma on
EDM's grid: the rho = 7 Karras grid from sigma(T) to sigma(t_end) in ``steps - 1`` intervals,
then a last step to sigma = 0 (t = 0) taken with Euler, which returns D exactly -- so
``steps = 18`` costs 17 * 2 + 1 = 35 NFE and no separate denoising step is needed.

- ``edm_heun`` (Alg. 1): Heun's second-order step in sigma.
- ``edm`` (Alg. 2, stochastic): before each step, for sigma_i in [S_tmin, S_tmax], raise the
  noise level to sigma_hat = sigma_i (1 + gamma), gamma = min(S_churn / steps, sqrt(2) - 1)
  (also capped so sigma_hat <= sigma(T), where the SDE is defined), by adding fresh noise of
  std sqrt(sigma_hat^2 - sigma_i^2) S_noise, then take the Heun step from sigma_hat. With
  S_churn = 0 it is ``edm_heun``.

Pass ``grid=`` to ``sample`` to use another grid (then it is used as given, without the step
to sigma = 0). ``rho`` sets the grid's exponent.
"""
from __future__ import annotations

import math
from typing import List

import torch

from ..models.parameterization import convert
from ..contract import check_positive
from .base import Sampler, SolverContext, register_sampler
from .grids import _from_prior, karras, make_grid

__all__ = ["EDMHeunSampler", "EDMStochasticSampler", "edm_grid"]


def edm_grid(sde, steps: int, t_end=None, t_start=None, rho: float = 7.0) -> torch.Tensor:
    """Karras' rho-grid from t_start (default T) to t_end (default eps) in ``steps - 1``
    intervals plus the final time t = 0 (sigma = 0); shape (steps + 1,). ``steps >= 2``."""
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 2:
        raise ValueError(f"EDM samplers need steps >= 2 (the last step goes to sigma = 0), got {steps!r}")
    body = _from_prior(karras, sde, steps - 1, t_end, t_start, rho=rho)
    if float(body[-1]) <= 0.0:
        raise ValueError("the EDM grid needs t_end > 0 before its final step to t = 0")
    return torch.cat([body, torch.zeros(1, dtype=torch.float64)])


class _EDMBase(Sampler):
    order = 2.0
    evals_per_step = 2
    default_grid = "karras"
    default_denoise = False  # the last step to sigma = 0 returns D = E[x_0 | x] itself

    def make_times(self, sde, steps, grid, t_end, t_start):
        if grid is None:
            return edm_grid(sde, steps, t_end, t_start, self.rho)
        return make_grid(sde, grid, steps, t_end, t_start)

    @staticmethod
    def _eps_hat(ctx: SolverContext, x_hat: torch.Tensor, t: float, m: float, s: float) -> torch.Tensor:
        """dx_hat/dsigma = (x_hat - D)/sigma = eps(m x_hat, t) = -s score (one NFE)."""
        x = m * x_hat
        return convert(ctx.score(x, t), "score", "eps", x, m, s)

    def _heun(self, ctx: SolverContext, x_hat: torch.Tensor, t: float, m: float, s: float,
              i: int) -> torch.Tensor:
        """Heun step in sigma from (t, sigma = s/m) to grid point i + 1; returns x_hat there."""
        sig, sig_next = s / m, ctx.s[i + 1] / ctx.m[i + 1]
        d = self._eps_hat(ctx, x_hat, t, m, s)
        x_next = x_hat + (sig_next - sig) * d
        if ctx.s[i + 1] == 0.0:  # sigma = 0: Euler; x_next = D(x_hat; sigma) (Tweedie)
            return x_next
        d2 = self._eps_hat(ctx, x_next, ctx.t[i + 1], ctx.m[i + 1], ctx.s[i + 1])
        return x_hat + (0.5 * (sig_next - sig)) * (d + d2)


@register_sampler("edm_heun")
class EDMHeunSampler(_EDMBase):
    """EDM's deterministic sampler: Heun in (sigma, x_hat) on the rho-grid ending at sigma = 0."""

    def __init__(self, rho: float = 7.0):
        self.rho = check_positive("rho", rho)

    def step(self, ctx, x, i):
        m, s = ctx.m[i], ctx.s[i]
        x_hat = self._heun(ctx, x / m, ctx.t[i], m, s, i)
        return ctx.m[i + 1] * x_hat


@register_sampler("edm")
class EDMStochasticSampler(_EDMBase):
    """EDM's stochastic sampler (Alg. 2): churn noise, then a Heun step in sigma.

    Args:
        S_churn: total churn; gamma_i = min(S_churn / steps, sqrt(2) - 1) where it applies.
        S_tmin, S_tmax: churn only for sigma_i in [S_tmin, S_tmax].
        S_noise: scale of the added noise (slightly > 1 offsets the denoiser's loss of detail).
        rho: exponent of the grid.
    """

    order = 1.0
    stochastic = True

    def __init__(self, S_churn: float = 40.0, S_tmin: float = 0.05, S_tmax: float = 50.0,
                 S_noise: float = 1.003, rho: float = 7.0):
        for name, v in (("S_churn", S_churn), ("S_tmin", S_tmin)):
            if not (v >= 0 and math.isfinite(v)):
                raise ValueError(f"{name} must be a finite number >= 0, got {v!r}")
        if not S_tmax >= S_tmin:
            raise ValueError(f"S_tmax must be >= S_tmin={S_tmin}, got {S_tmax!r}")
        if not (S_noise >= 0 and math.isfinite(S_noise)):
            raise ValueError(f"S_noise must be a finite number >= 0, got {S_noise!r}")
        self.S_churn, self.S_tmin, self.S_tmax, self.S_noise = (float(S_churn), float(S_tmin),
                                                                float(S_tmax), float(S_noise))
        self.rho = check_positive("rho", rho)

    def churn(self, ctx) -> List[tuple]:
        """Precompute (on the host, before the loop) sigma_hat_i, its time and kernel: a list
        of (noise_std, t_hat, m_hat, s_hat) per step."""
        n = ctx.steps
        sig = torch.tensor(ctx.s[:n], dtype=torch.float64) / torch.tensor(ctx.m[:n], dtype=torch.float64)
        sig_T = float(ctx.sde.sigma(ctx.sde.T))
        gamma = torch.where((sig >= self.S_tmin) & (sig <= self.S_tmax),
                            min(self.S_churn / n, math.sqrt(2.0) - 1.0), 0.0)
        gamma = torch.minimum(gamma, sig_T / sig - 1.0).clamp(min=0.0)
        churn = gamma > 0
        t_hat = torch.where(churn, ctx.sde.t_from_sigma(sig * (1.0 + gamma)),
                            torch.tensor(ctx.t[:n], dtype=torch.float64))
        m_hat, s_hat = ctx.sde.marginal(t_hat)
        std = torch.sqrt(((s_hat / m_hat) ** 2 - sig ** 2).clamp(min=0.0)) * self.S_noise
        std = torch.where(churn, std, 0.0)
        hats: List[tuple] = list(zip(std.tolist(), t_hat.tolist(), m_hat.tolist(), s_hat.tolist()))
        for i in range(n):  # no churn: evaluate exactly at the grid point
            if not bool(churn[i]):
                hats[i] = (0.0, ctx.t[i], ctx.m[i], ctx.s[i])
        return hats

    def run(self, ctx, x):
        hats = self.churn(ctx)
        for i in ctx.loop(x):
            noise_std, t_hat, m_hat, s_hat = hats[i]
            x_hat = x / ctx.m[i]
            if noise_std > 0.0:
                x_hat = x_hat + noise_std * ctx.noise(x_hat)
            x_hat = self._heun(ctx, x_hat, t_hat, m_hat, s_hat, i)
            x = ctx.finish_step(ctx.m[i + 1] * x_hat, i + 1)
        return x
