"""ScoreModel: a backbone ``net(x, t)`` plus the parameterisation that turns its output into
a score (or eps / x0 / v). The backbone knows nothing about the SDE; the loss knows nothing
about the backbone (EDM's separation of concerns)."""
from __future__ import annotations

from typing import Optional, Tuple

import torch
from torch import nn

from ..sdes.base import SDE
from ..utils import append_dims, check_choice
from .edm import edm_coefficients, scaled_input
from .parameterization import PARAMETERIZATIONS, convert

__all__ = ["ScoreModel"]


class ScoreModel(nn.Module):
    """``score_fn = ScoreModel(net, sde, parameterization="eps")``; ``score_fn(x, t)`` -> score.

    Args:
        net: any module ``net(x_in, t) -> tensor of x's shape``.
        sde: the forward SDE whose kernel (m(t), s(t)) defines the conversions.
        parameterization: what the net's output means: "score", "eps", "x0", "v", or "edm"
            (Karras et al.'s preconditioning, ``models/edm.py``: with sigma = s/m and
            x_hat = x_t/m the net is called as ``F = net(c_in x_hat, c_noise)`` and the model's
            native prediction is the x0-prediction ``D = c_skip x_hat + c_out F``; ``data_std``
            is EDM's sigma_data, set it to 0.5 for EDM's setting; ``input_scaling`` is unused).
        data_std: the net sees ``c_in x_t`` with ``c_in = 1 / sqrt(m^2 data_std^2 + s^2)``, so its
            input has roughly unit variance for every SDE (VE's x_t reaches sigma_max). Set
            ``input_scaling=False`` to feed x_t unchanged.
    """

    parameterizations = PARAMETERIZATIONS + ("edm",)

    def __init__(self, net: nn.Module, sde: SDE, parameterization: str = "eps",
                 data_std: float = 1.0, input_scaling: bool = True):
        super().__init__()
        self.parameterization = check_choice("parameterization", parameterization,
                                             self.parameterizations)
        self.net = net
        self.sde = sde
        self.data_std = float(data_std)
        self.input_scaling = input_scaling

    @staticmethod
    def _per_sample(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """t as an (N,) tensor on x's device (a scalar t is shared by the whole batch)."""
        t = torch.as_tensor(t, device=x.device)
        return t.expand(x.shape[0]) if t.ndim == 0 else t

    def coefficients(self, x: torch.Tensor, t: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """(m(t), s(t)) in x's dtype, shaped (N,)."""
        m, s = self.sde.marginal(self._per_sample(x, t))
        return m.to(x.dtype), s.to(x.dtype)

    @property
    def num_classes(self) -> int:
        """Classes of a class-conditional net (its null label is this index); 0 = unconditional."""
        return int(getattr(self.net, "num_classes", 0) or 0)

    def _call_net(self, x_in: torch.Tensor, cond: torch.Tensor,
                  y: Optional[torch.Tensor] = None) -> torch.Tensor:
        out = self.net(x_in, cond) if y is None else self.net(x_in, cond, y)
        if out.shape != x_in.shape:
            raise ValueError(f"network returned shape {tuple(out.shape)}, expected {tuple(x_in.shape)}")
        return out

    def _native(self, x: torch.Tensor, t: torch.Tensor, m: torch.Tensor,
                s: torch.Tensor, y: Optional[torch.Tensor] = None) -> Tuple[str, torch.Tensor]:
        """``native`` with the kernel coefficients (m, s) at t already computed."""
        if self.parameterization == "edm":
            # D(x_hat; sigma) = c_skip x_hat + c_out net(c_in x_hat, c_noise), sigma = s/m
            c = edm_coefficients(s / m, self.data_std)
            x_hat = scaled_input(x, m)
            out = self._call_net(append_dims(c.c_in, x.ndim) * x_hat, c.c_noise, y)
            return "x0", append_dims(c.c_skip, x.ndim) * x_hat + append_dims(c.c_out, x.ndim) * out
        x_in = x
        if self.input_scaling:
            c_in = torch.rsqrt(m * m * self.data_std ** 2 + s * s)
            x_in = append_dims(c_in, x.ndim) * x
        return self.parameterization, self._call_net(x_in, t.to(x.dtype), y)

    def native(self, x: torch.Tensor, t: torch.Tensor,
               y: Optional[torch.Tensor] = None) -> Tuple[str, torch.Tensor]:
        """The net's prediction and the parameterisation it is in ("x0" for "edm").
        ``y``: optional integer labels (N,) forwarded to a class-conditional net."""
        t = self._per_sample(x, t)
        return self._native(x, t, *self.coefficients(x, t), y=y)

    def predict(self, x: torch.Tensor, t: torch.Tensor, target: str = "eps",
                y: Optional[torch.Tensor] = None) -> torch.Tensor:
        """The prediction in any parameterisation ("score", "eps", "x0", "v")."""
        t = self._per_sample(x, t)
        m, s = self.coefficients(x, t)  # once per call: input scaling and conversion share it
        kind, out = self._native(x, t, m, s, y)
        return out if kind == target else convert(out, kind, target, x, m, s)

    def forward(self, x: torch.Tensor, t: torch.Tensor,
                y: Optional[torch.Tensor] = None) -> torch.Tensor:
        """The score grad_x log p_t(x) (or log p_t(x | y) for labels y of a conditional net)."""
        return self.predict(x, t, "score", y)

    def denoise(self, x: torch.Tensor, t: torch.Tensor,
                y: Optional[torch.Tensor] = None) -> torch.Tensor:
        """E[x_0 | x_t] as the model sees it (the x0 prediction, Tweedie)."""
        return self.predict(x, t, "x0", y)
