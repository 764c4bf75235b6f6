"""Any linear SDE from its schedule: ``dx = f(t) x dt + g(t) dW`` on ``t in [0, T]``.

The kernel ``x_t = m(t) x_0 + s(t) z`` follows from the schedule:

    m(t)   = exp(int_0^t f(r) dr)
    s(t)^2 = int_0^t exp(2 int_r^t f) g(r)^2 dr       (ds^2/dt = 2 f s^2 + g^2, s(0) = 0)

Given in closed form (``marginal=``) it is used as is (and checked against the quadrature);
otherwise it comes from a cached float64 grid: the increments of F = int f and of s^2 over
each grid cell are integrated by 8-point Gauss-Legendre quadrature (nested for the inner
int_r^t f), and values between grid nodes come from cubic Hermite interpolation with the
exact derivatives F' = f and (s^2)' = 2 f s^2 + g^2 at the nodes. The grid is geometric near
t = 0 (where s^2 vanishes like a power of t) and uniform above 0.01 T, so the error is
*relative* everywhere: < 1e-8 for the VP/sub-VP/VE schedules (tested to 1e-6).

``LinearSDE.from_kernel(s=..., sigma=...)`` builds the SDE from Karras et al.'s (2022) kernel
``x_t = s(t) (x_0 + sigma(t) z)``: ``f = s'/s``, ``g = s sqrt(2 sigma sigma')``, ``m = s`` and
std ``s sqrt(sigma^2 - sigma(0)^2)`` (= ``s sigma`` when sigma(0) = 0, as for EDM; a VE
schedule with sigma(0) = sigma_min > 0 gets the exact kernel from x_0 at t = 0, as ``VESDE``).

Schedules for Hydra configs are the small callable classes below (``Constant``, ``Linear``,
``Geometric``, ``Scaled``, ``Sqrt``, ``Sum``, ``Power``); configs build them with ``_target_``,
never from strings. The tutorial's worked example, forward ``dx = sqrt(2 beta(t)) dW`` (reverse
``dx = -2 beta(t) grad log p_t dt + sqrt(2 beta(t)) dW-bar``), is ``conf/sde/linear_tutorial.yaml``.
"""
from __future__ import annotations

import numbers
from typing import Callable, Optional, Tuple

import numpy as np
import torch

from ..contract import check_choice, check_positive
from .base import SDE

from .schedules import (Constant, Geometric, Linear, Power, Scaled, Schedule, Sqrt, Sum,  # noqa: F401
                        vp_diffusion, vp_drift)
from ..registry import register

__all__ = ["LinearSDE", "Schedule", "Constant", "Linear", "Geometric", "Scaled", "Sqrt", "Sum",
           "Power", "vp_drift", "vp_diffusion"]

_GL_X, _GL_W = np.polynomial.legendre.leggauss(8)  # nodes/weights on [-1, 1]


# --------------------------------------------------------------------------- helpers
def _call(fn: Schedule, t: torch.Tensor, name: str) -> torch.Tensor:
    """Evaluate a user schedule on float64 t, as a float64 tensor of t's shape."""
    out = fn(t)
    out = torch.as_tensor(out, dtype=torch.float64, device=t.device)
    if out.shape != t.shape:
        out = out.expand(t.shape) if out.numel() == 1 else out
    if out.shape != t.shape:
        raise ValueError(f"schedule {name} returned shape {tuple(out.shape)} for t of shape {tuple(t.shape)}")
    return out


def _fd_derivative(fn: Schedule, t: torch.Tensor, T: float, name: str) -> torch.Tensor:
    """Finite-difference derivative in float64 with a step relative to t (h = 1e-3 t): the
    fourth-order central stencil inside [0, T] (truncation ~ (h/t)^4 ~ 1e-12), second-order
    one-sided stencils with h = 1e-6 max(t, 1e-3 T) where the stencil would leave [0, T]."""
    scale = t.abs().clamp(min=1e-6 * T)
    h = 1e-3 * scale
    c = (-_call(fn, t + 2 * h, name) + 8 * _call(fn, t + h, name) - 8 * _call(fn, t - h, name)
         + _call(fn, t - 2 * h, name)) / (12 * h)
    lo, hi = t - 2 * h < 0, t + 2 * h > T
    if bool(lo.any()) or bool(hi.any()):
        k = 1e-6 * t.abs().clamp(min=1e-3 * T)
        f0 = _call(fn, t, name)
        fwd = (-3 * f0 + 4 * _call(fn, t + k, name) - _call(fn, t + 2 * k, name)) / (2 * k)
        bwd = (3 * f0 - 4 * _call(fn, t - k, name) + _call(fn, t - 2 * k, name)) / (2 * k)
        c = torch.where(lo, fwd, torch.where(hi, bwd, c))
    return c


