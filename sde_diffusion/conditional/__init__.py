"""Conditional generation: classifier-free and classifier guidance, linear inverse problems
(modules ``measurement``, ``guidance``, ``inverse``; every name is importable from here).

Every function here returns a *score function* ``(x, t) -> score`` (or, for the replacement
method, an ``after_step`` hook), so it works with every sampler of ``sde_diffusion.solvers``.

Classifier-free guidance (Ho & Salimans 2021), convention used throughout the package:

    s_w(x, t | c) = (1 + w) s(x, t | c) - w s(x, t)        w = 0: the conditional model;
                                                             w = -1: the unconditional model.

The two network evaluations are batched into one call on the doubled batch (labels c and the
null label). ``nfe`` counts *network evaluations* (2 per guided score, 1 at w = 0 or w = -1),
``calls`` counts forward calls (1 per guided score when batched).

Classifier guidance (Song et al. 2021; Dhariwal & Nichol 2021):
    s(x, t) + scale * grad_x log p_phi(c | x_t, t).

Linear inverse problems y = A x_0 + sigma n (``LinearMeasurement``), with the Tweedie estimate
x0_hat(x_t) = (x_t + s^2 score) / m and its Jacobian J = d x0_hat / d x_t:

    DPS (Chung et al. 2023):     grad log p(y | x_t) ~ -scale grad_x |y - A x0_hat|^2 / (2 sigma^2)
    PiGDM (Song et al. 2023):    grad log p(y | x_t) ~ scale J^T A^T Sigma_y^{-1} (y - A x0_hat),
                                 Sigma_y = r_t^2 A A^T + sigma^2 I,
                                 r_t^2 = data_var s^2 / (m^2 data_var + s^2)

PiGDM is exact when the data are one Gaussian N(mu, data_var I). ``jacobian="gaussian"``
replaces J by that Gaussian's m data_var / (m^2 data_var + s^2) I (no backward pass; stable
where a trained VP model's J, amplified by 1/m(t) near T, is not). DPS needs sigma > 0 (its
likelihood is a delta otherwise): for a noiseless measurement pass ``dps_noise``. The
replacement method of score_sde (``replacement``) projects x_t after every step onto the
perturbed measurement {x : A x = m(t) y + s(t) A z}; for a mask this overwrites the observed
pixels with a fresh noisy copy of y (PC inpainting); the measurement noise is ignored.
"""
from .guidance import GuidedScore, cfg_score, classifier_score
from .inverse import POSTERIOR_METHODS, GuidanceDivergedError, posterior_score, replacement
from .measurement import LinearMeasurement

__all__ = ["LinearMeasurement", "GuidedScore", "cfg_score", "classifier_score",
           "posterior_score", "replacement", "POSTERIOR_METHODS", "GuidanceDivergedError"]
