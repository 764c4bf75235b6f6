"""A user's own SDE, network, data set and parameterisation, outside the package: one decorator
line each is all it takes to train, save and load them like the package's own."""
from __future__ import annotations

import math

import torch
from torch import nn

from sde_diffusion.data import mixture_bundle
from sde_diffusion.analytic import GaussianMixture
from sde_diffusion.models.precond import Precond, register_precond
from sde_diffusion.registry import register
from sde_diffusion.sdes.base import SDE


@register("sde")
class OrnsteinUhlenbeckSDE(SDE):
    """dx = -theta x dt + sqrt(2 theta) dW: m(t) = exp(-theta t), s(t)^2 = 1 - exp(-2 theta t)."""

    def __init__(self, theta: float = 4.0, T: float = 1.0, eps: float = 1e-3):
        super().__init__(T=T, eps=eps)
        self.theta = float(theta)

    def _f(self, t):
        return torch.full_like(t, -self.theta)

    def _g(self, t):
        return torch.full_like(t, math.sqrt(2 * self.theta))

    def _marginal(self, t):
        return torch.exp(-self.theta * t), torch.sqrt(-torch.expm1(-2 * self.theta * t))


@register("net")
class TwoLayerNet(nn.Module):
    """net(x, noise_label) for flat data: a tanh MLP on [x, label]."""

    def __init__(self, dim: int, width: int = 16):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(dim + 1, width), nn.Tanh(), nn.Linear(width, dim))

    def forward(self, x, t):
        return self.body(torch.cat([x, t.reshape(-1, 1).to(x.dtype)], dim=1))


@register("data")
def two_points(n_train: int = 512, n_test: int = 128, seed: int = 0):
    """Two Gaussians at -1 and +1 on the line (std 0.1)."""
    gm = GaussianMixture(torch.tensor([[-1.0], [1.0]]), torch.tensor([0.1, 0.1]), torch.tensor([0.5, 0.5]))
    return mixture_bundle(gm, "two_points", n_train, n_test, seed)


@register_precond("x0_skip")
class SkipX0Precond(Precond):
    """An x0-prediction with a skip connection (EDM's with sigma_d = 1), sigma = s/m:
    x0 = x_hat / (1 + sigma^2) + sigma / sqrt(1 + sigma^2) F, x_hat = x_t / m."""

    kind = "x0"

    def output(self, F, x, m, s):
        shape = (-1,) + (1,) * (x.ndim - 1)
        sig = (s / m).reshape(shape)
        x_hat = x / m.reshape(shape)
        return "x0", x_hat / (1 + sig ** 2) + sig / torch.sqrt(1 + sig ** 2) * F
