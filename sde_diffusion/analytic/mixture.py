"""Gaussian mixtures with the exact score of p_t under any SDE of this package: ground truth.

Data p_0 = sum_k w_k N(mu_k, C_k), C_k diagonal or full (positive semi-definite). Under a
linear SDE with kernel x_t = m(t) x_0 + s(t) z the marginal is again a mixture,

    p_t = sum_k w_k N(m mu_k, m^2 C_k + s^2 I),

so log p_t, its score and the posterior mean E[x_0 | x_t] (Tweedie) are closed forms:

    score(x)      = sum_k r_k(x) (m^2 C_k + s^2 I)^{-1} (m mu_k - x)
    E[x_0 | x_t]  = sum_k r_k(x) (mu_k + m C_k (m^2 C_k + s^2 I)^{-1} (x - m mu_k))

with responsibilities r_k(x) of component k under p_t. Each C_k is kept as its eigen-
decomposition U_k diag(lambda_k) U_k^T (U_k = I for diagonal components), so every inverse
above is a division in the rotated coordinates U_k^T (x - m mu_k). Computations run in float64;
results come back in the input's dtype. Data may have any per-sample shape (flattened inside).

Labels: every component carries an integer class label (``labels``, default: component k has
label k). The class-conditional density p(x | c) is the mixture of the components labelled c
with their weights renormalised (``conditional(c)``); ``score(x, sde, t, y)`` with per-sample
labels y (N,) is the exact class-conditional score, the null label ``num_classes`` (or y=None)
the unconditional one.
"""
from __future__ import annotations

import math
from typing import Callable, Optional, Sequence, Tuple

import torch

from ..sdes.base import SDE
from ..registry import register

__all__ = ["GaussianMixture"]


def _as_labels(labels, K: int) -> torch.Tensor:
    if labels is None:
        return torch.arange(K)
    lab = torch.as_tensor(labels)
    if lab.dtype.is_floating_point or lab.dtype == torch.bool or lab.shape != (K,):
        raise ValueError(f"labels must be {K} integers >= 0 (one class per component), got {labels!r}")
    if bool((lab < 0).any()):
        raise ValueError(f"labels must be integers >= 0, got {lab.tolist()}")
    return lab.long()


