"""Schedules: small callable objects ``c(t)`` of a float64 tensor t, shared by every SDE.

- Building blocks for ``LinearSDE`` (and Hydra configs, which build them with ``_target_``,
  never from strings): ``Constant``, ``Linear``, ``Geometric``, ``Scaled``, ``Sqrt``, ``Sum``,
  ``Power``, and ``vp_drift`` / ``vp_diffusion`` (f = -beta/2, g = sqrt(beta)).
- beta schedules with a closed-form integral, used by ``VPSDE``, ``SubVPSDE`` and (being
  callables t -> beta(t)) by ``LinearSDE(f=vp_drift(beta), g=vp_diffusion(beta))``:

    ``LinearBeta``: beta(t) = (beta_min + u (beta_max - beta_min)) / T,  u = t / T,
                    B(t) = int_0^t beta = beta_min u + (beta_max - beta_min) u^2 / 2;
    ``CosineBeta``: alpha_bar(t) = exp(-B) = cos^2(theta(u)) / cos^2(theta_0),
                    theta(u) = theta_0 + u (theta_1 - theta_0), theta_0 = s/(1+s) pi/2 (Nichol &
                    Dhariwal), theta_1 < pi/2 chosen so that alpha_bar(T) = alpha_bar_min.
All in float64, with log1p/expm1 near the ends. Every constructor refuses NaN/inf.
"""
from __future__ import annotations

import math
from typing import Callable

import torch

from ..contract import check_choice, check_finite_number, check_positive
from ..registry import register

__all__ = ["Schedule", "Constant", "Linear", "Geometric", "Scaled", "Sqrt", "Sum", "Power",
           "vp_drift", "vp_diffusion", "BetaSchedule", "LinearBeta", "CosineBeta", "DiscreteBeta",
           "BETA_SCHEDULES", "make_beta_schedule"]

Schedule = Callable[[torch.Tensor], torch.Tensor]


@register("schedule", "sde_diffusion.sdes.linear.Constant")
class Constant:
    """c(t) = value."""

    def __init__(self, value: float = 0.0):
        self.value = check_finite_number("value", value)

    def __call__(self, t: torch.Tensor) -> torch.Tensor:
        return torch.full_like(torch.as_tensor(t, dtype=torch.float64), self.value)

    def __repr__(self):
        return f"Constant({self.value})"


@register("schedule", "sde_diffusion.sdes.linear.Linear")
class Linear:
    """c(t) = start + (end - start) t / T."""

    def __init__(self, start: float, end: float, T: float = 1.0):
        check_positive("T", T)
        self.start, self.end = check_finite_number("start", start), check_finite_number("end", end)
        self.T = float(T)

    def __call__(self, t: torch.Tensor) -> torch.Tensor:
        return self.start + (self.end - self.start) * torch.as_tensor(t, dtype=torch.float64) / self.T

    def __repr__(self):
        return f"Linear({self.start}, {self.end}, T={self.T})"


@register("schedule", "sde_diffusion.sdes.linear.Geometric")
class Geometric:
    """c(t) = start (end / start)^(t / T), both positive."""

    def __init__(self, start: float, end: float, T: float = 1.0):
        check_positive("start", start)
        check_positive("end", end)
        check_positive("T", T)
        self.start, self.end, self.T = float(start), float(end), float(T)
        self._log_ratio = math.log(end / start)

    def __call__(self, t: torch.Tensor) -> torch.Tensor:
        return self.start * torch.exp(torch.as_tensor(t, dtype=torch.float64) / self.T * self._log_ratio)

    def __repr__(self):
        return f"Geometric({self.start}, {self.end}, T={self.T})"


@register("schedule", "sde_diffusion.sdes.linear.Scaled")
class Scaled:
    """c(t) = scale * inner(t)."""

    def __init__(self, inner: Schedule, scale: float):
        self.inner, self.scale = inner, check_finite_number("scale", scale)

    def __call__(self, t: torch.Tensor) -> torch.Tensor:
        return self.scale * self.inner(t)

    def __repr__(self):
        return f"Scaled({self.inner!r}, {self.scale})"


@register("schedule", "sde_diffusion.sdes.linear.Sqrt")
class Sqrt:
    """c(t) = sqrt(scale * inner(t)), e.g. g = sqrt(2 beta(t)) with scale = 2."""

    def __init__(self, inner: Schedule, scale: float = 1.0):
        self.inner, self.scale = inner, check_finite_number("scale", scale)

    def __call__(self, t: torch.Tensor) -> torch.Tensor:
        return torch.sqrt(self.scale * self.inner(t))

    def __repr__(self):
        return f"Sqrt({self.inner!r}, scale={self.scale})"


@register("schedule", "sde_diffusion.sdes.linear.Power")
class Power:
    """c(t) = scale * t^exponent (t >= 0)."""

    def __init__(self, exponent: float = 1.0, scale: float = 1.0):
        self.exponent = check_finite_number("exponent", exponent)
        self.scale = check_finite_number("scale", scale)

    def __call__(self, t: torch.Tensor) -> torch.Tensor:
        return self.scale * torch.as_tensor(t, dtype=torch.float64).pow(self.exponent)

    def __repr__(self):
        return f"Power({self.exponent}, scale={self.scale})"


