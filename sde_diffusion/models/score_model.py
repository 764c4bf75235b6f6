"""ScoreModel: a backbone ``net(x, noise_label[, y])`` plus the preconditioning that turns its
output into a score (or eps / x0 / v). The backbone knows nothing about the SDE; the loss
knows nothing about the backbone (EDM's separation of concerns). The preconditioning, the
noise-label convention included, lives in ``models/precond.py``."""
from __future__ import annotations

import inspect
from typing import Optional, Tuple

import torch
from torch import nn

from ..sdes.base import SDE
from ..contract import check_choice
from .parameterization import PARAMETERIZATIONS, check_velocity_sde, convert
from .precond import PRECONDS, make_precond
from ..registry import register, update_recorded

__all__ = ["ScoreModel", "UNRESOLVED_DATA_STD"]

#: sigma_data of a model built with ``data_std=None`` until a Trainer sets it from its data
UNRESOLVED_DATA_STD = 1.0


def _takes_labels(net: nn.Module) -> bool:
    """Whether ``net.forward`` accepts a third positional argument (class labels)."""
    try:
        params = list(inspect.signature(getattr(net, "forward", net)).parameters.values())
    except (TypeError, ValueError):
        return True
    pos = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(pos) >= 3 or any(p.kind == p.VAR_POSITIONAL for p in params)