@register("mixture", "sde_diffusion.analytic.GaussianMixture")
class GaussianMixture:
    """A mixture of Gaussians with diagonal or full covariances.

    Args:
        means: (K, *shape) component means.
        stds: (K,) isotropic or (K, *shape) diagonal standard deviations (> 0); or
        covs: (K, d, d) symmetric positive semi-definite covariances (d = prod(shape)), keyword.
        weights: (K,) non-negative mixture weights (normalised here); uniform if omitted.
        labels: (K,) integer class of each component (default: component k is class k).
    """

    def __init__(self, means, stds=None, weights=None, *, covs=None, labels=None):
        means = torch.as_tensor(means, dtype=torch.float64)
        if means.ndim < 2 or means.shape[0] < 1:
            raise ValueError(f"means must have shape (K, *data_shape), got {tuple(means.shape)}")
        if not bool(torch.isfinite(means).all()):
            raise ValueError("means contain non-finite values (NaN or inf)")
        K = means.shape[0]
        self.data_shape = tuple(means.shape[1:])
        self.means = means.reshape(K, -1)
        self.dim = self.means.shape[1]
        if (stds is None) == (covs is None):
            raise ValueError("give exactly one of stds (diagonal components) or covs (full)")
        if covs is None:
            self.evals, self.evecs = self._diag(stds, K), None
        else:
            self.evals, self.evecs = self._full(covs, K)
        w = torch.full((K,), 1.0 / K, dtype=torch.float64) if weights is None else \
            torch.as_tensor(weights, dtype=torch.float64)
        if w.shape != (K,) or not bool(torch.isfinite(w).all()) or not bool((w >= 0).all()) \
                or float(w.sum()) <= 0:
            raise ValueError(f"weights must be {K} non-negative numbers with positive sum")
        self.weights = w / w.sum()
        self.labels = _as_labels(labels, K)

    def _diag(self, stds, K: int) -> torch.Tensor:
        stds = torch.as_tensor(stds, dtype=torch.float64)
        if stds.ndim == 0:
            stds = stds.expand(K)
        if stds.shape == (K,):
            stds = stds[:, None].expand(K, self.dim)
        elif stds.numel() == K * self.dim:
            stds = stds.reshape(K, -1)
        else:
            raise ValueError("stds must have shape (K,) or (K, *data_shape)")
        if not bool((stds > 0).all()) or not bool(torch.isfinite(stds).all()):
            raise ValueError(f"mixture stds must be positive and finite, got min {float(stds.min())!r}")
        return stds.pow(2).contiguous()

    def _full(self, covs, K: int) -> Tuple[torch.Tensor, torch.Tensor]:
        c = torch.as_tensor(covs, dtype=torch.float64)
        if c.shape != (K, self.dim, self.dim):
            raise ValueError(f"covs must have shape (K, d, d) = ({K}, {self.dim}, {self.dim}), "
                             f"got {tuple(c.shape)}")
        if not bool(torch.isfinite(c).all()):
            raise ValueError("covs contain non-finite values (NaN or inf)")
        scale = float(c.abs().amax()) or 1.0
        asym = float((c - c.transpose(1, 2)).abs().amax())
        if asym > 1e-8 * scale:
            raise ValueError(f"covs must be symmetric; largest |C - C^T| entry is {asym:.3g}")
        lam, U = torch.linalg.eigh(0.5 * (c + c.transpose(1, 2)))
        if float(lam.min()) < -1e-9 * scale:
            raise ValueError(f"covs must be positive semi-definite; smallest eigenvalue "
                             f"{float(lam.min()):.3g}")
        return lam.clamp(min=0.0).contiguous(), U.contiguous()

    @classmethod
    def _from_eig(cls, means, evals, evecs, weights, labels, data_shape) -> "GaussianMixture":
        """Internal constructor from an eigen-decomposition (evecs None: diagonal)."""
        gm = cls.__new__(cls)
        gm.means, gm.evals, gm.evecs = means, evals.clamp(min=0.0), evecs
        gm.weights, gm.labels = weights / weights.sum(), labels
        gm.data_shape, gm.dim = tuple(data_shape), means.shape[1]
        return gm

    # ------------------------------------------------------------------ structure
    @property
    def num_components(self) -> int:
        return self.means.shape[0]

    @property
    def num_classes(self) -> int:
        """1 + the largest component label (the null label of the exact score)."""
        return int(self.labels.max()) + 1

    @property
    def is_diagonal(self) -> bool:
        return self.evecs is None

    @property
    def covs(self) -> torch.Tensor:
        """(K, d, d) component covariances U diag(lambda) U^T."""
        if self.evecs is None:
            return torch.diag_embed(self.evals)
        return self.evecs @ (self.evals[:, :, None] * self.evecs.transpose(1, 2))

    @property
    def vars(self) -> torch.Tensor:
        """(K, d) per-coordinate variances (the diagonal of each covariance)."""
        if self.evecs is None:
            return self.evals
        return (self.evecs ** 2 * self.evals[:, None, :]).sum(-1)

    # ------------------------------------------------------------------ data
    def sample(self, n: int, generator: Optional[torch.Generator] = None,
               dtype: torch.dtype = torch.float32, return_labels: bool = False):
        """n samples (n, *shape); with ``return_labels`` also each sample's component label."""
        k = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        z = torch.randn(n, self.dim, generator=generator, dtype=torch.float64) * self.evals[k].sqrt()
        if self.evecs is not None:
            z = torch.einsum("nde,ne->nd", self.evecs[k], z)
        x = (self.means[k] + z).reshape((n,) + self.data_shape).to(dtype)
        return (x, self.labels[k]) if return_labels else x

    def mean(self) -> torch.Tensor:
        return (self.weights[:, None] * self.means).sum(0).reshape(self.data_shape)

    def covariance(self) -> torch.Tensor:
        """(d, d) covariance of the mixture: sum_k w_k (C_k + mu_k mu_k^T) - mu mu^T."""
        mu = (self.weights[:, None] * self.means).sum(0)
        outer = self.means[:, :, None] * self.means[:, None, :]
        second = (self.weights[:, None, None] * (self.covs + outer)).sum(0)
        return second - mu[:, None] * mu[None, :]

    def covariance_trace(self) -> float:
        """Total variance E||x - E x||^2 (used by tests for scale)."""
        mu = (self.weights[:, None] * self.means).sum(0)
        second = (self.weights[:, None] * (self.evals + self.means ** 2)).sum(0)
        return float((second - mu ** 2).sum())

    # ------------------------------------------------------------------ p_t
    def _coeffs(self, sde: Optional[SDE], t, n: int, device) -> Tuple[torch.Tensor, torch.Tensor]:
        if sde is None:
            one = torch.ones(n, dtype=torch.float64, device=device)
            return one, torch.zeros_like(one)
        m, s = sde.marginal(torch.as_tensor(t, dtype=torch.float64).to(device))
        return m.expand(n), s.expand(n)

    def _stats(self, x: torch.Tensor, sde: Optional[SDE], t):
        """Flattened x, m (n,), rotated diffs U^T (x - m mu) (n, K, d), variances m^2 lambda + s^2
        (n, K, d) and log N_k(x) (n, K)."""
        if not torch.is_tensor(x) or x.ndim < 1:
            raise TypeError(f"x must be a tensor (N, *data_shape), got {type(x).__name__}")
        n = x.shape[0]
        xf = x.reshape(n, -1).to(torch.float64)
        if xf.shape[1] != self.dim:
            raise ValueError(f"x has {xf.shape[1]} values per sample, the mixture has {self.dim}")
        dev = xf.device
        m, s = self._coeffs(sde, t, n, dev)
        diff = xf[:, None, :] - m[:, None, None] * self.means.to(dev)[None]        # (n, K, d)
        if self.evecs is not None:
            diff = torch.matmul(diff.transpose(0, 1), self.evecs.to(dev)).transpose(0, 1)
        var_t = m[:, None, None] ** 2 * self.evals.to(dev)[None] + s[:, None, None] ** 2
        if sde is None and bool((self.evals == 0).any()):
            raise ValueError("this mixture has singular covariances (e.g. a noiseless posterior): "
                             "its density exists only for t > 0; pass sde and t")
        logn = -0.5 * (diff ** 2 / var_t + torch.log(2 * math.pi * var_t)).sum(-1)
        return m, diff, var_t, logn

    def _log_weights(self, n: int, y: Optional[torch.Tensor], device) -> torch.Tensor:
        """(n, K) log mixture weights restricted to each sample's class (null/None: all)."""
        logw = torch.log(self.weights.to(device))[None].expand(n, -1)
        if y is None:
            return logw
        y = torch.as_tensor(y, device=device)
        if y.dtype.is_floating_point or y.dtype == torch.bool or y.shape != (n,):
            raise ValueError(f"labels y must be {n} integers (one per sample), got shape "
                             f"{tuple(y.shape)} dtype {y.dtype}")
        C = self.num_classes
        lo, hi = int(y.min()), int(y.max())
        if lo < 0 or hi > C:
            raise ValueError(f"label {lo if lo < 0 else hi} is outside the classes 0..{C - 1} "
                             f"({C} = the null label)")
        keep = (self.labels.to(device)[None] == y[:, None]) | (y[:, None] == C)
        return torch.where(keep, logw, torch.full_like(logw, -math.inf))

    def log_prob(self, x: torch.Tensor, sde: Optional[SDE] = None, t=None) -> torch.Tensor:
        """log p_t(x) per sample (float64, shape (N,)); the data density when ``sde`` is None."""
        *_, logn = self._stats(x, sde, t)
        return torch.logsumexp(logn + self._log_weights(x.shape[0], None, logn.device), dim=1)

    def responsibilities(self, x, sde=None, t=None, y=None) -> torch.Tensor:
        """r_k(x) = P(component k | x_t = x [, class y]), shape (N, K)."""
        *_, logn = self._stats(x, sde, t)
        return torch.softmax(logn + self._log_weights(x.shape[0], y, logn.device), dim=1)

    def class_log_probs(self, x: torch.Tensor, sde: Optional[SDE] = None, t=None) -> torch.Tensor:
        """log P(class c | x_t = x), shape (N, num_classes): the exact noise-conditional classifier
        (a class without components gets -inf)."""
        *_, logn = self._stats(x, sde, t)
        joint = logn + torch.log(self.weights.to(logn.device))[None]
        classes = torch.arange(self.num_classes, device=logn.device)
        onehot = self.labels.to(logn.device)[None, :] == classes[:, None]             # (C, K)
        per = torch.where(onehot[None], joint[:, None, :], torch.full_like(joint[:, None, :], -math.inf))
        lp = torch.logsumexp(per, dim=2)                                            # (N, C)
        return lp - torch.logsumexp(joint, dim=1, keepdim=True)

    def classifier_fn(self, sde: SDE) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
        """``(x, t) -> log P(c | x_t)`` (N, C) as logits, for classifier guidance."""
        def fn(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            return self.class_log_probs(x, sde, t).to(x.dtype)
        fn.num_classes = self.num_classes
        return fn

    def _rotate_back(self, v: torch.Tensor) -> torch.Tensor:
        """U_k v_k for v (n, K, d) in the rotated coordinates."""
        if self.evecs is None:
            return v
        return torch.matmul(v.transpose(0, 1), self.evecs.to(v.device).transpose(1, 2)).transpose(0, 1)

    def score(self, x: torch.Tensor, sde: Optional[SDE] = None, t=None,
              y: Optional[torch.Tensor] = None) -> torch.Tensor:
        """grad_x log p_t(x [| class y]), in x's dtype."""
        m, diff, var_t, logn = self._stats(x, sde, t)
        r = torch.softmax(logn + self._log_weights(x.shape[0], y, logn.device), dim=1)
        sc = self._rotate_back(r[:, :, None] * (-diff / var_t)).sum(1)
        return sc.reshape(x.shape).to(x.dtype)

    def posterior_mean(self, x: torch.Tensor, sde: SDE, t,
                       y: Optional[torch.Tensor] = None) -> torch.Tensor:
        """E[x_0 | x_t = x [, class y]] (Tweedie's denoiser), in x's dtype."""
        m, diff, var_t, logn = self._stats(x, sde, t)
        r = torch.softmax(logn + self._log_weights(x.shape[0], y, logn.device), dim=1)
        shrink = self.evals.to(diff.device)[None] * m[:, None, None] * diff / var_t
        comp = self.means.to(diff.device)[None] + self._rotate_back(shrink)
        return (r[:, :, None] * comp).sum(1).reshape(x.shape).to(x.dtype)

    def marginal(self, sde: SDE, t: float) -> "GaussianMixture":
        """p_t itself as a GaussianMixture (scalar t)."""
        m, s = sde.marginal(float(t))
        m, s = float(m), float(s)
        return GaussianMixture._from_eig(m * self.means, m * m * self.evals + s * s, self.evecs,
                                         self.weights, self.labels, self.data_shape)

    # ------------------------------------------------------------------ conditioning
    def conditional(self, label: int) -> "GaussianMixture":
        """p(x_0 | class = label): the components labelled ``label``, weights renormalised."""
        if isinstance(label, bool) or not isinstance(label, int):
            if torch.is_tensor(label) and label.numel() == 1 and not label.dtype.is_floating_point:
                label = int(label)
            else:
                raise TypeError(f"label must be an integer class, got {label!r}")
        keep = self.labels == label
        if not bool(keep.any()):
            raise ValueError(f"label {label} is outside the classes of this mixture: "
                             f"{sorted(set(self.labels.tolist()))}")
        ev = None if self.evecs is None else self.evecs[keep]
        return GaussianMixture._from_eig(self.means[keep], self.evals[keep], ev,
                                         self.weights[keep], self.labels[keep], self.data_shape)

    def posterior(self, meas) -> "GaussianMixture":
        """The exact p(x_0 | y) for a ``LinearMeasurement`` y = A x_0 + noise_std n (a mixture with
        full covariances; see ``analytic.posterior``)."""
        from .posterior import linear_gaussian_posterior
        return linear_gaussian_posterior(self, meas)

    # ------------------------------------------------------------------ callables
    def score_fn(self, sde: SDE) -> Callable[..., torch.Tensor]:
        """The exact score ``(x, t, y=None) -> grad log p_t(x [| y])``, interchangeable with a
        trained model; ``y`` per-sample labels (null label = ``num_classes``)."""
        def fn(x: torch.Tensor, t: torch.Tensor, y: Optional[torch.Tensor] = None) -> torch.Tensor:
            return self.score(x, sde, t, y)
        fn.sde, fn.mixture, fn.data_shape = sde, self, self.data_shape
        fn.num_classes = self.num_classes
        return fn

    def denoiser_fn(self, sde: SDE) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
        """The exact posterior mean (x, t) -> E[x_0 | x_t]."""
        return lambda x, t: self.posterior_mean(x, sde, t)

    def __repr__(self):
        kind = "diag" if self.evecs is None else "full"
        return f"GaussianMixture(K={self.num_components}, data_shape={self.data_shape}, {kind})"
