"""Digits sample quality: the Frechet distance in the 64-d penultimate features of a small
classifier (MLP 64-256-64-10) trained on the digits' training split,

    FD = |mu_s - mu_t|^2 + tr(C_s + C_t - 2 (C_s C_t)^(1/2))   (samples s vs held-out test t),

with the train-vs-test distance as the real-data floor at the same sizes.
"""
from __future__ import annotations

from typing import Dict, Tuple

import torch
from torch import nn

__all__ = ["train_digits_classifier", "digits_frechet"]


def train_digits_classifier(data, epochs: int = 60, seed: int = 0) -> Tuple[nn.Module, nn.Module, float]:
    """(feature net, head, held-out accuracy) trained on ``data.train`` / ``train_labels``."""
    g = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        feat = nn.Sequential(nn.Flatten(), nn.Linear(64, 256), nn.SiLU(), nn.Linear(256, 64), nn.SiLU())
        head = nn.Linear(64, 10)
    net = nn.Sequential(feat, head)
    opt = torch.optim.AdamW(net.parameters(), lr=2e-3, weight_decay=1e-4)
    x, y = data.train, data.train_labels
    for _ in range(epochs):
        perm = torch.randperm(x.shape[0], generator=g)
        for i in range(0, x.shape[0], 64):
            idx = perm[i:i + 64]
            xb = x[idx] + 0.05 * torch.randn(x[idx].shape, generator=g)  # light pixel noise
            loss = nn.functional.cross_entropy(net(xb), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    net.eval()
    with torch.no_grad():
        acc = float((net(data.test).argmax(1) == data.test_labels).float().mean())
    return feat, head, acc


def digits_frechet(samples: torch.Tensor, data, seed: int = 0, epochs: int = 60) -> Dict[str, float]:
    """{"digits_fd", "digits_fd_floor", "digits_classifier_accuracy"} for samples in [-1, 1]."""
    from ..metrics import frechet_distance
    feat, _, acc = train_digits_classifier(data, epochs=epochs, seed=seed)
    with torch.no_grad():
        f_test = feat(data.test)
        fd = frechet_distance(feat(samples.clamp(-1, 1).reshape(-1, 1, 8, 8)), f_test)
        floor = frechet_distance(feat(data.train), f_test)
    return {"digits_fd": float(fd), "digits_fd_floor": float(floor),
            "digits_classifier_accuracy": acc}
