"""Preconditioning: one class per parameterisation owns everything between the SDE state and
the network (EDM's ``VPPrecond`` / ``EDMPrecond`` idea, for any SDE of this package).

A precond maps (x_t, t) with kernel coefficients (m, s) to

    net input    c_in x_t,                c_in  = 1 / sqrt(m^2 sigma_d^2 + s^2)  (unit variance)
    noise label  c_noise                  (the network's time input; in [0, 1] for every SDE)
    prediction   the network output F read in the precond's native parameterisation.

- ``DirectPrecond(kind)`` for kind in score / eps / x0 / v: the prediction is F itself and the
  noise label is t / T (so EDM's T = 80 and VP's T = 1 look alike to the network).
- ``EDMPrecond`` (Karras et al. 2022, Table 1): with x_hat = x_t / m and sigma = s / m,
  D = c_skip x_hat + c_out F(c_in x_hat, c_noise), an x0-prediction (``models/edm.py``). Its
  noise label is ln sigma, affinely mapped to [0, 1] over [sigma(eps), sigma(T)] (EDM's own
  c_noise = ln(sigma)/4 up to an affine map, which a first linear layer absorbs; the
  fixed range is what lets one Fourier scale serve every SDE).

The network's noise-label convention is fixed here, once: every precond's label lies in [0, 1].

A new parameterisation is one class in the user's own module: a ``Precond`` subclass whose
``output`` returns one of the native kinds (score / eps / x0 / v / velocity), decorated with
``@register_precond("name")``; then ``ScoreModel(net, sde, "name")`` trains, samples, saves and
reloads it (a saved model names it by that string; the reloading process imports the module).
"""
from __future__ import annotations

import math
from typing import Dict, Tuple, Type

import torch

from ..utils import append_dims
from ..contract import check_choice, check_positive
from .edm import edm_coefficients, scaled_input
from .parameterization import PARAMETERIZATIONS
from ..registry import register

__all__ = ["Precond", "DirectPrecond", "EDMPrecond", "PRECONDS", "make_precond", "register_precond"]

PRECONDS: Dict[str, Type["Precond"]] = {}


def register_precond(name: str):
    """Class decorator: ``@register_precond("name")`` makes ``parameterization="name"`` build
    this precond. Its ``kind`` (the kind of prediction ``output`` returns) must be native."""
    if not isinstance(name, str) or not name:
        raise TypeError(f"a parameterisation name must be a non-empty string, got {name!r}")

    def deco(cls):
        if not (isinstance(cls, type) and issubclass(cls, Precond)):
            raise TypeError(f"register_precond({name!r}) must decorate a Precond subclass, got {cls!r}")
        check_choice(f"{cls.__name__}.kind", cls.kind, PARAMETERIZATIONS)
        if PRECONDS.get(name, cls) is not cls:
            raise ValueError(f"parameterisation {name!r} is already registered by {PRECONDS[name].__name__}")
        PRECONDS[name] = cls
        return cls

    return deco


def _bc(c: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return append_dims(c, x.ndim) if c.ndim else c


class Precond:
    """Base: ``net_input``, ``noise_label`` and ``output`` for one parameterisation."""

    kind: str = "eps"  # parameterisation of ``output``'s prediction

    def __init__(self, sde, data_std: float = 1.0, input_scaling: bool = True):
        self.sde = sde
        self.data_std = float(check_positive("data_std", data_std))
        self.input_scaling = bool(input_scaling)

    def net_input(self, x: torch.Tensor, m: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        """c_in x_t with c_in = 1/sqrt(m^2 sigma_d^2 + s^2) (or x_t without input scaling)."""
        if not self.input_scaling:
            return x
        return _bc(torch.rsqrt(m * m * self.data_std ** 2 + s * s), x) * x

    def noise_label(self, t: torch.Tensor, m: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        """The network's time input, (N,) in [0, 1]: t / T."""
        return t / self.sde.T

    def output(self, F: torch.Tensor, x: torch.Tensor, m: torch.Tensor,
               s: torch.Tensor) -> Tuple[str, torch.Tensor]:
        """(kind, prediction) from the raw network output F."""
        return self.kind, F


@register("precond", "sde_diffusion.models.DirectPrecond")
class DirectPrecond(Precond):
    """The network predicts score / eps / x0 / v directly."""

    def __init__(self, sde, kind: str = "eps", data_std: float = 1.0, input_scaling: bool = True):
        super().__init__(sde, data_std, input_scaling)
        self.kind = check_choice("parameterization", kind, PARAMETERIZATIONS)


for _kind in PARAMETERIZATIONS:
    register_precond(_kind)(DirectPrecond)


@register_precond("edm")
@register("precond", "sde_diffusion.models.EDMPrecond")
class EDMPrecond(Precond):
    """EDM's preconditioning; ``data_std`` is sigma_data (EDM uses 0.5)."""

    kind = "x0"

    def __init__(self, sde, data_std: float = 0.5, input_scaling: bool = True):
        super().__init__(sde, data_std, True)
        lo = max(sde.eps, 1e-5 * sde.T)  # sigma(0) = 0: start the label range at 1e-5 T
        sig = sde.sigma(torch.tensor([lo, sde.T], dtype=torch.float64))
        self.log_sigma_lo, self.log_sigma_hi = math.log(float(sig[0])), math.log(float(sig[1]))

    def net_input(self, x, m, s):
        c = edm_coefficients(s / m, self.data_std)
        return _bc(c.c_in, x) * scaled_input(x, m)

    def noise_label(self, t, m, s):
        """(ln sigma - ln sigma_lo) / (ln sigma_hi - ln sigma_lo), sigma = s/m."""
        return (torch.log(s / m) - self.log_sigma_lo) / (self.log_sigma_hi - self.log_sigma_lo)

    def output(self, F, x, m, s):
        c = edm_coefficients(s / m, self.data_std)
        return "x0", _bc(c.c_skip, x) * scaled_input(x, m) + _bc(c.c_out, x) * F


def make_precond(parameterization: str, sde, data_std: float = 1.0,
                 input_scaling: bool = True) -> Precond:
    """The precond of a parameterisation name in ``PRECONDS``."""
    cls = PRECONDS[check_choice("parameterization", parameterization, tuple(PRECONDS))]
    if cls is DirectPrecond:
        return DirectPrecond(sde, parameterization, data_std, input_scaling)
    return cls(sde, data_std, input_scaling)
