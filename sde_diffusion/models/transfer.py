"""Schedule transfer: use a model trained under one kernel (SDE or flow path) A with another
kernel B's samplers and grids, by the change of variables between the kernels.

Two linear kernels x = m x_0 + s eps describe the same family of noisy data at equal
noise-to-signal ratio sigma = s / m: x_B at t_B corresponds to x_A = (s_A / s_B) x_B at the t_A
with sigma_A(t_A) = sigma_B(t_B), and x_0, eps are the same random variables in both. So

    x0_B(x_B, t_B)  = x0_A(x_A, t_A),      eps_B(x_B, t_B) = eps_A(x_A, t_A),
    score_B = -eps / s_B,   u_B = m_B' x0 + s_B' eps  (B a flow path),

exact for the exact model (flow_matching's ``ScheduleTransformedModel`` idea, for any pair of
kernels here). Where B's sigma lies outside A's range (B at t = 1 has sigma = inf; a VP's
sigma(T) is finite) t_A is clamped to A's end, and the map is then approximate there.
"""
from __future__ import annotations

import torch

from ..contract import check_choice
from ..utils import append_dims
from .parameterization import PARAMETERIZATIONS, check_velocity_sde, convert

__all__ = ["TransferredModel"]


class TransferredModel:
    """``TransferredModel(model, sde)``: ``model`` (anything with ``.sde`` and
    ``predict(x, t, kind)``, e.g. ``ScoreModel``) seen through the kernel of ``sde``; it has the
    same interface (``model(x, t)`` is the score under ``sde``, ``predict``, ``native``)."""

    def __init__(self, model, sde):
        if not callable(getattr(model, "predict", None)) or getattr(model, "sde", None) is None:
            raise TypeError(f"model must have .sde and predict(x, t, kind) (ScoreModel, "
                            f"FunctionModel), got {type(model).__name__}")
        self.model, self.sde, self.source = model, sde, model.sde

    def source_time(self, t: torch.Tensor) -> torch.Tensor:
        """t_A with sigma_A(t_A) = sigma_B(t) (float64, clamped to A's [0, T])."""
        sig = self.sde.sigma(torch.as_tensor(t, dtype=torch.float64))
        return self.source.t_from_sigma(sig).clamp(0.0, self.source.T)

    def _x0_eps(self, x: torch.Tensor, t: torch.Tensor):
        t = torch.as_tensor(t, device=x.device)
        t = t.expand(x.shape[0]) if t.ndim == 0 else t
        t64 = t.to(torch.float64)
        t_a = self.source_time(t64.cpu()).to(x.device)
        m_a, s_a = self.source.marginal(t_a)
        m_b, s_b = self.sde.marginal(t64)
        scale = torch.where(s_b > 0, s_a / s_b.clamp(min=1e-300), m_a / m_b)
        x_a = append_dims(scale.to(x.dtype), x.ndim) * x
        kind, out = self.model.native(x_a, t_a.to(x.dtype)) if callable(
            getattr(self.model, "native", None)) else ("eps", self.model.predict(x_a, t_a.to(x.dtype), "eps"))
        rates = None
        if kind == "velocity":
            rates = tuple(c.to(x.dtype) for c in self.source.marginal_rates(t_a))
        m_a, s_a = m_a.to(x.dtype), s_a.to(x.dtype)
        x0 = convert(out, kind, "x0", x_a, m_a, s_a, rates=rates)
        eps = convert(out, kind, "eps", x_a, m_a, s_a, rates=rates)
        return t64, x0, eps

    def predict(self, x: torch.Tensor, t: torch.Tensor, target: str = "eps", y=None) -> torch.Tensor:
        check_choice("target", target, PARAMETERIZATIONS)
        t64, x0, eps = self._x0_eps(x, t)
        if target == "x0":
            return x0
        if target == "eps":
            return eps
        m, s = (c.to(x.dtype) for c in self.sde.marginal(t64))
        if target == "velocity":
            check_velocity_sde(self.sde)
            dm, ds = (append_dims(c.to(x.dtype), x.ndim) for c in self.sde.marginal_rates(t64))
            return dm * x0 + ds * eps
        return convert(eps, "eps", target, x, m, s)

    def native(self, x: torch.Tensor, t: torch.Tensor, y=None):
        return "eps", self.predict(x, t, "eps")

    def __call__(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.predict(x, t, "score")
