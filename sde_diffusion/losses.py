"""Denoising score matching (DSM) with weightings and time sampling; per-sample losses.

The objective for any parameterisation is the weighted score-matching loss

    J = E_{t ~ U[eps, T]} E_{x_0, z} [ lambda(t) |s_theta(x_t, t) - grad log p(x_t | x_0)|^2 ],
    grad log p(x_t | x_0) = -z / s(t),

which equals ``w(t) |eps_theta - z|^2`` with ``w(t) = lambda(t) / s(t)^2`` and, in a model's own
parameterisation, ``w(t) / c(t) |pred - target|^2`` with c(t) from ``eps_loss_factor``:

    weighting    lambda(t)     w(t) on the eps-loss
    "sigma2"     s(t)^2        1                    (the standard eps-prediction loss)
    "likelihood" g(t)^2        g^2 / s^2 = -d log-SNR / dt   (Song et al. 2021: bound on -log p)
    "none"       1             1 / s^2

Time sampling: "uniform" on [eps, T], or "importance" with density proportional to g^2/s^2,
i.e. log-SNR uniform on [lambda(T), lambda(eps)], reweighted so the expectation is unchanged
(the likelihood weighting then becomes the constant Z / (T - eps), Z = lambda(eps) - lambda(T)).

EDM (Karras et al. 2022) in this language. EDM draws ln sigma ~ N(P_mean, P_std^2) (sigma = s/m,
here truncated to [sigma(eps), sigma(T)]) and weights the x0-loss by lambda(sigma) =
(sigma^2 + sigma_d^2) / (sigma sigma_d)^2. Since |D - x_0|^2 = sigma^2 |eps_theta - eps|^2 and
d ln sigma / dt = g^2 / (2 s^2) for every linear SDE, the same objective over t ~ U[eps, T] is

    "edm"   w(t) = (T - eps) q(t) (sigma^2 + sigma_d^2) / sigma_d^2,
            q(t) = N(ln sigma(t); P_mean, P_std^2) g(t)^2 / (2 s(t)^2) / Z   (density of t),

with Z the normal mass of [ln sigma(eps), ln sigma(T)]. Time sampling "lognormal" draws t with
density q, so with weighting "edm" every sample's weight on |D - x_0|^2 is exactly EDM's
lambda(sigma) (tested); any other weighting stays unbiased under it (importance correction).
sigma_d defaults to the model's ``data_std`` (ScoreModel; EDM uses 0.5).

Named losses on the one core ``weighted_dsm`` (t, noise and the eps-weight in; per-sample
w(t)/c(t) |pred - target|^2 in the model's own parameterisation out):

    DenoisingLoss(weighting, t_sampling)   any weighting above
    LikelihoodLoss()                       weighting "likelihood", importance-sampled t
    EDMLoss(p_mean, p_std, sigma_data)     weighting "edm", log-normal t
    FlowMatchingLoss(coupling)             conditional flow matching on a flow path:
                                           |u_theta(x_t, t) - (alpha' x_0 + sigma' eps)|^2, t ~ U[eps, 1]
                                           (= w(t) |eps_theta - eps|^2 with w = (D/alpha)^2,
                                           D = alpha sigma' - alpha' sigma); coupling "independent"
                                           or "ot" (minibatch optimal transport, ``pot``)

Class-conditional models: ``y`` (N,) integer labels go to ``model.native(x_t, t, y)`` as given;
label dropout (the null label ``num_classes``) is the trainer's (``TrainOptions.label_dropout``).

Losses return one value per sample (shape (N,)); the caller reduces, weights and logs.
"""
from __future__ import annotations

from typing import Optional, Tuple

import math

import torch

from .models.parameterization import eps_loss_factor, from_eps
from .sdes.base import SDE
from .contract import check_choice, check_finite_number, check_positive
from .utils import append_dims

__all__ = ["WEIGHTINGS", "T_SAMPLINGS", "sample_time", "eps_weight", "lognormal_time_density",
           "likelihood_eps_weight", "weighted_dsm", "DenoisingLoss",
           "LikelihoodLoss", "EDMLoss", "FlowMatchingLoss", "COUPLINGS", "ot_pairing", "LOSS_KINDS",
           "make_loss"]

WEIGHTINGS = ("sigma2", "likelihood", "none", "edm")
T_SAMPLINGS = ("uniform", "importance", "lognormal")
P_MEAN, P_STD, SIGMA_DATA = -1.2, 1.2, 0.5  # EDM's defaults


def _ln_sigma_range(sde: SDE, p_mean: float, p_std: float):
    """Standardised ln sigma at eps and T, and the normal mass Z between them."""
    if not p_std > 0:
        raise ValueError(f"p_std must be positive, got {p_std!r}")
    ends = torch.tensor([sde.eps, sde.T], dtype=torch.float64)
    if sde.eps <= 0:
        raise ValueError("log-normal noise levels need eps > 0 (sigma(0) = 0)")
    z = (torch.log(sde.sigma(ends)) - p_mean) / p_std
    return z[0], z[1], torch.special.ndtr(z[1]) - torch.special.ndtr(z[0])


