"""Samplers: one entry point ``sample`` for every registered sampler.

``x, info = sample(sde, score_fn, shape, sampler="pc", steps=1000, generator=g)``.
Registered names (``SAMPLERS``): reverse-SDE ``pc``, ``euler_maruyama``, ``reverse_diffusion``,
``ancestral``, ``annealed_langevin``, ``torchsde``; probability-flow ODE ``euler``, ``heun``,
``rk45``, ``ddim``, ``dpm_solver2``, ``dpm_solver3``, ``unipc``, ``deis``, ``ipndm``,
``ipndm_v``, ``dpm_solver_2s``, ``dpm_solver_3s``, ``edm_heun``, ... (``SAMPLERS`` lists them).
Add one with ``@register_sampler(name)`` on a ``Sampler`` subclass that implements
``step(ctx, x, i)`` or its own loop ``run(ctx, x)`` (``base.py``; docs/sampling.md, "Writing a
sampler").
"""
from .base import SAMPLERS, NoiseSource, SampleInfo, Sampler, SolverContext, get_sampler, \
    register_sampler, sample
from .grids import GRIDS, karras, make_grid, uniform_log_snr, uniform_t
from . import pc, ode, exponential, torchsde_backend  # noqa: F401  (registration)
from . import unipc, deis, singlestep, adaptive, dpmpp_sde, ipndm  # noqa: F401  (registration)
from . import flow_euler, flow_sde  # noqa: F401  (registration)
from .optimized_grid import OptimizedGrid, load_grid, optimize_grid
from .pc import CORRECTORS, PREDICTORS, langevin_step
from .sharp_modes import SharpModes, probe_sharp_modes

try:  # EDM samplers register themselves when present
    from . import edm  # noqa: F401
except ImportError:  # pragma: no cover
    pass

__all__ = ["sample", "SAMPLERS", "register_sampler", "get_sampler", "Sampler", "SampleInfo",
           "SolverContext", "NoiseSource", "GRIDS", "make_grid", "uniform_t", "uniform_log_snr",
           "karras", "OptimizedGrid", "optimize_grid", "load_grid", "PREDICTORS", "CORRECTORS", "langevin_step",
           "SharpModes", "probe_sharp_modes"]
