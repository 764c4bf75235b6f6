"""Reverse-SDE samplers: predictors, correctors and their predictor-corrector combination.

One step goes from t = t_i to t' = t_{i+1} < t (h = t - t'). With the linear kernel
x_t = m(t) x_0 + s(t) z, the exact forward transition between the two grid times is

    x_t = a x_t' + sqrt(b) z,      a = m(t)/m(t'),   b = s(t)^2 - a^2 s(t')^2,

and everything below is derived from (a, b) -- no SDE-class dispatch.

Predictors (x at t -> x at t'):
- ``euler_maruyama``:   x' = x - [f(t) x - g(t)^2 score] h + g(t) sqrt(h) z
- ``reverse_diffusion`` (Song et al. 2021; reverses the forward discretisation above):
                        x' = x - (a - 1) x + b score + sqrt(b) z
- ``ancestral``: exact posterior q(x_t' | x_t, x_0) with x_0 from Tweedie,
                 x_0 = (x + s^2 score)/m, which simplifies to
                        x' = (x + b score) / a + sqrt(v) z,   v = s(t')^2 b / s(t)^2  ("posterior")
                 or v = b ("forward"). For VP this is DDPM's step (alpha_i = a^2, beta_i = b);
                 for VE (a = 1, b = sigma^2 - sigma'^2) it is SMLD's ancestral step.
- ``none``: no move.
Correctors (at fixed t, after the predictor):
- ``langevin``: n_steps of x <- x + e score + sqrt(2 e) z with the step from a target
  signal-to-noise ratio, e = 2 alpha (snr |z| / |score|)^2 (norms averaged over the batch by
  default, per sample with ``norm="sample"``), alpha = a^2 of the last grid step (DDPM's
  alpha_i; 1 for VE) (Song et al. 2021, Alg. 4-5).
- ``annealed_langevin`` (Song & Ermon 2019): x <- x + e/2 score + sqrt(e) z,
  e = step_scale * s(t)^2 (NCSN's eps sigma_i^2 / sigma_L^2 with step_scale = eps / sigma_L^2).
- ``none``.
"""
from __future__ import annotations

import inspect
import math
from typing import Any, Dict, Optional, Type

import torch

from ..utils import append_dims
from ..contract import check_choice, check_positive
from .base import Sampler, SolverContext, register_sampler
from .grids import uniform_t

__all__ = ["Predictor", "Corrector", "PREDICTORS", "CORRECTORS", "PCSampler",
           "langevin_step", "EulerMaruyamaSampler", "ReverseDiffusionSampler",
           "AncestralSampler", "AnnealedLangevinSampler"]


def _transition(ctx: SolverContext, i: int):
    """(a, b) of the exact forward transition x_{t_i} = a x_{t_{i+1}} + sqrt(b) z."""
    a = ctx.m[i] / ctx.m[i + 1]
    b = max(ctx.s[i] ** 2 - a * a * ctx.s[i + 1] ** 2, 0.0)
    return a, b


# ----------------------------------------------------------------------------- predictors
class Predictor:
    """x at t_i -> x at t_{i+1}; options are constructor arguments (unknown ones refused)."""

    evals = 1

    def __init__(self):
        pass

    def prepare(self, ctx: SolverContext) -> Any:
        """Per-call state (e.g. the discrete chain) passed to ``predict``; never stored."""
        return None

    def predict(self, ctx: SolverContext, x: torch.Tensor, i: int, state: Any = None) -> torch.Tensor:
        raise NotImplementedError


class NonePredictor(Predictor):
    evals = 0

    def predict(self, ctx, x, i, state=None):
        return x


class EulerMaruyamaPredictor(Predictor):
    """x' = x + [f x - g^2 score] dt + g sqrt(-dt) z, dt = t' - t < 0 (drift: ``sde.reverse``)."""

    def predict(self, ctx, x, i, state=None):
        dt = ctx.t[i + 1] - ctx.t[i]
        return x + ctx.reverse_drift(x, i) * dt + (ctx.g[i] * math.sqrt(-dt)) * ctx.noise(x)


