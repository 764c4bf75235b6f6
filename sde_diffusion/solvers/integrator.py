"""The one ODE integrator of the package: the probability-flow ODE for sampling and the same
ODE augmented with its divergence for the likelihood both go through here.

The state is a tuple of tensors ``y = (y_1, ..., y_k)`` (e.g. ``(x,)`` for sampling,
``(x, delta_logp)`` for the likelihood), each keeping its own dtype and device.

- Fixed steps on a given time list ``t_0, ..., t_N`` (any direction), with a right-hand side
  ``rhs_at(i, y)`` evaluated at grid point i (so callers can use host-side coefficient tables):

      euler:  y' = y + h d(t_i, y)
      heun:   y_e = y + h d(t_i, y);  y' = y + h/2 (d(t_i, y) + d(t_{i+1}, y_e))
              (``final_euler=True`` stops at y_e: for a step that ends where d is undefined)

- Adaptive Dormand-Prince (``rk45``; also "RK23", "DOP853") through ``scipy.integrate.solve_ivp``
  with a right-hand side ``rhs(t, y)`` of a float t: the state crosses to the host as one flat
  float64 vector per evaluation (adaptive step control needs the error norm on the host).
  A non-finite derivative raises ``NonFiniteODEError`` naming t.
"""
from __future__ import annotations

from typing import Callable, List, Sequence, Tuple

import numpy as np
import torch

from ..contract import check_choice, check_positive

__all__ = ["State", "euler_step", "heun_step", "odeint_fixed", "odeint_adaptive",
           "NonFiniteODEError", "FIXED_METHODS", "ADAPTIVE_METHODS"]

State = Tuple[torch.Tensor, ...]
FIXED_METHODS = ("euler", "heun")
ADAPTIVE_METHODS = ("RK45", "DOP853", "RK23")


class NonFiniteODEError(FloatingPointError, ValueError):
    """The ODE's right-hand side returned NaN/inf at time ``t``."""

    def __init__(self, t: float, evaluations: int):
        self.t, self.evaluations = t, evaluations
        super().__init__(f"the ODE right-hand side produced non-finite values at t={t:.6g} "
                         f"(evaluation {evaluations}); check the score function")


def _axpy(y: State, h: float, d: State) -> State:
    """y + h d, component-wise (h cast by each component's dtype)."""
    return tuple(a + h * b for a, b in zip(y, d))


def euler_step(rhs_at: Callable[[int, State], State], y: State, times: Sequence[float],
               i: int) -> State:
    """One explicit Euler step from times[i] to times[i + 1]."""
    return _axpy(y, times[i + 1] - times[i], rhs_at(i, y))


def heun_step(rhs_at: Callable[[int, State], State], y: State, times: Sequence[float], i: int,
              final_euler: bool = False) -> State:
    """One Heun (explicit trapezoid) step from times[i] to times[i + 1]."""
    h = times[i + 1] - times[i]
    d1 = rhs_at(i, y)
    y_e = _axpy(y, h, d1)
    if final_euler:
        return y_e
    d2 = rhs_at(i + 1, y_e)
    return tuple(a + (0.5 * h) * (b + c) for a, b, c in zip(y, d1, d2))


def odeint_fixed(rhs_at: Callable[[int, State], State], y: State, times: Sequence[float],
                 method: str = "heun") -> State:
    """Integrate over the whole time list with ``method`` in FIXED_METHODS."""
    check_choice("ODE method", method, FIXED_METHODS)
    step = euler_step if method == "euler" else heun_step
    for i in range(len(times) - 1):
        y = step(rhs_at, y, times, i)
    return y


def odeint_adaptive(rhs: Callable[[float, State], State], y0: State, t0: float, t1: float,
                    method: str = "RK45", rtol: float = 1e-5,
                    atol: float = 1e-5) -> Tuple[State, List[float], List[State]]:
    """Adaptive integration from t0 to t1 (either direction) with scipy's ``solve_ivp``.

    Returns (y(t1), accepted times, states at the accepted times (each like y0)). Every
    component is integrated in float64 on the host and cast back to its own dtype/device."""
    from scipy.integrate import solve_ivp

    check_choice("adaptive ODE method", method, ADAPTIVE_METHODS)
    check_positive("rtol", rtol)
    check_positive("atol", atol)
    shapes = [c.shape for c in y0]
    sizes = [c.numel() for c in y0]
    offsets = np.cumsum([0] + sizes)
    like = [(c.dtype, c.device) for c in y0]

    def unflat(v: np.ndarray) -> State:
        return tuple(torch.from_numpy(v[a:b].copy()).reshape(sh).to(device=dev, dtype=dt)
                     for a, b, sh, (dt, dev) in zip(offsets[:-1], offsets[1:], shapes, like))

    def flat(y: State) -> np.ndarray:
        return np.concatenate([c.detach().reshape(-1).to("cpu", torch.float64).numpy() for c in y])

    calls = [0]

    def fun(t: float, v: np.ndarray) -> np.ndarray:
        calls[0] += 1
        out = flat(rhs(float(t), unflat(v)))
        if not np.isfinite(out).all():
            raise NonFiniteODEError(float(t), calls[0])
        return out

    sol = solve_ivp(fun, (float(t0), float(t1)), flat(y0), method=method, rtol=rtol, atol=atol)
    if not sol.success:
        raise RuntimeError(f"{method} failed: {sol.message}")
    states = [unflat(sol.y[:, j]) for j in range(sol.y.shape[1])]
    return states[-1], [float(t) for t in sol.t], states
