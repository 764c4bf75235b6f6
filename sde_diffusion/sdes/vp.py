"""Variance-preserving (continuous DDPM) and sub-VP SDEs, both driven by a ``BetaSchedule``.

VP:     dx = -1/2 beta(t) x dt + sqrt(beta(t)) dW,                m = exp(-B/2),  s^2 = 1 - exp(-B)
sub-VP: dx = -1/2 beta(t) x dt + sqrt(beta(t) (1 - exp(-2B))) dW, m = exp(-B/2),  s = 1 - exp(-B)
with B(t) = int_0^t beta (``schedules.LinearBeta`` / ``CosineBeta``, shared with ``LinearSDE``).
Both derive from ``BetaSDE`` (schedule, drift, m); neither subclasses the other.
"""
from __future__ import annotations

from typing import Tuple

import torch

from ..contract import check_positive
from .base import SDE
from .schedules import BETA_SCHEDULES, BetaSchedule, make_beta_schedule
from ..registry import register

__all__ = ["BetaSDE", "VPSDE", "SubVPSDE", "BetaSchedule", "SCHEDULES"]

SCHEDULES = tuple(BETA_SCHEDULES)


class BetaSDE(SDE):
    """Common part of VP and sub-VP: f = -beta/2, m = exp(-B/2).

    ``schedule``: "linear" (with beta_min, beta_max), "cosine" (cosine_s, alpha_bar_min), or a
    ``BetaSchedule`` object defined on the same [0, T]."""

    default_grid = "time_quadratic"  # best on the suite's tuning half (benchmarks/bench_suite.py)
    few_step_t_end = 1e-3  # few-step runs end here (solvers.grids.default_t_end)

    def __init__(self, beta_min: float = 0.1, beta_max: float = 20.0, schedule="linear",
                 T: float = 1.0, eps: float = 1e-5, cosine_s: float = 0.008,
                 alpha_bar_min: float = 5e-5):
        check_positive("T", T)
        super().__init__(T=T, eps=eps)
        self.schedule = make_beta_schedule(schedule, beta_min, beta_max, T, cosine_s, alpha_bar_min)

    def beta(self, t) -> torch.Tensor:
        return self.schedule.beta(self._time(t))

    def alpha_bar(self, t) -> torch.Tensor:
        """alpha_bar(t) = m(t)^2 = exp(-B(t))."""
        return torch.exp(-self.schedule.integral(self._time(t)))

    def _f(self, t):
        return -0.5 * self.schedule.beta(t)

    def __repr__(self):
        return f"{type(self).__name__}({self.schedule!r}, T={self.T}, eps={self.eps})"


@register("sde", "sde_diffusion.sdes.VPSDE")
class VPSDE(BetaSDE):
    """Variance-preserving SDE (continuous-time DDPM). Prior N(0, s(T)^2 I) ~ N(0, I)."""

    has_discrete_chain = True
    #: chosen on the suite's tuning half at 5-50 NFE by the worst ratio to the best published
    #: peer, taken per NFE budget (ties within 2x: the smallest geometric mean); samplers not
    #: named keep the default grid and stop at t_end; ``edm_heun`` keeps its own rho-grid to
    #: sigma = 0 (``benchmarks/RESULTS.md``, "Few-step defaults on the problem suite", 9 and 11).
    #: Re-chosen on 1024 tuning points (section 14) the rule moved five multistep entries; they
    #: lost on a fresh set (39 of 72 cells <= 1x against 46) and were not kept.
    sampler_defaults = {
        "euler": {"grid": "time_power"}, "ddim": {"grid": "time_power"}, "deis": {"zero_from": 50},
        "ipndm": {"grid": "time_power", "zero_from": 20}, "ipndm_v": {"zero_from": 50},
        "dpm_solver3": {"zero_from": 50}, "unipc": {"zero_from": 50},
    }

    def _g(self, t):
        return torch.sqrt(self.schedule.beta(t))

    def _marginal(self, t) -> Tuple[torch.Tensor, torch.Tensor]:
        B = self.schedule.integral(t)
        return torch.exp(-0.5 * B), torch.sqrt(-torch.expm1(-B))

    def log_snr(self, t):
        B = self.schedule.integral(self._time(t))
        return -B - torch.log(-torch.expm1(-B))  # log(alpha_bar / (1 - alpha_bar))

    def t_from_log_snr(self, log_snr):
        log_snr = torch.as_tensor(log_snr, dtype=torch.float64)
        B = torch.nn.functional.softplus(-log_snr)  # alpha_bar = sigmoid(log_snr)
        return self.schedule.t_from_integral(B).clamp(0.0, self.T)

    def discrete(self, num_steps: int):
        """The discrete DDPM chain whose alpha_bar_i equals this SDE's m(t_i)^2 at t_i = i T / N."""
        from .discrete import DiscreteChain
        return DiscreteChain.from_sde(self, num_steps)


@register("sde", "sde_diffusion.sdes.SubVPSDE")
class SubVPSDE(BetaSDE):
    """Sub-VP SDE (Song et al. 2021): VP's drift, smaller diffusion, s(t) = 1 - exp(-B).
    Not variance preserving, so it has no discrete DDPM chain."""

    def _g(self, t):
        B = self.schedule.integral(t)
        return torch.sqrt(self.schedule.beta(t) * -torch.expm1(-2.0 * B))

    def _marginal(self, t):
        B = self.schedule.integral(t)
        return torch.exp(-0.5 * B), -torch.expm1(-B)

    def log_snr(self, t):
        B = self.schedule.integral(self._time(t))
        return -B - 2.0 * torch.log(-torch.expm1(-B))
