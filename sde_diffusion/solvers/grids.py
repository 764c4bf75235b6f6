"""Time grids for samplers: decreasing float64 tensors ``t_0 = T > t_1 > ... > t_N = t_end``.

- ``uniform_t``:      t_i = T + i/N (t_end - T)
- ``uniform_log_snr``: the log-SNR log(m^2/s^2) (equivalently the half log-SNR
  lambda = log(m/s)) uniform between T and t_end (the natural grid of exponential integrators)
- ``karras``:         sigma_i = (sigma_max^(1/rho) + i/N (sigma_min^(1/rho) - sigma_max^(1/rho)))^rho
  on sigma = s/m (Karras et al. 2022, rho = 7), mapped back to t by ``sde.t_from_sigma``.
- ``time_quadratic``: sqrt(t_i) uniform between sqrt(T) and sqrt(t_end) (DPM-Solver's default
  for small images).
- ``time_power``:     t_i^(1/kappa) uniform between T^(1/kappa) and t_end^(1/kappa), kappa =
  ``TIME_POWER_KAPPA`` = 1.2 (between uniform-t, kappa = 1, and time-quadratic, kappa = 2): VP's
  grid for Euler, DDIM, DEIS and iPNDM (``VPSDE.sampler_defaults``; VP's own default grid is
  time-quadratic).
- a saved optimised grid (``optimized_grid.OptimizedGrid`` or the path of its ``.json`` file).

Default grid (``Sampler.default_grid_on``): the SDE's entry for the sampler in
``sde.sampler_defaults`` (chosen per (SDE, sampler) on the problem suite's tuning half), else
the sampler's ``default_grid``, else the SDE's ``default_grid``.
End time (``default_t_end``): ``sde.eps`` (never 0: the score blows up as s -> 0), or later
where the SDE names its own noise floor ``sigma_min`` (VE: the time where s(t) = sigma_min;
EDM: t = sigma_min = eps); where the SDE names a few-step end time ``sde.few_step_t_end``
(VP: 1e-3) a run of n steps ends at ``few_step_t_end * (FEW_STEP_N0 / n)^FEW_STEP_POWER``,
clamped to [eps, few_step_t_end] (n0 = 20, power 2: 1e-3 up to 20 steps, 2.5e-4 at 40,
6.3e-5 at 80, eps = 1e-5 from 200). Continuous in n: the former jump from 1e-3 to eps at 25
steps made the end-to-end error at 40 steps up to 2x the error at 20 on the tuning half of the
problem suite (``benchmarks/bench_t_end.py``); this rule, chosen there among n0 in {10, 15, 20}
and powers 1-4 by the worst RMS(2n)/RMS(n), keeps every ratio <= 1.0 with 5-20-step results
unchanged (``benchmarks/RESULTS.md``, "End time of few-step VP runs").
Deterministic samplers end at t_end with the PF-ODE state, without a final denoising step;
a step onto sigma = 0 (diffusers' ``final_sigmas_type="zero"``) replaces the last one only
where ``sde.sampler_defaults`` names ``zero_from`` (from 50 steps, iPNDM on VP from 20): at
5-20 NFE both endings were worse on the tuning half (on a sharp mode of std c, stopping at
sigma errs by ~ +sigma^2/(2c^2) and the denoiser by ~ -sigma^2/(2c^2) of the distance to the
mode), at 50 the stopping floor of low-rank data dominates.
Every grid is computed on the CPU in float64 and its end points are set exactly.
"""
from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Callable, Dict, Optional, Tuple

import torch

from ..contract import check_choice, check_positive

__all__ = ["uniform_t", "uniform_log_snr", "karras", "time_quadratic", "time_power", "GRIDS",
           "ZeroEnded", "make_grid", "prior_exit", "default_t_end", "zero_step_start", "FEW_STEP_N0", "FEW_STEP_POWER",
           "TIME_POWER_KAPPA"]

FEW_STEP_N0 = 20
FEW_STEP_POWER = 2.0
PRIOR_EXIT_LAMBDA = -9.210340371976182  # log(1e-4)
TIME_POWER_KAPPA = 1.2


