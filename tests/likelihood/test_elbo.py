"""Variational bounds: the continuous-time ELBO and the discrete chain's bound.

Theory checked here (see ``sde_diffusion.likelihood.elbo``): for the exact score of p_t the
continuous bound equals, per data point and in expectation over (t, noise),

    log p_0(x_0) + E_{x_T ~ q(x_T | x_0)}[log pi(x_T) - log p_T(x_T)]   (prior mismatch)

up to a decoder gap O(d sigma_eps^2) (< 1e-4 here). The discrete bound lies below the exact
mean log p and approaches it as the number of steps grows.
"""
import math

import pytest
import torch

from sde_diffusion.analytic import GaussianMixture, ring_of_gaussians
from sde_diffusion.likelihood import Quantization, discrete_elbo, elbo
from sde_diffusion.sdes import SubVPSDE, VESDE, VPSDE

MU = torch.tensor([0.5, -1.0], dtype=torch.float64)
STD = torch.tensor([0.7, 0.4], dtype=torch.float64)
SDES = {"vp": lambda: VPSDE(), "subvp": lambda: SubVPSDE(), "ve": lambda: VESDE(sigma_max=20.0)}


def gaussian():
    return GaussianMixture(MU[None], STD[None])


def gaussian_mismatch(sde, x0):
    """E_{x_T ~ N(m_T x0, s_T^2)}[log N(x_T; 0, s_T^2) - log N(x_T; m_T MU, v_T)] in closed form."""
    m, s = sde.marginal(sde.T)
    pi_var, v = torch.as_tensor(sde.prior_std() ** 2, dtype=torch.float64), m ** 2 * STD ** 2 + s ** 2

    def e_log_normal(mean, var):
        return (-0.5 * torch.log(2 * math.pi * var) - ((m * x0 - mean) ** 2 + s ** 2) / (2 * var)).sum(1)
    return e_log_normal(0.0, pi_var) - e_log_normal(m * MU, v)


def mixture_mismatch(sde, gm, x0, n=4000, seed=0):
    """Monte Carlo of the same expectation for a mixture (no score calls, small error)."""
    g = torch.Generator().manual_seed(seed)
    m, s = sde.marginal(sde.T)
    xT = m * x0.repeat_interleave(n, 0) + s * torch.randn(x0.shape[0] * n, x0.shape[1], generator=g,
                                                            dtype=torch.float64)
    diff = sde.prior_logp(xT) - gm.log_prob(xT, sde, sde.T)
    return diff.reshape(x0.shape[0], n).mean(1)


def check_agreement(res, target):
    """The mean over points within 3 SE, and each point within 4 SE (+ 1e-3 nats slack)."""
    diff = res.elbo - target
    se_mean = float(res.se.pow(2).sum().sqrt()) / len(diff)
    assert abs(float(diff.mean())) < 3 * se_mean + 1e-3, (float(diff.mean()), se_mean)
    assert bool((diff.abs() < 4 * res.se + 1e-3).all())


@pytest.mark.parametrize("name", list(SDES))
def test_elbo_tight_for_exact_gaussian_score(name):
    sde = SDES[name]()
    gm = gaussian()
    x = gm.sample(16, torch.Generator().manual_seed(0), dtype=torch.float64)
    res = elbo(sde, gm.score_fn(sde), x, n_samples=40000, generator=torch.Generator().manual_seed(1))
    check_agreement(res, gm.log_prob(x) + gaussian_mismatch(sde, x))
    assert float(res.se.max()) < 0.15  # mean over 16 points: 3 SE ~ 0.1 nats
    assert res.n_score_calls == 16 * 40000 and res.elbo.shape == (16,)
    assert torch.allclose(res.elbo, res.boundary_term - res.prior_kl - res.diffusion_term)


@pytest.mark.parametrize("name", ["vp", "ve"])
def test_elbo_tight_for_exact_mixture_score(name):
    sde = VPSDE() if name == "vp" else VESDE(sigma_max=50.0)
    gm = ring_of_gaussians()
    x = gm.sample(12, torch.Generator().manual_seed(2), dtype=torch.float64)
    res = elbo(sde, gm.score_fn(sde), x, n_samples=3000, generator=torch.Generator().manual_seed(3))
    check_agreement(res, gm.log_prob(x) + mixture_mismatch(sde, gm, x))


def test_elbo_standard_error_falls_as_inverse_sqrt_samples():
    sde = VPSDE()
    gm = gaussian()
    x = gm.sample(16, torch.Generator().manual_seed(4), dtype=torch.float64)
    se = [float(elbo(sde, gm.score_fn(sde), x, n_samples=n,
                     generator=torch.Generator().manual_seed(5)).se.mean()) for n in (250, 4000)]
    assert 4 * 0.85 < se[0] / se[1] < 4 * 1.15  # sqrt(4000 / 250) = 4


