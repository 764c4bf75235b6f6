"""The sampler machinery written once: registry, the entry point ``sample``, and the base
class whose loop runs a step rule. A sampler is a small registered class::

    @register_sampler("my_euler")
    class MyEuler(Sampler):
        order = 1.0                       # also: stochastic, evals_per_step, default_grid, ...

        def step(self, ctx, x, i):        # x at ctx.t[i]  ->  x at ctx.t[i + 1]
            return x + (ctx.t[i + 1] - ctx.t[i]) * ctx.pf_drift(x, i)

A method that carries something from step to step (a multistep history, per-call coefficient
tables) writes its loop itself, with that state in local variables (as k-diffusion's samplers
do); ``ctx.loop`` and ``ctx.finish_step`` keep every guarantee of the loop in one place::

        def run(self, ctx, x):
            hist = []
            for i in ctx.loop(x):         # records x_0; progress bar
                ...                       # x_next from ctx.x0(x, i), hist, ctx.lam, ...
                x = ctx.finish_step(x_next, i + 1)  # after_step hook, NaN flag, callback, trajectory
            return x

``ctx`` (a :class:`SolverContext`, one per call) holds per grid point, as host floats: ``t``,
the kernel ``m``, ``s``, the noise level ``sigma`` = s/m, the half log-SNR ``lam`` = log(m/s),
the coefficients ``f``, ``g``; and the counted model calls: the denoiser ``ctx.x0(x, i)``,
``ctx.eps(x, i)``, ``ctx.score(x, t)``, the drifts ``ctx.pf_drift`` / ``ctx.reverse_drift``, the
noise ``ctx.noise(x)``. A multistep method takes the order of each step from
``order.step_orders(ctx.lam, p)``. A sampler object holds only its options, so it can run
twice, or in two threads at once.

What a sampler may override besides ``step`` / ``run``: ``check_sde(sde)`` when it needs more
than every SDE has (``SDE_INTERFACE``; e.g. a flow path's ``marginal_rates``, a capability
``SDE.has_<name>``), refusing with :meth:`Sampler.require`; ``make_times`` when it builds its own grid (EDM's rho-grid to
sigma = 0, the discrete chain's, the flow samplers' shifted grid). Adaptive solvers declare
``end_points_only`` (their grid is (t_start, t_end)) and record their accepted states in ``run``.
A start where m = 0 (a flow path's t = 1) is taken by :meth:`Sampler.prior_step` (the limit
step, one NFE) unless the sampler declares ``starts_at_prior`` (its own step has that limit);
``run`` then sees the rest of the grid, and callbacks keep the call's grid indices.

Why this shape: per-call state lives in local variables of ``run`` (k-diffusion's form), so
nothing is threaded through ``step`` or stored on the sampler; the guarantees a hand-written
loop could forget are in ``ctx.loop`` / ``ctx.finish_step`` (``loop`` refuses a step that did
not end with ``finish_step``); what a sampler needs of an SDE is one overridable
``check_sde``. The argument contract of ``sample`` (``checks.py``) and the ODE integrator
shared with the likelihood (``integrator.py``) are modules of their own.

Reproducibility (what is guaranteed):
- the same ``generator`` state, batch shape, dtype and device give the same samples;
- ``generator`` may be a *list* of one ``torch.Generator`` per sample: then every random
  number of sample j (prior and every step's noise) comes from generator j alone, so a sample
  does not depend on the batch it is drawn in (up to floating-point differences of batched
  score evaluations);
- a deterministic sampler maps a given ``x_init`` row-by-row, so it is batch independent;
- noise is drawn in ``noise_dtype`` (float32 by default) on the generator's device and cast,
  so it does not depend on the model dtype.
"""
from __future__ import annotations

import inspect
import math
import os
import time
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Dict, Optional, Sequence, Type

import torch

from ..contract import check_finite
from .checks import check_sample_args
from ..threads import use_thread_plan
from .context import GeneratorLike, NoiseSource, NonFiniteSampleError, SolverContext, as_steps
from .grids import GRIDS, make_grid, prior_exit, uniform_t, zero_step_start

