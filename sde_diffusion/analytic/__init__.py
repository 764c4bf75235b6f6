"""Gaussian mixtures: exact score, log-density, Tweedie denoiser, class-conditionals and
linear-Gaussian posteriors under any SDE of the package (ground truth for tests and benchmarks).

``GaussianMixture`` (diagonal or full covariances), ``linear_gaussian_posterior`` (what
``GaussianMixture.posterior`` computes), the reference problems and the problem suite with its
tuning and validation halves (``problem_suite``).
"""
from .mixture import GaussianMixture
from .posterior import linear_gaussian_posterior
from .problems import random_full_mixture, random_mixture, ring_of_gaussians, three_clusters_1d
from .suite import SuiteProblem, problem_suite, suite_mixture, suite_problem, suite_split

__all__ = ["GaussianMixture", "linear_gaussian_posterior", "ring_of_gaussians", "three_clusters_1d",
           "random_mixture", "random_full_mixture", "SuiteProblem", "problem_suite", "suite_problem",
           "suite_split", "suite_mixture"]