class ReverseDiffusionPredictor(Predictor):
    """x' = (2 - a) x + b score + sqrt(b) z."""

    def predict(self, ctx, x, i, state=None):
        a, b = _transition(ctx, i)
        return (2.0 - a) * x + b * ctx.score(x, ctx.t[i]) + math.sqrt(b) * ctx.noise(x)


class AncestralPredictor(Predictor):
    """x' = (x + b score)/a + sqrt(v) z (DDPM for VP, SMLD for VE)."""

    def __init__(self, variance: str = "posterior", discrete: bool = False):
        self.variance = check_choice("ancestral variance", variance, ("posterior", "forward"))
        if not isinstance(discrete, bool):
            raise TypeError(f"discrete must be a bool, got {discrete!r}")
        self.discrete = discrete  # coefficients from the SDE's own DiscreteChain

    def prepare(self, ctx):
        """The chain ``sde.discrete(steps)`` (alpha_i, beta_i, beta_tilde_i) when discrete."""
        return ctx.sde.discrete(ctx.steps) if self.discrete else None

    def coefficients(self, ctx, i, chain=None):
        if chain is not None:
            k = ctx.steps - i  # chain step k -> k-1
            a = float(chain.alphas[k - 1]) ** 0.5
            b = float(chain.betas[k - 1])
            v = float(chain.posterior_variance(k)) if self.variance == "posterior" else b
            return a, b, v
        a, b = _transition(ctx, i)
        s2 = ctx.s[i] ** 2
        v = (ctx.s[i + 1] ** 2 * b / s2 if s2 > 0 else 0.0) if self.variance == "posterior" else b
        return a, b, v

    def predict(self, ctx, x, i, state=None):
        a, b, v = self.coefficients(ctx, i, state)
        mean = (x + b * ctx.score(x, ctx.t[i])) / a
        return mean + math.sqrt(v) * ctx.noise(x) if v > 0 else mean


PREDICTORS: Dict[str, Type[Predictor]] = {
    "euler_maruyama": EulerMaruyamaPredictor,
    "reverse_diffusion": ReverseDiffusionPredictor,
    "ancestral": AncestralPredictor,
    "none": NonePredictor,
}


# ----------------------------------------------------------------------------- correctors
def _norm(v: torch.Tensor) -> torch.Tensor:
    """Per-sample Euclidean norm, shape (N,)."""
    return v.reshape(v.shape[0], -1).norm(dim=-1)


def langevin_step(x: torch.Tensor, score: torch.Tensor, z: torch.Tensor, snr: float,
                  alpha: float = 1.0, norm: str = "batch") -> torch.Tensor:
    """One Langevin step with the target-SNR step size
    e = 2 alpha (snr |z| / |score|)^2,  x <- x + e score + sqrt(2 e) z.

    ``norm="batch"`` (default, as Song et al.) uses batch means of the per-sample norms: stable,
    but a sample's step then depends on its batch. ``norm="sample"`` uses each sample's own
    norms (batch independent), which is erratic in low dimension, where |score| can be ~0."""
    zn, gn = _norm(z), _norm(score)
    if norm == "batch":
        zn, gn = zn.mean(), gn.mean()
    ratio = zn / gn.clamp_min(torch.finfo(x.dtype).tiny)
    e = 2.0 * alpha * (snr * ratio) ** 2
    e = append_dims(e, x.ndim) if e.ndim else e
    return x + e * score + torch.sqrt(2.0 * e) * z


class Corrector:
    def __init__(self, n_steps: int = 1):
        if isinstance(n_steps, bool) or not isinstance(n_steps, int) or n_steps < 0:
            raise ValueError(f"corrector n_steps must be an integer >= 0, got {n_steps!r}")
        self.n_steps = n_steps

    @property
    def evals(self) -> int:
        return self.n_steps

    def correct(self, ctx: SolverContext, x: torch.Tensor, i: int) -> torch.Tensor:
        raise NotImplementedError