def _derivative(fn: Schedule, t: torch.Tensor, T: float, name: str, method: str) -> torch.Tensor:
    """d fn / dt by autograd when fn is differentiable torch code, else finite differences."""
    if method == "autograd":
        try:
            with torch.inference_mode(False), torch.enable_grad():
                tt = t.detach().clone().requires_grad_(True)
                y = _call(fn, tt, name)
                if y.requires_grad:
                    (d,) = torch.autograd.grad(y.sum(), tt, allow_unused=True)
                    if d is None:
                        return torch.zeros_like(t)
                    d = d.detach()
                    bad = ~torch.isfinite(d)  # e.g. sqrt'(0) * 0 = nan: finite differences there
                    if bool(bad.any()):
                        d = torch.where(bad, _fd_derivative(fn, t, T, name), d)
                    return d
        except RuntimeError:
            pass
    # not connected to t in the graph (constant or non-torch code): finite differences
    return _fd_derivative(fn, t, T, name)


def _hermite(x: torch.Tensor, grid: torch.Tensor, y: torch.Tensor, dy: torch.Tensor) -> torch.Tensor:
    """Cubic Hermite interpolation of values ``y`` and derivatives ``dy`` given on the
    increasing nodes ``grid``, at points x (clamped to the grid's range)."""
    n = grid.numel() - 1
    i = (torch.searchsorted(grid, x.contiguous(), right=True) - 1).clamp(0, n - 1)
    h = grid[i + 1] - grid[i]
    u = (x - grid[i]) / h
    u2, u3 = u * u, u * u * u
    h00, h10 = 2 * u3 - 3 * u2 + 1, u3 - 2 * u2 + u
    h01, h11 = -2 * u3 + 3 * u2, u3 - u2
    return h00 * y[i] + h10 * h * dy[i] + h01 * y[i + 1] + h11 * h * dy[i + 1]


def _nodes(T: float, grid_size: int) -> torch.Tensor:
    """Quadrature nodes on [0, T]: 0, then geometric from 1e-10 T to 1e-2 T (cell ratio ~1.0155,
    so interpolation stays *relatively* accurate where s(t) -> 0 like a power of t), then
    ``grid_size`` uniform cells up to T."""
    geo = torch.logspace(-10, -2, 1201, dtype=torch.float64) * T
    uni = torch.linspace(1e-2 * T, T, grid_size + 1, dtype=torch.float64)[1:]
    return torch.cat([torch.zeros(1, dtype=torch.float64), geo, uni])


def _fmt(t: float) -> str:
    return f"{t:.6g}"


