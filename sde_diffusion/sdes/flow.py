"""Affine probability paths (flow matching, rectified flow) as linear SDEs.

A flow path is the kernel ``x_t = alpha(t) x_0 + sigma(t) eps`` on t in [0, 1] with
alpha(0) = 1, sigma(0) = 0 (data) and alpha(1) = 0, sigma(1) = 1 (the prior is exactly
N(0, I) at t = 1, not approximately as for VP). The linear SDE with this kernel has

    f(t)   = alpha' / alpha
    g(t)^2 = 2 sigma sigma' - 2 (alpha' / alpha) sigma^2  = -sigma^2 d/dt log(alpha^2 / sigma^2),

and the flow's velocity u(x, t) = E[alpha' x_0 + sigma' eps | x_t = x] is the probability-flow
drift ``f x - g^2 score / 2``. Rectified flow / CondOT: alpha = 1 - t, sigma = t; cosine:
alpha = cos(pi t / 2), sigma = sin(pi t / 2).

End points. At t = 1, alpha = 0: f = -inf, g = inf and the log-SNR is -inf, while the velocity
and the kernel stay finite. ``marginal_rates(t) = (alpha', sigma')`` are finite on [0, 1], so
the velocity parameterisation (``models.parameterization``) maps to x0 / eps without dividing
by alpha, and the flow samplers (``solvers/flow_euler.py``, ``solvers/flow_sde.py``) start at
t = 1 exactly. So does every other sampler (``solvers.base``, ``solvers.context``): where f and
g are infinite the probability-flow drift is evaluated as m' x0 + s' eps from the model's own
prediction; the half-log-SNR samplers take the limit lambda -> -inf at the first step; the
rest take the core's limit first step (``Sampler.prior_step``: DDIM's step from lambda = -inf,
or for the reverse SDE m x0_hat + s z: the marginal with x_0 at its estimate). A plain score function
does not define E[x_0 | x_1] there: a model with ``predict`` (e.g. velocity) is needed.
"""
from __future__ import annotations

import math
from typing import Callable, Optional, Tuple

import torch

from ..contract import check_finite_number
from ..registry import register
from .base import SDE

__all__ = ["AffinePath", "RectifiedFlow", "CosineFlow", "is_flow_path"]

Schedule = Callable[[torch.Tensor], torch.Tensor]
_END_TOL = 1e-9


def _derivative(fn: Schedule, t: torch.Tensor) -> torch.Tensor:
    """d fn / dt of a differentiable torch schedule by autograd (float64)."""
    with torch.inference_mode(False), torch.enable_grad():
        tt = t.detach().clone().requires_grad_(True)
        y = fn(tt)
        if not (torch.is_tensor(y) and y.requires_grad):
            raise TypeError("a schedule without a closed-form derivative must be differentiable "
                            "torch code of t (or pass d_alpha / d_sigma)")
        (d,) = torch.autograd.grad(y.sum(), tt)
    return d.detach()


def is_flow_path(sde) -> bool:
    """Whether ``sde`` is an affine flow path (has finite ``marginal_rates`` on [0, 1])."""
    return callable(getattr(sde, "marginal_rates", None))


