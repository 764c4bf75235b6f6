"""Likelihoods of a score model: exact (probability-flow ODE) and variational bounds.

Three estimates of log p(x) for the same score function, side by side:

1. ``log_likelihood``: the probability-flow ODE dx/dt = F(x, t) = f(t) x - 1/2 g(t)^2 s(x, t)
   is a continuous normalising flow, so with the instantaneous change of variables

       log p_eps(x) = log pi(x_T) + int_eps^T div_x F(x_t, t) dt,
       div_x F = d f(t) - 1/2 g(t)^2 div_x s(x, t),

   where x_t solves the ODE from x_eps = x and pi = N(0, s(T)^2 I) is the prior.
   The divergence is exact (autograd, one backward pass per dimension) or Hutchinson's
   estimate E_v[v^T (ds/dx) v] with probes v fixed for the whole integration.

2. ``elbo``: the continuous-time variational bound of the reverse-SDE model (Song, Durkan,
   Murray & Ermon 2021; Kingma et al. 2021, VDM), see ``elbo``'s docstring for the derivation.

3. ``discrete_elbo``: the bound of the discrete DDPM chain (Ho et al. 2020).

Units: every function returns natural-log values per sample (nats); ``Quantization`` holds
the conventions (dequantisation, the data scaling's log-det, the bits offset) that turn them
into bits/dim of 8-bit data, in this one place.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Optional, Tuple

import numpy as np
import torch

from .losses import T_SAMPLINGS, sample_time
from .models.parameterization import convert
from .sdes.base import SDE, ScoreFn
from .utils import append_dims, check_choice, check_finite, check_positive, check_score_shape

__all__ = ["Quantization", "LikelihoodResult", "BitsPerDimResult", "ELBOResult",
           "DiscreteELBOResult", "log_likelihood", "bits_per_dim", "elbo", "discrete_elbo",
           "evaluate", "ODE_METHODS", "DIVERGENCES", "PROBES", "EVAL_METHODS"]

ODE_METHODS = ("rk45", "heun")
DIVERGENCES = ("exact", "hutchinson")
PROBES = ("rademacher", "gaussian")
VARIANCES = ("beta", "beta_tilde")
DECODERS = ("gaussian", "discretized")
PREDICTIONS = ("score", "x0", "eps")
LN2 = math.log(2.0)


# ============================================================== conventions: one place
@dataclass(frozen=True)
class Quantization:
    """How continuous model space relates to ``bits``-bit integer data k in {0, .., L-1}, L = 2^bits.

    Data as fed to the model: ``x = lo + (hi - lo) k / (L - 1)`` (e.g. [0, 255] -> [-1, 1]).

    Continuous models (ODE, continuous ELBO, Gaussian decoder) are evaluated on uniformly
    dequantised data ``y = lo + (hi - lo) (k + u) / L``, u ~ U[0, 1)^d. Since y is an affine
    image of k + u with Jacobian a = (hi - lo) / L per dimension,

        log P(k) >= E_u[log p(y)] + d log a          (Jensen; Theis et al. 2016)
        bits/dim  = -(log p(y) + d log a) / (d ln 2) = -log p(y) / (d ln 2) + bits - log2(hi - lo)

    i.e. the familiar "+8 bits" offset of [0, 1] data, minus the 1 bit of the [-1, 1] scaling.
    Discrete-mass models (the discretised decoder) give log P(k) directly: bits/dim =
    -log P / (d ln 2); their bins are centred on the grid points, half-width (hi-lo)/(2(L-1)),
    the outer bins extended to +-inf (Ho et al. 2020).
    """

    bits: int = 8
    value_range: Tuple[float, float] = (-1.0, 1.0)
    grid_tol: float = 1e-3  # tolerance, in units of one level, for "x lies on the grid"

    def __post_init__(self):
        if not (isinstance(self.bits, int) and self.bits >= 1):
            raise ValueError(f"bits must be a positive integer, got {self.bits!r}")
        lo, hi = self.value_range
        if not hi > lo:
            raise ValueError(f"value_range must be (lo, hi) with hi > lo, got {self.value_range!r}")

    @property
    def levels(self) -> int:
        return 2 ** self.bits

    @property
    def bits_offset(self) -> float:
        """-log2 of the per-dimension Jacobian a: bits - log2(hi - lo) (7 for [-1, 1], 8 for [0, 1])."""
        lo, hi = self.value_range
        return self.bits - math.log2(hi - lo)

    def check(self, x: torch.Tensor) -> torch.Tensor:
        """Raise ValueError unless x lies in value_range on the 2^bits-level grid."""
        check_finite("x", x)
        lo, hi = self.value_range
        xmin, xmax = float(x.min()), float(x.max())
        span = (hi - lo) / (self.levels - 1)
        if xmin < lo - self.grid_tol * span or xmax > hi + self.grid_tol * span:
            raise ValueError(f"data range [{xmin:.4g}, {xmax:.4g}] lies outside the declared "
                             f"value_range {self.value_range} of {self.bits}-bit data")
        k = (x.double() - lo) / span
        off = float((k - k.round()).abs().max())
        if off > self.grid_tol:
            raise ValueError(f"data are not on the {self.levels}-level grid of value_range "
                             f"{self.value_range} (off by {off:.3g} levels); pass dequantize=False "
                             "for data that are already continuous")
        return x

    def to_int(self, x: torch.Tensor) -> torch.Tensor:
        """Grid points -> integer levels k (int64)."""
        lo, hi = self.value_range
        return ((x.double() - lo) * (self.levels - 1) / (hi - lo)).round().clamp(0, self.levels - 1).long()

    def dequantize(self, x: torch.Tensor, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """y = lo + (hi - lo) (k + u) / L with u ~ U[0, 1) (in x's dtype and device)."""
        self.check(x)
        lo, hi = self.value_range
        u = torch.rand(x.shape, generator=generator, dtype=torch.float64,
                       device=generator.device if generator is not None else x.device).to(x.device)
        y = lo + (hi - lo) * (self.to_int(x).double() + u) / self.levels
        return y.to(x.dtype)

    def log_det(self, dim: int) -> float:
        """d log a, a = (hi - lo) / L: log-Jacobian from the integer lattice to model space."""
        lo, hi = self.value_range
        return dim * math.log((hi - lo) / self.levels)

    def bpd_from_density(self, logp: torch.Tensor, dim: int) -> torch.Tensor:
        """Bits/dim of the integer data from the log-density (nats) of dequantised data."""
        return -(logp + self.log_det(dim)) / (dim * LN2)

    @staticmethod
    def bpd_from_mass(logP: torch.Tensor, dim: int) -> torch.Tensor:
        """Bits/dim from a log-probability mass (nats) of the integer data."""
        return -logP / (dim * LN2)

    def bin_edges(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Lower and upper edges (float64, model space) of the bins of the grid points x."""
        self.check(x)
        lo, hi = self.value_range
        k = self.to_int(x)
        centre = lo + (hi - lo) * k.double() / (self.levels - 1)
        half = 0.5 * (hi - lo) / (self.levels - 1)
        lower = torch.where(k == 0, torch.full_like(centre, -math.inf), centre - half)
        upper = torch.where(k == self.levels - 1, torch.full_like(centre, math.inf), centre + half)
        return lower, upper


# ============================================================== results
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


@dataclass
class BitsPerDimResult:
    """Bits/dim of 8-bit data (``bpd`` (N,)) and the ODE result on the dequantised data."""

    bpd: torch.Tensor
    likelihood: LikelihoodResult
    quantization: Quantization


@dataclass
class ELBOResult:
    """Output of ``elbo``: per-sample bound (N,) in nats and its parts, all float64.

    elbo = boundary_term - prior_kl - diffusion_term; ``se`` is the Monte Carlo standard error
    of ``elbo`` per sample (over the n_samples draws of (t, noise)). ``bpd`` is filled when a
    ``Quantization`` was given.
    """

    elbo: torch.Tensor
    se: torch.Tensor
    prior_kl: torch.Tensor
    boundary_term: torch.Tensor
    diffusion_term: torch.Tensor
    n_score_calls: int
    n_samples: int
    t_sampling: str
    eps: float
    dim: int
    bpd: Optional[torch.Tensor] = None
    per_draw: Optional[torch.Tensor] = field(default=None, repr=False)


@dataclass
class DiscreteELBOResult:
    """Output of ``discrete_elbo``: per-sample bound (N,) in nats, float64.

    elbo = decoder_term - kl_sum - prior_kl. ``se`` is the Monte Carlo standard error (None
    for the exact sum with a single noise draw). ``bpd`` is filled when a ``Quantization``
    applies (always for the discretised decoder).
    """

    elbo: torch.Tensor
    se: Optional[torch.Tensor]
    prior_kl: torch.Tensor
    decoder_term: torch.Tensor
    kl_sum: torch.Tensor
    n_model_calls: int
    num_steps: int
    variance: str
    decoder: str
    dim: int
    bpd: Optional[torch.Tensor] = None


# ============================================================== helpers
def _flat_dim(x: torch.Tensor) -> int:
    return int(np.prod(x.shape[1:])) if x.ndim > 1 else 1


def _check_data(x: torch.Tensor) -> None:
    if not torch.is_tensor(x) or x.ndim < 1 or x.shape[0] < 1:
        raise ValueError("x must be a tensor of shape (N, ...) with N >= 1")
    if not x.is_floating_point():
        raise TypeError(f"x must be a floating-point tensor, got {x.dtype}")
    check_finite("x", x)


def _gaussian_kl(mean1: torch.Tensor, var1: torch.Tensor, mean2: torch.Tensor,
                 var2: torch.Tensor) -> torch.Tensor:
    """KL(N(mean1, var1 I) || N(mean2, var2 I)) per sample, var's per-sample (N,) or scalars."""
    d = _flat_dim(mean1)
    sq = (mean1 - mean2).double().reshape(mean1.shape[0], -1).pow(2).sum(-1)
    var1, var2 = torch.as_tensor(var1, dtype=torch.float64), torch.as_tensor(var2, dtype=torch.float64)
    return 0.5 * (d * (torch.log(var2) - torch.log(var1) + var1 / var2 - 1.0) + sq / var2)


def _draw_probes(x: torch.Tensor, n: int, kind: str, generator) -> torch.Tensor:
    """(n, *x.shape) probes with E[v v^T] = I, drawn in float64 on the generator's device."""
    dev = generator.device if generator is not None else x.device
    shape = (n,) + tuple(x.shape)
    if kind == "gaussian":
        v = torch.randn(shape, generator=generator, dtype=torch.float64, device=dev)
    else:
        v = torch.randint(0, 2, shape, generator=generator, device=dev).double() * 2 - 1
    return v.to(device=x.device, dtype=x.dtype)


class _PFODE:
    """Right-hand side of the augmented ODE [x, delta]: (F(x, t), div F(x, t))."""

    def __init__(self, sde: SDE, score_fn: ScoreFn, divergence: str, probes: Optional[torch.Tensor]):
        self.sde = sde
        self.ode = sde.probability_flow(score_fn)
        self.divergence = divergence
        self.probes = probes
        self.nfe = 0

    def __call__(self, x: torch.Tensor, t: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """x (N, ...), scalar float64 t -> drift (N, ...) in x's dtype, div (K, N) float64
        (K = 1 for exact, the number of probes for Hutchinson)."""
        self.nfe += 1
        n, d = x.shape[0], _flat_dim(x)
        with torch.enable_grad():
            xg = x.detach().requires_grad_(True)
            score = self.ode.score(xg, t)
            check_score_shape(score, xg)
            if self.divergence == "exact":
                flat = score.reshape(n, -1)
                div = torch.zeros(n, dtype=torch.float64, device=x.device)
                for i in range(d):
                    gi, = torch.autograd.grad(flat[:, i].sum(), xg, retain_graph=i < d - 1)
                    div = div + gi.reshape(n, -1)[:, i].double()
                div = div[None]
            else:
                k = self.probes.shape[0]
                rows = []
                for j in range(k):
                    vjp, = torch.autograd.grad(score, xg, grad_outputs=self.probes[j],
                                               retain_graph=j < k - 1)
                    rows.append((vjp * self.probes[j]).reshape(n, -1).sum(-1).double())
                div = torch.stack(rows)
        g2 = self.sde.diffusion(t).pow(2).to(x.device)
        f = self.sde.drift_coeff(t).to(x.device)
        with torch.no_grad():
            drift = self.sde.drift(x, t) - 0.5 * g2.to(x.dtype) * score.detach()
        return drift, d * f - 0.5 * g2 * div


# ============================================================== exact likelihood
def log_likelihood(sde: SDE, score_fn: ScoreFn, x: torch.Tensor, method: str = "rk45",
                   divergence: str = "exact", probe: str = "rademacher", n_probes: int = 1,
                   rtol: float = 1e-5, atol: float = 1e-5, steps: int = 100,
                   generator: Optional[torch.Generator] = None,
                   eps: Optional[float] = None) -> LikelihoodResult:
    """log p_eps(x) of the probability-flow ODE model, per sample.

    Integrates, from t = eps to T with x_eps = x,

        dx/dt = f(t) x - 1/2 g^2 s(x, t),    d delta/dt = d f(t) - 1/2 g^2 div_x s(x, t),

    and returns log p = log N(x_T; 0, s(T)^2 I) + delta_T.

    Args:
        x: data (N, *shape); the score is called in x's dtype and on x's device.
        method: "rk45" (adaptive Dormand-Prince through ``scipy.integrate.solve_ivp`` on the
            flattened float64 batch; one step size for the whole batch, so results depend very
            slightly on the batch) or "heun" (``steps`` fixed steps uniform in t, 2 NFE each,
            entirely on x's device).
        divergence: "exact" (d backward passes per NFE) or "hutchinson" (``n_probes`` backward
            passes; probes of kind ``probe`` drawn once from ``generator`` and kept fixed).
        rtol, atol: RK45 tolerances (the defaults 1e-5 give ~1e-4 nats/dim on the reference
            problems, see benchmarks/RESULTS.md). steps: Heun steps.
        eps: start time (default ``sde.eps``); the result is the density of x_eps.
    """
    check_choice("method", method, ODE_METHODS)
    check_choice("divergence", divergence, DIVERGENCES)
    check_choice("probe", probe, PROBES)
    _check_data(x)
    eps = sde.eps if eps is None else float(eps)
    if not 0 <= eps < sde.T:
        raise ValueError(f"eps must lie in [0, T={sde.T}), got {eps!r}")
    if divergence == "hutchinson" and not (isinstance(n_probes, int) and n_probes >= 1):
        raise ValueError(f"n_probes must be an integer >= 1, got {n_probes!r}")
    probes = _draw_probes(x, n_probes, probe, generator) if divergence == "hutchinson" else None
    rhs = _PFODE(sde, score_fn, divergence, probes)
    n, d = x.shape[0], _flat_dim(x)
    k = n_probes if divergence == "hutchinson" else 1

    if method == "rk45":
        check_positive("rtol", rtol)
        check_positive("atol", atol)
        from scipy.integrate import solve_ivp

        nx = n * d

        def fun(t: float, y: np.ndarray) -> np.ndarray:
            xt = torch.from_numpy(y[:nx]).reshape(x.shape).to(device=x.device, dtype=x.dtype)
            drift, div = rhs(xt, torch.tensor(t, dtype=torch.float64))
            out = np.concatenate([drift.detach().reshape(-1).double().cpu().numpy(),
                                  div.detach().reshape(-1).cpu().numpy()])
            if not np.isfinite(out).all():
                raise ValueError(f"the probability-flow ODE produced non-finite values at t={t:.6g} "
                                 "(check the score function)")
            return out

        y0 = np.concatenate([x.detach().reshape(-1).double().cpu().numpy(), np.zeros(n * k)])
        sol = solve_ivp(fun, (eps, sde.T), y0, method="RK45", rtol=rtol, atol=atol)
        if not sol.success:
            raise RuntimeError(f"RK45 failed: {sol.message}")
        yT = torch.from_numpy(sol.y[:, -1]).to(x.device)
        z = yT[:nx].reshape(x.shape)
        delta = yT[nx:].reshape(k, n)
    else:
        if not (isinstance(steps, int) and steps >= 1):
            raise ValueError(f"steps must be an integer >= 1, got {steps!r}")
        ts = torch.linspace(eps, sde.T, steps + 1, dtype=torch.float64, device=x.device)
        xt = x.detach()
        delta = torch.zeros(k, n, dtype=torch.float64, device=x.device)
        for i in range(steps):
            h = ts[i + 1] - ts[i]
            d1, v1 = rhs(xt, ts[i])
            x_pred = xt + h.to(x.dtype) * d1
            d2, v2 = rhs(x_pred, ts[i + 1])
            xt = xt + (0.5 * h).to(x.dtype) * (d1 + d2)
            delta = delta + 0.5 * h * (v1 + v2)
        z = xt.double()

    prior = sde.prior_logp(z).to(torch.float64)
    delta_mean = delta.mean(0)
    logp = prior + delta_mean
    check_finite("log-likelihood", logp)  # one sync, at the end
    se = delta.std(0) / math.sqrt(k) if (divergence == "hutchinson" and k >= 2) else None
    return LikelihoodResult(logp=logp, prior_logp=prior, delta_logp=delta_mean, nfe=rhs.nfe,
                            z=z.to(x.dtype), divergence_se=se, method=method, divergence=divergence,
                            n_probes=k if divergence == "hutchinson" else 0, eps=eps, dim=d)


def bits_per_dim(sde: SDE, score_fn: ScoreFn, x: torch.Tensor,
                 quantization: Optional[Quantization] = None, dequantize: bool = True,
                 generator: Optional[torch.Generator] = None, **ode_options) -> BitsPerDimResult:
    """Bits/dim of ``bits``-bit data through the PF-ODE, with ``Quantization``'s conventions.

    x: data on the grid ``lo + (hi - lo) k / (2^bits - 1)`` (checked: a ValueError names data
    outside the declared range). With ``dequantize`` (default) one uniform dequantisation draw
    per sample is used (an unbiased estimate of the Jensen bound); ``dequantize=False`` takes x as
    already-continuous data in the range. ``ode_options`` go to ``log_likelihood``.
    """
    q = quantization if quantization is not None else Quantization()
    _check_data(x)
    if dequantize:
        y = q.dequantize(x, generator)
    else:
        lo, hi = q.value_range
        if float(x.min()) < lo or float(x.max()) > hi:
            raise ValueError(f"data range [{float(x.min()):.4g}, {float(x.max()):.4g}] lies outside "
                             f"the declared value_range {q.value_range}")
        y = x
    res = log_likelihood(sde, score_fn, y, generator=generator, **ode_options)
    return BitsPerDimResult(bpd=q.bpd_from_density(res.logp, res.dim), likelihood=res, quantization=q)


# ============================================================== continuous ELBO
def _check_samples(n_samples: int) -> None:
    if not (isinstance(n_samples, int) and n_samples >= 2):
        raise ValueError(f"n_samples must be an integer >= 2 (the standard error needs two), "
                         f"got {n_samples!r}")


def elbo(sde: SDE, score_fn: ScoreFn, x: torch.Tensor, n_samples: int = 64,
         t_sampling: str = "uniform", control_variate: bool = True,
         quantization: Optional[Quantization] = None, dequantize: bool = True,
         batch_size: int = 65536, generator: Optional[torch.Generator] = None) -> ELBOResult:
    """Continuous-time variational lower bound on log p(x), per sample (nats).

    The model: the reverse SDE with score s, started from pi = N(0, s(T)^2 I) at T, run to eps,
    then a Gaussian decoder p(x_0 | x_eps) = N(x_eps / m_eps, sigma_eps^2 I), sigma = s/m.
    With the forward process q(x_{eps:T} | x_0) as the variational posterior, Girsanov gives
    the per-sample bound (VDM form; x_t = m x_0 + s z, eps_s = -s(t) s(x_t, t))

        log p(x_0) >= E log N(x_0; x_eps/m_eps, sigma_eps^2)          boundary term
                      - KL(N(m_T x_0, s_T^2) || pi)                     prior term
                      - 1/2 int_eps^T g^2 E|s(x_t,t) + z/s|^2 dt        DSM, likelihood weighting
                  =  -d/2 log(2 pi e sigma_eps^2) - |m_T x_0|^2/(2 s_T^2)
                      - 1/2 int_eps^T (g^2/s^2) E|z - eps_s(x_t, t)|^2 dt.

    Expanding |z - eps_s|^2 and integrating the known parts (g^2/s^2 = -d lambda/dt,
    int f = log(m_T/m_eps)) recovers, up to d log m_eps, Song et al. (2021) Thm. 4:
    E log pi(x_T) - 1/2 int g^2 E|s - grad log p(x_t|x_0)|^2 + 1/2 int g^2 E|grad log p(x_t|x_0)|^2
    + int E div f dt. For the exact score of p_t the gap is, per sample,

        log p_0(x_0) - bound = E_{q(x_T|x_0)}[log p_T(x_T) - log pi(x_T)]  (prior mismatch;
        its data average is KL(p_T || pi)) + E KL(q(x_0|x_eps) || decoder)  (O(d sigma_eps^2)).

    Estimator: per sample, ``n_samples`` draws of (t, z); t from ``losses.sample_time``
    ("uniform" or "importance": log-SNR uniform, density ~ g^2/s^2, which makes the weight
    constant). With ``control_variate`` the part (g^2/s^2)|z|^2 of the integrand is replaced by
    its exact integral d/2 (lambda(eps) - lambda(T)) (E|z|^2 = d): unbiased, and it removes the
    |z|^2 noise and, for uniform t, the 1/t growth of the integrand at small t. Measured in
    benchmarks/RESULTS.md: without the control variate importance
    sampling is far better than uniform t (uniform's per-draw std is ~15x larger); with it,
    uniform t has the lowest variance (1.3-1.8x smaller std than importance on analytic and
    trained models), hence the defaults. Uses ``sde.eps``.

    Args:
        x: data (N, *shape); with a ``quantization`` (images) the data are dequantised first
            and ``bpd`` is filled.
        batch_size: most rows per score call (rows = N * n_samples).
    """
    check_choice("t_sampling", t_sampling, T_SAMPLINGS)
    _check_samples(n_samples)
    _check_data(x)
    if quantization is not None and dequantize:
        x = quantization.dequantize(x, generator)
    n, d, dev = x.shape[0], _flat_dim(x), x.device
    eps, T = sde.eps, sde.T
    # prior KL and boundary term: closed forms, no score calls
    mT, sT = (c.to(dev) for c in sde.marginal(T))
    prior_kl = _gaussian_kl(mT.to(x.dtype) * x, sT ** 2, torch.zeros_like(x), sde.prior_std() ** 2)
    m_eps, s_eps = sde.marginal(eps)
    if not float(s_eps) > 0:
        raise ValueError("the ELBO needs s(eps) > 0: use an SDE with eps > 0")
    log_sig2 = float(2 * (torch.log(s_eps) - torch.log(m_eps)))
    boundary = torch.full((n,), -0.5 * d * (math.log(2 * math.pi) + log_sig2 + 1.0),
                          dtype=torch.float64, device=dev)
    # DSM integral by Monte Carlo, rows ordered sample-major
    rows = n * n_samples
    vals = torch.empty(rows, dtype=torch.float64, device=dev)
    x_rep = x.repeat_interleave(n_samples, 0)
    rsde = sde.reverse(score_fn)
    gdev = generator.device if generator is not None else dev
    for a in range(0, rows, batch_size):
        x0 = x_rep[a:a + batch_size]
        t, corr = sample_time(sde, x0.shape[0], t_sampling, generator=generator, device=dev)
        z = torch.randn(x0.shape, generator=generator, dtype=torch.float64, device=gdev).to(dev)
        xt = sde.perturb(x0, t, z.to(x.dtype))
        with torch.no_grad():
            score = rsde.score(xt, t)
        check_score_shape(score, xt)
        m, s = sde.marginal(t)
        g = sde.diffusion(t)
        w = (g * g / (s * s)).to(dev) * corr.to(dev)
        eps_pred = -append_dims(s.to(dev), x.ndim) * score.double()
        err = (z - eps_pred).reshape(z.shape[0], -1).pow(2).sum(-1)
        if control_variate:  # |z - e|^2 - |z|^2; the mean d of |z|^2 is integrated exactly
            err = err - z.reshape(z.shape[0], -1).pow(2).sum(-1)
        vals[a:a + batch_size] = 0.5 * (T - eps) * w * err
    vals = vals.reshape(n, n_samples)
    check_finite("ELBO integrand", vals)
    diffusion_term = vals.mean(1)
    if control_variate:  # 1/2 int_eps^T (g^2/s^2) d dt = d/2 (lambda(eps) - lambda(T))
        diffusion_term = diffusion_term + 0.5 * d * float(sde.log_snr(eps) - sde.log_snr(T))
    se = vals.std(1) / math.sqrt(n_samples)
    bound = boundary - prior_kl - diffusion_term
    bpd = quantization.bpd_from_density(bound, d) if quantization is not None else None
    return ELBOResult(elbo=bound, se=se, prior_kl=prior_kl, boundary_term=boundary,
                      diffusion_term=diffusion_term, n_score_calls=rows, n_samples=n_samples,
                      t_sampling=t_sampling, eps=eps, dim=d, bpd=bpd, per_draw=vals)


# ============================================================== discrete chain ELBO
def _log_bin_mass(lower: torch.Tensor, upper: torch.Tensor, mean: torch.Tensor,
                  std: torch.Tensor) -> torch.Tensor:
    """log(Phi((upper-mean)/std) - Phi((lower-mean)/std)) elementwise, stable in both tails."""
    a, b = (lower - mean) / std, (upper - mean) / std
    flip = (a + b) > 0  # bin mostly above the mean: use the mirrored lower tail
    lo = torch.where(flip, -b, a)
    hi = torch.where(flip, -a, b)
    lhi, llo = torch.special.log_ndtr(hi), torch.special.log_ndtr(lo)
    return lhi + torch.log1p(-torch.exp(llo - lhi))


def discrete_elbo(sde: SDE, model_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                  x: torch.Tensor, num_steps: int = 1000, prediction: str = "score",
                  variance: str = "beta", decoder: str = "gaussian",
                  sampled_steps: Optional[int] = None, n_samples: int = 1,
                  quantization: Optional[Quantization] = None,
                  batch_size: int = 65536,
                  generator: Optional[torch.Generator] = None) -> DiscreteELBOResult:
    """The discrete DDPM chain's bound (Ho et al. 2020) on log p(x_0), per sample (nats).

    With the chain ``sde.discrete(num_steps)`` (alpha_bar_i = m(t_i)^2, t_i = i T / N):

        log p(x_0) >= E_q log p(x_0 | x_1) - sum_{i=2}^N E_q KL(q(x_{i-1}|x_i,x_0) || p(x_{i-1}|x_i))
                      - KL(q(x_N | x_0) || N(0, s(T)^2 I)),

    q(x_{i-1}|x_i,x_0) = N(mu_tilde_i(x_i, x_0), beta_tilde_i), model step
    N(mu_tilde_i(x_i, x0_hat(x_i, t_i)), sigma_i^2) with sigma_i^2 = beta_i or beta_tilde_i
    (``variance``). x0_hat comes from ``model_fn(x, t)`` read as ``prediction`` ("score": a score
    function, converted by Tweedie x0 = (x + s^2 score)/m; "x0": a denoiser; "eps").
    Decoder p(x_0|x_1): "gaussian" N(x0_hat, beta_1) (beta_tilde_1 = 0, so beta_1 for both
    variance choices), a density (nats of continuous data; dequantised first when a
    ``quantization`` is given), or "discretized": the Gaussian's mass on the data's 8-bit bins
    (``Quantization.bin_edges``), a bound on log P(k).

    sampled_steps: None = exact sum over i = 1..N (one noise draw per step and per
    ``n_samples``; ``se`` needs n_samples >= 2); an integer M = unbiased estimate from M draws
    per sample, each the decoder term plus (N - 1) times the KL of one step i ~ U{2..N}
    (2 M model calls per sample; the decoder term is always evaluated, it dominates the
    variance otherwise). Requires an SDE with a discrete chain (``sde.discrete``).
    """
    check_choice("variance", variance, VARIANCES)
    check_choice("decoder", decoder, DECODERS)
    check_choice("prediction", prediction, PREDICTIONS)
    if not (isinstance(num_steps, int) and num_steps >= 1):
        raise ValueError(f"num_steps must be an integer >= 1, got {num_steps!r}")
    if sampled_steps is not None and not (isinstance(sampled_steps, int) and sampled_steps >= 2):
        raise ValueError(f"sampled_steps must be None (exact sum) or an integer >= 2, got {sampled_steps!r}")
    if not (isinstance(n_samples, int) and n_samples >= 1):
        raise ValueError(f"n_samples must be an integer >= 1, got {n_samples!r}")
    _check_data(x)
    make_chain = getattr(sde, "discrete", None)
    if make_chain is None:
        raise ValueError(f"{type(sde).__name__} has no discrete chain (needs sde.discrete(N)); "
                         "the discrete bound applies to the VP SDE")
    chain = make_chain(num_steps)
    if decoder == "discretized":
        quantization = quantization if quantization is not None else Quantization()
        lower, upper = quantization.bin_edges(x)  # checks range and grid
    elif quantization is not None:
        x = quantization.dequantize(x, generator)
    n, d, dev = x.shape[0], _flat_dim(x), x.device
    N = num_steps
    gdev = generator.device if generator is not None else dev

    # rows: (data index, step index)
    if sampled_steps is None:
        per = N * n_samples
        steps = torch.arange(1, N + 1, device=dev).repeat(n_samples).repeat(n)
    else:  # each draw: the decoder term (i = 1) plus (N - 1) L_i with i ~ U{2..N}
        M = sampled_steps
        per = 2 * M
        later = (torch.randint(2, N + 1, (n, M), generator=generator, device=gdev).to(dev)
                 if N >= 2 else torch.ones(n, M, dtype=torch.long, device=dev))
        steps = torch.cat([torch.ones_like(later), later], 1).reshape(-1)
    idx = torch.arange(n, device=dev).repeat_interleave(per)
    vals = torch.empty(n * per, dtype=torch.float64, device=dev)
    ab = chain.alpha_bars.to(dev)
    dec_var = chain.betas[0].to(dev)
    for a in range(0, n * per, batch_size):
        i = steps[a:a + batch_size]
        x0 = x[idx[a:a + batch_size]]
        z = torch.randn(x0.shape, generator=generator, dtype=torch.float64, device=gdev).to(dev)
        xi = chain.jump(x0, i, z.to(x.dtype))
        t = chain.times.to(dev)[i]
        m, s = ab[i].sqrt(), (1 - ab[i]).sqrt()
        with torch.no_grad():
            out = model_fn(xi, t.to(x.dtype))
        check_score_shape(out, xi)
        x0_hat = convert(out.double(), prediction, "x0", xi.double(), m, s)
        # KL terms (i >= 2)
        mu_q, var_q = chain.posterior(xi.double(), x0.double(), i)
        mu_p, _ = chain.posterior(xi.double(), x0_hat, i)
        var_p = chain.betas.to(dev)[i - 1] if variance == "beta" else chain.posterior_variance(i).to(dev)
        var_q = var_q.reshape(-1)
        first = i == 1
        kl = _gaussian_kl(mu_q, torch.where(first, torch.ones_like(var_q), var_q), mu_p,
                          torch.where(first, torch.ones_like(var_p), var_p))
        # decoder (i == 1): mu_p = x0_hat there
        if decoder == "gaussian":
            sq = (x0.double() - x0_hat).reshape(x0.shape[0], -1).pow(2).sum(-1)
            logdec = -0.5 * (d * torch.log(2 * math.pi * dec_var) + sq / dec_var)
        else:
            lo_b, up_b = lower[idx[a:a + batch_size]], upper[idx[a:a + batch_size]]
            logdec = _log_bin_mass(lo_b, up_b, x0_hat, dec_var.sqrt()).reshape(x0.shape[0], -1).sum(-1)
        vals[a:a + batch_size] = torch.where(first, logdec, -kl)
    check_finite("discrete ELBO terms", vals)
    vals_nd = vals.reshape(n, per)
    if sampled_steps is None:
        v = vals_nd.reshape(n, n_samples, N)
        total = v.sum(-1)  # (n, n_samples): one full-chain estimate per noise draw
        terms = total.mean(1)
        se = total.std(1) / math.sqrt(n_samples) if n_samples >= 2 else None
        decoder_term = v[:, :, 0].mean(1)
    else:
        total = vals_nd[:, :M] + (N - 1) * vals_nd[:, M:]
        terms = total.mean(1)
        se = total.std(1) / math.sqrt(M)
        decoder_term = vals_nd[:, :M].mean(1)
    kl_sum = decoder_term - terms
    mN = ab[N].sqrt()
    prior_kl = _gaussian_kl(mN.to(x.dtype) * x, 1 - ab[N], torch.zeros_like(x), sde.prior_std() ** 2)
    bound = terms - prior_kl
    bpd = None
    if decoder == "discretized":
        bpd = Quantization.bpd_from_mass(bound, d)
    elif quantization is not None:
        bpd = quantization.bpd_from_density(bound, d)
    return DiscreteELBOResult(elbo=bound, se=se, prior_kl=prior_kl, decoder_term=decoder_term,
                              kl_sum=kl_sum, n_model_calls=n * per, num_steps=N, variance=variance,
                              decoder=decoder, dim=d, bpd=bpd)


# ============================================================== dataset evaluation
EVAL_METHODS = ("ode", "elbo", "discrete_elbo")


def _summary(values: torch.Tensor, unit: str) -> dict:
    """Mean and 95% normal confidence interval over data points."""
    v = values.double().cpu()
    n = v.numel()
    half = 1.96 * float(v.std()) / math.sqrt(n) if n > 1 else float("nan")
    mean = float(v.mean())
    return {"mean": mean, "ci95": [mean - half, mean + half], "half_width": half, "n": n,
            "median": float(v.median()), "unit": unit}


def evaluate(sde: SDE, score_fn: ScoreFn, x: torch.Tensor, methods=EVAL_METHODS,
             quantization: Optional[Quantization] = None, batch_size: int = 256,
             ode_options: Optional[dict] = None, elbo_options: Optional[dict] = None,
             discrete_options: Optional[dict] = None,
             generator: Optional[torch.Generator] = None) -> dict:
    """NLL of a data set by each of ``methods``, with 95% confidence intervals over points.

    Reports bits/dim when ``quantization`` is given (images; ODE and continuous bounds on
    dequantised data, the discrete bound with the discretised decoder), else nats per sample
    and per dimension; each bound also gets ``minus_ode``, its paired difference from the ODE
    value on the same points. ``ode_options["divergence"] = "auto"`` picks exact for d <= 16, else
    Hutchinson. Evaluated in chunks of ``batch_size`` points. Returns a JSON-ready dict.
    """
    methods = [check_choice("method", m, EVAL_METHODS) for m in methods]
    _check_data(x)
    d = _flat_dim(x)
    ode_options = dict(ode_options or {})
    if ode_options.get("divergence", "auto") == "auto":
        ode_options["divergence"] = "exact" if d <= 16 else "hutchinson"
    elbo_options, discrete_options = dict(elbo_options or {}), dict(discrete_options or {})
    if discrete_options.get("decoder", "auto") == "auto":
        discrete_options["decoder"] = "discretized" if quantization is not None else "gaussian"
    out = {"n_points": int(x.shape[0]), "dim": d, "eps": sde.eps,
           "units": "bits/dim" if quantization is not None else "nats"}
    per_point = {}
    methods = sorted(methods, key=EVAL_METHODS.index)  # the ODE first, for the paired gaps
    for method in methods:
        vals, cost, extra, outliers = [], 0, {}, 0
        for a in range(0, x.shape[0], batch_size):
            xb = x[a:a + batch_size]
            if method == "ode":
                if quantization is not None:
                    r = bits_per_dim(sde, score_fn, xb, quantization=quantization,
                                     generator=generator, **ode_options)
                    vals.append(r.bpd)
                    r = r.likelihood
                else:
                    r = log_likelihood(sde, score_fn, xb, generator=generator, **ode_options)
                    vals.append(-r.logp)
                cost += r.nfe
                # a latent far outside the prior (mean square > 10 prior variances) means the
                # model's ODE trajectory ran away: the mean is then meaningless, see the median
                ms = r.z.double().reshape(r.z.shape[0], -1).pow(2).mean(1) / sde.prior_std() ** 2
                outliers += int((ms > 10).sum())
                extra = {"nfe_per_batch": cost / math.ceil(x.shape[0] / batch_size),
                         "latent_outliers": outliers, **ode_options}
            elif method == "elbo":
                r = elbo(sde, score_fn, xb, quantization=quantization, generator=generator,
                         **elbo_options)
                vals.append(r.bpd if quantization is not None else -r.elbo)
                cost += r.n_score_calls
                extra = {"score_calls": cost, **elbo_options}
            else:
                r = discrete_elbo(sde, score_fn, xb, quantization=quantization,
                                  generator=generator, **discrete_options)
                vals.append(r.bpd if r.bpd is not None else -r.elbo)
                cost += r.n_model_calls
                extra = {"model_calls": cost, **discrete_options}
        v = torch.cat(vals)
        key = "bpd" if quantization is not None else "nll"
        res = {key: _summary(v, out["units"]), "options": extra}
        if quantization is None:
            res["nll_per_dim"] = _summary(v / d, "nats/dim")
        if method != "ode" and "ode" in per_point:  # paired: the data's own spread cancels
            res["minus_ode"] = _summary(v - per_point["ode"], out["units"])
        per_point[method] = v
        out[method] = res
    return out
