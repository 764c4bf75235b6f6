"""Exact log-likelihood through the probability-flow ODE (a continuous normalising flow).

With the PF-ODE dx/dt = F(x, t) = f(t) x - 1/2 g(t)^2 s(x, t) (``sde.probability_flow``) and
the instantaneous change of variables,

    log p_eps(x) = log pi(x_T) + int_eps^T div_x F(x_t, t) dt,
    div_x F = d f(t) - 1/2 g(t)^2 div_x s(x, t)      (``ProbabilityFlowODE.divergence``),

where x_t solves the ODE from x_eps = x and pi = N(0, s(T)^2 I) is the prior. The augmented
state (x, delta) is integrated by the package's one ODE integrator (``solvers/integrator.py``,
the one the samplers use). The divergence is exact (autograd, one backward pass per dimension)
or Hutchinson's estimate E_v[v^T (ds/dx) v] with probes v fixed for the whole integration.

dtype: the score is evaluated in the model's dtype (the floating dtype of a module's
parameters, else x's dtype); the state keeps x's dtype (float64 inside RK45); the results are
float64. So ``log_likelihood(sde, model, x.double())`` works with a float32 model.

Flow paths (``sdes.AffinePath``) with a model that has ``predict(x, t, "velocity")`` integrate
dx/dt = u(x, t) and div_x u instead (the same ODE, finite up to t = 1, where the prior
N(0, I) is exact).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Tuple

import torch

from ..sdes.base import SDE, ScoreFn
from ..solvers.integrator import odeint_adaptive, odeint_fixed
from ..contract import as_steps, check_choice, check_finite, check_score_shape
from ..threads import use_thread_plan
from ._common import check_data, flat_dim, model_dtype

__all__ = ["LikelihoodResult", "log_likelihood", "ODE_METHODS", "DIVERGENCES", "PROBES",
           "progress_bar"]

ODE_METHODS = ("rk45", "heun", "euler")
DIVERGENCES = ("exact", "hutchinson")
PROBES = ("rademacher", "gaussian")


@dataclass
class LikelihoodResult:
    """Output of ``log_likelihood``; tensors are float64 of shape (N,) on x's device.

    logp = prior_logp + delta_logp (nats). With Hutchinson and ``n_probes >= 2``,
    ``divergence_se`` is the standard error of delta_logp over the probes (else None).
    ``z`` is the latent x_T (N, *shape). ``nfe`` counts ODE right-hand-side evaluations
    (each is one score call plus the divergence's backward passes).
    """

    logp: torch.Tensor
    prior_logp: torch.Tensor
    delta_logp: torch.Tensor
    nfe: int
    z: torch.Tensor
    divergence_se: Optional[torch.Tensor] = None
    method: str = "rk45"
    divergence: str = "exact"
    n_probes: int = 0
    eps: float = 0.0
    dim: int = 0

    def nll_per_dim(self) -> torch.Tensor:
        return -self.logp / self.dim


def _draw_probes(x: torch.Tensor, n: int, kind: str, generator) -> torch.Tensor:
    """(n, *x.shape) probes with E[v v^T] = I, drawn in float64 on the generator's device."""
    dev = generator.device if generator is not None else x.device
    shape = (n,) + tuple(x.shape)
    if kind == "gaussian":
        v = torch.randn(shape, generator=generator, dtype=torch.float64, device=dev)
    else:
        v = torch.randint(0, 2, shape, generator=generator, device=dev).double() * 2 - 1
    return v.to(device=x.device, dtype=x.dtype)


def progress_bar(total: int, desc: str, progress: Optional[bool] = None):
    """Progress over data points (``sde_diffusion.progress``: tqdm on a terminal, else a line
    with points done and ETA every 30 s)."""
    from ..progress import progress as make
    return make(total, desc, progress, unit="pt", leave=True)


class _AugmentedPFODE:
    """Right-hand side of the augmented ODE [x, delta]: (F(x, t), div F(x, t))."""

    def __init__(self, sde: SDE, score_fn: ScoreFn, divergence: str, probes: Optional[torch.Tensor],
                 dtype: torch.dtype):
        self.sde = sde
        self.ode = sde.probability_flow(score_fn)
        # a flow path with a model that predicts its velocity: differentiate u itself, which is
        # finite at t = 1 where f x - g^2 s / 2 is inf - inf
        flow = callable(getattr(sde, "marginal_rates", None)) and callable(getattr(score_fn, "predict", None))
        self.velocity = (lambda x, t: score_fn.predict(x, t.expand(x.shape[0]), "velocity")) if flow else None
        self.divergence = divergence
        self.probes = probes
        self.dtype = dtype  # the model's dtype
        self.nfe = 0

    def __call__(self, t: float, y: Tuple[torch.Tensor, torch.Tensor]) -> Tuple[torch.Tensor, torch.Tensor]:
        """y = (x (N, ...), delta (K, N) float64) -> (drift in x's dtype, div (K, N) float64);
        K = 1 for exact, the number of probes for Hutchinson."""
        x = y[0]
        self.nfe += 1
        n, d = x.shape[0], flat_dim(x)
        tt = torch.tensor(float(t), dtype=torch.float64)
        with torch.enable_grad():
            xg = x.detach().to(self.dtype).requires_grad_(True)
            if self.velocity is not None:
                score = self.velocity(xg, tt.to(self.dtype))
            else:
                score = self.ode.score(xg, tt)
            check_score_shape(score, xg)
            if self.divergence == "exact":
                flat = score.reshape(n, -1)
                div = torch.zeros(n, dtype=torch.float64, device=x.device)
                for i in range(d):
                    gi, = torch.autograd.grad(flat[:, i].sum(), xg, retain_graph=i < d - 1)
                    div = div + gi.reshape(n, -1)[:, i].double()
                div = div[None]
            else:
                probes = self.probes.to(self.dtype)
                rows = []
                for j in range(probes.shape[0]):
                    vjp, = torch.autograd.grad(score, xg, grad_outputs=probes[j],
                                               retain_graph=j < probes.shape[0] - 1)
                    rows.append((vjp * probes[j]).reshape(n, -1).sum(-1).double())
                div = torch.stack(rows)
        if self.velocity is not None:  # dx/dt = u, div = div_x u
            return score.detach().to(x.dtype), div
        f = self.sde.drift_coeff(tt).to(x.device)
        g = self.sde.diffusion(tt).to(x.device)
        drift = self.ode.combine(x, score.detach().to(x.dtype), f.to(x.dtype), g.to(x.dtype))
        return drift, self.ode.divergence(div, f, g, d)


def log_likelihood(sde: SDE, score_fn: ScoreFn, x: torch.Tensor, method: str = "rk45",
                   divergence: str = "exact", probe: str = "rademacher", n_probes: int = 1,
                   rtol: float = 1e-5, atol: float = 1e-5, steps: int = 100,
                   generator: Optional[torch.Generator] = None,
                   eps: Optional[float] = None, batch_size: Optional[int] = None,
                   progress: Optional[bool] = None) -> LikelihoodResult:
    """log p_eps(x) of the probability-flow ODE model, per sample.

    Integrates, from t = eps to T with x_eps = x,

        dx/dt = f(t) x - 1/2 g^2 s(x, t),    d delta/dt = d f(t) - 1/2 g^2 div_x s(x, t),

    and returns log p = log N(x_T; 0, s(T)^2 I) + delta_T.

    Args:
        x: data (N, *shape) on the device of the score function.
        method: "rk45" (adaptive Dormand-Prince, scipy, on the flattened float64 batch; one step
            size per chunk, so results depend very slightly on the batch), or "heun" / "euler"
            (``steps`` fixed steps uniform in t, entirely on x's device).
        divergence: "exact" (d backward passes per NFE) or "hutchinson" (``n_probes`` backward
            passes; probes of kind ``probe`` drawn once from ``generator`` and kept fixed).
        rtol, atol: RK45 tolerances (the defaults 1e-5 give ~1e-4 nats/dim on the reference
            problems, see benchmarks/RESULTS.md). steps: fixed-step count.
        eps: start time (default ``sde.eps``); the result is the density of x_eps.
        batch_size: points per integration (default: all at once); progress: tqdm bar over
            points (default: on at a terminal).
    """
    use_thread_plan()
    check_choice("method", method, ODE_METHODS)
    check_choice("divergence", divergence, DIVERGENCES)
    check_choice("probe", probe, PROBES)
    check_data(x)
    eps = sde.eps if eps is None else float(eps)
    if not 0 <= eps < sde.T:
        raise ValueError(f"eps must lie in [0, T={sde.T}), got {eps!r}")
    if divergence == "hutchinson":
        as_steps(n_probes, "n_probes")
    if method != "rk45":
        as_steps(steps, "steps")
    n_all = x.shape[0]
    batch_size = n_all if batch_size is None else as_steps(batch_size, "batch_size")
    probes = _draw_probes(x, n_probes, probe, generator) if divergence == "hutchinson" else None
    k = n_probes if divergence == "hutchinson" else 1
    dtype = model_dtype(score_fn, x.dtype)
    parts, nfe = [], 0
    with progress_bar(n_all, "log-likelihood", progress) as bar:
        for a in range(0, n_all, batch_size):
            xb = x[a:a + batch_size]
            pb = probes[:, a:a + batch_size] if probes is not None else None
            rhs = _AugmentedPFODE(sde, score_fn, divergence, pb, dtype)
            y0 = (xb.detach(), torch.zeros(k, xb.shape[0], dtype=torch.float64, device=x.device))
            if method == "rk45":
                (z, delta), _, _ = odeint_adaptive(rhs, y0, eps, sde.T, "RK45", rtol, atol)
            else:
                ts = torch.linspace(eps, sde.T, steps + 1, dtype=torch.float64).tolist()
                z, delta = odeint_fixed(lambda i, y: rhs(ts[i], y), y0, ts, method)
            parts.append((z, delta))
            nfe += rhs.nfe
            bar.update(xb.shape[0])
    z = torch.cat([p[0] for p in parts])
    delta = torch.cat([p[1] for p in parts], 1)
    prior = sde.prior_logp(z.double()).to(torch.float64)
    delta_mean = delta.mean(0)
    logp = prior + delta_mean
    check_finite("log-likelihood", logp)  # one sync, at the end
    se = delta.std(0) / math.sqrt(k) if (divergence == "hutchinson" and k >= 2) else None
    return LikelihoodResult(logp=logp, prior_logp=prior, delta_logp=delta_mean, nfe=nfe,
                            z=z.to(x.dtype), divergence_se=se, method=method, divergence=divergence,
                            n_probes=k if divergence == "hutchinson" else 0, eps=eps, dim=flat_dim(x))
