"""Approximate posterior scores for linear inverse problems (DPS, PiGDM) and the replacement
method; see the package docstring for the formulas."""
from __future__ import annotations

import math
from typing import Callable, Optional, Sequence

import torch

from ..contract import check_choice
from .guidance import GuidedScore, _check_measurement, _finite_number
from .measurement import LinearMeasurement

__all__ = ["posterior_score", "replacement", "POSTERIOR_METHODS", "GuidanceDivergedError"]

POSTERIOR_METHODS = ("dps", "pigdm")
JACOBIANS = ("network", "gaussian")


class GuidanceDivergedError(FloatingPointError):
    """The likelihood (guidance) term of a posterior score is not finite while the model's own
    score is: the guided sampler diverged, not the network."""


#: a state beyond this many scales m(t) (sqrt(data_var) + max|y|) + s(t) has diverged
STATE_BOUND = 1e3


def _check_guidance(x: torch.Tensor, m: torch.Tensor, s: torch.Tensor, sc: torch.Tensor,
                    out: torch.Tensor, tt: torch.Tensor, scale0: float, method: str,
                    jacobian: str, weight: str) -> None:
    """``GuidanceDivergedError`` naming the guidance term when the guided score is not finite
    while the model's score is, or when the state ``x`` has grown beyond ``STATE_BOUND`` noise
    scales (a geometric blow-up under the guidance: the term is a linear stiffness lambda along
    the observed directions, lambda ~ J^2 * weight, and a step of coefficient c ~ g^2 dt is
    unstable once lambda * c > 2). One host sync per call."""
    noise = m * scale0 + s
    grown = (x.abs() > STATE_BOUND * noise).any()
    if bool(torch.isfinite(out).all() & ~grown):
        return
    if not bool(torch.isfinite(sc).all()) and not bool(grown):
        return  # the network itself: the sampler's own check names it
    what = (f"the state grew beyond {STATE_BOUND:g} x its scale m(t) (sqrt(data_var) + max|y|) + s(t)"
            if bool(grown) else "the guided score is not finite while the model's score is")
    hint = ("jacobian='gaussian' (sample.py: inpaint_jacobian=gaussian; the network's dx0_hat/dx_t "
            "carries its Jacobian error times 1/m(t), ~150 at T for the default VP SDE)"
            if jacobian == "network" else "")
    if method == "dps":
        hint += (", " if hint else "") + "a larger noise sigma (dps_noise)"
    raise GuidanceDivergedError(
        f"the {method.upper()} guidance term scale * grad log p(y | x_t) ({jacobian} Jacobian, weight "
        f"{weight}) diverged at t={float(tt.reshape(-1)[0]):.4g}: {what}. Its stiffness exceeds the "
        f"step's stability limit; it is the guidance, not the network's weights. Use "
        f"{hint + ', ' if hint else ''}a smaller scale, or more steps")