__all__ = ["Sampler", "SampleInfo", "SolverContext", "SAMPLERS", "register_sampler", "sample",
           "NoiseSource", "get_sampler", "NonFiniteSampleError", "as_steps", "resolve_steps",
           "DEFAULT_STEPS", "SDE_INTERFACE"]


SAMPLERS: Dict[str, Type["Sampler"]] = {}
#: the methods of the abstract SDE (``sdes.SDE``) that any sampler may call
SDE_INTERFACE = ("marginal", "drift_coeff", "diffusion", "log_snr", "t_from_log_snr", "sigma",
                 "t_from_sigma")


def register_sampler(name: str) -> Callable[[Type["Sampler"]], Type["Sampler"]]:
    """Class decorator: ``@register_sampler("heun")`` adds the class to ``SAMPLERS``."""
    if not isinstance(name, str) or not name:
        raise TypeError(f"sampler name must be a non-empty string, got {name!r}")

    def deco(cls: Type["Sampler"]) -> Type["Sampler"]:
        if not (isinstance(cls, type) and issubclass(cls, Sampler)):
            raise TypeError(f"register_sampler({name!r}) must decorate a Sampler subclass, got {cls!r}")
        if name in SAMPLERS and SAMPLERS[name] is not cls:
            raise ValueError(f"sampler name {name!r} is already registered by {SAMPLERS[name].__name__}")
        cls.name = name
        SAMPLERS[name] = cls
        return cls

    return deco


def get_sampler(name: str) -> Type["Sampler"]:
    """The registered class, or ValueError listing the registered names."""
    if name not in SAMPLERS:
        raise ValueError(f"unknown sampler {name!r}; registered samplers: {', '.join(sorted(SAMPLERS))}")
    return SAMPLERS[name]


@dataclass
class SampleInfo:
    """What a ``sample`` call did.

    Attributes:
        sampler: registered name. nfe: number of score evaluations (each call on the whole
        batch counts one), including the final denoising step. steps: solver steps taken.
        times: float64 time grid actually used (decreasing; accepted steps for adaptive solvers).
        wall_time: seconds. t_end: last time integrated to. denoised: whether the returned x is
        the Tweedie posterior mean E[x_0 | x_t_end]. trajectory: (len(times), *shape) states
        when requested. options: the sampler's resolved options.
    """

    sampler: str
    nfe: int
    steps: int
    times: torch.Tensor
    wall_time: float
    t_end: float
    denoised: bool
    trajectory: Optional[torch.Tensor] = None
    options: Dict[str, Any] = field(default_factory=dict)


