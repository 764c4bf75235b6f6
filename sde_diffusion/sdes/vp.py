"""Variance-preserving (continuous DDPM) and sub-VP SDEs with linear or cosine beta schedules.

VP:     dx = -1/2 beta(t) x dt + sqrt(beta(t)) dW,   m = exp(-B/2),  s^2 = 1 - exp(-B)
sub-VP: dx = -1/2 beta(t) x dt + sqrt(beta(t) (1 - exp(-2B))) dW,     s = 1 - exp(-B)
with B(t) = int_0^t beta. Schedules (time u = t/T in [0, 1]):
  linear: beta = beta_min + u (beta_max - beta_min)
  cosine: alpha_bar(t) = exp(-B) = cos^2(theta(u)) / cos^2(theta_0) with
          theta(u) = theta_0 + u (theta_1 - theta_0), theta_0 = s/(1+s) pi/2 (Nichol & Dhariwal),
          and theta_1 < pi/2 chosen so that alpha_bar(T) = alpha_bar_min (no infinite beta at T).
Everything is computed in float64, with log1p/expm1 near both ends.
"""
from __future__ import annotations

import math
from typing import Tuple

import torch

from ..utils import check_choice, check_positive
from .base import SDE

__all__ = ["VPSDE", "SubVPSDE", "BetaSchedule", "SCHEDULES"]

SCHEDULES = ("linear", "cosine")


class BetaSchedule:
    """beta(t) and its integral B(t) for the 'linear' and 'cosine' schedules on [0, T]."""

    def __init__(self, schedule: str = "linear", beta_min: float = 0.1, beta_max: float = 20.0,
                 T: float = 1.0, cosine_s: float = 0.008, alpha_bar_min: float = 5e-5):
        self.schedule = check_choice("beta schedule", schedule, SCHEDULES)
        self.T = T
        if schedule == "linear":
            if not beta_min > 0:
                raise ValueError(f"beta_min must be positive, got {beta_min!r}")
            if not beta_max >= beta_min:
                raise ValueError(f"beta_max must be >= beta_min={beta_min}, got {beta_max!r}")
            self.beta_min, self.beta_max = float(beta_min), float(beta_max)
        else:
            check_positive("cosine_s", cosine_s)
            if not 0 < alpha_bar_min < 1:
                raise ValueError(f"alpha_bar_min must lie in (0, 1), got {alpha_bar_min!r}")
            self.theta0 = cosine_s / (1 + cosine_s) * math.pi / 2
            self.theta1 = math.acos(math.sqrt(alpha_bar_min) * math.cos(self.theta0))
            self.cosine_s, self.alpha_bar_min = cosine_s, alpha_bar_min

    def beta(self, t: torch.Tensor) -> torch.Tensor:
        u = t / self.T
        if self.schedule == "linear":
            return (self.beta_min + u * (self.beta_max - self.beta_min)) / self.T
        dtheta = self.theta1 - self.theta0
        return 2.0 * torch.tan(self.theta0 + u * dtheta) * dtheta / self.T

    def integral(self, t: torch.Tensor) -> torch.Tensor:
        """B(t) = int_0^t beta(r) dr = -log alpha_bar(t)."""
        u = t / self.T
        if self.schedule == "linear":
            return self.beta_min * u + 0.5 * (self.beta_max - self.beta_min) * u * u
        d = u * (self.theta1 - self.theta0)
        # cos(theta0 + d)/cos(theta0) = 1 - 2 sin^2(d/2) - tan(theta0) sin(d), via log1p
        ratio_m1 = -2.0 * torch.sin(d / 2) ** 2 - math.tan(self.theta0) * torch.sin(d)
        return -2.0 * torch.log1p(ratio_m1)

    def t_from_integral(self, B: torch.Tensor) -> torch.Tensor:
        """Inverse of B(t)."""
        if self.schedule == "linear":
            a, b = 0.5 * (self.beta_max - self.beta_min), self.beta_min
            if a == 0:
                return self.T * B / b
            return self.T * 2 * B / (b + torch.sqrt(b * b + 4 * a * B))  # stable root
        theta = torch.acos(torch.exp(-0.5 * B) * math.cos(self.theta0))
        return self.T * (theta - self.theta0) / (self.theta1 - self.theta0)

    def __repr__(self):
        if self.schedule == "linear":
            return f"linear(beta_min={self.beta_min}, beta_max={self.beta_max})"
        return f"cosine(s={self.cosine_s}, alpha_bar_min={self.alpha_bar_min})"