# --------------------------------------------------------------------------- the SDE
@register("sde", "sde_diffusion.sdes.LinearSDE")
class LinearSDE(SDE):
    """Forward SDE ``dx = f(t) x dt + g(t) dW`` from user callables of a float64 tensor t.

    Args:
        f, g: schedules ``t (float64 tensor) -> tensor of t's shape``; g >= 0.
        T, eps: time horizon and the smallest time solvers/losses use.
        marginal: optional closed form ``t -> (m(t), s(t))``; else quadrature on a grid.
        grid_size: number of uniform cells of the quadrature grid on [0.01 T, T] (below, a
            geometric grid of 1200 cells down to 1e-10 T; cached, float64).
        validate_marginal: check a given closed form against the quadrature (rel. 1e-5).

    Raises ``ValueError`` at construction, naming the time, when f or g is not finite, g < 0,
    or s(t) is not positive for t > 0 (m(t) not positive for a closed form).
    """

    def __init__(self, f: Schedule, g: Schedule, T: float = 1.0, eps: float = 1e-5,
                 marginal: Optional[Callable[[torch.Tensor], Tuple[torch.Tensor, torch.Tensor]]] = None,
                 grid_size: int = 4096, validate_marginal: bool = True):
        super().__init__(T=T, eps=eps)
        if not callable(f) or not callable(g):
            raise TypeError(f"f and g must be callables of a float64 tensor t, got {type(f).__name__}, "
                            f"{type(g).__name__}")
        if marginal is not None and not callable(marginal):
            raise TypeError(f"marginal must be a callable t -> (m, s) or None, got {type(marginal).__name__}")
        if isinstance(grid_size, bool) or not isinstance(grid_size, numbers.Integral) or grid_size < 16:
            raise ValueError(f"grid_size must be >= 16, got {grid_size!r}")
        self.f_fn, self.g_fn, self.marginal_fn = f, g, marginal
        self.grid_size = int(grid_size)
        self._grid: Optional[dict] = None
        self._lsnr_grid: Optional[Tuple[torch.Tensor, torch.Tensor]] = None
        self._skip_marginal_check = not validate_marginal
        self._validate()

    # ---- construction-time checks ----
    def _validate(self) -> None:
        t = torch.linspace(0.0, self.T, 1025, dtype=torch.float64)
        fv, gv = _call(self.f_fn, t, "f"), _call(self.g_fn, t, "g")
        for name, v in (("f", fv), ("g", gv)):
            bad = ~torch.isfinite(v)
            if bool(bad.any()):
                raise ValueError(f"schedule {name}(t) is not finite at t={_fmt(float(t[bad][0]))}")
        if bool((gv < 0).any()):
            tb = float(t[gv < 0][0])
            raise ValueError(f"diffusion g(t) must be >= 0, got g={float(gv[gv < 0][0])!r} at t={_fmt(tb)}")
        if self.marginal_fn is not None:
            m, s = self._closed_marginal(t)
            for name, v, cond in (("m", m, m > 0), ("s", s[1:], s[1:] > 0)):
                if not bool(cond.all()):
                    i = int((~cond).nonzero()[0])
                    tb = float(t[i] if name == "m" else t[1:][i])
                    raise ValueError(f"marginal {name}(t) must be positive, got {float(v[i])!r} at t={_fmt(tb)}")
            if getattr(self, "_skip_marginal_check", False):
                return
        m_q, s_q = self._quad_marginal(t)
        if not bool((s_q[1:] > 0).all()):
            i = int((~(s_q[1:] > 0)).nonzero()[0])
            raise ValueError(f"kernel std s(t) must be positive for t > 0 (g vanishes up to t); "
                             f"s = {float(s_q[1:][i])!r} at t={_fmt(float(t[1:][i]))}")
        if self.marginal_fn is not None:
            m, s = self._closed_marginal(t)
            rel_m = ((m - m_q).abs() / m_q).max()
            rel_s = ((s[1:] - s_q[1:]).abs() / s_q[1:])
            if float(rel_m) > 1e-5 or float(rel_s.max()) > 1e-5:
                i = int(rel_s.argmax())
                raise ValueError(f"the closed-form marginal disagrees with the quadrature of f, g "
                                 f"(max rel. error m {float(rel_m):.3g}, s {float(rel_s.max()):.3g} at "
                                 f"t={_fmt(float(t[1:][i]))}); pass validate_marginal=False to skip")

    def _closed_marginal(self, t: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        m, s = self.marginal_fn(t)
        return _call(lambda _: m, t, "marginal m"), _call(lambda _: s, t, "marginal s")

    # ---- the quadrature grid ----
    def _build_grid(self) -> dict:
        """F = int_0 f and S2 = s^2 at the nodes of a uniform grid, by Gauss-Legendre per cell."""
        nodes = _nodes(self.T, self.grid_size)
        xg = torch.as_tensor((_GL_X + 1) / 2, dtype=torch.float64)  # on [0, 1]
        wg = torch.as_tensor(_GL_W / 2, dtype=torch.float64)
        h = (nodes[1:] - nodes[:-1])[:, None]                                 # (n, 1)
        left = nodes[:-1]
        # points r_j = left + h x_j and, inside [left, r_j], points left + h x_j x_k
        r = left[:, None] + h * xg[None, :]                                   # (n, 8)
        inner = left[:, None, None] + h[..., None] * xg[None, :, None] * xg[None, None, :]  # (n, 8, 8)
        f_r = _call(self.f_fn, r.reshape(-1), "f").reshape(r.shape)
        f_in = _call(self.f_fn, inner.reshape(-1), "f").reshape(inner.shape)
        g_r = _call(self.g_fn, r.reshape(-1), "g").reshape(r.shape)
        dF = h[:, 0] * (f_r * wg).sum(-1)                                         # int over the cell
        F_left_to_r = h * xg[None, :] * (f_in * wg).sum(-1)                  # int_left^{r_j} f
        F_r_to_right = dF[:, None] - F_left_to_r                             # int_{r_j}^{right} f
        # increment of s^2 over the cell: int_left^right exp(2 int_r^right f) g(r)^2 dr
        inc = h[:, 0] * (torch.exp(2 * F_r_to_right) * g_r ** 2 * wg).sum(-1)
        F = torch.cat([torch.zeros(1, dtype=torch.float64), torch.cumsum(dF, 0)])
        growth = torch.exp(2 * dF)
        s2 = 0.0
        S2_list = [0.0]
        for a, b in zip(growth.tolist(), inc.tolist()):  # s2_{i+1} = e^{2 dF} s2_i + inc_i
            s2 = a * s2 + b
            S2_list.append(s2)
        S2 = torch.tensor(S2_list, dtype=torch.float64)
        f_n, g_n = _call(self.f_fn, nodes, "f"), _call(self.g_fn, nodes, "g")
        return {"t": nodes, "F": F, "dF": f_n, "S2": S2, "dS2": 2 * f_n * S2 + g_n ** 2}

    def _grid_on(self, device) -> dict:
        if self._grid is None:
            self._grid = self._build_grid()
        if device is not None and self._grid["t"].device != torch.device(device):
            self._grid = {k: v.to(device) for k, v in self._grid.items()}
        return self._grid

    def _quad_marginal(self, t: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        G = self._grid_on(t.device)
        F = _hermite(t, G["t"], G["F"], G["dF"])
        S2 = _hermite(t, G["t"], G["S2"], G["dS2"])
        return torch.exp(F), torch.sqrt(S2.clamp(min=0.0))

    # ---- SDE interface ----
    def _f(self, t):
        return _call(self.f_fn, t, "f")

    def _g(self, t):
        return _call(self.g_fn, t, "g")

    def _marginal(self, t):
        if self.marginal_fn is not None:
            return self._closed_marginal(t)
        return self._quad_marginal(t)

    def t_from_log_snr(self, log_snr: torch.Tensor) -> torch.Tensor:
        """Inverse of the (decreasing) log-SNR: the grid cell by ``searchsorted`` on a cached
        table of log-SNR at the grid nodes, then 60 bisection steps inside the cell (float64).
        Values outside the range clamp to the ends of [0, T]."""
        log_snr = torch.as_tensor(log_snr, dtype=torch.float64)
        if self._lsnr_grid is None or self._lsnr_grid[0].device != log_snr.device:
            nodes = _nodes(self.T, self.grid_size).to(log_snr.device)
            neg = -self.log_snr(nodes)  # increasing; -inf at t = 0
            self._lsnr_grid = (nodes, torch.cummax(neg, 0).values.contiguous())
        nodes, neg = self._lsnr_grid
        j = torch.searchsorted(neg, (-log_snr).contiguous()).clamp(1, nodes.numel() - 1)
        lo, hi = nodes[j - 1], nodes[j]
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            above = self.log_snr(mid) > log_snr
            lo = torch.where(above, mid, lo)
            hi = torch.where(above, hi, mid)
        return (0.5 * (lo + hi)).clamp(0.0, self.T)

    def _vp_defect(self) -> Tuple[float, float]:
        """max |m^2 + s^2 - 1| on a grid of [0, T], and where."""
        t = torch.linspace(0.0, self.T, 257, dtype=torch.float64)
        m, s = self.marginal(t)
        err = (m * m + s * s - 1).abs()
        return float(err.max()), float(t[err.argmax()])

    @property
    def has_discrete_chain(self) -> bool:
        """True when variance preserving (m^2 + s^2 = 1 to 1e-6 on [0, T])."""
        return self._vp_defect()[0] <= 1e-6

    def discrete(self, num_steps: int):
        """The discrete DDPM chain, defined when this SDE is variance preserving
        (m(t)^2 + s(t)^2 = 1 on [0, T]); otherwise ValueError."""
        err, at = self._vp_defect()
        if err > 1e-6:
            raise ValueError(f"the discrete DDPM chain needs a variance-preserving SDE "
                             f"(m^2 + s^2 = 1); this LinearSDE has m^2 + s^2 - 1 = "
                             f"{err:.3g} at t={_fmt(at)}")
        from .discrete import DiscreteChain
        return DiscreteChain.from_sde(self, num_steps)

    # ---- Karras et al.'s (s, sigma) kernel ----
    @register("sde", "sde_diffusion.sdes.LinearSDE.from_kernel")
    @classmethod
    def from_kernel(cls, s: Schedule, sigma: Schedule, T: float = 1.0, eps: float = 1e-5,
                    ds: Optional[Schedule] = None, dsigma: Optional[Schedule] = None,
                    derivative: str = "autograd") -> "LinearSDE":
        """The linear SDE with kernel ``x_t = s(t) (x_0 + sigma(t) z)`` (Karras et al. 2022):

            f = s'/s,   g = s sqrt(2 sigma sigma'),   m = s,   std = s sqrt(sigma^2 - sigma(0)^2).

        (2 sigma sigma' is computed as d(sigma^2)/dt, finite also where sigma ~ sqrt(t).)

        Args:
            s, sigma: schedules of a float64 tensor t; s > 0 on [0, T], sigma > 0 on (0, T],
                sigma(0) >= 0, sigma strictly increasing.
            ds, dsigma: optional closed-form derivatives; else ``derivative`` = "autograd"
                (finite differences when the schedule is not differentiable torch code) or "fd".
        Raises ValueError naming the first grid time where a condition fails.
        """
        check_choice("derivative", derivative, ("autograd", "fd"))
        check_positive("T", T)
        t = torch.linspace(0.0, T, 1025, dtype=torch.float64)
        sv, sgv = _call(s, t, "s"), _call(sigma, t, "sigma")
        for name, v in (("s", sv), ("sigma", sgv)):
            bad = ~torch.isfinite(v)
            if bool(bad.any()):
                raise ValueError(f"schedule {name}(t) is not finite at t={_fmt(float(t[bad][0]))}")
        if not bool((sv > 0).all()):
            i = int((~(sv > 0)).nonzero()[0])
            raise ValueError(f"s(t) must be positive, got s={float(sv[i])!r} at t={_fmt(float(t[i]))}")
        if not float(sgv[0]) >= 0:
            raise ValueError(f"sigma(t) must be >= 0 at t=0, got sigma={float(sgv[0])!r}")
        if not bool((sgv[1:] > 0).all()):
            i = int((~(sgv[1:] > 0)).nonzero()[0]) + 1
            raise ValueError(f"sigma(t) must be positive, got sigma={float(sgv[i])!r} at t={_fmt(float(t[i]))}")
        inc = sgv[1:] > sgv[:-1]
        if not bool(inc.all()):
            i = int((~inc).nonzero()[0]) + 1
            raise ValueError(f"sigma(t) must be increasing, but sigma({_fmt(float(t[i]))})={float(sgv[i])!r} "
                             f"<= sigma({_fmt(float(t[i - 1]))})={float(sgv[i - 1])!r} (offending time "
                             f"t={_fmt(float(t[i]))})")
        sigma0 = float(sgv[0])
        d_s = ds if ds is not None else (lambda u: _derivative(s, u, T, "s", derivative))
        sigma2 = lambda u: _call(sigma, u, "sigma") ** 2
        if dsigma is not None:  # d(sigma^2)/dt = 2 sigma sigma'
            d_sig2 = lambda u: 2 * _call(sigma, u, "sigma") * _call(dsigma, u, "dsigma")
        else:  # differentiate sigma^2 itself: smooth even where sigma ~ sqrt(t) (VP at t = 0)
            d_sig2 = lambda u: _derivative(sigma2, u, T, "sigma^2", derivative)

        def f(u: torch.Tensor) -> torch.Tensor:
            return _call(d_s, u, "ds") / _call(s, u, "s")

        def g(u: torch.Tensor) -> torch.Tensor:
            prod = d_sig2(u)
            return _call(s, u, "s") * torch.sqrt(prod.clamp(min=0.0))

        def marginal(u: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
            su, sg = _call(s, u, "s"), _call(sigma, u, "sigma")
            return su, su * torch.sqrt(((sg - sigma0) * (sg + sigma0)).clamp(min=0.0))

        obj = cls.__new__(cls)
        obj._skip_marginal_check = True  # the kernel is exact by construction
        SDE.__init__(obj, T=T, eps=eps)
        obj.f_fn, obj.g_fn, obj.marginal_fn = f, g, marginal
        obj.grid_size, obj._grid, obj._lsnr_grid = 4096, None, None
        obj.s_fn, obj.sigma_fn = s, sigma
        obj._validate()
        return obj

    def __repr__(self):
        how = "closed-form" if self.marginal_fn is not None else f"quadrature(grid={self.grid_size})"
        return f"LinearSDE(f={self.f_fn!r}, g={self.g_fn!r}, marginal={how}, T={self.T}, eps={self.eps})"