def _ends(sde, t_end: Optional[float], t_start: Optional[float]):
    t0 = float(sde.T if t_start is None else t_start)
    t1 = float(sde.eps if t_end is None else t_end)
    if not (0.0 <= t1 < t0 <= sde.T * (1 + 1e-12)):
        raise ValueError(f"need 0 <= t_end < t_start <= T={sde.T}, got t_end={t1!r}, t_start={t0!r}")
    return t0, t1


def _check_steps(steps) -> int:
    from .base import as_steps
    return as_steps(steps)


def uniform_t(sde, steps: int, t_end: Optional[float] = None,
              t_start: Optional[float] = None) -> torch.Tensor:
    """Uniform grid in t from t_start (default T) to t_end (default eps); shape (steps+1,)."""
    steps = _check_steps(steps)
    t0, t1 = _ends(sde, t_end, t_start)
    return torch.linspace(t0, t1, steps + 1, dtype=torch.float64)


def uniform_log_snr(sde, steps: int, t_end: Optional[float] = None,
                    t_start: Optional[float] = None) -> torch.Tensor:
    """Grid uniform in the log-SNR log(m^2/s^2) = 2 lambda; needs t_end > 0 (finite log-SNR)."""
    steps = _check_steps(steps)
    t0, t1 = _ends(sde, t_end, t_start)
    if t1 <= 0:
        raise ValueError("a log-SNR grid needs t_end > 0 (log-SNR is infinite at t = 0)")
    ends = sde.log_snr(torch.tensor([t0, t1], dtype=torch.float64))
    grid = sde.t_from_log_snr(torch.linspace(float(ends[0]), float(ends[1]), steps + 1,
                                             dtype=torch.float64))
    grid = grid.to(torch.float64).clamp(t1, t0)
    grid[0], grid[-1] = t0, t1
    return grid


def karras(sde, steps: int, t_end: Optional[float] = None, t_start: Optional[float] = None,
           rho: float = 7.0) -> torch.Tensor:
    """Karras et al. rho-polynomial grid in sigma = s/m, mapped to t; needs t_end > 0."""
    steps = _check_steps(steps)
    t0, t1 = _ends(sde, t_end, t_start)
    if t1 <= 0:
        raise ValueError("a Karras grid needs t_end > 0 (sigma_min > 0)")
    if not rho > 0:
        raise ValueError(f"rho must be positive, got {rho!r}")
    sig = sde.sigma(torch.tensor([t0, t1], dtype=torch.float64))
    a, b = float(sig[0]) ** (1 / rho), float(sig[1]) ** (1 / rho)
    u = torch.linspace(0.0, 1.0, steps + 1, dtype=torch.float64)
    sigmas = (a + u * (b - a)) ** rho
    grid = sde.t_from_sigma(sigmas).to(torch.float64).clamp(t1, t0)
    grid[0], grid[-1] = t0, t1
    return grid


def time_quadratic(sde, steps: int, t_end: Optional[float] = None,
                   t_start: Optional[float] = None) -> torch.Tensor:
    """t_i = (sqrt(t_start) + i/N (sqrt(t_end) - sqrt(t_start)))^2; shape (steps+1,)."""
    steps = _check_steps(steps)
    t0, t1 = _ends(sde, t_end, t_start)
    u = torch.linspace(0.0, 1.0, steps + 1, dtype=torch.float64)
    grid = (t0 ** 0.5 + u * (t1 ** 0.5 - t0 ** 0.5)) ** 2
    grid[0], grid[-1] = t0, t1
    return grid


def time_power(sde, steps: int, t_end: Optional[float] = None, t_start: Optional[float] = None,
               kappa: float = TIME_POWER_KAPPA) -> torch.Tensor:
    """t_i = (t_start^(1/k) + i/N (t_end^(1/k) - t_start^(1/k)))^k, k = kappa >= 1 (1: uniform
    in t; 2: time-quadratic); shape (steps+1,)."""
    steps = _check_steps(steps)
    t0, t1 = _ends(sde, t_end, t_start)
    if (isinstance(kappa, bool) or not isinstance(kappa, (int, float))
            or not 1.0 <= kappa < float("inf")):
        raise ValueError(f"kappa must be a finite number >= 1, got {kappa!r}")
    u = torch.linspace(0.0, 1.0, steps + 1, dtype=torch.float64)
    e = 1.0 / float(kappa)
    grid = (t0 ** e + u * (t1 ** e - t0 ** e)) ** float(kappa)
    grid[0], grid[-1] = t0, t1
    return grid