class NoneCorrector(Corrector):
    def __init__(self):
        super().__init__(0)

    def correct(self, ctx, x, i):
        return x


class LangevinCorrector(Corrector):
    """Langevin MCMC at t_i with target signal-to-noise ratio ``snr``."""

    def __init__(self, n_steps: int = 1, snr: float = 0.16, norm: str = "batch"):
        super().__init__(n_steps)
        self.snr = check_positive("snr", snr)
        self.norm = check_choice("langevin norm", norm, ("batch", "sample"))

    def correct(self, ctx, x, i):
        alpha = (ctx.m[i - 1] / ctx.m[i]) ** 2 if i > 0 else 1.0
        for _ in range(self.n_steps):
            x = langevin_step(x, ctx.score(x, ctx.t[i]), ctx.noise(x), self.snr, alpha, self.norm)
        return x


class AnnealedLangevinCorrector(Corrector):
    """NCSN annealed Langevin at level s(t_i): e = step_scale s(t_i)^2, x += e/2 score + sqrt(e) z."""

    def __init__(self, n_steps: int = 1, step_scale: float = 0.1):
        super().__init__(n_steps)
        self.step_scale = check_positive("step_scale", step_scale)

    def correct(self, ctx, x, i):
        e = self.step_scale * ctx.s[i] ** 2
        for _ in range(self.n_steps):
            x = x + (0.5 * e) * ctx.score(x, ctx.t[i]) + math.sqrt(e) * ctx.noise(x)
        return x


CORRECTORS: Dict[str, Type[Corrector]] = {
    "langevin": LangevinCorrector,
    "annealed_langevin": AnnealedLangevinCorrector,
    "none": NoneCorrector,
}


# ----------------------------------------------------------------------------- samplers
def _build_part(kind: str, name: str, table: Dict[str, type], options: Dict[str, Any]):
    """A predictor / corrector from its name and its own options (unknown ones refused)."""
    cls = table[check_choice(kind, name, table)]
    valid = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    bad = [k for k in options if k not in valid]
    if bad:
        raise ValueError(f"{kind} {name!r} got unknown option(s) {', '.join(map(repr, bad))}; "
                         f"valid options: {', '.join(valid) or '(none)'}")
    return cls(**options)


# the flat PC options of earlier versions (and conf/sampler/pc.yaml), with their defaults: each
# goes to whichever part takes it; a non-default value that neither part takes is refused
_FLAT = {"snr": 0.16, "n_steps": 1, "step_scale": 0.1, "variance": "posterior", "norm": "batch"}