def posterior_score(sde, score_fn, meas: LinearMeasurement, method: str = "dps",
                    scale: float = 1.0, data_var: float = 1.0, dps_noise: Optional[float] = None,
                    data_shape: Optional[Sequence[int]] = None,
                    jacobian: str = "network") -> GuidedScore:
    """Approximate score of p_t(x_t | y): ``score_fn(x, t) + grad log p(y | x_t)`` (DPS or PiGDM,
    see the module docstring). One network evaluation with a backward pass per call (nfe 1).

    Args:
        scale: multiplies the likelihood term (1 = the method's own approximation).
        data_var: PiGDM's prior variance per value (its r_t^2); 1 for unit-variance data.
        dps_noise: the sigma DPS uses when ``meas.noise_std`` is 0.
        jacobian: "network" backpropagates through the score for J = d x0_hat / d x_t (the
            methods as published); "gaussian" uses J = m data_var / (m^2 data_var + s^2) I, the
            Jacobian for data N(mu, data_var I): no backward pass, and no amplification of the
            network's Jacobian error by 1/m(t) near T (where a VP model's x0_hat is ill-posed).
        data_shape: the samples' shape, to check the measurement against now (inferred from
            ``score_fn`` when it says, e.g. a ScoreModel over an MLP/U-Net or an exact mixture).
    """
    method = check_choice("posterior method", method, POSTERIOR_METHODS)
    jacobian = check_choice("jacobian", jacobian, JACOBIANS)
    _check_measurement(meas, score_fn, data_shape)
    if not callable(score_fn):
        raise TypeError(f"score_fn must be callable (x, t) -> score, got {type(score_fn).__name__}")
    scale = _finite_number("scale", scale)
    sigma = meas.noise_std
    if method == "dps":
        if sigma == 0.0:
            if dps_noise is None:
                raise ValueError("DPS needs a measurement with noise_std > 0 (its likelihood is a "
                                 "delta otherwise): pass dps_noise=..., or use method='pigdm' or "
                                 "the replacement method for noiseless inpainting")
            sigma = _finite_number("dps_noise", dps_noise)
            if sigma <= 0:
                raise ValueError(f"dps_noise must be positive, got {dps_noise!r}")
    if (method == "pigdm" or jacobian == "gaussian") and not (
            isinstance(data_var, (int, float)) and math.isfinite(data_var) and data_var > 0):
        raise ValueError(f"data_var must be a positive finite number, got {data_var!r}")

    weight = f"1/sigma^2 = {1 / sigma ** 2:.4g}" if method == "dps" else "(r_t^2 A A^T + sigma^2 I)^-1"

    dv = float(data_var) if isinstance(data_var, (int, float)) and math.isfinite(data_var) and data_var > 0 else 1.0
    scale0 = math.sqrt(dv) + float(meas.y.abs().max()) if meas.y.numel() else math.sqrt(dv)

    def fn(x, t):
        n = x.shape[0]
        y = meas._y_for(x)
        tt = torch.as_tensor(t, device=x.device)
        tt = tt.expand(n) if tt.ndim == 0 else tt
        m, s = (v.to(x.dtype).reshape((n,) + (1,) * (x.ndim - 1)) for v in sde.marginal(tt))
        if jacobian == "gaussian":
            return _gaussian_jacobian_score(x, tt, m, s, y)
        with torch.enable_grad():
            xg = x.detach().requires_grad_(True)
            sc = score_fn(xg, tt)
            x0 = (xg + s * s * sc) / m
            r = y - meas.apply(x0)                                        # (N, m)
            if method == "dps":
                obj = -(r * r).sum() / (2 * sigma * sigma)
            else:
                A = meas.A.to(device=x.device, dtype=torch.float64)
                m1, s1 = m.reshape(n).double(), s.reshape(n).double()
                rt2 = data_var * s1 * s1 / (m1 * m1 * data_var + s1 * s1)   # Var[x0 | x_t]
                cov = rt2[:, None, None] * (A @ A.T) + sigma ** 2 * torch.eye(A.shape[0], dtype=A.dtype,
                                                                              device=A.device)
                v = torch.linalg.solve(cov, r.detach().double()[:, :, None])[:, :, 0].to(x.dtype)
                obj = (meas.apply(x0) * v).sum()                          # grad = J^T A^T v
            (grad,) = torch.autograd.grad(obj, xg)
        out = sc.detach() + scale * grad
        _check_guidance(x, m, s, sc, out, tt, scale0, method, jacobian, weight)
        return out
    def _gaussian_jacobian_score(x, tt, m, s, y):
        sc = score_fn(x, tt)
        r = y - meas.apply((x + s * s * sc) / m)                              # (N, m)
        k = m * data_var / (m * m * data_var + s * s)                        # J = k I
        if method == "dps":
            v = r / (sigma * sigma)
        else:
            A = meas.A.to(device=x.device, dtype=torch.float64)
            rt2 = (s * s / m * k).reshape(-1).double()                       # = data_var s^2/(m^2 dv + s^2)
            cov = rt2[:, None, None] * (A @ A.T) + sigma ** 2 * torch.eye(A.shape[0], dtype=A.dtype,
                                                                          device=A.device)
            v = torch.linalg.solve(cov, r.double()[:, :, None])[:, :, 0].to(x.dtype)
        grad = (v @ meas.A.to(device=x.device, dtype=x.dtype)).reshape(x.shape)
        out = sc + scale * k * grad
        _check_guidance(x, m, s, sc, out, tt, scale0, method, jacobian, weight)
        return out
    return GuidedScore(fn, f"posterior({method}, {jacobian} Jacobian, scale={scale:g})", 1, 1)


def replacement(sde, meas: LinearMeasurement,
                data_shape: Optional[Sequence[int]] = None) -> Callable:
    """The replacement method as an ``after_step(x, t, noise) -> x`` hook for ``solvers.sample``:

        x <- x + A^+ (m(t) y + s(t) A z - A x),   z = noise(x) ~ N(0, I)

    (for a mask: the observed entries are set to m(t) y + s(t) z). Measurement noise ignored.
    """
    if not isinstance(meas, LinearMeasurement):
        raise TypeError(f"meas must be a LinearMeasurement, got {type(meas).__name__}")
    if data_shape is not None:
        meas.check_data_shape(data_shape)
    A = meas.A
    if meas.mask is not None:
        pinv = A.T
    else:
        gram = A @ A.T
        if float(torch.linalg.matrix_rank(gram)) < A.shape[0]:
            raise ValueError("the replacement method needs A with independent rows "
                             f"(A A^T of shape {tuple(gram.shape)} is singular)")
        pinv = A.T @ torch.linalg.inv(gram)

    def after_step(x: torch.Tensor, t: float, noise: Callable) -> torch.Tensor:
        y = meas._y_for(x)
        m, s = (float(v) for v in sde.marginal(float(t)))
        target = m * y + s * meas.apply(noise(x))
        P = pinv.to(device=x.device, dtype=x.dtype)
        return x + ((target - meas.apply(x)) @ P.T).reshape(x.shape)
    after_step.meas = meas
    return after_step