class Sampler:
    """Base class of all samplers.

    Class attributes a subclass declares:
        order: global convergence order (strong order for SDE samplers).
        stochastic: whether it injects noise. evals_per_step: model evaluations per step
        (maps an NFE budget to steps). default_grid: name in ``GRIDS``, or None for the
        SDE's own ``sde.default_grid``. default_denoise: whether ``sample`` appends the
        Tweedie denoising step by default. starts_at_prior: whether its step handles a start
        where m = 0 itself (given finite kernel rates there). end_points_only: an adaptive
        solver, whose grid is (t_start, t_end) and whose ``run`` records its accepted steps.
        lands_on_zero: its step can end on s = 0 (sigma = 0) with the data prediction, so an
        SDE's ``sampler_defaults`` may end its default grid there (``zero_from``).
    """

    name: ClassVar[str] = "base"
    order: ClassVar[float] = 1.0
    stochastic: ClassVar[bool] = False
    evals_per_step: ClassVar[int] = 1
    default_grid: ClassVar[Optional[str]] = None
    default_denoise: ClassVar[bool] = False
    starts_at_prior: ClassVar[bool] = False
    end_points_only: ClassVar[bool] = False
    lands_on_zero: ClassVar[bool] = False

    def options(self) -> Dict[str, Any]:
        """The resolved constructor options (for SampleInfo and logging)."""
        sig = inspect.signature(type(self).__init__)
        return {k: getattr(self, k) for k in sig.parameters if k != "self" and hasattr(self, k)}

    def check_sde(self, sde) -> None:
        """ValueError if this sampler cannot run on ``sde``. The default asks for
        ``SDE_INTERFACE``, which every SDE of the package has; a sampler that needs more
        overrides this and adds its own :meth:`require`."""
        self.require(sde, *SDE_INTERFACE)

    def require(self, sde, *methods: str, capability: Optional[str] = None) -> None:
        """The refusal of ``check_sde``: ValueError unless ``sde`` has every method named and,
        if given, the capability ``sde.has_<capability>``."""
        missing = [r for r in methods if not callable(getattr(sde, r, None))]
        if missing:
            raise ValueError(f"sampler {self.name!r} needs an SDE with {', '.join(missing)}; "
                             f"{type(sde).__name__} does not provide it")
        if capability is not None and not bool(getattr(sde, "has_" + capability, False)):
            raise ValueError(f"sampler {self.name!r} needs an SDE with the capability "
                             f"{capability!r} (SDE.has_{capability}); {type(sde).__name__} "
                             f"does not have it")

    def make_times(self, sde, steps: int, grid, t_end: Optional[float],
                   t_start: Optional[float]) -> torch.Tensor:
        """The decreasing float64 time grid of one call (``grids.make_grid``): ``grid``, else
        the sampler's ``default_grid``, else the SDE's; (t_start, t_end) if end_points_only."""
        if self.end_points_only:
            return uniform_t(sde, 1, t_end=t_end, t_start=t_start)
        if grid is None:
            grid = self.default_grid_on(sde)
        tuned = self.tuned_on(sde)
        if t_end is None and self.lands_on_zero and isinstance(grid, str) and grid in GRIDS:
            # the default ending of a named grid for this (SDE, sampler): steps - 1 steps on the
            # grid to ``zero_step_start``, then one onto t = 0 (sigma = 0), where the entry asks
            # for it; saved grids (a .json path), callables and explicit times keep their own end
            start = zero_step_start(sde, steps, tuned.get("zero_from"), tuned.get("zero_end"),
                                    tuple(tuned.get("zero_end_steps", (0, 0))))
            if start is not None:
                times = make_grid(sde, grid, steps - 1, start, t_start)
                return torch.cat([times, times.new_zeros(1)])
        return make_grid(sde, grid, steps, t_end, t_start)

    def tuned_on(self, sde) -> Dict[str, Any]:
        """This sampler's entry in ``sde.sampler_defaults`` (grid, ``zero_from``), or {}."""
        return dict(getattr(sde, "sampler_defaults", {}).get(self.name, {}))

    def default_grid_on(self, sde) -> str:
        """The grid a call without ``grid`` uses: the (SDE, sampler) entry of
        ``sde.sampler_defaults``, else the sampler's ``default_grid``, else ``sde.default_grid``."""
        return (self.tuned_on(sde).get("grid") or self.default_grid
                or getattr(sde, "default_grid", "uniform_t"))

    def step(self, ctx: SolverContext, x: torch.Tensor, i: int) -> torch.Tensor:
        """x at ctx.t[i] -> x at ctx.t[i + 1] (a sampler implements this or ``run``)."""
        raise NotImplementedError(f"sampler {self.name!r} implements neither step nor run")

    def run(self, ctx: SolverContext, x: torch.Tensor) -> torch.Tensor:
        """The loop over ctx's grid: ``step`` then ``finish_step`` at every grid point."""
        for i in ctx.loop(x):
            x = ctx.finish_step(self.step(ctx, x, i), i + 1)
        return x

    def prior_step(self, ctx: SolverContext, x: torch.Tensor) -> torch.Tensor:
        """The first step from a start where m = 0 (a flow path's t = 1, x = noise): its limit.

        There x_T is independent of x_0 and of x_1, so the reverse SDE's transition to t_1 is
        the marginal itself, x_1 = m_1 x_0 + s_1 z; a stochastic sampler takes it with x_0 at
        D = E[x_0 | x_T] from the model and fresh z (as an ancestral step does); the
        probability-flow ODE's step is the half-log-SNR (DDIM) step from lambda = -inf,
        x_1 = m_1 D + s_1 eps, eps = (x - m D) / s = x / s (the Euler step in sigma = s/m takes
        the same limit). One NFE."""
        d = ctx.x0(x, 0)
        z = ctx.noise(x) if self.stochastic else (x - ctx.m[0] * d) / ctx.s[0]
        return ctx.m[1] * d + ctx.s[1] * z

    def integrate(self, ctx: SolverContext, x: torch.Tensor) -> torch.Tensor:
        """What ``sample`` calls: ``run``, after :meth:`prior_step` when the grid starts at
        m = 0 and the sampler does not handle that itself (``run`` then sees the rest of the
        grid; an adaptive solver's rest starts at ``grids.prior_exit``)."""
        if ctx.m[0] != 0.0 or (self.starts_at_prior and math.isfinite(ctx.dm[0])):
            return self.run(ctx, x)
        if self.end_points_only:
            t_exit = prior_exit(ctx.sde, ctx.t[0], ctx.t[-1])
            if t_exit > ctx.t[-1]:
                ctx.set_times(torch.tensor([ctx.t[0], t_exit, ctx.t[-1]], dtype=torch.float64))
        ctx.record(x, 0)
        x = self.prior_step(ctx, x)
        if ctx.after_step is not None:
            x = ctx.after_step(x, ctx.t[1], ctx.noise)
        ctx.flag_nonfinite(x, 1)
        if ctx.steps == 1:
            ctx.record(x, 1)
            return x
        with ctx.after_first_step():
            return self.run(ctx, x)  # records the state at t_1 as its start


