"""An MLP score network with a Fourier-feature time embedding, for low-dimensional data,
and the label embedding shared by every class-conditional network of the package.

Labels: a network built with ``num_classes = C > 0`` takes integer labels ``y`` of shape (N,)
with values in {0, ..., C}; the extra index ``C`` is the *null label* (no class), which is what
``y=None`` means, so one network gives both the conditional and the unconditional score
(classifier-free guidance). ``num_classes = 0`` (the default) is an unconditional network and
behaves exactly as before; giving it labels is an error.
"""
from __future__ import annotations

import math
from typing import Optional

import torch
from torch import nn
from ..registry import register

from ..contract import LIMITS, as_int, check_choice, check_positive

__all__ = ["FourierTimeEmbedding", "LabelEmbedding", "MLP", "check_labels"]


class LabelEmbedding(nn.Module):
    """Learned embedding of integer labels, (N,) -> (N, dim), with a null label at ``num_classes``.

    ``num_classes = 0`` makes an unconditional module: ``forward(None, n)`` returns None and
    any labels raise ``ValueError``. ``num_classes`` is checked by the network that builds it. Label values are range-checked for CPU tensors only, so a
    CUDA sampling loop never synchronises with the host.
    """

    def __init__(self, num_classes: int, dim: int):
        super().__init__()
        self.num_classes = num_classes
        self.table = nn.Embedding(num_classes + 1, dim) if num_classes else None

    def forward(self, y: Optional[torch.Tensor], n: int, device=None) -> Optional[torch.Tensor]:
        if self.table is None:
            if y is not None:
                raise ValueError("this network is unconditional (num_classes=0) but got labels y; "
                                 "build it with num_classes > 0 to train or sample by class")
            return None
        if y is None:  # the null label: the unconditional score
            y = torch.full((n,), self.num_classes, dtype=torch.long, device=device)
        y = check_labels(y, n, self.num_classes, allow_null=True)
        return self.table(y.to(self.table.weight.device))


def check_labels(y, n: int, num_classes: int, allow_null: bool = False) -> torch.Tensor:
    """Validate integer labels of shape (N,) in [0, num_classes) (or num_classes = null when
    ``allow_null``); ``TypeError``/``ValueError`` naming the bad value otherwise."""
    if not torch.is_tensor(y):
        raise TypeError(f"labels y must be an integer tensor of shape (N,), got {type(y).__name__}")
    if y.dtype.is_floating_point or y.dtype.is_complex or y.dtype == torch.bool:
        raise TypeError(f"labels y must be an integer tensor, got dtype {y.dtype}")
    if y.shape != (n,):
        raise ValueError(f"labels y must have shape ({n},) (one per sample), got {tuple(y.shape)}")
    top = num_classes if allow_null else num_classes - 1
    if y.device.type == "cpu" and y.numel():
        lo, hi = int(y.min()), int(y.max())
        if lo < 0 or hi > top:
            bad = lo if lo < 0 else hi
            null = f" ({num_classes} = the null label)" if allow_null else ""
            raise ValueError(f"label {bad} is outside the classes 0..{top}{null}")
    return y.long()


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


@register("net", "sde_diffusion.models.MLP")
class MLP(nn.Module):
    """net(x, t): x of shape (N, *shape) flattened to (N, dim); output has x's shape.

    Residual blocks ``h + Linear(act(Linear(h) + emb(t, y)))`` with a learned projection of the
    Fourier time features (plus the label embedding when ``num_classes > 0``) added in each
    block. ``net(x, t, y)`` with labels (N,) in {0..num_classes}; y=None is the null label.
    """

    def __init__(self, dim: int, hidden: int = 256, depth: int = 3, time_dim: int = 64,
                 fourier_scale: float = 16.0, activation: str = "silu", num_classes: int = 0):
        super().__init__()
        acts = {"silu": nn.SiLU, "relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh}
        check_choice("activation", activation, sorted(acts))
        dim = as_int(dim, "dim", 1, LIMITS.max_elements)
        hidden = as_int(hidden, "hidden", 1, LIMITS.max_width)
        depth = as_int(depth, "depth", 1, LIMITS.max_depth)
        time_dim = as_int(time_dim, "time_dim", 2, LIMITS.max_width)
        num_classes = as_int(num_classes, "num_classes", 0)
        check_positive("fourier_scale", fourier_scale)
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
        self.label_embed = LabelEmbedding(num_classes, hidden)
        self.num_classes = num_classes

    def forward(self, x: torch.Tensor, t: torch.Tensor,
                y: Optional[torch.Tensor] = None) -> torch.Tensor:
        n = x.shape[0]
        flat = x.reshape(n, -1)
        if flat.shape[1] != self.dim:
            raise ValueError(f"MLP built for {self.dim} values per sample, got {flat.shape[1]}")
        emb = self.embed(t.reshape(n) if t.ndim else t.expand(n))
        lab = self.label_embed(y, n, x.device)
        if lab is not None:
            emb = emb + lab
        h = self.inp(flat)
        for block, proj in zip(self.blocks, self.temb):
            h = h + block(h + proj(emb))
        return self.out(h).reshape(x.shape)