def test_importance_sampling_lowers_variance_without_control_variate():
    """Measured in benchmarks/RESULTS.md. Without the control variate the integrand grows like
    1/t at small t under uniform t; log-SNR-uniform t makes its weight constant."""
    sde = VPSDE()
    gm = gaussian()
    x = gm.sample(8, torch.Generator().manual_seed(6), dtype=torch.float64)
    var = {ts: float(elbo(sde, gm.score_fn(sde), x, n_samples=2000, t_sampling=ts,
                          control_variate=False, generator=torch.Generator().manual_seed(7))
                     .per_draw.var(1).mean()) for ts in ("uniform", "importance")}
    assert var["importance"] < var["uniform"] / 10


def test_control_variate_is_unbiased():
    sde = VPSDE()
    gm = gaussian()
    x = gm.sample(8, torch.Generator().manual_seed(8), dtype=torch.float64)
    a = elbo(sde, gm.score_fn(sde), x, n_samples=4000, control_variate=False,
             generator=torch.Generator().manual_seed(9))
    b = elbo(sde, gm.score_fn(sde), x, n_samples=4000, control_variate=True,
             generator=torch.Generator().manual_seed(10))
    diff = float((a.elbo - b.elbo).mean())
    se = float((a.se ** 2 + b.se ** 2).sum().sqrt()) / 8
    assert abs(diff) < 3 * se


def test_elbo_bits_per_dim_uses_the_shared_conventions():
    sde = VPSDE()
    gm = GaussianMixture(torch.zeros(1, 2), [0.3])
    k = ((gm.sample(4, torch.Generator().manual_seed(0), dtype=torch.float64).clamp(-1, 1) + 1)
         * 127.5).round()
    x = k / 127.5 - 1
    q = Quantization()
    res = elbo(sde, gm.score_fn(sde), x, n_samples=8, quantization=q,
               generator=torch.Generator().manual_seed(0))
    assert torch.allclose(res.bpd, -(res.elbo + 2 * math.log(2 / 256)) / (2 * math.log(2)))


# ------------------------------------------------------------------ discrete chain
def discrete_gaps(num_steps, n_points=64, n_samples=64, **kw):
    """Per-point bound minus exact log p_0 on the same 64 data points."""
    sde = VPSDE()
    gm = gaussian()
    x = gm.sample(n_points, torch.Generator().manual_seed(11), dtype=torch.float64)
    res = discrete_elbo(sde, gm.denoiser_fn(sde), x, num_steps=num_steps, prediction="x0",
                        n_samples=n_samples, generator=torch.Generator().manual_seed(12), **kw)
    return res.elbo - gm.log_prob(x), res


def mean_se(v):
    return float(v.mean()), float(v.std()) / math.sqrt(len(v))


def test_discrete_bound_below_log_p_and_approaching_it():
    gap10, r10 = discrete_gaps(10)
    gap300, _ = discrete_gaps(300)
    m10, se10 = mean_se(gap10)
    m300, se300 = mean_se(gap300)
    assert m10 < -3 * se10             # clearly below at 10 steps
    assert m300 < 3 * se300            # never significantly above
    md, sed = mean_se(gap300 - gap10)  # same points: the data's own spread cancels
    assert md > 3 * sed                # closer with more steps
    assert r10.n_model_calls == 64 * 64 * 10 and r10.se is not None


@pytest.mark.slow
def test_discrete_bound_table_to_1000_steps():
    gaps = {n: discrete_gaps(n)[0] for n in (10, 100, 1000)}
    m, se = mean_se(gaps[1000])
    assert m < 3 * se
    md, sed = mean_se(gaps[1000] - gaps[10])
    assert md > 3 * sed


def expected_discrete_bound(sde, chain, x0, variance):
    """Closed-form E_q of the discrete bound for N(MU, diag STD^2) data and the exact
    posterior mean: x0_hat(x_i) is linear in x_i, so E|x0 - x0_hat|^2 is explicit."""
    c, d = STD ** 2, x0.shape[1]
    ab, betas = chain.alpha_bars, chain.betas

    def err2(i):  # E_{x_i | x0} |x0 - x0_hat(x_i)|^2
        m2, s2 = ab[i], 1 - ab[i]
        v = m2 * c + s2
        return ((x0 - MU) ** 2 * (s2 / v) ** 2 + c ** 2 * m2 * s2 / v ** 2).sum(1)
    bound = -0.5 * d * torch.log(2 * math.pi * betas[0]) - err2(1) / (2 * betas[0])
    for i in range(2, chain.num_steps + 1):
        bt = chain.posterior_variance(i)
        var = betas[i - 1] if variance == "beta" else bt
        coef = ab[i - 1].sqrt() * betas[i - 1] / (1 - ab[i])
        bound = bound - 0.5 * d * (bt / var - 1 - torch.log(bt / var)) - 0.5 * coef ** 2 * err2(i) / var
    N = chain.num_steps
    prior_var = sde.prior_std() ** 2
    kl = 0.5 * (d * (math.log(prior_var) - torch.log(1 - ab[N]) + (1 - ab[N]) / prior_var - 1)
                + ab[N] * (x0 ** 2).sum(1) / prior_var)
    return bound - kl