def _build(name: str, options: Dict[str, Any]) -> Sampler:
    if not isinstance(name, str):
        raise TypeError(f"sampler must be a registered name (str), got {type(name).__name__}")
    cls = get_sampler(name)
    sig = inspect.signature(cls.__init__)
    valid = [p for p in sig.parameters if p != "self"]
    bad = [k for k in options if k not in valid]
    if bad:
        raise TypeError(f"sampler {name!r} got unknown option(s) {', '.join(map(repr, bad))}; "
                        f"valid options: {', '.join(valid) or '(none)'}")
    return cls(**options)


DEFAULT_STEPS = 1000


def resolve_steps(grid, steps: Optional[int]):
    """``(grid, steps)`` with ``steps`` filled in: a saved grid (``OptimizedGrid`` or ``.json``
    path, loaded here) gives its own step count, explicit times ``len(times) - 1``, anything
    else ``DEFAULT_STEPS``. An explicit ``steps`` is validated (a saved grid made for another
    count is rejected later by ``OptimizedGrid.times_for``)."""
    from .optimized_grid import OptimizedGrid, load_grid
    if isinstance(grid, (str, os.PathLike)) and os.fspath(grid).endswith(".json"):
        grid = load_grid(grid)
    if steps is not None:
        return grid, as_steps(steps)
    if isinstance(grid, OptimizedGrid):
        return grid, as_steps(grid.steps)
    if grid is None or isinstance(grid, str) or callable(grid):
        return grid, DEFAULT_STEPS
    try:
        n = torch.as_tensor(grid, dtype=torch.float64).numel()
    except (TypeError, ValueError, RuntimeError):
        raise TypeError(f"grid must be a name, a saved grid, a callable or a sequence of times, "
                        f"got {type(grid).__name__}") from None
    if n < 2:
        raise ValueError(f"a time grid needs at least 2 points, got {n}")
    return grid, n - 1


