"""The discrete DDPM chain, the VP SDE's discretisation (the tutorial's forward process).

x_i = sqrt(alpha_i) x_{i-1} + sqrt(1 - alpha_i) eps,        beta_i = 1 - alpha_i
x_i = sqrt(alpha_bar_i) x_0 + sqrt(1 - alpha_bar_i) eps,    alpha_bar_i = prod_{j<=i} alpha_j
q(x_{i-1} | x_i, x_0) = N(mu_tilde_i, beta_tilde_i I) with
  mu_tilde_i = sqrt(alpha_bar_{i-1}) beta_i / (1 - alpha_bar_i) x_0
             + sqrt(alpha_i) (1 - alpha_bar_{i-1}) / (1 - alpha_bar_i) x_i
  beta_tilde_i = (1 - alpha_bar_{i-1}) / (1 - alpha_bar_i) beta_i
Steps are 1-based, i = 1..N, and alpha_bar_0 = 1. Coefficients are float64.
"""
from __future__ import annotations

from typing import Tuple, Union

import torch

from ..utils import append_dims
from ..contract import check_positive

__all__ = ["DiscreteChain"]

Index = Union[int, torch.Tensor]


class DiscreteChain:
    def __init__(self, betas: torch.Tensor, T: float = 1.0):
        check_positive("T", T)
        betas = torch.as_tensor(betas, dtype=torch.float64).flatten()
        if betas.numel() < 1:
            raise ValueError("a discrete chain needs at least one step")
        bad = ~((betas > 0) & (betas < 1))
        if bool(bad.any()):
            i = int(bad.nonzero()[0]) + 1
            raise ValueError(f"beta_{i} = {float(betas[i - 1])!r} must lie in (0, 1)")
        self.betas = betas
        self.alphas = 1.0 - betas
        # alpha_bar[0] = 1 so that index i reads alpha_bar_i directly
        self.alpha_bars = torch.cat([betas.new_ones(1), torch.cumprod(self.alphas, 0)])
        self.num_steps = betas.numel()
        self.times = torch.linspace(0.0, T, self.num_steps + 1, dtype=torch.float64)

    @classmethod
    def from_sde(cls, sde, num_steps: int) -> "DiscreteChain":
        """beta_i = 1 - alpha_bar(t_i)/alpha_bar(t_{i-1}), so alpha_bar_i = m(t_i)^2 exactly."""
        from ..contract import as_steps
        num_steps = as_steps(num_steps, "num_steps")
        t = torch.linspace(0.0, sde.T, num_steps + 1, dtype=torch.float64)
        log_ab = 2.0 * torch.log(sde.marginal(t)[0])
        betas = -torch.expm1(log_ab[1:] - log_ab[:-1])
        return cls(betas, T=sde.T)

    def _take(self, table: torch.Tensor, i: Index, x: torch.Tensor) -> torch.Tensor:
        idx = torch.as_tensor(i, device=table.device, dtype=torch.long)
        if bool(((idx < 0) | (idx > self.num_steps)).any()):
            raise ValueError(f"step index {i!r} outside 0..{self.num_steps}")
        v = table[idx].to(device=x.device, dtype=x.dtype)
        return append_dims(v, x.ndim) if v.ndim else v

    def step(self, x_prev: torch.Tensor, i: Index, noise: torch.Tensor) -> torch.Tensor:
        """One forward step x_{i-1} -> x_i."""
        a = self._take(self.alphas, torch.as_tensor(i) - 1, x_prev)
        return a.sqrt() * x_prev + (1 - a).sqrt() * noise

    def jump(self, x0: torch.Tensor, i: Index, noise: torch.Tensor) -> torch.Tensor:
        """Closed-form x_0 -> x_i."""
        ab = self._take(self.alpha_bars, i, x0)
        return ab.sqrt() * x0 + (1 - ab).sqrt() * noise

    def posterior(self, x_t: torch.Tensor, x0: torch.Tensor, i: Index) -> Tuple[torch.Tensor, torch.Tensor]:
        """Mean mu_tilde_i(x_i, x_0) and variance beta_tilde_i of q(x_{i-1} | x_i, x_0), i >= 1."""
        i = torch.as_tensor(i)
        if bool((i < 1).any()):
            raise ValueError(f"the posterior q(x_(i-1) | x_i, x_0) needs i >= 1, got {i.tolist()!r}")
        ab, ab_prev = self._take(self.alpha_bars, i, x_t), self._take(self.alpha_bars, i - 1, x_t)
        a, b = self._take(self.alphas, i - 1, x_t), self._take(self.betas, i - 1, x_t)
        mean = ab_prev.sqrt() * b / (1 - ab) * x0 + a.sqrt() * (1 - ab_prev) / (1 - ab) * x_t
        var = (1 - ab_prev) / (1 - ab) * b
        return mean, var

    def posterior_variance(self, i: Index) -> torch.Tensor:
        """beta_tilde_i (float64)."""
        i = torch.as_tensor(i)
        return (1 - self.alpha_bars[i - 1]) / (1 - self.alpha_bars[i]) * self.betas[i - 1]