def lognormal_time_density(sde: SDE, t: torch.Tensor, p_mean: float = P_MEAN,
                           p_std: float = P_STD) -> torch.Tensor:
    """q(t) on [eps, T] when ln sigma(t) ~ N(p_mean, p_std^2) truncated to the SDE's range:
    q = N(ln sigma; p_mean, p_std^2) * d ln sigma/dt / Z with d ln sigma/dt = g^2 / (2 s^2)."""
    t = torch.as_tensor(t, dtype=torch.float64)
    _, _, Z = _ln_sigma_range(sde, p_mean, p_std)
    z = (torch.log(sde.sigma(t)) - p_mean) / p_std
    dens = torch.exp(-0.5 * z * z) / (p_std * math.sqrt(2 * math.pi))
    return dens * 0.5 * likelihood_eps_weight(sde, t) / Z.to(t.device)


def sample_time(sde: SDE, n: int, method: str = "uniform", generator: Optional[torch.Generator] = None,
                device=None, p_mean: float = P_MEAN, p_std: float = P_STD
                ) -> Tuple[torch.Tensor, torch.Tensor]:
    """Draw n times in [eps, T] and the factor that turns E_q into E_{U[eps, T]}.

    Returns float64 ``t`` and ``correction = (1/(T - eps)) / q(t)`` (ones for uniform).
    "lognormal": ln sigma(t) ~ N(p_mean, p_std^2) truncated to [ln sigma(eps), ln sigma(T)]
    by the inverse normal CDF, mapped to t with ``sde.t_from_sigma`` (EDM's noise levels).
    """
    check_choice("t_sampling", method, T_SAMPLINGS)
    u = torch.rand(n, generator=generator, dtype=torch.float64, device=generator.device
                   if generator is not None else None).to(device)
    if method == "uniform":
        t = sde.eps + (sde.T - sde.eps) * u
        return t, torch.ones_like(t)
    if method == "lognormal":
        z_lo, z_hi, _ = _ln_sigma_range(sde, p_mean, p_std)
        c_lo, c_hi = torch.special.ndtr(z_lo), torch.special.ndtr(z_hi)
        z = torch.special.ndtri(c_lo.to(u.device) + (c_hi - c_lo).to(u.device) * u)
        t = sde.t_from_sigma(torch.exp(p_mean + p_std * z)).clamp(sde.eps, sde.T)
        q = lognormal_time_density(sde, t, p_mean, p_std)
        return t, 1.0 / ((sde.T - sde.eps) * q)
    lam_hi, lam_lo = sde.log_snr(sde.eps), sde.log_snr(sde.T)
    t = sde.t_from_log_snr(lam_lo + (lam_hi - lam_lo) * u).clamp(sde.eps, sde.T)
    Z = (lam_hi - lam_lo).to(t.device)
    q = likelihood_eps_weight(sde, t) / Z
    return t, 1.0 / ((sde.T - sde.eps) * q)


def likelihood_eps_weight(sde: SDE, t: torch.Tensor) -> torch.Tensor:
    """g(t)^2 / s(t)^2 (= -d lambda / dt for every linear SDE)."""
    g = sde.diffusion(t)
    return g * g / sde.marginal(t)[1] ** 2


def eps_weight(sde: SDE, t: torch.Tensor, weighting: str = "sigma2", sigma_data: float = SIGMA_DATA,
               p_mean: float = P_MEAN, p_std: float = P_STD) -> torch.Tensor:
    """w(t) = lambda(t) / s(t)^2, the weight on |eps_theta - eps|^2 (float64). ``sigma_data``,
    ``p_mean``, ``p_std`` are used by "edm" only (see the module docstring)."""
    check_choice("weighting", weighting, WEIGHTINGS)
    if weighting == "edm":
        if not sigma_data > 0:
            raise ValueError(f"sigma_data must be positive, got {sigma_data!r}")
        t = torch.as_tensor(t, dtype=torch.float64)
        sig2 = sde.sigma(t) ** 2
        q = lognormal_time_density(sde, t, p_mean, p_std)
        return (sde.T - sde.eps) * q * (sig2 + sigma_data ** 2) / sigma_data ** 2
    if weighting == "sigma2":
        return torch.ones_like(torch.as_tensor(t, dtype=torch.float64))
    if weighting == "likelihood":
        return likelihood_eps_weight(sde, t)
    return 1.0 / sde.marginal(t)[1] ** 2