def sample(sde, score_fn, shape: Optional[Sequence[int]] = None, sampler: str = "pc",
           steps: Optional[int] = None, generator: GeneratorLike = None,
           x_init: Optional[torch.Tensor] = None, device=None, dtype: torch.dtype = torch.float32,
           *, t_end: Optional[float] = None, t_start: Optional[float] = None, grid=None,
           denoise: Optional[bool] = None,
           callback: Optional[Callable[[Dict[str, Any]], None]] = None,
           return_trajectory: bool = False, progress: Optional[bool] = None,
           noise_dtype: torch.dtype = torch.float32,
           after_step: Optional[Callable[[torch.Tensor, float, Callable], torch.Tensor]] = None,
           **sampler_options):
    """Generate samples by integrating the reverse SDE / probability-flow ODE from t_start to t_end.

    Args:
        sde: a forward SDE (``sde_diffusion.sdes``). score_fn: callable ``(x, t) -> score`` with
            x of shape (N, ...) and t of shape (N,). shape: full batch shape (N, ...); may be
            omitted when ``x_init`` is given.
        sampler: a name in ``SAMPLERS`` (unknown names list the registered ones).
        steps: solver steps (>= 1); NFE = steps * evals_per_step (+1 when denoising), except
            adaptive solvers (rk45, adaptive torchsde), where it is measured. None (default):
            the step count of ``grid`` when it is a saved grid (object or ``.json`` path) or
            explicit times, else 1000. A saved grid with a different ``steps`` is a ValueError.
        generator: ``torch.Generator`` or a list of one per sample (batch-size independence).
        x_init: start state at t_start (default: prior N(0, s(t_start)^2 I)); its device and
            dtype then win over ``device``/``dtype``.
        t_end: end time (default ``sde.eps``), t_start: start time (default ``sde.T``).
        grid: a name in ``GRIDS``, a callable, or explicit decreasing times; default: the
            sampler's own default grid if it declares one, else ``sde.default_grid``.
        denoise: finish with the Tweedie posterior mean x0 = (x + s^2 score)/m at t_end (one
            extra NFE). Default: True for stochastic samplers (removes the last step's noise),
            False for deterministic ones (returns the PF-ODE solution at t_end).
        callback: called after every step with a dict {i, t, x, x0, nfe, sampler}.
        return_trajectory: keep every grid state in ``info.trajectory``.
        progress: tqdm bar; default off when the ``CI`` env var is set or stderr is not a tty.
        after_step: optional ``(x, t, noise) -> x`` applied after every step at its new time t
            (``noise(x)`` draws standard normal noise like x from the sampler's generator);
            e.g. the replacement method of inpainting (``sde_diffusion.conditional``).
        **sampler_options: the sampler's own options (e.g. ``predictor=``, ``snr=``, ``rtol=``).

    Returns:
        (x, info): samples of ``shape`` and a :class:`SampleInfo`.

    Raises:
        NonFiniteSampleError (a ValueError) naming the first step where x became NaN/inf.

    Runs under ``torch.no_grad()``. Fixed-step samplers read every schedule value as a host
    float computed once from the float64 grid, so their loops never synchronise with the device
    (rk45 and torchsde's adaptive mode are host-driven by nature).
    """
    use_thread_plan()
    score_fn, smp = check_sample_args(
        sde, score_fn, shape, sampler, steps, generator, x_init, dtype, t_end=t_end,
        t_start=t_start, grid=grid, denoise=denoise, callback=callback,
        return_trajectory=return_trajectory, progress=progress, noise_dtype=noise_dtype,
        after_step=after_step, sampler_options=sampler_options)
    grid, steps = resolve_steps(grid, steps)
    smp.check_sde(sde)
    if x_init is not None:
        check_finite("x_init", x_init)
        shape, device, dtype = tuple(x_init.shape), x_init.device, x_init.dtype
    shape = tuple(int(d) for d in shape)
    times = smp.make_times(sde, steps, grid, t_end, t_start)
    noise = NoiseSource(generator, noise_dtype)
    ctx = SolverContext(sde, score_fn, times, noise, callback, return_trajectory, progress,
                        name=sampler, after_step=after_step)
    start = time.perf_counter()
    if x_init is None:
        x = noise(shape, device, dtype) * ctx.s[0]
    else:
        x = x_init.clone()
    with torch.no_grad():
        x = smp.integrate(ctx, x)
        do_denoise = smp.default_denoise if denoise is None else bool(denoise)
        if do_denoise:
            x = ctx.x0(x, ctx.steps)
        ctx.flag_nonfinite(x, ctx.steps)
        ctx.raise_if_nonfinite()
    if x.device.type == "cuda":
        torch.cuda.synchronize(x.device)
    wall = time.perf_counter() - start
    traj = torch.stack(ctx.trajectory) if ctx.trajectory else None
    info = SampleInfo(sampler=sampler, nfe=ctx.nfe, steps=ctx.steps, times=ctx.times,
                      wall_time=wall, t_end=ctx.t[-1], denoised=do_denoise, trajectory=traj,
                      options=smp.options())
    return x, info
