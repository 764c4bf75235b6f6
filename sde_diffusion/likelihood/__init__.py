"""Likelihoods of a score model: exact (probability-flow ODE) and variational bounds.

Three estimates of log p(x) for the same score function, side by side:

1. ``log_likelihood`` (``ode.py``): the probability-flow ODE as a continuous normalising flow.
2. ``elbo`` (``bounds.py``): the continuous-time variational bound of the reverse-SDE model
   (Song, Durkan, Murray & Ermon 2021; Kingma et al. 2021, VDM).
3. ``discrete_elbo`` (``bounds.py``): the bound of the discrete DDPM chain (Ho et al. 2020).

Units: every function returns natural-log values per sample (nats); ``Quantization``
(``quantization.py``) holds the conventions (dequantisation, the data scaling's log-det, the
bits offset) that turn them into bits/dim of 8-bit data, in this one place. ``evaluate``
(``evaluation.py``) summarises a data set's NLL by each method (no maths of its own).
"""
from .bounds import DECODERS, PREDICTIONS, VARIANCES, DiscreteELBOResult, ELBOResult, discrete_elbo, elbo
from .evaluation import EVAL_METHODS, evaluate
from .ode import DIVERGENCES, ODE_METHODS, PROBES, LikelihoodResult, _draw_probes, log_likelihood
from .quantization import BitsPerDimResult, Quantization, bits_per_dim

__all__ = ["Quantization", "LikelihoodResult", "BitsPerDimResult", "ELBOResult",
           "DiscreteELBOResult", "log_likelihood", "bits_per_dim", "elbo", "discrete_elbo",
           "evaluate", "ODE_METHODS", "DIVERGENCES", "PROBES", "EVAL_METHODS", "VARIANCES",
           "DECODERS", "PREDICTIONS"]