@register("model", "sde_diffusion.models.ScoreModel")
class ScoreModel(nn.Module):
    """``score_fn = ScoreModel(net, sde, parameterization="eps")``; ``score_fn(x, t[, y])`` -> score.

    Args:
        net: any module ``net(x_in, noise_label) -> tensor of x's shape``; a class-conditional
            one also takes integer labels, ``net(x_in, noise_label, y)`` with y of shape (N,).
        sde: the forward SDE whose kernel (m(t), s(t)) defines the conversions.
        parameterization: "score", "eps", "x0", "v", "velocity", "edm" (Karras et al.'s
            preconditioning, an x0-prediction), or a name registered with
            ``@register_precond``; see ``models/precond.py``.
        data_std: sigma_data of the input scaling c_in = 1/sqrt(m^2 data_std^2 + s^2) (and of
            EDM's preconditioning). ``None`` (default, as the Hydra schema's ``null``): the
            training data's std, set by the ``Trainer`` from the data it is given and recorded
            in the saved spec; until then 1 (unit-variance data, the scale of the N(0, I)
            prior), so an untrained model or a hand-written loop works unchanged. A number
            wins and is never changed.
        input_scaling: feed x_t unscaled when False (not for "edm").
    The network's time input is the precond's noise label, in [0, 1] for every SDE.
    """

    def __init__(self, net: nn.Module, sde: SDE, parameterization: str = "eps",
                 data_std: Optional[float] = None, input_scaling: bool = True):
        super().__init__()
        if not callable(net):
            raise TypeError(f"net must be a module (or callable) net(x, noise_label), got {type(net).__name__}")
        if not isinstance(sde, SDE):
            raise TypeError(f"sde must be an SDE (sde_diffusion.sdes), got {type(sde).__name__}")
        self.parameterization = check_choice("parameterization", parameterization, tuple(PRECONDS))
        if parameterization == "velocity":
            check_velocity_sde(sde)
        self.net = net
        self.sde = sde
        self.input_scaling = input_scaling
        self.data_std_from_data = data_std is None  # the rule: the training data's std
        self.data_std_resolved = data_std is not None  # False until a Trainer sets it
        self._set_precond(UNRESOLVED_DATA_STD if data_std is None else data_std)

    def _set_precond(self, data_std: float) -> None:
        self.precond = make_precond(self.parameterization, self.sde, data_std, self.input_scaling)
        self.data_std = self.precond.data_std

    def set_data_std(self, value: float) -> None:
        """Resolve ``data_std=None`` to ``value`` (the training data's std; the ``Trainer``
        calls this), recorded in the model's spec so save/load keep it. A model built with a
        number refuses: an explicit value wins."""
        if not self.data_std_from_data:
            raise ValueError(f"data_std was given as {self.data_std:g}; build the model with "
                             f"data_std=None to set it from the data")
        self._set_precond(value)
        self.data_std_resolved = True
        update_recorded(self, data_std=self.data_std)

    @staticmethod
    def _per_sample(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """t as an (N,) tensor on x's device (a scalar t is shared by the whole batch)."""
        t = torch.as_tensor(t, device=x.device)
        if t.ndim == 0:
            return t.expand(x.shape[0])
        if t.shape != (x.shape[0],):
            raise ValueError(f"t must be a scalar or of shape ({x.shape[0]},), got {tuple(t.shape)}")
        return t

    def coefficients(self, x: torch.Tensor, t: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """(m(t), s(t)) in x's dtype, shaped (N,)."""
        m, s = self.sde.marginal(self._per_sample(x, t))
        return m.to(x.dtype), s.to(x.dtype)

    def _labels(self, x: torch.Tensor, y) -> Optional[torch.Tensor]:
        if y is None:
            return None
        y = torch.as_tensor(y, device=x.device)
        if y.dtype in (torch.bool,) or y.is_floating_point() or y.is_complex():
            raise TypeError(f"class labels y must be integers, got dtype {y.dtype}")
        if y.shape != (x.shape[0],):
            raise ValueError(f"class labels y must have shape ({x.shape[0]},), got {tuple(y.shape)}")
        if not _takes_labels(self.net):
            raise TypeError(f"network {type(self.net).__name__} takes no class labels "
                            "(its forward has no third argument); call without y")
        if getattr(self.net, "num_classes", None) == 0:
            raise TypeError(f"network {type(self.net).__name__} takes no class labels "
                            "(it was built with num_classes=0); call without y or build it "
                            "with num_classes > 0")
        return y.long()

    def _native(self, x: torch.Tensor, t: torch.Tensor, m: torch.Tensor, s: torch.Tensor,
                y=None) -> Tuple[str, torch.Tensor]:
        """``native`` with the kernel coefficients (m, s) at t already computed."""
        x_in = self.precond.net_input(x, m, s)
        label = self.precond.noise_label(t.to(x.dtype), m, s)
        y = self._labels(x, y)
        out = self.net(x_in, label) if y is None else self.net(x_in, label, y)
        if out.shape != x_in.shape:
            raise ValueError(f"network returned shape {tuple(out.shape)}, expected {tuple(x_in.shape)}")
        return self.precond.output(out, x, m, s)

    @property
    def num_classes(self) -> int:
        """Classes of a class-conditional net (its null label is this index); 0 = unconditional."""
        return int(getattr(self.net, "num_classes", 0) or 0)

    def native(self, x: torch.Tensor, t: torch.Tensor, y=None) -> Tuple[str, torch.Tensor]:
        """The net's prediction and the parameterisation it is in ("x0" for "edm")."""
        t = self._per_sample(x, t)
        return self._native(x, t, *self.coefficients(x, t), y=y)

    def predict(self, x: torch.Tensor, t: torch.Tensor, target: str = "eps", y=None) -> torch.Tensor:
        """The prediction in any parameterisation ("score", "eps", "x0", "v")."""
        check_choice("target", target, PARAMETERIZATIONS)
        t = self._per_sample(x, t)
        m, s = self.coefficients(x, t)  # once per call: input scaling and conversion share it
        kind, out = self._native(x, t, m, s, y)
        if kind == target:
            return out
        rates = None
        if "velocity" in (kind, target):  # flow paths only: (alpha', sigma') at t
            check_velocity_sde(self.sde)
            rates = tuple(c.to(x.dtype) for c in self.sde.marginal_rates(t))
        return convert(out, kind, target, x, m, s, rates=rates)

    def forward(self, x: torch.Tensor, t: torch.Tensor, y=None) -> torch.Tensor:
        """The score grad_x log p_t(x) (conditional on labels y of shape (N,) when given)."""
        return self.predict(x, t, "score", y)

    def denoise(self, x: torch.Tensor, t: torch.Tensor, y=None) -> torch.Tensor:
        """E[x_0 | x_t] as the model sees it (the x0 prediction, Tweedie)."""
        return self.predict(x, t, "x0", y)

    # ---- model folders (the persistence layer, sde_diffusion.io, imported when called) ----
    def save_pretrained(self, directory, **kwargs):
        """Write weights and the SDE / network / parameterisation config to ``directory``
        (``sde_diffusion.io.save_pretrained``)."""
        from ..io import save_pretrained
        return save_pretrained(self, directory, **kwargs)

    @classmethod
    def from_pretrained(cls, directory, map_location="cpu") -> "ScoreModel":
        """Load a model written by ``save_pretrained`` (weights-only, allow-listed classes)."""
        from ..io import load_pretrained
        return load_pretrained(directory, map_location)