class VPSDE(SDE):
    """Variance-preserving SDE (continuous-time DDPM). Prior N(0, s(T)^2 I) ~ N(0, I)."""

    default_grid = "time_quadratic"  # measured best at 10 NFE (benchmarks/results/fewstep.md)
    few_step_t_end = 1e-3  # runs of < 15 steps end here (solvers.grids.default_t_end)

    def __init__(self, beta_min: float = 0.1, beta_max: float = 20.0, schedule: str = "linear",
                 T: float = 1.0, eps: float = 1e-5, cosine_s: float = 0.008,
                 alpha_bar_min: float = 5e-5):
        super().__init__(T=T, eps=eps)
        self.schedule = BetaSchedule(schedule, beta_min, beta_max, T, cosine_s, alpha_bar_min)

    def beta(self, t) -> torch.Tensor:
        return self.schedule.beta(self._time(t))

    def _f(self, t):
        return -0.5 * self.schedule.beta(t)

    def _g(self, t):
        return torch.sqrt(self.schedule.beta(t))

    def _marginal(self, t) -> Tuple[torch.Tensor, torch.Tensor]:
        B = self.schedule.integral(t)
        return torch.exp(-0.5 * B), torch.sqrt(-torch.expm1(-B))

    def log_snr(self, t):
        B = self.schedule.integral(self._time(t))
        return -B - torch.log(-torch.expm1(-B))  # log(alpha_bar / (1 - alpha_bar))

    def t_from_log_snr(self, lam):
        lam = torch.as_tensor(lam, dtype=torch.float64)
        B = torch.nn.functional.softplus(-lam)  # alpha_bar = sigmoid(lam)
        return self.schedule.t_from_integral(B).clamp(0.0, self.T)

    def alpha_bar(self, t) -> torch.Tensor:
        """alpha_bar(t) = m(t)^2 = exp(-B(t))."""
        return torch.exp(-self.schedule.integral(self._time(t)))

    def discrete(self, num_steps: int):
        """The discrete DDPM chain whose alpha_bar_i equals this SDE's m(t_i)^2 at t_i = i T / N."""
        from .discrete import DiscreteChain
        return DiscreteChain.from_sde(self, num_steps)

    def __repr__(self):
        return f"VPSDE({self.schedule!r}, T={self.T}, eps={self.eps})"


class SubVPSDE(VPSDE):
    """Sub-VP SDE (Song et al. 2021): same drift as VP, smaller diffusion, s(t) = 1 - exp(-B)."""

    def _g(self, t):
        B = self.schedule.integral(t)
        return torch.sqrt(self.schedule.beta(t) * -torch.expm1(-2.0 * B))

    def _marginal(self, t):
        B = self.schedule.integral(t)
        return torch.exp(-0.5 * B), -torch.expm1(-B)

    def log_snr(self, t):
        B = self.schedule.integral(self._time(t))
        return -B - 2.0 * torch.log(-torch.expm1(-B))

    def t_from_log_snr(self, lam):
        return SDE.t_from_log_snr(self, lam)

    def discrete(self, num_steps: int):
        raise ValueError("the discrete DDPM chain is defined for VPSDE only, not SubVPSDE")

    def __repr__(self):
        return f"SubVPSDE({self.schedule!r}, T={self.T}, eps={self.eps})"