def weighted_dsm(model, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor, weight: torch.Tensor,
                 y: Optional[torch.Tensor] = None, reduce: str = "mean",
                 max_weight: Optional[float] = None, x_t: Optional[torch.Tensor] = None) -> torch.Tensor:
    """The one core: per-sample ``weight(t) / c(t) |pred - target|^2`` in the model's native
    parameterisation (``model.native``), where ``weight`` (N,) is the weight on the eps-error
    and c(t) = ``eps_loss_factor``; x_t = m x0 + s noise. ``max_weight`` clamps weight / c."""
    sde: SDE = model.sde
    n = x0.shape[0]
    if x_t is None:
        x_t = sde.perturb(x0, t, noise)
    kind, pred = (model.native(x_t, t.to(x0.dtype)) if y is None
                  else model.native(x_t, t.to(x0.dtype), y))
    m, s = sde.marginal(t)
    rates = sde.marginal_rates(t) if kind == "velocity" else None
    if kind == "x0":
        target = x0
    elif kind == "velocity":
        dm, ds = (append_dims(c.to(x0.dtype), x0.ndim) for c in rates)
        target = dm * x0 + ds * noise
    else:
        target = from_eps(noise, kind, x_t, m, s)
    weight = weight / eps_loss_factor(kind, m, s, rates=rates)
    if max_weight is not None:
        weight = weight.clamp(max=max_weight)
    err = (pred - target).pow(2).reshape(n, -1)
    err = err.mean(1) if reduce == "mean" else err.sum(1)
    return weight.to(err.dtype) * err


# ---------------------------------------------------------------- named losses
class DenoisingLoss:
    """Denoising score matching with a named ``weighting`` and ``t_sampling``:
    ``DenoisingLoss(weighting, t_sampling)(model, x0, generator[, y]) -> (N,)`` per-sample
    ``w(t) corr(t) / c(t) |pred - target|^2`` on ``weighted_dsm``, unbiased for J (divided by
    the data dimensions if ``reduce="mean"``).

    Args:
        max_weight: optional clamp of the weight in the model's own parameterisation, where the
            exact factor explodes (e.g. an x0-model under the sigma2 weighting as s -> 0).
        sigma_data, p_mean, p_std: EDM's sigma_d (default: ``model.data_std``, else 0.5) and log-normal
            parameters, used by weighting "edm" / t_sampling "lognormal".
    Call: ``y`` (N,) integer labels go to the model as given (the trainer applies label
    dropout); ``t`` (float, (N,) or scalar) and ``noise`` fix what is otherwise drawn from
    ``generator`` (t first, then the noise).
    """

    def __init__(self, weighting: str = "sigma2", t_sampling: str = "uniform", reduce: str = "mean",
                 max_weight: Optional[float] = None, sigma_data: Optional[float] = None,
                 p_mean: float = P_MEAN, p_std: float = P_STD):
        if max_weight is not None:
            check_positive("max_weight", max_weight)
        if sigma_data is not None:
            check_positive("sigma_data", sigma_data)
        check_finite_number("p_mean", p_mean)
        check_positive("p_std", p_std)
        self.weighting = check_choice("weighting", weighting, WEIGHTINGS)
        self.t_sampling = check_choice("t_sampling", t_sampling, T_SAMPLINGS)
        self.reduce = check_choice("reduce", reduce, ("mean", "sum"))
        self.max_weight = max_weight
        self.sigma_data, self.p_mean, self.p_std = sigma_data, p_mean, p_std

    def __call__(self, model, x0: torch.Tensor, generator: Optional[torch.Generator] = None,
                 y: Optional[torch.Tensor] = None, t: Optional[torch.Tensor] = None,
                 noise: Optional[torch.Tensor] = None) -> torch.Tensor:
        sde: SDE = model.sde
        n = x0.shape[0]
        if t is None:
            t, corr = sample_time(sde, n, self.t_sampling, generator=generator, device=x0.device,
                                  p_mean=self.p_mean, p_std=self.p_std)
        else:
            t = torch.as_tensor(t, dtype=torch.float64, device=x0.device).expand(n)
            corr = torch.ones_like(t)
        if noise is None:
            dev = generator.device if generator is not None else x0.device
            noise = torch.randn(x0.shape, generator=generator, dtype=x0.dtype, device=dev).to(x0.device)
        sigma_data = self.sigma_data if self.sigma_data is not None else \
            float(getattr(model, "data_std", SIGMA_DATA))
        w = eps_weight(sde, t, self.weighting, sigma_data, self.p_mean, self.p_std) * corr
        return weighted_dsm(model, x0, t, noise, w, y=y, reduce=self.reduce,
                            max_weight=self.max_weight)

    def __repr__(self):
        return f"{type(self).__name__}(weighting={self.weighting!r}, t_sampling={self.t_sampling!r})"


