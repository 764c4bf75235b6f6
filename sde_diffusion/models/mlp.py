"""An MLP score network with a Fourier-feature time embedding, for low-dimensional data."""
from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["FourierTimeEmbedding", "MLP"]


class FourierTimeEmbedding(nn.Module):
    """gamma(t) = [sin(2 pi w t), cos(2 pi w t)], w ~ N(0, scale^2) fixed (Tancik et al.).

    With t in [0, 1], ``scale`` ~ 16 spreads the frequencies so that the embedding changes
    visibly across the unit interval (a sinusoidal embedding built for integer steps does not).
    """

    def __init__(self, dim: int = 64, scale: float = 16.0, seed: int = 0):
        super().__init__()
        if dim % 2:
            raise ValueError(f"embedding dim must be even, got {dim}")
        g = torch.Generator().manual_seed(seed)
        self.register_buffer("freqs", torch.randn(dim // 2, generator=g) * scale)

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        arg = 2 * math.pi * t.to(self.freqs.dtype)[:, None] * self.freqs[None]
        return torch.cat([arg.sin(), arg.cos()], dim=-1)


class MLP(nn.Module):
    """net(x, t): x of shape (N, *shape) flattened to (N, dim); output has x's shape.

    Residual blocks ``h + Linear(act(Linear(h) + emb(t)))`` with a learned projection of the
    Fourier time features added in each block.
    """

    def __init__(self, dim: int, hidden: int = 256, depth: int = 3, time_dim: int = 64,
                 fourier_scale: float = 4.0, activation: str = "silu"):
        super().__init__()
        acts = {"silu": nn.SiLU, "relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh}
        if activation not in acts:
            raise ValueError(f"unknown activation {activation!r}; valid choices: {sorted(acts)}")
        if dim < 1 or depth < 1 or hidden < 1:
            raise ValueError(f"dim, hidden and depth must be >= 1, got {dim}, {hidden}, {depth}")
        self.dim = dim
        self.embed = nn.Sequential(FourierTimeEmbedding(time_dim, fourier_scale),
                                   nn.Linear(time_dim, hidden), acts[activation]())
        self.inp = nn.Linear(dim, hidden)
        self.blocks = nn.ModuleList()
        self.temb = nn.ModuleList()
        for _ in range(depth):
            self.blocks.append(nn.Sequential(acts[activation](), nn.Linear(hidden, hidden),
                                             acts[activation](), nn.Linear(hidden, hidden)))
            self.temb.append(nn.Linear(hidden, hidden))
        self.out = nn.Sequential(acts[activation](), nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        flat = x.reshape(n, -1)
        if flat.shape[1] != self.dim:
            raise ValueError(f"MLP built for {self.dim} values per sample, got {flat.shape[1]}")
        emb = self.embed(t.reshape(n) if t.ndim else t.expand(n))
        h = self.inp(flat)
        for block, proj in zip(self.blocks, self.temb):
            h = h + block(h + proj(emb))
        return self.out(h).reshape(x.shape)
