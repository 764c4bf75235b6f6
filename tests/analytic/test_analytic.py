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


# ---------------------------------------------------------------------- full covariances
from sde_diffusion.analytic import random_full_mixture  # noqa: E402
from sde_diffusion.conditional import LinearMeasurement  # noqa: E402
from sde_diffusion.metrics import sliced_wasserstein  # noqa: E402
from sde_diffusion.solvers import sample  # noqa: E402


def _rotation(d, seed):
    q, _ = torch.linalg.qr(torch.randn(d, d, generator=torch.Generator().manual_seed(seed),
                                       dtype=torch.float64))
    return q


@pytest.mark.parametrize("sde", SDES, ids=repr)
def test_full_cov_score_equals_autograd_and_tweedie(sde):
    gm = random_full_mixture(dim=4, k=3, seed=3)
    g = torch.Generator().manual_seed(0)
    x = gm.sample(16, generator=g, dtype=torch.float64) * 1.3
    t = torch.rand(16, generator=g, dtype=torch.float64) * (sde.T - 1e-3) + 1e-3
    x.requires_grad_(True)
    (grad,) = torch.autograd.grad(gm.log_prob(x, sde, t).sum(), x)
    x = x.detach()
    torch.testing.assert_close(gm.score(x, sde, t), grad, rtol=1e-6, atol=1e-6)
    m, s = sde.marginal(t)
    tweedie = (x + s[:, None] ** 2 * grad) / m[:, None]
    torch.testing.assert_close(gm.posterior_mean(x, sde, t), tweedie, rtol=1e-7, atol=1e-7)


