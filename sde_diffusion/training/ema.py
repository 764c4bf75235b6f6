"""Exponential moving average of a model's weights.

After each optimiser step, for every floating-point parameter,
``ema <- d ema + (1 - d) theta`` with ``d = min(decay, (1 + n) / (10 + n))`` (n = updates so
far; the warm-up keeps early averages from being dominated by the random initialisation).
Buffers are copied. ``EMA.swapped(model)`` puts the averaged weights into the model for
evaluation and restores the raw weights afterwards, even if the body raises.
"""
from __future__ import annotations

import contextlib
from typing import Dict, Iterator

import torch
from torch import nn

__all__ = ["EMA"]


class EMA:
    """EMA of ``model.state_dict()``; its own ``state_dict`` has the model's keys (plus none)."""

    def __init__(self, model: nn.Module, decay: float = 0.999, warmup: bool = True):
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"EMA decay must lie in [0, 1), got {decay!r}")
        self.decay, self.warmup, self.num_updates = float(decay), bool(warmup), 0
        self.shadow: Dict[str, torch.Tensor] = {k: v.detach().clone() for k, v in model.state_dict().items()}

    def current_decay(self) -> float:
        n = self.num_updates
        return min(self.decay, (1.0 + n) / (10.0 + n)) if self.warmup else self.decay

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        d = self.current_decay()
        for k, v in model.state_dict().items():
            s = self.shadow[k]
            if v.is_floating_point():
                s.lerp_(v.detach().to(s.dtype), 1.0 - d)
            else:
                s.copy_(v)
        self.num_updates += 1

    def state_dict(self) -> Dict[str, torch.Tensor]:
        """The averaged weights, loadable into the model with ``load_state_dict``."""
        return dict(self.shadow)

    def load_state_dict(self, state: Dict[str, torch.Tensor], num_updates: int = 0) -> None:
        missing = set(self.shadow) ^ set(state)
        if missing:
            raise KeyError(f"EMA state does not match the model; differing keys: {sorted(missing)[:5]}")
        for k, v in state.items():
            self.shadow[k].copy_(v)
        self.num_updates = int(num_updates)

    def to(self, device) -> "EMA":
        self.shadow = {k: v.to(device) for k, v in self.shadow.items()}
        return self

    @contextlib.contextmanager
    def swapped(self, model: nn.Module) -> Iterator[nn.Module]:
        """``with ema.swapped(model): ...`` runs the body with EMA weights, then restores."""
        backup = {k: v.detach().clone() for k, v in model.state_dict().items()}
        model.load_state_dict(self.shadow)
        try:
            yield model
        finally:
            model.load_state_dict(backup)