@register("schedule", "sde_diffusion.sdes.linear.Sum")
class Sum:
    """c(t) = sum of the given schedules."""

    def __init__(self, *terms: Schedule):
        if not terms:
            raise ValueError("Sum needs at least one schedule")
        self.terms = terms

    def __call__(self, t: torch.Tensor) -> torch.Tensor:
        out = self.terms[0](t)
        for term in self.terms[1:]:
            out = out + term(t)
        return out


@register("schedule", "sde_diffusion.sdes.linear.vp_drift")
def vp_drift(beta: Schedule) -> Schedule:
    """f(t) = -beta(t) / 2 (the VP drift coefficient)."""
    return Scaled(beta, -0.5)


@register("schedule", "sde_diffusion.sdes.linear.vp_diffusion")
def vp_diffusion(beta: Schedule) -> Schedule:
    """g(t) = sqrt(beta(t))."""
    return Sqrt(beta, 1.0)


# --------------------------------------------------------------------------- beta schedules
class BetaSchedule:
    """beta(t) on [0, T] with its integral B(t) and the inverse of B; callable as beta(t)."""

    T: float = 1.0

    def __call__(self, t: torch.Tensor) -> torch.Tensor:
        return self.beta(torch.as_tensor(t, dtype=torch.float64))

    def beta(self, t: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def integral(self, t: torch.Tensor) -> torch.Tensor:
        """B(t) = int_0^t beta(r) dr = -log alpha_bar(t)."""
        raise NotImplementedError

    def t_from_integral(self, B: torch.Tensor) -> torch.Tensor:
        """Inverse of B(t)."""
        raise NotImplementedError


@register("beta_schedule", "sde_diffusion.sdes.LinearBeta")
class LinearBeta(BetaSchedule):
    """beta(t) = (beta_min + (t/T) (beta_max - beta_min)) / T (DDPM's linear schedule)."""

    name = "linear"

    def __init__(self, beta_min: float = 0.1, beta_max: float = 20.0, T: float = 1.0):
        check_positive("beta_min", beta_min)
        check_positive("beta_max", beta_max)
        if not beta_max >= beta_min:
            raise ValueError(f"beta_max must be >= beta_min={beta_min}, got {beta_max!r}")
        self.beta_min, self.beta_max, self.T = float(beta_min), float(beta_max), float(check_positive("T", T))

    def beta(self, t):
        return (self.beta_min + t / self.T * (self.beta_max - self.beta_min)) / self.T

    def integral(self, t):
        u = t / self.T
        return self.beta_min * u + 0.5 * (self.beta_max - self.beta_min) * u * u

    def t_from_integral(self, B):
        a, b = 0.5 * (self.beta_max - self.beta_min), self.beta_min
        if a == 0:
            return self.T * B / b
        return self.T * 2 * B / (b + torch.sqrt(b * b + 4 * a * B))  # stable root

    def __repr__(self):
        return f"LinearBeta(beta_min={self.beta_min}, beta_max={self.beta_max}, T={self.T})"


@register("beta_schedule", "sde_diffusion.sdes.CosineBeta")
class CosineBeta(BetaSchedule):
    """Nichol & Dhariwal's cosine schedule, capped so that alpha_bar(T) = alpha_bar_min."""

    name = "cosine"

    def __init__(self, cosine_s: float = 0.008, alpha_bar_min: float = 5e-5, T: float = 1.0):
        check_positive("cosine_s", cosine_s)
        if not 0 < alpha_bar_min < 1:
            raise ValueError(f"alpha_bar_min must lie in (0, 1), got {alpha_bar_min!r}")
        self.T = float(check_positive("T", T))
        self.theta0 = cosine_s / (1 + cosine_s) * math.pi / 2
        self.theta1 = math.acos(math.sqrt(alpha_bar_min) * math.cos(self.theta0))
        self.cosine_s, self.alpha_bar_min = float(cosine_s), float(alpha_bar_min)

    def beta(self, t):
        dtheta = self.theta1 - self.theta0
        return 2.0 * torch.tan(self.theta0 + t / self.T * dtheta) * dtheta / self.T

    def integral(self, t):
        d = t / self.T * (self.theta1 - self.theta0)
        # cos(theta0 + d)/cos(theta0) = 1 - 2 sin^2(d/2) - tan(theta0) sin(d), via log1p
        ratio_m1 = -2.0 * torch.sin(d / 2) ** 2 - math.tan(self.theta0) * torch.sin(d)
        return -2.0 * torch.log1p(ratio_m1)

    def t_from_integral(self, B):
        theta = torch.acos(torch.exp(-0.5 * B) * math.cos(self.theta0))
        return self.T * (theta - self.theta0) / (self.theta1 - self.theta0)

    def __repr__(self):
        return f"CosineBeta(s={self.cosine_s}, alpha_bar_min={self.alpha_bar_min}, T={self.T})"


@register("beta_schedule", "sde_diffusion.sdes.DiscreteBeta")
class DiscreteBeta(BetaSchedule):
    """A discrete-time model's table alpha_bar_0 > ... > alpha_bar_{N-1} as a continuous VP.

    Timestep n sits at t_n = (n + 1) T / N, and B(t) = -log alpha_bar(t) is piecewise linear in
    t through the nodes (0, 0) and (t_n, -log alpha_bar_n): log m(t) = -B/2 is DPM-Solver's
    linear interpolation of log alpha_t (NoiseScheduleVP "discrete"), so m(t_n)^2 = alpha_bar_n
    exactly and beta(t) = B'(t) is constant on each cell [t_{n-1}, t_n].
    """

    name = "discrete"

    def __init__(self, alphas_cumprod, T: float = 1.0):
        self.T = float(check_positive("T", T))
        if isinstance(alphas_cumprod, (str, bytes)) or not hasattr(alphas_cumprod, "__len__"):
            raise TypeError(f"alphas_cumprod must be a sequence of floats, got "
                            f"{type(alphas_cumprod).__name__}")
        ab = torch.as_tensor(alphas_cumprod, dtype=torch.float64).flatten()
        if ab.numel() < 2:
            raise ValueError(f"alphas_cumprod needs at least 2 entries, got {ab.numel()}")
        bad = ~((ab > 0) & (ab < 1))
        if bool(bad.any()):
            n = int(bad.nonzero()[0])
            raise ValueError(f"alphas_cumprod[{n}] = {float(ab[n])!r} must lie in (0, 1) (a zero "
                             f"terminal SNR has no finite log-SNR)")
        if not bool((ab[1:] < ab[:-1]).all()):
            n = int((ab[1:] >= ab[:-1]).nonzero()[0]) + 1
            raise ValueError(f"alphas_cumprod must decrease strictly; entry {n} = {float(ab[n])!r} "
                             f">= entry {n - 1} = {float(ab[n - 1])!r}")
        self.alphas_cumprod = [float(v) for v in ab]
        self.num_steps = ab.numel()
        self._t = torch.linspace(0.0, self.T, self.num_steps + 1, dtype=torch.float64)
        self._B = torch.cat([ab.new_zeros(1), -torch.log(ab)])

    def _cell(self, t: torch.Tensor) -> torch.Tensor:
        n = torch.floor(t.to(torch.float64) * (self.num_steps / self.T)).long()
        return n.clamp(0, self.num_steps - 1)

    def beta(self, t):
        i = self._cell(t)
        B = self._B.to(t.device)
        return (B[i + 1] - B[i]) * (self.num_steps / self.T)

    def integral(self, t):
        i = self._cell(t)
        B, tt = self._B.to(t.device), self._t.to(t.device)
        return B[i] + (t - tt[i]) * (B[i + 1] - B[i]) * (self.num_steps / self.T)

    def t_from_integral(self, B):
        B = torch.as_tensor(B, dtype=torch.float64)
        nodes, tt = self._B.to(B.device), self._t.to(B.device)
        i = (torch.searchsorted(nodes, B.contiguous(), right=True) - 1).clamp(0, self.num_steps - 1)
        return tt[i] + (B - nodes[i]) / (nodes[i + 1] - nodes[i]) * (self.T / self.num_steps)

    def __repr__(self):
        return (f"DiscreteBeta(N={self.num_steps}, alpha_bar=[{self.alphas_cumprod[0]:.6g} .. "
                f"{self.alphas_cumprod[-1]:.6g}], T={self.T})")


BETA_SCHEDULES = {"linear": LinearBeta, "cosine": CosineBeta}


def make_beta_schedule(schedule="linear", beta_min: float = 0.1, beta_max: float = 20.0,
                       T: float = 1.0, cosine_s: float = 0.008,
                       alpha_bar_min: float = 5e-5) -> BetaSchedule:
    """A ``BetaSchedule`` from a name in ``BETA_SCHEDULES`` (or the object itself, whose T must
    equal ``T``)."""
    if isinstance(schedule, BetaSchedule):
        if abs(schedule.T - float(T)) > 1e-12 * max(1.0, abs(float(T))):
            raise ValueError(f"beta schedule {schedule!r} is defined on [0, {schedule.T}], "
                             f"but the SDE's T is {T!r}")
        return schedule
    if not isinstance(schedule, str):
        raise TypeError(f"schedule must be a name in {sorted(BETA_SCHEDULES)} or a BetaSchedule, "
                        f"got {type(schedule).__name__}")
    check_choice("beta schedule", schedule, tuple(BETA_SCHEDULES))
    if schedule == "linear":
        return LinearBeta(beta_min, beta_max, T)
    return CosineBeta(cosine_s, alpha_bar_min, T)