def test_full_cov_equals_rotated_diagonal_mixture():
    """C_k = R diag(v_k) R^T: log p(x) = log p_diag(R^T x), score = R score_diag(R^T x)."""
    d, R = 3, _rotation(3, 4)
    g = torch.Generator().manual_seed(1)
    mu_rot = torch.randn(2, d, generator=g, dtype=torch.float64) * 2
    v = 0.2 + torch.rand(2, d, generator=g, dtype=torch.float64)
    diag = GaussianMixture(mu_rot, v.sqrt(), [0.3, 0.7])
    full = GaussianMixture(mu_rot @ R.T, weights=[0.3, 0.7], covs=R @ torch.diag_embed(v) @ R.T)
    x = torch.randn(20, d, generator=g, dtype=torch.float64) * 2
    sde, t = VPSDE(), torch.full((20,), 0.4, dtype=torch.float64)
    torch.testing.assert_close(full.log_prob(x), diag.log_prob(x @ R), rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(full.score(x, sde, t), diag.score(x @ R, sde, t) @ R.T,
                               rtol=1e-10, atol=1e-10)
    # a diagonal mixture given as covs behaves exactly like the stds form
    same = GaussianMixture(mu_rot, weights=[0.3, 0.7], covs=torch.diag_embed(v))
    torch.testing.assert_close(same.score(x, sde, t), diag.score(x, sde, t), rtol=1e-10, atol=1e-10)


def test_full_cov_sampling_moments_and_normalisation():
    gm = random_full_mixture(dim=2, k=3, seed=5)
    n = 60000
    x = gm.sample(n, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    mu, C = gm.mean(), gm.covariance()
    assert bool(((x.mean(0) - mu).abs() < 5 * x.std(0) / math.sqrt(n)).all())
    xc = x - mu
    prod = xc[:, :, None] * xc[:, None, :]
    se = prod.std(0) / math.sqrt(n)
    assert bool(((prod.mean(0) - C).abs() < 5 * se).all())
    lim = float(x.abs().max()) + 4
    u = torch.linspace(-lim, lim, 801, dtype=torch.float64)
    X, Y = torch.meshgrid(u, u, indexing="ij")
    p = gm.log_prob(torch.stack([X.reshape(-1), Y.reshape(-1)], 1)).exp().reshape(801, 801)
    mass = torch.trapezoid(torch.trapezoid(p, u, dim=1), u)
    assert abs(float(mass) - 1) < 1e-6


def test_full_cov_marginal_matches_perturbed_samples():
    gm, sde, n = random_full_mixture(dim=3, k=2, seed=6), SubVPSDE(), 50000
    g = torch.Generator().manual_seed(3)
    x0 = gm.sample(n, generator=g, dtype=torch.float64)
    xt = sde.perturb(x0, 0.5, torch.randn(n, 3, generator=g, dtype=torch.float64))
    C = gm.marginal(sde, 0.5).covariance()
    xc = xt - xt.mean(0)
    prod = xc[:, :, None] * xc[:, None, :]
    assert bool(((prod.mean(0) - C).abs() < 5 * prod.std(0) / math.sqrt(n)).all())


# ---------------------------------------------------------------------- exact posteriors
def _grid_posterior(gm, A, y, sigma, lim=9.0, n=801):
    """Bayes on a 2-D grid: per-component posterior mass, means and covariances."""
    u = torch.linspace(-lim, lim, n, dtype=torch.float64)
    X, Y = torch.meshgrid(u, u, indexing="ij")
    pts = torch.stack([X.reshape(-1), Y.reshape(-1)], 1)
    loglik = -0.5 * ((pts @ A.T - y) ** 2).sum(1) / sigma ** 2
    out = []
    for k in range(gm.num_components):
        comp = GaussianMixture(gm.means[k:k + 1], covs=gm.covs[k:k + 1])
        dens = (torch.log(gm.weights[k]) + comp.log_prob(pts) + loglik).exp().reshape(n, n)
        integ = lambda f: torch.trapezoid(torch.trapezoid(f * dens, u, dim=1), u)
        mass = integ(torch.ones_like(dens))
        mean = torch.stack([integ(X), integ(Y)]) / mass
        dx, dy = X - mean[0], Y - mean[1]
        cov = torch.stack([torch.stack([integ(dx * dx), integ(dx * dy)]),
                           torch.stack([integ(dx * dy), integ(dy * dy)])]) / mass
        out.append((mass, mean, cov))
    mass = torch.stack([o[0] for o in out])
    return mass / mass.sum(), torch.stack([o[1] for o in out]), torch.stack([o[2] for o in out])


def test_posterior_equals_bayes_on_a_grid():
    gm = random_full_mixture(dim=2, k=3, seed=1, spread=2.0)
    A = torch.tensor([[0.8, -0.6]], dtype=torch.float64)
    y = torch.tensor([0.7], dtype=torch.float64)
    post = gm.posterior(LinearMeasurement(A, y, 0.5))
    w, means, covs = _grid_posterior(gm, A, y, 0.5)
    torch.testing.assert_close(post.weights, w, rtol=0, atol=1e-8)
    torch.testing.assert_close(post.means, means, rtol=0, atol=1e-7)
    torch.testing.assert_close(post.covs, covs, rtol=0, atol=1e-7)


def test_noiseless_inpainting_posterior_equals_conditional_on_a_line():
    """Observe x_1 = y exactly: p(x_2 | x_1 = y) by a 1-D grid through the joint density."""
    gm = random_full_mixture(dim=2, k=3, seed=2, spread=2.0)
    meas = LinearMeasurement.inpainting(torch.tensor([1.0, 0.0]), torch.tensor([0.9, 0.0]))
    post = gm.posterior(meas)
    u = torch.linspace(-12, 12, 24001, dtype=torch.float64)
    pts = torch.stack([torch.full_like(u, 0.9), u], 1)
    masses, means, vars_ = [], [], []
    for k in range(3):
        comp = GaussianMixture(gm.means[k:k + 1], covs=gm.covs[k:k + 1])
        dens = gm.weights[k] * comp.log_prob(pts).exp()
        mass = torch.trapezoid(dens, u)
        mean = torch.trapezoid(dens * u, u) / mass
        masses.append(mass), means.append(mean)
        vars_.append(torch.trapezoid(dens * (u - mean) ** 2, u) / mass)
    w = torch.stack(masses) / sum(masses)
    # grid quadrature agrees to ~1e-8; a wrong factor anywhere would show at O(0.1)
    torch.testing.assert_close(post.weights, w, rtol=0, atol=1e-6)
    torch.testing.assert_close(post.means[:, 1], torch.stack(means), rtol=0, atol=1e-6)
    torch.testing.assert_close(post.covs[:, 1, 1], torch.stack(vars_), rtol=0, atol=1e-6)
    torch.testing.assert_close(post.means[:, 0], torch.full((3,), 0.9, dtype=torch.float64))
    assert float(post.covs[:, 0].abs().max()) < 1e-12  # the observed coordinate is exact


@pytest.mark.parametrize("dim,m", [(16, 4), (6, 6)])
def test_posterior_satisfies_bayes_rule_pointwise(dim, m):
    """log p(x) + log p(y | x) - log p(x | y) = log p(y) is the same constant at every x."""
    gm = random_full_mixture(dim=dim, k=4, seed=7)
    g = torch.Generator().manual_seed(8)
    A = torch.randn(m, dim, generator=g, dtype=torch.float64) / math.sqrt(dim)
    x_true = gm.sample(1, generator=g, dtype=torch.float64)
    sigma = 0.3
    y = (x_true @ A.T)[0] + sigma * torch.randn(m, generator=g, dtype=torch.float64)
    post = gm.posterior(LinearMeasurement(A, y, sigma))
    x = torch.cat([post.sample(50, generator=g, dtype=torch.float64),
                   gm.sample(50, generator=g, dtype=torch.float64)])
    loglik = -0.5 * ((x @ A.T - y) ** 2).sum(1) / sigma ** 2 - m * math.log(sigma * math.sqrt(2 * math.pi))
    log_y = gm.log_prob(x) + loglik - post.log_prob(x)
    assert float(log_y.max() - log_y.min()) < 1e-8
    # and the constant is the evidence p(y) = sum_k w_k N(y; A mu_k, A C_k A^T + sigma^2 I)
    S = A @ gm.covs @ A.T + sigma ** 2 * torch.eye(m, dtype=torch.float64)
    ev = torch.stack([torch.distributions.MultivariateNormal(A @ gm.means[k], S[k]).log_prob(y)
                      for k in range(4)])
    assert abs(float(torch.logsumexp(ev + gm.weights.log(), 0)) - float(log_y[0])) < 1e-8


@pytest.mark.parametrize("case", ["projection2d", "inpaint16d"])
def test_sampling_with_exact_posterior_score_reproduces_posterior(case):
    g = torch.Generator().manual_seed(11)
    if case == "projection2d":
        gm = ring_of_gaussians()
        meas = LinearMeasurement(torch.tensor([[0.6, 0.8]]), torch.tensor([1.5]), 0.5)
        sampler, steps = "heun", 50
    else:
        gm = random_mixture(dim=16, k=5, seed=0)
        x_true = gm.sample(1, generator=g, dtype=torch.float64)[0]
        mask = (torch.arange(16) < 8).double()
        meas = LinearMeasurement.inpainting(mask, x_true * mask)
        sampler, steps = "euler_maruyama", 200
    post, sde, n = gm.posterior(meas), VPSDE(), 2000
    x, info = sample(sde, post.score_fn(sde), (n, gm.dim), sampler=sampler, steps=steps,
                     generator=g, dtype=torch.float64)
    ref = post.sample(n, generator=g, dtype=torch.float64)
    ref2 = post.sample(n, generator=g, dtype=torch.float64)
    se = ref.std(0) / math.sqrt(n) * math.sqrt(2)
    assert bool(((x.mean(0) - ref.mean(0)).abs() <= 4 * se + 1e-3).all())
    floor = sliced_wasserstein(ref, ref2)
    assert sliced_wasserstein(x, ref) < 2 * floor


def test_conditional_and_labelled_scores():
    gm = GaussianMixture(torch.tensor([[-2.0, 0.0], [2.0, 0.0], [0.0, 3.0]]), [0.5, 0.7, 0.4],
                         [0.2, 0.3, 0.5], labels=[1, 0, 1])
    assert gm.num_classes == 2
    c1 = gm.conditional(1)
    torch.testing.assert_close(c1.weights, torch.tensor([0.2, 0.5], dtype=torch.float64) / 0.7)
    torch.testing.assert_close(c1.means, gm.means[[0, 2]])
    sde, g = VESDE(sigma_max=10.0), torch.Generator().manual_seed(0)
    x = torch.randn(6, 2, generator=g, dtype=torch.float64) * 3
    t = torch.full((6,), 0.3, dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 1, 0, 2])  # 2 = the null label: the unconditional score
    want = torch.stack([gm.conditional(0).score(x, sde, t)[i] if y[i] == 0 else
                        gm.conditional(1).score(x, sde, t)[i] if y[i] == 1 else
                        gm.score(x, sde, t)[i] for i in range(6)])
    torch.testing.assert_close(gm.score_fn(sde)(x, t, y), want, rtol=1e-12, atol=1e-12)
    xs, lab = gm.sample(30000, generator=g, return_labels=True)
    freq1 = float((lab == 1).double().mean())
    assert abs(freq1 - 0.7) < 4 * math.sqrt(0.21 / 30000)
