"""Variational bounds on log p(x): the continuous-time ELBO of the reverse SDE and the
discrete DDPM chain's bound (Ho et al. 2020); formulas in each function's docstring."""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from typing import Callable, Optional

import torch

from ..losses import T_SAMPLINGS, likelihood_eps_weight, sample_time
from ..models.parameterization import convert
from ..sdes.base import SDE, ScoreFn
from ..contract import check_choice, check_finite, check_score_shape
from ._common import check_data, flat_dim
from .quantization import Quantization

__all__ = ["ELBOResult", "DiscreteELBOResult", "elbo", "discrete_elbo", "VARIANCES", "DECODERS",
           "PREDICTIONS"]

VARIANCES = ("beta", "beta_tilde")
DECODERS = ("gaussian", "discretized")
PREDICTIONS = ("score", "x0", "eps")


def _is_int(v) -> bool:
    """A Python or numpy integer, not a bool."""
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


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


def _gaussian_kl(mean1: torch.Tensor, var1: torch.Tensor, mean2: torch.Tensor,
                 var2: torch.Tensor) -> torch.Tensor:
    """KL(N(mean1, var1 I) || N(mean2, var2 I)) per sample, var's per-sample (N,) or scalars."""
    d = flat_dim(mean1)
    sq = (mean1 - mean2).double().reshape(mean1.shape[0], -1).pow(2).sum(-1)
    var1, var2 = torch.as_tensor(var1, dtype=torch.float64), torch.as_tensor(var2, dtype=torch.float64)
    return 0.5 * (d * (torch.log(var2) - torch.log(var1) + var1 / var2 - 1.0) + sq / var2)


def _check_samples(n_samples: int) -> None:
    if not (_is_int(n_samples) and n_samples >= 2):
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
    n_samples = int(n_samples)
    check_data(x)
    if quantization is not None and dequantize:
        x = quantization.dequantize(x, generator)
    n, d, dev = x.shape[0], flat_dim(x), x.device
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
        w = likelihood_eps_weight(sde, t).to(dev) * corr.to(dev)  # g^2 / s^2
        eps_pred = convert(score.double(), "score", "eps", xt.double(), m.to(dev), s.to(dev))
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
    if not (_is_int(num_steps) and num_steps >= 1):
        raise ValueError(f"num_steps must be an integer >= 1, got {num_steps!r}")
    if sampled_steps is not None and not (_is_int(sampled_steps) and sampled_steps >= 2):
        raise ValueError(f"sampled_steps must be None (exact sum) or an integer >= 2, got {sampled_steps!r}")
    if not (_is_int(n_samples) and n_samples >= 1):
        raise ValueError(f"n_samples must be an integer >= 1, got {n_samples!r}")
    check_data(x)
    if not bool(getattr(sde, "has_discrete_chain", False)):
        raise ValueError(f"{type(sde).__name__} has no discrete chain (capability "
                         "has_discrete_chain); the discrete bound applies to variance-preserving SDEs")
    chain = sde.discrete(num_steps)
    if decoder == "discretized":
        quantization = quantization if quantization is not None else Quantization()
        lower, upper = quantization.bin_edges(x)  # checks range and grid
    elif quantization is not None:
        x = quantization.dequantize(x, generator)
    n, d, dev = x.shape[0], flat_dim(x), x.device
    N, n_samples = int(num_steps), int(n_samples)
    sampled_steps = None if sampled_steps is None else int(sampled_steps)
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