GRIDS: Dict[str, Callable[..., torch.Tensor]] = {
    "uniform_t": uniform_t,
    "log_snr": uniform_log_snr,
    "karras": karras,
    "time_quadratic": time_quadratic,
    "time_power": time_power,
}


@dataclass(frozen=True)
class ZeroEnded:
    """A grid (a ``grid`` callable for ``sample``) of steps - 1 steps of the named grid ``grid`` from
    t_start down to ``start``, then one step onto t = 0 (sigma = 0), which a sampler that lands on
    zero (``Sampler.lands_on_zero``) takes with the model's data prediction at ``start``:
    diffusers' ``final_sigmas_type="zero"`` from a chosen time. The call's ``t_end`` is not used.
    ``bands`` = ((t_1, n_1), (t_2, n_2), ...), times decreasing: n_1 of those steps on the named
    grid from t_start to t_1, n_2 from t_1 to t_2, ..., the rest from the last t_k to ``start``
    (tried in few-step 34 on VP's low-rank pick: fewer steps above the noise level where a mixture's
    components separate and more through it; no default uses bands)."""
    grid: str
    start: float
    bands: Tuple[Tuple[float, int], ...] = ()

    def __post_init__(self):
        check_choice("time grid", self.grid, list(GRIDS))
        check_positive("start", self.start)
        if not isinstance(self.bands, tuple):
            raise TypeError(f"bands must be a tuple of (time, steps) pairs, got {type(self.bands).__name__}")
        last = float("inf")
        for band in self.bands:
            if not (isinstance(band, tuple) and len(band) == 2):
                raise ValueError(f"each band must be a (time, steps) pair, got {band!r}")
            t, n = band
            check_positive("band time", t)
            if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
                raise ValueError(f"band steps must be an int >= 1, got {n!r}")
            if not float(self.start) < float(t) < last:
                raise ValueError(f"band times must decrease and stay above start = {self.start:g}, "
                                 f"got {[b[0] for b in self.bands]}")
            last = float(t)

    def __call__(self, sde, steps: int, t_end: Optional[float] = None,
                 t_start: Optional[float] = None) -> torch.Tensor:
        steps = _check_steps(steps)
        if steps < 2:
            raise ValueError(f"a zero-ended grid needs steps >= 2 (one onto t = 0), got {steps}")
        rest = steps - 1 - sum(int(n) for _, n in self.bands)
        if rest < 1:
            raise ValueError(f"bands {self.bands} leave no step to start = {self.start:g} of {steps} steps")
        top, parts = t_start, []
        for t, n in (*self.bands, (self.start, rest)):
            part = _from_prior(GRIDS[self.grid], sde, int(n), float(t), top)
            parts.append(part if not parts else part[1:])
            top = float(t)
        return torch.cat(parts + [parts[0].new_zeros(1)])


def default_t_end(sde, steps: int) -> float:
    """End time when the call gives none: ``sde.eps``, raised to where the noise level reaches
    the SDE's own floor ``sde.sigma_min`` if it names one (VE: s(t) = sigma_min, not
    s(eps) ~ 1e-4 sigma_min), and, if the SDE names ``sde.few_step_t_end``, to
    few_step_t_end * min(1, (FEW_STEP_N0 / steps)^FEW_STEP_POWER) (continuous in steps)."""
    t = float(sde.eps)
    floor = getattr(sde, "sigma_min", None)
    if floor is not None:
        t = max(t, float(sde.t_from_sigma(torch.tensor(float(floor), dtype=torch.float64))))
    few = getattr(sde, "few_step_t_end", None)
    if few is not None:
        t = max(t, float(few) * min(1.0, (FEW_STEP_N0 / steps) ** FEW_STEP_POWER))
    return t


