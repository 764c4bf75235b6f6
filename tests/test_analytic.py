"""Gaussian mixtures: the exact score, log-density, posterior mean and marginals of p_t."""
import math

import pytest
import torch

from sde_diffusion.analytic import GaussianMixture, random_mixture, ring_of_gaussians, three_clusters_1d
from sde_diffusion.sdes import SubVPSDE, VESDE, VPSDE

SDES = [VPSDE(), VPSDE(schedule="cosine"), SubVPSDE(), VESDE(sigma_max=10.0)]


@pytest.mark.parametrize("sde", SDES, ids=repr)
@pytest.mark.parametrize("gm", [ring_of_gaussians(), random_mixture(dim=5, k=3), three_clusters_1d()],
                         ids=["ring", "diag5d", "clusters1d"])
def test_score_equals_autograd_of_log_p_t(sde, gm):
    g = torch.Generator().manual_seed(0)
    x = gm.sample(16, generator=g, dtype=torch.float64) * 1.3
    t = torch.rand(16, generator=g, dtype=torch.float64) * (sde.T - 1e-3) + 1e-3
    x.requires_grad_(True)
    (grad,) = torch.autograd.grad(gm.log_prob(x, sde, t).sum(), x)
    torch.testing.assert_close(gm.score(x.detach(), sde, t), grad, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(gm.score_fn(sde)(x.detach(), t), grad, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("sde", SDES, ids=repr)
def test_posterior_mean_is_tweedie(sde):
    """E[x0 | x_t] = (x_t + s^2 score) / m (Tweedie's formula)."""
    gm = random_mixture(dim=4, k=3, seed=2)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(32, 4, generator=g, dtype=torch.float64) * 3
    t = torch.full((32,), 0.3, dtype=torch.float64)
    m, s = sde.marginal(t)
    tweedie = (x + s[:, None] ** 2 * gm.score(x, sde, t)) / m[:, None]
    torch.testing.assert_close(gm.posterior_mean(x, sde, t), tweedie, rtol=1e-9, atol=1e-9)


def test_posterior_mean_monte_carlo():
    """Regressing x0 on x_t near one point: E[x0 | x_t] by Monte Carlo for a 1-D mixture."""
    gm, sde = three_clusters_1d(), VPSDE()
    g = torch.Generator().manual_seed(5)
    n = 400000
    x0 = gm.sample(n, generator=g, dtype=torch.float64)
    xt = sde.perturb(x0, 0.3, torch.randn(n, 1, generator=g, dtype=torch.float64))
    sel = (xt - 0.8).abs() < 0.02
    est, k = x0[sel].mean(), int(sel.sum())
    se = x0[sel].std() / math.sqrt(k)
    exact = gm.posterior_mean(torch.tensor([[0.8]], dtype=torch.float64), sde, 0.3)
    # the window of half-width 0.02 biases by O(slope * 0.02^2): negligible beside 4 SE
    assert abs(float(est) - float(exact)) < 4 * float(se) + 2e-3


def test_marginal_mixture_matches_perturbed_samples():
    gm, sde = ring_of_gaussians(), VESDE(sigma_max=10.0)
    g = torch.Generator().manual_seed(2)
    n = 50000
    x0 = gm.sample(n, generator=g, dtype=torch.float64)
    xt = sde.perturb(x0, 0.5, torch.randn(n, 2, generator=g, dtype=torch.float64))
    pt = gm.marginal(sde, 0.5)
    # second moments agree within 4 SE
    exact = pt.covariance_trace()
    est = float(((xt - xt.mean(0)) ** 2).sum(1).mean())
    se = float(((xt - xt.mean(0)) ** 2).sum(1).std()) / math.sqrt(n)
    assert abs(est - exact) < 4 * se
    # the marginal mixture's density equals log p_t
    y = torch.randn(10, 2, dtype=torch.float64)
    torch.testing.assert_close(pt.log_prob(y), gm.log_prob(y, sde, torch.full((10,), 0.5, dtype=torch.float64)))


def test_log_prob_normalised_1d():
    gm = three_clusters_1d()
    grid = torch.linspace(-10, 10, 20001, dtype=torch.float64)[:, None]
    p = gm.log_prob(grid).exp()
    assert abs(float(torch.trapezoid(p, grid[:, 0])) - 1) < 1e-8


def test_image_shaped_mixture_and_sampling_moments():
    means = torch.randn(3, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    gm = GaussianMixture(means, [0.5, 0.2, 0.3], [0.2, 0.3, 0.5])
    x, k = gm.sample(30000, generator=torch.Generator().manual_seed(1), dtype=torch.float64,
                     return_labels=True)
    assert x.shape == (30000, 1, 4, 4)
    freq = torch.bincount(k, minlength=3).double() / 30000
    assert bool(((freq - gm.weights).abs() < 4 * torch.sqrt(gm.weights * (1 - gm.weights) / 30000)).all())
    sc = gm.score(x[:4], VPSDE(), torch.full((4,), 0.5))
    assert sc.shape == (4, 1, 4, 4)


def test_bad_mixture_input():
    with pytest.raises(ValueError, match="positive"):
        GaussianMixture([[0.0], [1.0]], [0.1, -0.2])
    with pytest.raises(ValueError, match="weights"):
        GaussianMixture([[0.0], [1.0]], [0.1, 0.2], [1.0])
    with pytest.raises(ValueError, match="values per sample"):
        ring_of_gaussians().log_prob(torch.zeros(3, 5))
