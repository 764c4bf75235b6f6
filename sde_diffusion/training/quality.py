"""Digits sample quality: the Frechet distance in the 64-d penultimate features of a small
classifier (MLP 64-256-64-10) trained on the digits' training split,

    FD = |mu_s - mu_t|^2 + tr(C_s + C_t - 2 (C_s C_t)^(1/2))   (samples s vs held-out test t),

with the train-vs-test distance as the real-data floor at the same sizes.
"""
from __future__ import annotations

from typing import Dict, Sequence, Tuple

import torch
from torch import nn

__all__ = ["train_feature_classifier", "train_digits_classifier", "digits_frechet"]


def train_feature_classifier(data, widths: Sequence[int] = (256, 64), epochs: int = 60,
                             batch_size: int = 64, noise: float = 0.05, num_classes: int = 10,
                             seed: int = 0) -> Tuple[nn.Module, nn.Module, float]:
    """(feature net, head, held-out accuracy) of an MLP classifier on ``data.train`` /
    ``train_labels``, accuracy on ``data.test`` / ``test_labels``.

    Feature net: flatten -> Linear(d, widths[0]) -> SiLU -> ... -> Linear(., widths[-1]) -> SiLU
    (its output, ``widths[-1]``-d, is the feature space); head: Linear(widths[-1], num_classes).
    AdamW (lr 2e-3, weight decay 1e-4) on cross-entropy, ``epochs`` passes in minibatches of
    ``batch_size``, each input perturbed by Gaussian noise of std ``noise`` (none when 0).
    """
    g = torch.Generator().manual_seed(seed)
    x, y = data.train, data.train_labels
    dims = [x[0].numel(), *widths]
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        layers = [nn.Flatten()]
        for a, b in zip(dims[:-1], dims[1:]):
            layers += [nn.Linear(a, b), nn.SiLU()]
        feat = nn.Sequential(*layers)
        head = nn.Linear(dims[-1], num_classes)
    net = nn.Sequential(feat, head)
    opt = torch.optim.AdamW(net.parameters(), lr=2e-3, weight_decay=1e-4)
    for _ in range(epochs):
        perm = torch.randperm(x.shape[0], generator=g)
        for i in range(0, x.shape[0], batch_size):
            xb, yb = x[perm[i:i + batch_size]], y[perm[i:i + batch_size]]
            if noise:
                xb = xb + noise * torch.randn(xb.shape, generator=g)
            loss = nn.functional.cross_entropy(net(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
    net.eval()
    with torch.no_grad():
        acc = float((net(data.test).argmax(1) == data.test_labels).float().mean())
    return feat, head, acc


def train_digits_classifier(data, epochs: int = 60, seed: int = 0) -> Tuple[nn.Module, nn.Module, float]:
    """The digits' classifier (MLP 64-256-64-10, batches of 64, pixel noise 0.05) of
    ``train_feature_classifier``."""
    return train_feature_classifier(data, (256, 64), epochs=epochs, batch_size=64, noise=0.05,
                                    seed=seed)


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