@pytest.mark.parametrize("variance", ["beta", "beta_tilde"])
def test_discrete_bound_matches_closed_form_expectation(variance):
    sde = VPSDE()
    gm = gaussian()
    x = gm.sample(32, torch.Generator().manual_seed(18), dtype=torch.float64)
    res = discrete_elbo(sde, gm.denoiser_fn(sde), x, num_steps=40, prediction="x0",
                        variance=variance, n_samples=256, generator=torch.Generator().manual_seed(19))
    check_agreement(res, expected_discrete_bound(sde, sde.discrete(40), x, variance))
    assert float(res.se.pow(2).mean().sqrt()) / math.sqrt(32) < 0.03


def test_discrete_sampled_steps_unbiased_and_score_input():
    sde = VPSDE()
    gm = gaussian()
    x = gm.sample(16, torch.Generator().manual_seed(13), dtype=torch.float64)
    exact = discrete_elbo(sde, gm.denoiser_fn(sde), x, num_steps=50, prediction="x0",
                          n_samples=32, generator=torch.Generator().manual_seed(14))
    sampled = discrete_elbo(sde, gm.score_fn(sde), x, num_steps=50, prediction="score",
                            sampled_steps=400, generator=torch.Generator().manual_seed(15))
    diff = float((exact.elbo - sampled.elbo).mean())
    se = float((exact.se ** 2 + sampled.se ** 2).sum().sqrt()) / 16
    assert abs(diff) < 3 * se
    assert sampled.n_model_calls == 16 * 800


def test_discretized_decoder_bits_per_dim():
    """8-bit Gaussian data: the discretised-decoder bound in bits/dim is not below the data's
    own -log2 P(k) / d (Ho et al. bins) beyond Monte Carlo error, and close to it at N = 200."""
    sde = VPSDE()
    mu, std = torch.tensor([0.1, -0.2], dtype=torch.float64), torch.tensor([0.3, 0.25], dtype=torch.float64)
    gm = GaussianMixture(mu[None], std[None])
    k = ((gm.sample(64, torch.Generator().manual_seed(16), dtype=torch.float64).clamp(-1, 1) + 1)
         * 127.5).round()
    x = k / 127.5 - 1
    res = discrete_elbo(sde, gm.denoiser_fn(sde), x, num_steps=200, prediction="x0",
                        decoder="discretized", n_samples=8, generator=torch.Generator().manual_seed(17))
    nd = torch.distributions.Normal(mu, std)
    lo = torch.where(k == 0, torch.full_like(x, -math.inf), x - 1 / 255)
    hi = torch.where(k == 255, torch.full_like(x, math.inf), x + 1 / 255)
    true_bpd = -torch.log(nd.cdf(hi) - nd.cdf(lo)).sum(1) / (2 * math.log(2))
    diff = res.bpd - true_bpd
    se = float(diff.std()) / 8
    assert float(diff.mean()) > -3 * se
    assert float(diff.mean()) < 0.1
    assert res.decoder == "discretized" and res.bpd is not None


def test_bound_errors_are_clear():
    sde = VPSDE()
    gm = gaussian()
    x = gm.sample(4, torch.Generator().manual_seed(0), dtype=torch.float64)
    with pytest.raises(ValueError, match="shape"):
        elbo(sde, lambda y, t: y[:, :1], x, n_samples=4)
    with pytest.raises(ValueError, match="shape"):
        discrete_elbo(sde, lambda y, t: y[:, :1], x, num_steps=5)
    with pytest.raises(ValueError, match="num_steps"):
        discrete_elbo(sde, gm.score_fn(sde), x, num_steps=0)
    with pytest.raises(ValueError, match="n_samples"):
        elbo(sde, gm.score_fn(sde), x, n_samples=1)
    with pytest.raises(ValueError, match="'uniform', 'importance'"):
        elbo(sde, gm.score_fn(sde), x, t_sampling="stratified")
    with pytest.raises(ValueError, match="outside the declared value_range"):
        discrete_elbo(sde, gm.score_fn(sde), x * 10, num_steps=5, decoder="discretized")
    with pytest.raises(ValueError, match="discrete chain"):
        discrete_elbo(VESDE(), gm.score_fn(VESDE()), x, num_steps=5)
    with pytest.raises(ValueError, match="'beta', 'beta_tilde'"):
        discrete_elbo(sde, gm.score_fn(sde), x, num_steps=5, variance="learned")
    with pytest.raises(ValueError, match="non-finite"):
        elbo(sde, lambda y, t: y * float("nan"), x, n_samples=4)