class AffinePath(SDE):
    """Any path ``x_t = alpha(t) x_0 + sigma(t) eps`` from data (t = 0) to N(0, I) (t = 1).

    Args:
        alpha, sigma: schedules of a float64 tensor t (same shape out); alpha(0) = 1,
            sigma(0) = 0, alpha(1) = 0, sigma(1) = 1, and alpha / sigma strictly decreasing.
        d_alpha, d_sigma: their derivatives; default autograd through the schedule.
        eps: smallest time a loss or sampler uses (0 is allowed for velocity models).
    Raises ValueError naming the end point or the time where a condition fails.
    """

    default_grid = "uniform_t"

    def __init__(self, alpha: Schedule, sigma: Schedule, d_alpha: Optional[Schedule] = None,
                 d_sigma: Optional[Schedule] = None, eps: float = 1e-5):
        super().__init__(T=1.0, eps=eps)
        for name, fn in (("alpha", alpha), ("sigma", sigma), ("d_alpha", d_alpha), ("d_sigma", d_sigma)):
            if fn is not None and not callable(fn):
                raise TypeError(f"{name} must be a callable of a float64 tensor t, got {type(fn).__name__}")
        self.alpha_fn, self.sigma_fn = alpha, sigma
        self.d_alpha_fn = d_alpha or (lambda t: _derivative(alpha, t))
        self.d_sigma_fn = d_sigma or (lambda t: _derivative(sigma, t))
        self._check()

    def _check(self) -> None:
        ends = torch.tensor([0.0, 1.0], dtype=torch.float64)
        a, s = self._marginal(ends)
        for name, got, want in (("alpha(0)", a[0], 1.0), ("sigma(0)", s[0], 0.0),
                                ("alpha(1)", a[1], 0.0), ("sigma(1)", s[1], 1.0)):
            if not abs(float(got) - want) <= _END_TOL:
                raise ValueError(f"a flow path needs {name} = {want:g} (data at t = 0, N(0, I) at "
                                 f"t = 1), got {float(got)!r}")
        t = torch.linspace(0.0, 1.0, 1025, dtype=torch.float64)
        a, s = self._marginal(t)
        da, ds = self.marginal_rates(t)
        for name, v in (("alpha", a), ("sigma", s), ("alpha'", da), ("sigma'", ds)):
            bad = ~torch.isfinite(v)
            if bool(bad.any()):
                raise ValueError(f"{name}(t) is not finite at t={float(t[bad][0]):.6g}")
        # strictly decreasing signal-to-noise: alpha sigma' - alpha' sigma > 0
        det = a * ds - da * s
        if not bool((det > 0).all()):
            i = int((~(det > 0)).nonzero()[0])
            raise ValueError(f"alpha/sigma must be strictly decreasing (alpha sigma' - alpha' sigma > 0); "
                             f"it is {float(det[i])!r} at t={float(t[i]):.6g}")

    # ---- kernel and its rates ----
    def _marginal(self, t: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        return (torch.as_tensor(self.alpha_fn(t), dtype=torch.float64).expand(t.shape),
                torch.as_tensor(self.sigma_fn(t), dtype=torch.float64).expand(t.shape))

    def marginal_rates(self, t) -> Tuple[torch.Tensor, torch.Tensor]:
        """(alpha'(t), sigma'(t)) (float64), finite on [0, 1]."""
        t = self._time(t)
        return (torch.as_tensor(self.d_alpha_fn(t), dtype=torch.float64).expand(t.shape),
                torch.as_tensor(self.d_sigma_fn(t), dtype=torch.float64).expand(t.shape))

    def _f(self, t):
        a = self._marginal(t)[0]
        return self.d_alpha_fn(t) / a  # -inf at t = 1

    def _g(self, t):
        a, s = self._marginal(t)
        da, ds = self.d_alpha_fn(t), self.d_sigma_fn(t)
        g2 = 2 * s * (a * ds - da * s) / a  # inf at t = 1
        return torch.sqrt(g2.clamp(min=0.0))

    def log_snr(self, t):
        a, s = self.marginal(t)
        return 2.0 * (torch.log(a) - torch.log(s))

    def __repr__(self):
        return f"{type(self).__name__}(eps={self.eps})"


@register("sde", "sde_diffusion.sdes.RectifiedFlow")
class RectifiedFlow(AffinePath):
    """Rectified flow / CondOT path: alpha = 1 - t, sigma = t; velocity u = eps - x_0."""

    def __init__(self, eps: float = 1e-5):
        check_finite_number("eps", eps)
        super().__init__(lambda t: 1.0 - t, lambda t: t.clone(),
                         lambda t: torch.full_like(t, -1.0), lambda t: torch.ones_like(t), eps=eps)

    def t_from_log_snr(self, lam):
        lam = torch.as_tensor(lam, dtype=torch.float64)
        return torch.sigmoid(-0.5 * lam)  # (1 - t) / t = exp(lam / 2)

    def t_from_sigma(self, sigma):
        sigma = torch.as_tensor(sigma, dtype=torch.float64)
        t = sigma / (1.0 + sigma)  # t / (1 - t) = sigma
        return torch.where(torch.isinf(sigma), torch.ones_like(t), t).clamp(0.0, 1.0)


@register("sde", "sde_diffusion.sdes.CosineFlow")
class CosineFlow(AffinePath):
    """Cosine path: alpha = cos(pi t / 2), sigma = sin(pi t / 2) (variance preserving)."""

    def __init__(self, eps: float = 1e-5):
        check_finite_number("eps", eps)
        h = math.pi / 2
        # cos(pi/2) is 6e-17 in float64: pin the end point so the prior is exact
        super().__init__(lambda t: torch.where(t >= 1.0, torch.zeros_like(t), torch.cos(h * t)),
                         lambda t: torch.where(t >= 1.0, torch.ones_like(t), torch.sin(h * t)),
                         lambda t: -h * torch.sin(h * t), lambda t: h * torch.cos(h * t), eps=eps)

    def t_from_log_snr(self, lam):
        lam = torch.as_tensor(lam, dtype=torch.float64)
        return torch.atan(torch.exp(-0.5 * lam)) / (math.pi / 2)  # tan(pi t/2) = exp(-lam/2)

    def t_from_sigma(self, sigma):
        return torch.atan(torch.as_tensor(sigma, dtype=torch.float64)) / (math.pi / 2)