@register_sampler("pc")
class PCSampler(Sampler):
    """Predictor-corrector: each step runs the predictor t_i -> t_{i+1}, then the corrector at
    t_{i+1} (Song et al. 2021, Alg. 1). NFE per step = predictor evals + corrector n_steps.

    Options: ``predictor_options`` / ``corrector_options`` go to the chosen predictor /
    corrector, which refuse unknown keys. The flat ``snr``, ``n_steps``, ``step_scale``,
    ``variance``, ``norm`` are routed to the part that takes them; one that neither part takes
    is refused unless it equals its default."""

    order = 0.5          # strong order of the Euler-type predictors
    weak_order = 1.0
    stochastic = True
    default_denoise = True

    def __init__(self, predictor: str = "reverse_diffusion", corrector: str = "langevin",
                 predictor_options: Optional[Dict[str, Any]] = None,
                 corrector_options: Optional[Dict[str, Any]] = None,
                 snr: Optional[float] = None, n_steps: Optional[int] = None,
                 step_scale: Optional[float] = None, variance: Optional[str] = None,
                 norm: Optional[str] = None):
        self.predictor = check_choice("predictor", predictor, PREDICTORS)
        self.corrector = check_choice("corrector", corrector, CORRECTORS)
        p_opts, c_opts = dict(predictor_options or {}), dict(corrector_options or {})
        p_valid = inspect.signature(PREDICTORS[predictor].__init__).parameters
        c_valid = inspect.signature(CORRECTORS[corrector].__init__).parameters
        flat = {"snr": snr, "n_steps": n_steps, "step_scale": step_scale, "variance": variance,
                "norm": norm}
        for key, value in flat.items():
            if value is None:
                continue
            if key in c_valid:
                c_opts.setdefault(key, value)
            elif key in p_valid:
                p_opts.setdefault(key, value)
            elif value != _FLAT[key]:
                raise ValueError(f"option {key}={value!r} is used by neither predictor "
                                 f"{predictor!r} nor corrector {corrector!r}")
        self.snr, self.n_steps, self.step_scale, self.variance, self.norm = (
            snr, n_steps, step_scale, variance, norm)
        self._pred = _build_part("predictor", predictor, PREDICTORS, p_opts)
        self._corr = _build_part("corrector", corrector, CORRECTORS, c_opts)
        self.predictor_options, self.corrector_options = p_opts, c_opts
        self.evals_per_step = self._pred.evals + self._corr.evals
        if self.evals_per_step == 0:
            raise ValueError("predictor='none' with corrector='none' does nothing; choose at least one")

    def check_sde(self, sde):
        super().check_sde(sde)
        if getattr(self._pred, "discrete", False):
            self.require(sde, capability="discrete_chain")

    def make_times(self, sde, steps, grid, t_end, t_start):
        if not getattr(self._pred, "discrete", False):
            return super().make_times(sde, steps, grid, t_end, t_start)
        if grid is not None or t_end is not None or t_start is not None:
            raise ValueError("ancestral(discrete=True) fixes its grid (t_k = k T / steps); "
                             "do not pass grid, t_start or t_end")
        return uniform_t(sde, steps, t_end=0.0)

    def run(self, ctx, x):
        state = self._pred.prepare(ctx)
        for i in ctx.loop(x):
            x = self._pred.predict(ctx, x, i, state)
            x = ctx.finish_step(self._corr.correct(ctx, x, i + 1), i + 1)
        return x


@register_sampler("euler_maruyama")
class EulerMaruyamaSampler(PCSampler):
    """Euler-Maruyama on the reverse SDE dx = [f - g^2 score] dt + g dW (strong order 1/2, weak 1)."""

    def __init__(self):
        super().__init__(predictor="euler_maruyama", corrector="none")


@register_sampler("reverse_diffusion")
class ReverseDiffusionSampler(PCSampler):
    """Reverse-diffusion predictor alone."""

    def __init__(self):
        super().__init__(predictor="reverse_diffusion", corrector="none")


@register_sampler("ancestral")
class AncestralSampler(PCSampler):
    """Ancestral sampling (DDPM for VP, SMLD for VE) from the marginal coefficients.

    ``discrete=True`` instead runs the SDE's own discrete chain ``sde.discrete(steps)`` (needs
    the capability ``discrete_chain``: VP and variance-preserving LinearSDEs) on the uniform
    grid t_k = k T / steps down to t = 0, whose last step returns the posterior mean."""

    def __init__(self, variance: str = "posterior", discrete: bool = False):
        super().__init__(predictor="ancestral", corrector="none",
                         predictor_options={"variance": variance, "discrete": discrete})
        self.variance, self.discrete = variance, discrete



@register_sampler("annealed_langevin")
class AnnealedLangevinSampler(PCSampler):
    """NCSN sampling: no predictor, annealed Langevin (n_steps per noise level)."""

    order = 0.0

    def __init__(self, n_steps: int = 5, step_scale: float = 0.1):
        super().__init__(predictor="none", corrector="annealed_langevin",
                         corrector_options={"n_steps": n_steps, "step_scale": step_scale})
        self.n_steps, self.step_scale = n_steps, step_scale
