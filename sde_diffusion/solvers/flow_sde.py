"""Stochastic flow sampler that keeps the marginals p_t: the reverse SDE of a flow path

    dx = [u(x, t) - (eta^2 g(t)^2 / 2) score(x, t)] dt + eta g(t) dW-bar,   t: 1 -> t_end,

a family indexed by the noise level eta >= 0 (eta = 0: the flow ODE; eta = 1: the path's own
reverse SDE). Every member has the marginals of the path for the exact velocity.

Step from t to t' < t (DDIM with eta, Song et al. 2021, written for any kernel): from the
model's velocity, x0 = (s' x - s u) / D and eps = (m u - m' x) / D (finite at t = 1, where
m = 0); the posterior of x_t' given (x_t, x0) has variance v = s'^2 (1 - (m_t s' / (m' s_t))^2)
(here m', s' are the kernel at t'), and

    x' = m_t' x0 + sqrt(s_t'^2 - c^2) eps + c z,     c^2 = eta^2 v,   z ~ N(0, I).

For small steps c^2 ~ eta^2 g^2 |dt|, i.e. the SDE above. eta in [0, 1]; the default grid is
uniform in t from 1 to t_end (default ``sde.eps``); the result is the last state (its noise
at t_end is of size s(t_end)).
"""
from __future__ import annotations

import math

import torch

from ..models.parameterization import velocity_to
from ..contract import check_finite_number
from .base import Sampler, register_sampler
from .flow_euler import velocity_at

__all__ = ["FlowSDESampler"]


@register_sampler("flow_sde")
class FlowSDESampler(Sampler):
    """Reverse SDE of a flow path with noise level ``eta`` in [0, 1] (0 = the flow ODE)."""

    starts_at_prior = True

    order = 1.0
    stochastic = True

    def __init__(self, eta: float = 1.0):
        eta = check_finite_number("eta", eta)
        if not 0.0 <= eta <= 1.0:
            raise ValueError(f"eta must lie in [0, 1] (0: the flow ODE, 1: the reverse SDE), got {eta!r}")
        self.eta = eta
        self.stochastic = eta > 0

    def check_sde(self, sde):
        super().check_sde(sde)
        self.require(sde, "marginal_rates")

    def step(self, ctx, x, i):
        m, s, m1, s1 = ctx.m[i], ctx.s[i], ctx.m[i + 1], ctx.s[i + 1]
        u = velocity_at(ctx, x, ctx.t[i], i)
        rates = (ctx.dm[i], ctx.ds[i])  # the path's own marginal_rates
        x0 = velocity_to("x0", u, x, m, s, rates)
        eps = velocity_to("eps", u, x, m, s, rates)
        ctx.last_x0 = x0
        if self.eta == 0.0 or s1 == 0.0:
            return m1 * x0 + s1 * eps
        ratio = (m * s1 / (m1 * s)) ** 2  # m_t s_t' / (m_t' s_t) < 1 (SNR decreases in t)
        c = self.eta * s1 * math.sqrt(max(0.0, 1.0 - ratio))
        return m1 * x0 + math.sqrt(max(0.0, s1 * s1 - c * c)) * eps + c * ctx.noise(x)