def zero_step_start(sde, steps: int, zero_from: Optional[int] = None,
                    zero_end: Optional[float] = None,
                    zero_end_steps: Tuple[int, int] = (0, 0)) -> Optional[float]:
    """Where a default grid's final step onto t = 0 starts, or None where the run takes none.
    Within ``zero_end_steps`` = (lo, hi) steps, where the (SDE, sampler) entry names
    ``zero_end`` (the start at ``FEW_STEP_N0`` steps), from zero_end * (FEW_STEP_N0 / steps)^
    FEW_STEP_POWER (EDM UniPC, 8-30 steps: sigma 0.044 at 8, 0.028 at 10, 0.007 at 20, 0.0031 at
    30); else from ``zero_from`` steps, from the default end of steps - 1 steps."""
    if steps < 2:
        return None
    if zero_end is not None and zero_end_steps[0] <= steps <= zero_end_steps[1]:
        return max(default_t_end(sde, steps - 1), float(zero_end) * (FEW_STEP_N0 / steps) ** FEW_STEP_POWER)
    if zero_from is not None and steps >= zero_from:
        return default_t_end(sde, steps - 1)
    return None


def prior_exit(sde, t_start: float, t_end: float) -> float:
    """Where the exact limit step from m = 0 lands for adaptive solvers: the time of half
    log-SNR ``PRIOR_EXIT_LAMBDA`` (m/s = 1e-4; the step's error, of order m (m/s)^2 times
    the data scale, is below any usable tolerance), or t_end if that comes first."""
    t = float(sde.t_from_log_snr(torch.tensor(2.0 * PRIOR_EXIT_LAMBDA, dtype=torch.float64)))
    return t if t_end < t < t_start else t_end


def _from_prior(fn, sde, steps: int, t_end: Optional[float], t_start: Optional[float],
                **kw) -> torch.Tensor:
    """A named grid; from a start where sigma = s/m is infinite (a flow path's t = 1) a grid in
    sigma or log-SNR is undefined, so its first step ends at the uniform-in-t point and the
    named grid spans the remaining steps - 1."""
    t0 = float(sde.T if t_start is None else t_start)
    if fn not in (karras, uniform_log_snr) or float(sde.marginal(t0)[0]) != 0.0:
        return fn(sde, steps, t_end=t_end, t_start=t_start, **kw)
    steps = _check_steps(steps)
    t_end = float(sde.eps if t_end is None else t_end)
    if steps == 1:
        return torch.tensor([t0, float(t_end)], dtype=torch.float64)
    t1 = t0 + (float(t_end) - t0) / steps
    return torch.cat([torch.tensor([t0], dtype=torch.float64), fn(sde, steps - 1, t_end=t_end, t_start=t1, **kw)])


def make_grid(sde, grid, steps: int, t_end: Optional[float] = None,
              t_start: Optional[float] = None) -> torch.Tensor:
    """Build a grid from a name in ``GRIDS``, a saved optimised grid (object or ``.json`` path;
    checked against ``sde`` and ``steps``), a callable ``(sde, steps, t_end, t_start)``, or an
    explicit decreasing sequence of times (then ``steps`` is ignored). ``t_end`` None means
    ``default_t_end(sde, steps)`` for named grids and callables."""
    from .optimized_grid import OptimizedGrid, load_grid
    if isinstance(grid, str) and grid not in GRIDS and grid.endswith(".json"):
        grid = load_grid(grid)
    if isinstance(grid, OptimizedGrid):
        times = grid.times_for(sde, steps)
    elif isinstance(grid, str):
        fn = GRIDS[check_choice("time grid", grid, list(GRIDS) + ["<saved grid>.json"])]
        if t_end is None:
            t_end = default_t_end(sde, _check_steps(steps))
        times = _from_prior(fn, sde, steps, t_end, t_start)
    elif callable(grid):
        if t_end is None:
            t_end = default_t_end(sde, _check_steps(steps))
        times = torch.as_tensor(grid(sde, steps, t_end, t_start), dtype=torch.float64).cpu()
    else:
        times = torch.as_tensor(grid, dtype=torch.float64).cpu().flatten()
    if times.numel() < 2:
        raise ValueError(f"a time grid needs at least 2 points, got {times.numel()}")
    if not bool((times[1:] < times[:-1]).all()):
        raise ValueError("time grid must be strictly decreasing (from T towards t_end)")
    if not (float(times[-1]) >= 0.0 and float(times[0]) <= sde.T * (1 + 1e-12)):
        raise ValueError(f"time grid must lie in [0, T={sde.T}], got [{float(times[-1])}, {float(times[0])}]")
    return times
