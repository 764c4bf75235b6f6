"""The per-call side of sampling: the noise source and the ``SolverContext`` a sampler reads,
plus the errors of a run.

The context computes once per grid point what every sampler needs, as host floats: the kernel
x_t = m x_0 + s z (``m``, ``s``), the noise level sigma = s/m of the scaled state x/m, the
half log-SNR lambda = log(m/s) (``lam``; -inf where m = 0, +inf where s = 0), and the drift
and diffusion coefficients ``f``, ``g``. A model evaluation (one NFE) is asked for in the form
the sampler wants: ``x0`` (the denoiser D = E[x_0 | x_t]), ``eps`` or ``score``. A model with
``predict(x, t, kind)`` (``ScoreModel``) answers in that form itself, so an x0-predicting
network feeds an x0-based sampler with no conversion; a plain score function is wrapped once:
x0 = (x + s^2 score)/m, eps = -s score.

The loop's guarantees live here, once: ``loop`` records the start and shows progress,
``finish_step`` applies the ``after_step`` hook, flags non-finite values (a device-side sum
per step, read once at the end: no host sync in the loop), records the trajectory and calls
the callback. A sampler that writes its own loop keeps its state in local variables, so
nothing is stored on a sampler: one context per ``sample`` call.
"""
from __future__ import annotations

import math
from contextlib import contextmanager
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Union

import torch

from ..models.parameterization import tweedie
from ..sdes.base import ProbabilityFlowODE, ReverseSDE
from ..contract import as_steps, check_score_shape

__all__ = ["SolverContext", "NoiseSource", "NonFiniteSampleError", "as_steps", "GeneratorLike",
           "half_log_snr"]


def half_log_snr(m: float, s: float) -> float:
    """lambda = log(m/s), the half log-SNR (-inf where m = 0, +inf where s = 0)."""
    if s <= 0.0:
        return math.inf
    if m <= 0.0:
        return -math.inf
    return math.log(m) - math.log(s)


class NonFiniteSampleError(FloatingPointError, ValueError):
    """A sampler produced NaN/inf; ``step`` is the first solver step (1-based) where it did."""

    def __init__(self, sampler: str, step: int, t: float):
        self.sampler, self.step, self.t = sampler, step, t
        super().__init__(f"sampler {sampler!r} produced non-finite values at step {step} "
                         f"(t = {t:.6g}); check the score function (NaN/inf in the network or "
                         f"its weights) and the time grid")


GeneratorLike = Union[None, torch.Generator, Sequence[torch.Generator]]

class NoiseSource:
    """Standard normal noise shaped like x, drawn from a generator (or a list of per-sample
    generators) in ``noise_dtype`` on the generator's device, then cast to x's device/dtype."""

    def __init__(self, generator: GeneratorLike = None, noise_dtype: torch.dtype = torch.float32):
        if generator is not None and not isinstance(generator, torch.Generator):
            gens = list(generator)
            if not all(isinstance(g, torch.Generator) for g in gens):
                raise TypeError("generator must be None, a torch.Generator or a list of them")
            generator = gens
        self.generator = generator
        self.noise_dtype = noise_dtype

    def __call__(self, shape: Sequence[int], device, dtype: torch.dtype) -> torch.Tensor:
        g = self.generator
        shape = tuple(shape)
        if g is None:
            z = torch.randn(shape, device=device, dtype=self.noise_dtype)
        elif isinstance(g, torch.Generator):
            z = torch.randn(shape, generator=g, device=g.device, dtype=self.noise_dtype)
        else:
            if len(g) != shape[0]:
                raise ValueError(f"got {len(g)} per-sample generators for a batch of {shape[0]}")
            z = torch.stack([torch.randn(shape[1:], generator=gi, device=gi.device,
                                         dtype=self.noise_dtype).to(device) for gi in g])
        return z.to(device=device, dtype=dtype)

    def like(self, x: torch.Tensor) -> torch.Tensor:
        return self(x.shape, x.device, x.dtype)


