"""A DDPM++-style U-Net score network for images (Song et al. 2021, Ho et al. 2020).

``net(x, t)`` with x of shape (N, C, H, W) returns a tensor of x's shape. Structure:

    conv_in -> [ResBlock x num_res_blocks (+ self-attention at attn_resolutions), Downsample]
               per level -> middle (ResBlock, attention, ResBlock)
            -> [ResBlock x (num_res_blocks + 1) on concat(h, skip) (+ attention), Upsample]
               per level -> GroupNorm, SiLU, conv_out (zero-initialised)

ResBlock: h = conv(SiLU(GN(x))) + Dense(temb); h = conv(Dropout(SiLU(GN(h)))); out = (skip(x) + h)/sqrt(2)
(DDPM++'s rescaled skip). With ``num_classes > 0`` a learned label embedding (``LabelEmbedding``,
null label ``num_classes`` = unconditional, what ``y=None`` means) is added to the time
embedding: ``net(x, t, y)``. The time embedding is Fourier features of t in [0, T]
(``FourierTimeEmbedding``, spread by ``fourier_scale``) followed by a 2-layer MLP.
Every level but the last halves the resolution, so ``image_size`` must be divisible by
``2 ** (len(channel_mult) - 1)``; an image size or attention resolution the net cannot take
raises ``ValueError`` at construction, naming what to change.
"""
from __future__ import annotations

import math
from typing import List, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..contract import as_int
from .mlp import FourierTimeEmbedding, LabelEmbedding
from ..registry import register

__all__ = ["UNet"]


def _norm(channels: int, groups: int) -> nn.GroupNorm:
    return nn.GroupNorm(min(groups, channels), channels, eps=1e-6)


def _zero(module: nn.Module) -> nn.Module:
    for p in module.parameters():
        nn.init.zeros_(p)
    return module


class ResBlock(nn.Module):
    """Residual block with GroupNorm, SiLU, additive time embedding and dropout."""

    def __init__(self, c_in: int, c_out: int, temb_dim: int, dropout: float, groups: int):
        super().__init__()
        self.norm1, self.conv1 = _norm(c_in, groups), nn.Conv2d(c_in, c_out, 3, padding=1)
        self.temb = nn.Linear(temb_dim, c_out)
        self.norm2, self.drop = _norm(c_out, groups), nn.Dropout(dropout)
        self.conv2 = _zero(nn.Conv2d(c_out, c_out, 3, padding=1))
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.temb(F.silu(temb))[:, :, None, None]
        h = self.conv2(self.drop(F.silu(self.norm2(h))))
        return (self.skip(x) + h) / math.sqrt(2.0)


