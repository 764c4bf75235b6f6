"""The reverse SDE integrated by ``torchsde.sdeint`` (any of its diagonal-noise methods).

torchsde wants increasing times and a flat (N, d) state, so the reverse SDE runs in reversed
time tau = T - t through ``ReverseSDE.f`` / ``ReverseSDE.g`` (images are flattened and
reshaped for the score). The Brownian motion is a ``torchsde.BrownianInterval`` seeded from
the ``generator`` (one integer drawn from it), so runs are reproducible.

Methods: ``euler`` (Euler-Maruyama), ``milstein`` (grad-free; equals EM here because the
noise is additive), ``srk`` (stochastic Runge-Kutta, strong order 1.5 for additive noise),
``reversible_heun`` (a Stratonovich method; valid because g(t) does not depend on x, so the
Ito and Stratonovich forms coincide). ``adaptive=True`` uses torchsde's step-size control
with ``rtol``/``atol``; the NFE is then measured, not fixed. Caveat: reversible Heun is only
marginally stable (its stability region hugs the imaginary axis), so on the strongly
contracting reverse drift it needs many more steps than EM. The grid is ``steps`` uniform-t
intervals; every interval is exactly one solver step when not adaptive. NFE: torchsde
evaluates the drift once more to check shapes; srk uses 10 drift evaluations per step.
"""
from __future__ import annotations

import warnings

import torch

from ..sdes.base import ReverseSDE
from ..contract import check_choice, check_positive, check_score_shape
from .base import Sampler, register_sampler

__all__ = ["TorchSDESampler", "TORCHSDE_METHODS"]

TORCHSDE_METHODS = ("euler", "milstein", "srk", "reversible_heun")
_STRONG_ORDER = {"euler": 0.5, "milstein": 1.0, "srk": 1.5, "reversible_heun": 0.5}


class _TimeReversed:
    """torchsde-facing view of a ReverseSDE (diagonal noise, chosen SDE type)."""

    noise_type = "diagonal"

    def __init__(self, rsde: ReverseSDE, sde_type: str):
        self.rsde, self.sde_type = rsde, sde_type

    def f(self, tau, y):
        return self.rsde.f(tau, y)

    def g(self, tau, y):
        return self.rsde.g(tau, y)


@register_sampler("torchsde")
class TorchSDESampler(Sampler):
    """``torchsde.sdeint`` on the reverse SDE dx = [f - g^2 score] dt + g dW-bar."""

    stochastic = True
    default_denoise = True
    # torchsde steps with one fixed dt (interpolating at the output times), so only an evenly
    # spaced grid gives one step per grid interval; the SDE's default grid is not used here
    default_grid = "uniform_t"

    def __init__(self, method: str = "euler", adaptive: bool = False, rtol: float = 1e-3,
                 atol: float = 1e-3, dt_min: float = 1e-5):
        self.method = check_choice("torchsde method", method, TORCHSDE_METHODS)
        self.adaptive = bool(adaptive)
        self.rtol, self.atol = check_positive("rtol", rtol), check_positive("atol", atol)
        self.dt_min = check_positive("dt_min", dt_min)
        self.order = _STRONG_ORDER[method]
        self.evals_per_step = {"euler": 1, "milstein": 1, "srk": 10, "reversible_heun": 1}[method]

    def run(self, ctx, x):
        import torchsde

        gen = ctx.noise_source.generator
        if gen is not None and not isinstance(gen, torch.Generator):
            raise ValueError("the torchsde backend draws the whole batch from one Brownian "
                             "motion: pass a single torch.Generator, not a list")
        sde, shape = ctx.sde, x.shape
        N = shape[0]
        flat = x.reshape(N, -1)
        seed = None
        if gen is not None:
            seed = int(torch.randint(0, 2 ** 62, (1,), generator=gen, device=gen.device))
        T = sde.T
        taus = torch.tensor([T - t for t in ctx.t], dtype=flat.dtype, device=flat.device)
        bm = torchsde.BrownianInterval(
            t0=float(taus[0]), t1=float(taus[-1]), size=flat.shape, dtype=flat.dtype,
            device=flat.device, entropy=seed,
            levy_area_approximation="space-time" if self.method == "srk" else "none")
        rsde = sde.reverse(lambda xx, tt: self._score(ctx, xx, tt))
        rsde.data_shape = tuple(shape[1:])
        sde_type = "stratonovich" if self.method == "reversible_heun" else "ito"
        # every grid interval is one step: dt a hair above the largest spacing, so that float
        # round-off never adds a sliver step (torchsde clamps each step to the next ts)
        dt = float((taus[1:] - taus[:-1]).max()) * 1.001
        options = {"grad_free": True} if self.method == "milstein" else None
        with warnings.catch_warnings():
            # torchsde warns about adaptive EM for non-additive noise; ours is additive (g(t))
            warnings.filterwarnings("ignore", message="Numerical solution is not guaranteed")
            ys = torchsde.sdeint(_TimeReversed(rsde, sde_type), flat, taus, bm=bm,
                                 method=self.method, dt=dt, adaptive=self.adaptive,
                                 rtol=self.rtol, atol=self.atol, dt_min=self.dt_min,
                                 options=options)
        for j in range(ys.shape[0]):
            ctx.record(ys[j].reshape(shape), j)
        return ys[-1].reshape(shape)

    @staticmethod
    def _score(ctx, x, t):
        """Counted score for ReverseSDE (t arrives as an (N,) tensor)."""
        out = ctx.score_fn(x, t)
        ctx.nfe += 1
        return check_score_shape(out, x)
