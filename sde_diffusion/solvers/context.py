"""The per-call side of sampling: the noise source and the ``SolverContext`` a sampler's step
reads (grid, host-side kernel coefficients, the counted score, Tweedie's data prediction, the
SDE's reverse / probability-flow drift, noise, bookkeeping), plus the errors of a run.

Nothing here is stored on a sampler: one context per ``sample`` call.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Sequence, Union

import torch

from ..models.parameterization import tweedie
from ..sdes.base import ProbabilityFlowODE, ReverseSDE
from ..contract import as_steps, check_score_shape

__all__ = ["SolverContext", "NoiseSource", "NonFiniteSampleError", "as_steps", "GeneratorLike"]


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

    Per-grid-point Python floats (no device syncs in loops): ``t``, ``m``, ``s`` (kernel
    coefficients), ``f`` (drift coefficient), ``g`` (diffusion); ``times`` the float64 grid.
    """

    def __init__(self, sde, score_fn, times: torch.Tensor, noise: NoiseSource,
                 callback: Optional[Callable[[Dict[str, Any]], None]] = None,
                 keep_trajectory: bool = False, progress: Optional[bool] = None,
                 desc: str = "sampling",
                 after_step: Optional[Callable[[torch.Tensor, float, Callable], torch.Tensor]] = None):
        self.sde = sde
        self.score_fn = score_fn
        self.noise_source = noise
        self.set_times(times)
        self.nfe = 0
        self.callback = callback
        self.trajectory: Optional[List[torch.Tensor]] = [] if keep_trajectory else None
        self.progress = progress
        self.desc = desc
        self.last_x0: Optional[torch.Tensor] = None
        self.after_step = after_step
        self._first_bad: Optional[torch.Tensor] = None  # device-side index of first bad step
        # the SDE's own reverse processes own the drift formula f x - c g^2 score
        make_flow = getattr(sde, "probability_flow", None)
        make_rev = getattr(sde, "reverse", None)
        self.flow = make_flow(score_fn) if callable(make_flow) else ProbabilityFlowODE(sde, score_fn)
        self.rsde = make_rev(score_fn) if callable(make_rev) else ReverseSDE(sde, score_fn)

    def set_times(self, times: torch.Tensor) -> None:
        self.times = times
        self.t = times.tolist()
        m, s = self.sde.marginal(times)
        self.m, self.s = m.tolist(), s.tolist()
        self.f = self.sde.drift_coeff(times).tolist()
        self.g = self.sde.diffusion(times).tolist()

    @property
    def steps(self) -> int:
        return len(self.t) - 1

    # ---- model evaluations (each call = one NFE) ----
    def score(self, x: torch.Tensor, t: float) -> torch.Tensor:
        """score_fn(x, t) with t an (N,) tensor in x's dtype; counted and shape-checked."""
        tt = torch.full((x.shape[0],), float(t), dtype=x.dtype, device=x.device)
        out = self.score_fn(x, tt)
        self.nfe += 1
        return check_score_shape(out, x)

    def x0(self, x: torch.Tensor, i: int) -> torch.Tensor:
        """Tweedie data prediction at grid point i (``parameterization.tweedie``, one NFE)."""
        s, m = self.s[i], self.m[i]
        if s == 0.0:
            return x / m
        x0 = tweedie(x, self.score(x, self.t[i]), m, s)
        self.last_x0 = x0
        return x0

    def pf_drift(self, x: torch.Tensor, i: int) -> torch.Tensor:
        """Probability-flow drift at grid point i, ``sde.probability_flow(score)`` (one NFE)."""
        return self.flow.combine(x, self.score(x, self.t[i]), self.f[i], self.g[i])

    def reverse_drift(self, x: torch.Tensor, i: int) -> torch.Tensor:
        """Reverse-SDE drift at grid point i, ``sde.reverse(score)`` (one NFE)."""
        return self.rsde.combine(x, self.score(x, self.t[i]), self.f[i], self.g[i])

    def noise(self, x: torch.Tensor) -> torch.Tensor:
        return self.noise_source.like(x)

    # ---- bookkeeping ----
    def finish_step(self, x: torch.Tensor, i: int, sampler) -> torch.Tensor:
        """After a step to grid index i: the ``after_step`` hook, the non-finite flag, record."""
        if self.after_step is not None:
            x = self.after_step(x, self.t[i], self.noise)
        self.flag_nonfinite(x, i)
        self.record(x, i, sampler)
        return x

    def flag_nonfinite(self, x: torch.Tensor, i: int) -> None:
        """Remember (on x's device, without a host sync) the first grid index with NaN/inf."""
        bad = torch.where(torch.isfinite(x).all(), len(self.t) + 1, i)
        self._first_bad = bad if self._first_bad is None else torch.minimum(self._first_bad, bad)

    def raise_if_nonfinite(self, sampler) -> None:
        """One host sync at the end: NonFiniteSampleError naming the first bad step."""
        if self._first_bad is not None:
            i = int(self._first_bad)
            if i <= len(self.t):
                raise NonFiniteSampleError(sampler.name, i, self.t[min(i, len(self.t) - 1)])

    def record(self, x: torch.Tensor, i: int, sampler) -> None:
        """Store the state at grid index i and call the user callback."""
        if self.trajectory is not None:
            self.trajectory.append(x.detach().clone())
        if self.callback is not None:
            self.callback({"i": i, "t": self.t[i], "x": x, "x0": self.last_x0,
                           "nfe": self.nfe, "sampler": sampler.name})

    def progress_bar(self, total: int):
        from ..progress import progress
        return progress(total, f"sample ({self.desc})", self.progress, unit="step")