class SolverContext:
    """Everything a step rule needs; built by ``sample`` for one call.

    Per grid point, Python floats (no device syncs in loops): ``t``, ``m``, ``s`` (kernel),
    ``sigma`` = s/m, ``lam`` = log(m/s), ``f``, ``g`` (coefficients), ``dm``, ``ds`` (the kernel's
    rates); ``times`` the float64 grid, ``steps`` = len(t) - 1, ``nfe`` the model calls so far.
    """

    def __init__(self, sde, score_fn, times: torch.Tensor, noise: NoiseSource,
                 callback: Optional[Callable[[Dict[str, Any]], None]] = None,
                 keep_trajectory: bool = False, progress: Optional[bool] = None,
                 name: str = "sampler",
                 after_step: Optional[Callable[[torch.Tensor, float, Callable], torch.Tensor]] = None):
        self.sde = sde
        self.score_fn = score_fn
        predict = getattr(score_fn, "predict", None)
        self._predict = predict if callable(predict) else None
        self.noise_source = noise
        self.set_times(times)
        self.nfe = 0
        self.callback = callback
        self.trajectory: Optional[List[torch.Tensor]] = [] if keep_trajectory else None
        self.progress = progress
        self.name = name
        self.last_x0: Optional[torch.Tensor] = None
        self.after_step = after_step
        self.offset = 0  # grid index of t[0] in the call's grid (1 after the limit first step)
        self._sums: List[tuple] = []  # (grid index, device-side sum of x) per step
        self._t_cache: Dict[tuple, torch.Tensor] = {}
        self._bar, self._done = None, 0
        # the SDE's own reverse processes own the drift formula f x - c g^2 score
        make_flow = getattr(sde, "probability_flow", None)
        make_rev = getattr(sde, "reverse", None)
        self.flow = make_flow(score_fn) if callable(make_flow) else ProbabilityFlowODE(sde, score_fn)
        self.rsde = make_rev(score_fn) if callable(make_rev) else ReverseSDE(sde, score_fn)

    def set_times(self, times: torch.Tensor) -> None:
        self.times = times
        self.t = times.tolist()
        self._index = {v: k for k, v in enumerate(self.t)}
        self._t_cache = {}
        m, s = self.sde.marginal(times)
        self.m, self.s = m.tolist(), s.tolist()
        self.sigma = [b / a if a > 0 else math.inf for a, b in zip(self.m, self.s)]
        self.lam = [half_log_snr(a, b) for a, b in zip(self.m, self.s)]
        self.f = self.sde.drift_coeff(times).tolist()
        self.g = self.sde.diffusion(times).tolist()
        self.dm, self.ds = self._rates(times)

    def _rates(self, times: torch.Tensor):
        """The kernel's rates m'(t), s'(t): the SDE's own ``marginal_rates`` (finite on [0, 1]
        for a flow path), else m' = f m, s' = f s + g^2 / (2 s) (nan where s = 0)."""
        rates = getattr(self.sde, "marginal_rates", None)
        if callable(rates):
            dm, ds = rates(times)
            return dm.tolist(), ds.tolist()
        dm = [f * m for f, m in zip(self.f, self.m)]
        ds = [f * s + g * g / (2 * s) if s > 0 else math.nan
              for f, g, s in zip(self.f, self.g, self.s)]
        return dm, ds

    @property
    def steps(self) -> int:
        return len(self.t) - 1

    # ---- model evaluations (each call = one NFE) ----
    def _time(self, x: torch.Tensor, t: float) -> torch.Tensor:
        """t as an (N,) tensor in x's dtype and device (grid times from one cached table)."""
        key = (x.device, x.dtype)
        table = self._t_cache.get(key)
        if table is None:
            table = self._t_cache[key] = self.times.to(device=x.device, dtype=x.dtype)
        i = self._index.get(t)
        if i is None:
            return torch.full((x.shape[0],), float(t), dtype=x.dtype, device=x.device)
        return table[i].expand(x.shape[0])

    def score(self, x: torch.Tensor, t: float) -> torch.Tensor:
        """score_fn(x, t) with t an (N,) tensor in x's dtype; counted and shape-checked."""
        out = self.score_fn(x, self._time(x, t))
        self.nfe += 1
        return check_score_shape(out, x)

    def _native(self, x: torch.Tensor, i: int, kind: str) -> torch.Tensor:
        """The model's own ``predict(x, t, kind)`` at grid point i (one NFE)."""
        out = self._predict(x, self._time(x, self.t[i]), kind)
        self.nfe += 1
        return check_score_shape(out, x)

    def x0(self, x: torch.Tensor, i: int) -> torch.Tensor:
        """The denoiser D = E[x_0 | x_t] at grid point i (one NFE; x/m itself where s = 0):
        the model's native x0 when it has ``predict``, else (x + s^2 score)/m."""
        s, m = self.s[i], self.m[i]
        if s == 0.0:
            return x / m
        if self._predict is not None:
            x0 = self._native(x, i, "x0")
        elif m == 0.0:
            raise ValueError(f"at t = {self.t[i]:.6g} the kernel has m = 0 and a plain score "
                             f"function does not define E[x_0 | x_t]; pass a model with "
                             f"predict(x, t, kind) (e.g. a velocity model) or start at t < "
                             f"{self.t[i]:.6g}")
        else:
            x0 = tweedie(x, self.score(x, self.t[i]), m, s)
        if self.callback is not None:
            self.last_x0 = x0
        return x0

    def eps(self, x: torch.Tensor, i: int) -> torch.Tensor:
        """The noise prediction eps = (x - m D)/s at grid point i (one NFE; s > 0): the
        model's native eps when it has ``predict``, else -s score."""
        if self._predict is not None:
            return self._native(x, i, "eps")
        return -self.s[i] * self.score(x, self.t[i])

    def finite_coeffs(self, i: int) -> bool:
        """Whether f and g are finite at grid point i (not at a flow path's t = 1)."""
        return math.isfinite(self.f[i]) and math.isfinite(self.g[i])

    def pf_drift(self, x: torch.Tensor, i: int) -> torch.Tensor:
        """Probability-flow drift at grid point i (one NFE): ``sde.probability_flow(score)``,
        f x - g^2 score / 2, where f and g are finite; else (a flow path's t = 1, m = 0) its
        finite form m' x0 + s' eps, with x0 from the model and eps = (x - m x0) / s."""
        if self.finite_coeffs(i):
            return self.flow.combine(x, self.score(x, self.t[i]), self.f[i], self.g[i])
        x0 = self.x0(x, i)
        eps = (x - self.m[i] * x0) / self.s[i]
        return self.dm[i] * x0 + self.ds[i] * eps

    def reverse_drift(self, x: torch.Tensor, i: int) -> torch.Tensor:
        """Reverse-SDE drift at grid point i, ``sde.reverse(score)`` (one NFE)."""
        return self.rsde.combine(x, self.score(x, self.t[i]), self.f[i], self.g[i])

    def noise(self, x: torch.Tensor) -> torch.Tensor:
        return self.noise_source.like(x)

    # ---- the loop and its bookkeeping ----
    def loop(self, x: torch.Tensor) -> Iterator[int]:
        """The step indices 0 .. steps - 1 of a sampler's own loop. Records the start state,
        shows the progress bar, and checks that step i ended with ``finish_step(x, i + 1)``."""
        self.record(x, 0)
        self._done = 0
        from ..progress import progress
        with progress(self.steps, f"sample ({self.name})", self.progress, unit="step") as bar:
            self._bar = bar
            for i in range(self.steps):
                yield i
                if self._done != i + 1:
                    raise RuntimeError(f"sampler {self.name!r} did not end step {i} with "
                                       f"x = ctx.finish_step(x, {i + 1})")
        self._bar = None

    def finish_step(self, x: torch.Tensor, i: int) -> torch.Tensor:
        """After a step to grid index i: the ``after_step`` hook, the non-finite flag, the
        trajectory and callback, the progress bar. Returns the state to continue from."""
        if self.after_step is not None:
            x = self.after_step(x, self.t[i], self.noise)
        self.flag_nonfinite(x, i)
        self.record(x, i)
        self._done = i
        if self._bar is not None:
            self._bar.update(1)
        return x

    @contextmanager
    def after_first_step(self):
        """Within: the grid without its first point (offset 1: flags and callbacks keep the
        call's grid indices). After: the first point joined to the (possibly replaced) rest."""
        times = self.times
        self.set_times(times[1:])
        self.offset = 1
        try:
            yield
        finally:
            self.offset = 0
            self.set_times(torch.cat([times[:1], self.times]))

    def flag_nonfinite(self, x: torch.Tensor, i: int) -> None:
        """Remember, without a host sync, a device-side sum of x at grid index i: the sum is
        NaN/inf exactly when some entry is (up to overflow of a sum of huge entries, which is a
        diverged run anyway); one reduction per step, read once at the end."""
        acc = torch.float64 if x.dtype == torch.float64 else torch.float32
        self._sums.append((i + self.offset, x.sum(dtype=acc)))

    def raise_if_nonfinite(self) -> None:
        """One host sync at the end: NonFiniteSampleError naming the first bad step."""
        if not self._sums:
            return
        ok = torch.isfinite(torch.stack([v for _, v in self._sums]).cpu())
        if not bool(ok.all()):
            i = self._sums[int((~ok).nonzero()[0])][0]
            raise NonFiniteSampleError(self.name, i, self.t[min(i, len(self.t) - 1)])

    def record(self, x: torch.Tensor, i: int) -> None:
        """Store the state at grid index i and call the user callback."""
        if self.trajectory is not None:
            self.trajectory.append(x.detach().clone())
        if self.callback is not None:
            self.callback({"i": i + self.offset, "t": self.t[i], "x": x, "x0": self.last_x0,
                           "nfe": self.nfe, "sampler": self.name})
