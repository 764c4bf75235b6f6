"""The abstract forward SDE and the two processes derived from it for any subclass.

Every SDE of this package is *linear*: ``dx = f(t) x dt + g(t) dW`` on ``t in [0, T]``,
so the transition kernel is Gaussian, ``x_t = m(t) x_0 + s(t) z`` with ``z ~ N(0, I)``.
A subclass supplies ``_f``, ``_g`` and ``_marginal``; everything else (drift, perturbation,
prior, log-SNR, the reverse-time SDE and the probability-flow ODE) is derived here once.

Time conventions: the public methods accept a Python float or a tensor of shape ``()`` or
``(N,)`` and return **float64** tensors (schedules and noise levels are kept in float64; the
caller casts to the data dtype). ``eps`` is the smallest time a solver or loss ever uses:
the score blows up as ``s(t) -> 0``, so nothing integrates to ``t = 0``.
"""
from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import Callable, Optional, Sequence, Tuple

import torch

from ..utils import TimeLike, append_dims, as_time
from ..contract import check_finite_number, check_positive

__all__ = ["SDE", "ReverseSDE", "ProbabilityFlowODE", "ScoreFn"]

ScoreFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class SDE(ABC):
    """Forward SDE ``dx = f(t) x dt + g(t) dW`` with kernel ``x_t = m(t) x_0 + s(t) z``.

    Also a torchsde SDE (Itô, diagonal noise): ``f(t, y)`` and ``g(t, y)`` act on a flat
    ``(batch, d)`` state, so ``torchsde.sdeint(sde, y0, ts)`` simulates the forward process.
    """

    noise_type = "diagonal"
    sde_type = "ito"
    #: time grid samplers use when neither the call nor the sampler names one (``solvers.GRIDS``)
    default_grid = "uniform_t"
    #: capabilities samplers may require (``Sampler.check_sde``): a discrete DDPM chain
    #: (``discrete(N)``, variance-preserving SDEs only) and a finite, strictly decreasing
    #: log-SNR on (0, T] (exponential integrators, log-SNR grids)
    has_discrete_chain = False
    has_finite_log_snr = True
    #: end time of few-step runs when the call gives none (None: eps); ``solvers.grids``
    few_step_t_end = None
    #: per-sampler defaults on this SDE, chosen on the tuning half of the problem suite:
    #: {sampler name: {"grid": name in GRIDS, "zero_from": n, "zero_end": t, "zero_end_steps":
    #: (lo, hi)}} (``Sampler.make_times``, ``grids.zero_step_start``: from n steps a sampler that
    #: ``lands_on_zero`` ends its default grid with a step onto sigma = 0 from the default end;
    #: at lo-hi steps from t (20 / steps)^2)
    sampler_defaults: dict = {}

    def __init__(self, T: float = 1.0, eps: float = 1e-5):
        check_positive("T", T)
        check_finite_number("eps", eps)
        if not (0 <= eps < T):
            raise ValueError(f"eps must lie in [0, T={T}), got {eps!r}")
        self.T = float(T)
        self.eps = float(eps)

    def supports(self, capability: str) -> bool:
        """Whether this SDE has ``capability`` ("discrete_chain" or "finite_log_snr")."""
        return bool(getattr(self, "has_" + capability, False))

    def discrete(self, num_steps: int):
        """The discrete DDPM chain of a variance-preserving SDE; ValueError for the others."""
        raise ValueError(f"the discrete DDPM chain needs a variance-preserving SDE "
                         f"(has_discrete_chain); {type(self).__name__} has none")

    # ---- what a subclass defines (t: float64 tensor, already validated) ----
    @abstractmethod
    def _f(self, t: torch.Tensor) -> torch.Tensor:
        """Drift coefficient f(t) of the linear drift f(t) x."""

    @abstractmethod
    def _g(self, t: torch.Tensor) -> torch.Tensor:
        """Diffusion coefficient g(t)."""

    @abstractmethod
    def _marginal(self, t: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Kernel coefficients (m(t), s(t))."""

    # ---- public API ----
    def _time(self, t: TimeLike, like: Optional[torch.Tensor] = None) -> torch.Tensor:
        return as_time(t, T=self.T, like=like)

    def drift_coeff(self, t: TimeLike) -> torch.Tensor:
        """f(t), so that the drift is f(t) x (float64)."""
        return self._f(self._time(t))

    def diffusion(self, t: TimeLike) -> torch.Tensor:
        """g(t) (float64)."""
        return self._g(self._time(t))

    def marginal(self, t: TimeLike) -> Tuple[torch.Tensor, torch.Tensor]:
        """(m(t), s(t)): p(x_t | x_0) = N(m(t) x_0, s(t)^2 I) (float64)."""
        return self._marginal(self._time(t))

    def drift(self, x: torch.Tensor, t: TimeLike) -> torch.Tensor:
        """f(x, t) = f(t) x, for x of shape (N, ...) and t of shape () or (N,)."""
        f = self._f(self._time(t, like=x)).to(x.dtype)
        return append_dims(f, x.ndim) * x if f.ndim else f * x

    def perturb(self, x0: torch.Tensor, t: TimeLike, noise: torch.Tensor) -> torch.Tensor:
        """x_t = m(t) x_0 + s(t) noise."""
        if noise.shape != x0.shape:
            raise ValueError(f"noise shape {tuple(noise.shape)} does not match x0 shape {tuple(x0.shape)}")
        m, s = self.marginal(self._time(t, like=x0))
        m, s = (append_dims(c.to(x0.dtype), x0.ndim) if c.ndim else c.to(x0.dtype) for c in (m, s))
        return m * x0 + s * noise

    # ---- noise level and log-SNR (used by exponential integrators, EDM, importance sampling)
    def log_snr(self, t: TimeLike) -> torch.Tensor:
        """The log-SNR log(m(t)^2 / s(t)^2) = 2 lambda(t); decreasing in t. (lambda = log(m/s),
        the half log-SNR, is the time variable of the solvers, ``SolverContext.lam``.)"""
        m, s = self.marginal(t)
        return 2.0 * (torch.log(m) - torch.log(s))

    def sigma(self, t: TimeLike) -> torch.Tensor:
        """Noise-to-signal ratio sigma(t) = s(t)/m(t) (EDM's sigma): x_t / m = x_0 + sigma z."""
        m, s = self.marginal(t)
        return s / m

    def t_from_log_snr(self, log_snr: torch.Tensor) -> torch.Tensor:
        """Inverse of ``log_snr`` on [0, T] by bisection (float64). Subclasses with a closed
        form override it. Values outside the range of log_snr clamp to the ends."""
        log_snr = torch.as_tensor(log_snr, dtype=torch.float64)
        lo = torch.zeros_like(log_snr)
        hi = torch.full_like(log_snr, self.T)
        for _ in range(64):  # 2^-64 T: below float64 resolution
            mid = 0.5 * (lo + hi)
            above = self.log_snr(mid) > log_snr  # log-SNR still too high: t is later
            lo = torch.where(above, mid, lo)
            hi = torch.where(above, hi, mid)
        return 0.5 * (lo + hi)

    def t_from_sigma(self, sigma: torch.Tensor) -> torch.Tensor:
        """Time at which s(t)/m(t) equals ``sigma``."""
        return self.t_from_log_snr(-2.0 * torch.log(torch.as_tensor(sigma, dtype=torch.float64)))

    # ---- prior ----
    def prior_std(self, t: Optional[float] = None) -> float:
        """Std of the prior N(0, s(t)^2 I) at the start time t (default T). It neglects the
        residual signal m(T) x_0, which is what 'prior' means for every SDE here."""
        return float(self.marginal(self.T if t is None else t)[1])

    def prior_sample(self, shape: Sequence[int], generator: Optional[torch.Generator] = None,
                     device=None, dtype: torch.dtype = torch.float32,
                     t: Optional[float] = None) -> torch.Tensor:
        """Draw from N(0, s(t)^2 I), t = T by default."""
        z = torch.randn(tuple(shape), generator=generator, device=device, dtype=dtype)
        return z * self.prior_std(t)

    def prior_logp(self, z: torch.Tensor, t: Optional[float] = None) -> torch.Tensor:
        """log N(z; 0, s(t)^2 I) per sample, shape (N,)."""
        std = self.prior_std(t)
        d = z[0].numel()
        sq = z.reshape(z.shape[0], -1).pow(2).sum(-1)
        return -0.5 * d * math.log(2 * math.pi * std ** 2) - 0.5 * sq / std ** 2

    # ---- derived processes ----
    def reverse(self, score_fn: ScoreFn, probability_flow: bool = False) -> "ReverseSDE":
        """Reverse-time SDE dx = [f - g^2 score] dt + g dW-bar (or the PF-ODE)."""
        return ProbabilityFlowODE(self, score_fn) if probability_flow else ReverseSDE(self, score_fn)

    def probability_flow(self, score_fn: ScoreFn) -> "ProbabilityFlowODE":
        """Probability-flow ODE dx = [f - 1/2 g^2 score] dt."""
        return ProbabilityFlowODE(self, score_fn)

    # ---- torchsde interface of the forward process (flat state, scalar t) ----
    def f(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.drift(y, t)

    def g(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.diffusion(t).to(y.dtype).expand_as(y)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(T={self.T}, eps={self.eps})"


class ReverseSDE:
    """Reverse-time SDE of a forward ``sde`` for a score function, integrated from T to eps:

        dx = [f(x, t) - c g(t)^2 score(x, t)] dt + g_rev(t) dW-bar,

    with c = 1, g_rev = g for the SDE and c = 1/2, g_rev = 0 for the probability-flow ODE.

    For torchsde (which wants increasing times and a flat state) ``f(tau, y)`` and
    ``g(tau, y)`` are given in reversed time ``tau = T - t`` on ``y`` of shape (N, d);
    set ``data_shape`` when the score function wants a different per-sample shape.
    """

    noise_type = "diagonal"
    sde_type = "ito"
    score_factor = 1.0

    def __init__(self, sde: SDE, score_fn: ScoreFn, data_shape: Optional[Sequence[int]] = None):
        self.sde = sde
        self.score_fn = score_fn
        self.data_shape = tuple(data_shape) if data_shape is not None else None
        self.T, self.eps = sde.T, sde.eps

    def score(self, x: torch.Tensor, t: TimeLike) -> torch.Tensor:
        """Call the score function with t as an (N,) tensor in x's dtype."""
        # a Python float goes straight to x's dtype (not through float32 first)
        t = torch.as_tensor(t, dtype=x.dtype if not torch.is_tensor(t) else None, device=x.device)
        t = t.to(x.dtype).expand(x.shape[0]) if t.ndim == 0 else t.to(x.dtype)
        return self.score_fn(x, t)

    def combine(self, x: torch.Tensor, score: torch.Tensor, f, g) -> torch.Tensor:
        """f x - c g^2 score: the drift from a score already evaluated, with the coefficients
        f = f(t), g = g(t) given as Python floats or tensors broadcastable against x (this is
        the one place the reverse / PF drift is written; samplers pass host floats)."""
        return f * x - (self.score_factor * g * g) * score

    def divergence(self, div_score: torch.Tensor, f, g, dim: int) -> torch.Tensor:
        """div_x of the drift: d f - c g^2 div_x score (d = dim, the data dimension)."""
        return dim * f - (self.score_factor * g * g) * div_score

    def drift(self, x: torch.Tensor, t: TimeLike) -> torch.Tensor:
        """f(x, t) - c g(t)^2 score(x, t) (the dt-coefficient in forward time)."""
        f = self.sde.drift_coeff(self.sde._time(t, like=x)).to(device=x.device, dtype=x.dtype)
        g = self.sde.diffusion(self.sde._time(t, like=x)).to(device=x.device, dtype=x.dtype)
        f, g = (append_dims(c, x.ndim) if c.ndim else c for c in (f, g))
        return self.combine(x, self.score(x, t), f, g)

    def diffusion(self, t: TimeLike) -> torch.Tensor:
        return self.sde.diffusion(t)

    # ---- torchsde interface in reversed time tau = T - t ----
    def _unflat(self, y):
        return y if self.data_shape is None else y.reshape((y.shape[0],) + self.data_shape)

    def f(self, tau: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        t = self.T - tau
        return -self.drift(self._unflat(y), t).reshape(y.shape)

    def g(self, tau: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.diffusion(self.T - tau).to(y.dtype).expand_as(y)


class ProbabilityFlowODE(ReverseSDE):
    """Probability-flow ODE dx/dt = f(x, t) - 1/2 g(t)^2 score(x, t); shares the marginals
    p_t of the forward SDE, and is a deterministic map from the prior to the data."""

    score_factor = 0.5

    def diffusion(self, t: TimeLike) -> torch.Tensor:
        return torch.zeros_like(self.sde.diffusion(t))

    def __call__(self, x: torch.Tensor, t: TimeLike) -> torch.Tensor:
        return self.drift(x, t)