class AttnBlock(nn.Module):
    """Multi-head self-attention over the H*W positions, residual, rescaled by 1/sqrt(2)."""

    def __init__(self, channels: int, heads: int, groups: int):
        super().__init__()
        if channels % heads:
            raise ValueError(f"attention channels {channels} are not divisible by num_heads={heads}")
        self.heads = heads
        self.norm = _norm(channels, groups)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.proj = _zero(nn.Conv2d(channels, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(n, 3, self.heads, c // self.heads, h * w).unbind(1)
        out = F.scaled_dot_product_attention(q.transpose(-1, -2), k.transpose(-1, -2),
                                             v.transpose(-1, -2))  # (n, heads, hw, c/heads)
        out = out.transpose(-1, -2).reshape(n, c, h, w)
        return (x + self.proj(out)) / math.sqrt(2.0)


@register("net", "sde_diffusion.models.UNet")
class UNet(nn.Module):
    """DDPM++-style U-Net ``net(x, t)``; see the module docstring for the structure.

    Args:
        in_channels: image channels C.
        image_size: H = W of the images it will see (validated against the levels).
        base_channels: channels at the first level; level i has ``base_channels * channel_mult[i]``.
        channel_mult: one entry per resolution level.
        num_res_blocks: residual blocks per level on the way down.
        attn_resolutions: resolutions (side lengths) where self-attention is applied; each must
            be one the net reaches (``image_size / 2**i``).
        dropout: dropout rate inside the residual blocks.
        num_heads: attention heads.
        num_groups: GroupNorm groups (capped at the channel count).
        time_dim, fourier_scale: the Fourier time embedding.
        out_channels: output channels (default in_channels).
        num_classes: classes of the label embedding (0 = unconditional, the default).
    """

    def __init__(self, in_channels: int = 1, image_size: int = 32, base_channels: int = 64,
                 channel_mult: Sequence[int] = (1, 2, 2), num_res_blocks: int = 2,
                 attn_resolutions: Sequence[int] = (16,), dropout: float = 0.1,
                 num_heads: int = 1, num_groups: int = 32, time_dim: int = 64,
                 fourier_scale: float = 16.0, out_channels: int | None = None,
                 num_classes: int = 0):
        super().__init__()
        num_classes = as_int(num_classes, "num_classes", 0)
        channel_mult, attn_resolutions = tuple(channel_mult), tuple(attn_resolutions)
        if in_channels < 1 or base_channels < 1 or num_res_blocks < 1 or not channel_mult:
            raise ValueError(f"in_channels, base_channels, num_res_blocks must be >= 1 and "
                             f"channel_mult non-empty; got {in_channels}, {base_channels}, "
                             f"{num_res_blocks}, {list(channel_mult)}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must lie in [0, 1), got {dropout!r}")
        factor = 2 ** (len(channel_mult) - 1)
        if image_size < factor or image_size % factor:
            ok = [m for m in range(1, len(channel_mult) + 1) if image_size % 2 ** (m - 1) == 0
                  and image_size >= 2 ** (m - 1)]
            raise ValueError(
                f"UNet cannot take image_size={image_size}: its {len(channel_mult)} levels "
                f"(channel_mult={list(channel_mult)}) halve the size {len(channel_mult) - 1} times, "
                f"so the size must be a multiple of {factor}. Resize the data to a multiple of "
                f"{factor} (e.g. {max(factor, round(image_size / factor) * factor)}) or use a "
                f"channel_mult with at most {max(ok)} entries.")
        resolutions = [image_size // 2 ** i for i in range(len(channel_mult))]
        bad = [r for r in attn_resolutions if r not in resolutions]
        if bad:
            raise ValueError(f"attn_resolutions {list(bad)} are never reached by {image_size}x"
                             f"{image_size} images with channel_mult={list(channel_mult)}; "
                             f"reachable resolutions: {resolutions}")
        for m in channel_mult:
            ch = base_channels * m
            if ch % min(num_groups, ch):
                raise ValueError(f"{ch} channels are not divisible by num_groups={num_groups}")
        self.in_channels, self.image_size = in_channels, image_size
        temb_dim = 4 * base_channels
        self.embed = nn.Sequential(FourierTimeEmbedding(time_dim, fourier_scale),
                                   nn.Linear(time_dim, temb_dim), nn.SiLU(),
                                   nn.Linear(temb_dim, temb_dim))
        self.label_embed = LabelEmbedding(num_classes, temb_dim)
        self.num_classes = num_classes
        self.conv_in = nn.Conv2d(in_channels, base_channels, 3, padding=1)

        self.down = nn.ModuleList()
        skips: List[int] = [base_channels]
        ch = base_channels
        for level, mult in enumerate(channel_mult):
            res = resolutions[level]
            for _ in range(num_res_blocks):
                self.down.append(ResBlock(ch, base_channels * mult, temb_dim, dropout, num_groups))
                ch = base_channels * mult
                if res in attn_resolutions:
                    self.down.append(AttnBlock(ch, num_heads, num_groups))
                skips.append(ch)
            if level < len(channel_mult) - 1:
                self.down.append(nn.Conv2d(ch, ch, 3, stride=2, padding=1))
                skips.append(ch)
        self.mid = nn.ModuleList([ResBlock(ch, ch, temb_dim, dropout, num_groups),
                                  AttnBlock(ch, num_heads, num_groups),
                                  ResBlock(ch, ch, temb_dim, dropout, num_groups)])
        self.up = nn.ModuleList()
        for level in reversed(range(len(channel_mult))):
            res, out_ch = resolutions[level], base_channels * channel_mult[level]
            for _ in range(num_res_blocks + 1):
                self.up.append(ResBlock(ch + skips.pop(), out_ch, temb_dim, dropout, num_groups))
                ch = out_ch
                if res in attn_resolutions:
                    self.up.append(AttnBlock(ch, num_heads, num_groups))
            if level > 0:
                self.up.append(nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"),
                                             nn.Conv2d(ch, ch, 3, padding=1)))
        self.norm_out = _norm(ch, num_groups)
        self.conv_out = _zero(nn.Conv2d(ch, out_channels or in_channels, 3, padding=1))

    def forward(self, x: torch.Tensor, t: torch.Tensor,
                y: Optional[torch.Tensor] = None) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != self.in_channels or x.shape[-2:] != (self.image_size,) * 2:
            raise ValueError(f"UNet built for (N, {self.in_channels}, {self.image_size}, "
                             f"{self.image_size}) inputs, got {tuple(x.shape)}")
        n = x.shape[0]
        temb = self.embed(t.reshape(n) if t.ndim else t.expand(n))
        lab = self.label_embed(y, n, x.device)
        if lab is not None:
            temb = temb + lab
        h = self.conv_in(x)
        hs = [h]
        for layer in self.down:
            if isinstance(layer, ResBlock):
                h = layer(h, temb)
                hs.append(h)
            elif isinstance(layer, AttnBlock):
                h = layer(h)
                hs[-1] = h
            else:  # downsampling conv
                h = layer(h)
                hs.append(h)
        h = self.mid[2](self.mid[1](self.mid[0](h, temb)), temb)
        for layer in self.up:
            if isinstance(layer, ResBlock):
                h = layer(torch.cat([h, hs.pop()], dim=1), temb)
            else:
                h = layer(h)
        return self.conv_out(F.silu(self.norm_out(h)))
