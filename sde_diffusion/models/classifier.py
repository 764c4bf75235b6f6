"""A noise-conditional classifier p_phi(y | x_t, t) for classifier guidance (Song et al. 2021,
Dhariwal & Nichol 2021), and its training loss on perturbed data.

Guidance adds ``scale * grad_x log p_phi(y | x_t, t)`` to the score
(``sde_diffusion.conditional.classifier_score``). The classifier is trained on the same forward
SDE as the score model: x_t = m(t) x_0 + s(t) z with t ~ U[eps, T], cross-entropy against the
clean label (``noisy_classifier_loss``, one value per sample like the DSM loss).

Input scaling as in ``ScoreModel``: the net sees ``c_in x_t`` with
``c_in = 1 / sqrt(m^2 data_std^2 + s^2)`` when an ``sde`` is given, so its input has roughly
unit variance at every noise level (VE's x_t reaches sigma_max).
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from ..sdes.base import SDE
from ..utils import append_dims
from .mlp import FourierTimeEmbedding, check_labels
from ..registry import register

__all__ = ["NoiseConditionalClassifier", "noisy_classifier_loss"]


@register("classifier", "sde_diffusion.models.classifier.NoiseConditionalClassifier")
class NoiseConditionalClassifier(nn.Module):
    """``logits = clf(x_t, t)``: x_t (N, *shape) flattened to (N, dim), t (N,); logits (N, C).

    Residual MLP blocks ``h + Linear(SiLU(Linear(SiLU(h + emb(t)))))`` on Fourier time features.
    """

    def __init__(self, dim: int, num_classes: int, sde: Optional[SDE] = None,
                 data_std: float = 1.0, hidden: int = 256, depth: int = 3, time_dim: int = 64,
                 fourier_scale: float = 4.0):
        super().__init__()
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
            raise ValueError(f"a classifier needs num_classes >= 2, got {num_classes!r}")
        if dim < 1 or hidden < 1 or depth < 1:
            raise ValueError(f"dim, hidden and depth must be >= 1, got {dim}, {hidden}, {depth}")
        if not data_std > 0:
            raise ValueError(f"data_std must be positive, got {data_std!r}")
        self.dim, self.num_classes, self.sde, self.data_std = dim, num_classes, sde, float(data_std)
        self.embed = nn.Sequential(FourierTimeEmbedding(time_dim, fourier_scale),
                                   nn.Linear(time_dim, hidden), nn.SiLU())
        self.inp = nn.Linear(dim, hidden)
        self.blocks = nn.ModuleList(nn.Sequential(nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(),
                                                  nn.Linear(hidden, hidden)) for _ in range(depth))
        self.temb = nn.ModuleList(nn.Linear(hidden, hidden) for _ in range(depth))
        self.head = nn.Sequential(nn.SiLU(), nn.Linear(hidden, num_classes))

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        flat = x.reshape(n, -1)
        if flat.shape[1] != self.dim:
            raise ValueError(f"classifier built for {self.dim} values per sample, got {flat.shape[1]}")
        t = torch.as_tensor(t, device=x.device)
        t = t.reshape(n) if t.ndim else t.expand(n)
        if self.sde is not None:
            m, s = self.sde.marginal(t.to(torch.float64))
            flat = append_dims(torch.rsqrt(m * m * self.data_std ** 2 + s * s).to(x.dtype), 2) * flat
        emb = self.embed(t)
        h = self.inp(flat)
        for block, proj in zip(self.blocks, self.temb):
            h = h + block(h + proj(emb))
        return self.head(h)


def noisy_classifier_loss(classifier: nn.Module, sde: SDE, x0: torch.Tensor, y: torch.Tensor,
                          t: Optional[torch.Tensor] = None,
                          generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Per-sample cross-entropy -log p_phi(y | x_t, t), x_t = m x_0 + s z, t ~ U[eps, T] (N,)."""
    n = x0.shape[0]
    y = check_labels(y, n, int(getattr(classifier, "num_classes", 0)))
    dev = generator.device if generator is not None else x0.device
    if t is None:
        t = sde.eps + (sde.T - sde.eps) * torch.rand(n, generator=generator, dtype=torch.float64,
                                                     device=dev).to(x0.device)
    t = torch.as_tensor(t, dtype=torch.float64, device=x0.device).expand(n)
    z = torch.randn(x0.shape, generator=generator, dtype=x0.dtype, device=dev).to(x0.device)
    x_t = sde.perturb(x0, t, z)
    return F.cross_entropy(classifier(x_t, t.to(x0.dtype)), y.to(x0.device), reduction="none")