class LikelihoodLoss(DenoisingLoss):
    """The likelihood-weighted loss (lambda = g^2: a bound on -log p), importance-sampled t."""

    def __init__(self, t_sampling: str = "importance", reduce: str = "mean", **kw):
        super().__init__("likelihood", t_sampling, reduce, **kw)


class EDMLoss(DenoisingLoss):
    """EDM's loss (Karras et al. 2022): ln sigma ~ N(p_mean, p_std^2), weight lambda(sigma) =
    (sigma^2 + sigma_d^2) / (sigma sigma_d)^2 on |D - x_0|^2."""

    def __init__(self, p_mean: float = P_MEAN, p_std: float = P_STD,
                 sigma_data: Optional[float] = None, reduce: str = "mean", **kw):
        super().__init__("edm", "lognormal", reduce, sigma_data=sigma_data, p_mean=p_mean,
                         p_std=p_std, **kw)


COUPLINGS = ("independent", "ot")


def ot_pairing(x0: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """The permutation p minimising sum_i |x0_i - noise_p(i)|^2 (exact minibatch OT with uniform
    weights, by ``ot.emd``; its plan is a permutation matrix). Needs ``pot`` (the bench extra)."""
    try:
        import ot
    except ImportError:  # pragma: no cover
        raise ImportError("coupling='ot' needs the POT package (pip install pot)") from None
    a, b = x0.reshape(x0.shape[0], -1).double(), noise.reshape(noise.shape[0], -1).double()
    cost = torch.cdist(a, b).pow(2).cpu().numpy()
    n = a.shape[0]
    w = [1.0 / n] * n
    plan = ot.emd(w, w, cost)
    return torch.as_tensor(plan.argmax(1), device=noise.device)


class FlowMatchingLoss:
    """Conditional flow matching on a flow path (``sdes.AffinePath``):

        loss_i = |u_theta(x_t, t) - (alpha'(t) x_0 + sigma'(t) eps)|^2,  t ~ U[eps, 1],

    written on the core as the eps-weight (D/alpha)^2, so a model in any parameterisation
    trains on the same objective. ``coupling="ot"`` pairs the batch's data and noise by exact
    minibatch optimal transport (Tong et al. 2023; ``pot``) before perturbing.
    """

    def __init__(self, coupling: str = "independent", reduce: str = "mean"):
        self.coupling = check_choice("coupling", coupling, COUPLINGS)
        self.reduce = check_choice("reduce", reduce, ("mean", "sum"))

    def __call__(self, model, x0: torch.Tensor, generator: Optional[torch.Generator] = None,
                 y: Optional[torch.Tensor] = None, t: Optional[torch.Tensor] = None,
                 noise: Optional[torch.Tensor] = None) -> torch.Tensor:
        sde = model.sde
        if not callable(getattr(sde, "marginal_rates", None)):
            raise ValueError(f"FlowMatchingLoss needs a flow path (sdes.RectifiedFlow, CosineFlow, "
                             f"AffinePath); {type(sde).__name__} is not one")
        n = x0.shape[0]
        dev = generator.device if generator is not None else x0.device
        if t is None:
            t, _ = sample_time(sde, n, "uniform", generator=generator, device=x0.device)
        else:
            t = torch.as_tensor(t, dtype=torch.float64, device=x0.device).expand(n)
        if noise is None:
            noise = torch.randn(x0.shape, generator=generator, dtype=x0.dtype, device=dev).to(x0.device)
        if self.coupling == "ot":
            noise = noise[ot_pairing(x0, noise)]
        m, s = sde.marginal(t)
        dm, ds = sde.marginal_rates(t)
        w = ((m * ds - dm * s) / m) ** 2  # eps-weight of the unit velocity loss
        return weighted_dsm(model, x0, t, noise, w, y=y, reduce=self.reduce)

    def __repr__(self):
        return f"FlowMatchingLoss(coupling={self.coupling!r})"


LOSS_KINDS = ("dsm", "flow_matching")


def make_loss(kind: str = "dsm", coupling: str = "independent", **options):
    """The trainer's loss from ``train.loss``: ``DenoisingLoss(**options)`` or, for "flow_matching",
    ``FlowMatchingLoss(coupling, reduce)`` (its other options must keep their defaults)."""
    check_choice("loss kind", kind, LOSS_KINDS)
    if kind == "dsm":
        return DenoisingLoss(**options)
    defaults = {"weighting": "sigma2", "t_sampling": "uniform", "max_weight": None,
                "sigma_data": None, "p_mean": P_MEAN, "p_std": P_STD}
    changed = sorted(k for k, v in options.items() if k in defaults and v != defaults[k])
    if changed:
        raise ValueError(f"loss kind 'flow_matching' takes only coupling and reduce; "
                         f"{', '.join(changed)} would be ignored: leave them at their defaults")
    return FlowMatchingLoss(coupling, options.get("reduce", "mean"))
