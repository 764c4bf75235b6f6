"""Forward SDEs: kernels against torchsde Monte Carlo, internal consistency, the discrete chain,
the derived reverse SDE / PF-ODE, endpoints and input validation."""
import math

import pytest
import torch
import torchsde

from sde_diffusion.analytic import ring_of_gaussians
from sde_diffusion.metrics import sliced_wasserstein
from sde_diffusion.sdes import SDE, DiscreteChain, SubVPSDE, VESDE, VPSDE

SDES = {
    "vp": lambda: VPSDE(),
    "vp_cosine": lambda: VPSDE(schedule="cosine"),
    "subvp": lambda: SubVPSDE(),
    "ve": lambda: VESDE(sigma_min=0.01, sigma_max=10.0),
}


@pytest.mark.parametrize("name", list(SDES))
def test_marginal_matches_torchsde_monte_carlo(name):
    """Mean and variance of x_t from x_0 by Euler-Maruyama (torchsde) within 4 standard errors."""
    sde = SDES[name]()
    n, x0 = 20000, 1.5
    y0 = torch.full((n, 1), x0, dtype=torch.float64)
    ts = torch.tensor([0.0, 0.1, 0.4, 0.8], dtype=torch.float64)  # cosine beta(1) ~ 440: Euler needs dt << 1/beta
    bm = torchsde.BrownianInterval(t0=0.0, t1=0.8, size=(n, 1), dtype=torch.float64,
                                   entropy=7)
    with torch.no_grad():
        ys = torchsde.sdeint(sde, y0, ts, bm=bm, method="euler", dt=1e-3)
    for k in range(1, len(ts)):
        m, s = sde.marginal(float(ts[k]))
        y = ys[k, :, 0]
        se_mean = float(s) / math.sqrt(n)
        se_var = float(s) ** 2 * math.sqrt(2 / (n - 1))
        # Euler's weak bias is O(dt): <= beta_max dt / 4 = 0.5% (VP variance) and
        # ln(sigma_max/sigma_min) dt = 0.7% (VE, left-point g^2); budget 1% on top of 4 SE.
        assert abs(float(y.mean()) - float(m) * x0) < 4 * se_mean + 1e-2 * abs(x0) * float(m)
        assert abs(float(y.var()) - float(s) ** 2) < 4 * se_var + 1e-2 * float(s) ** 2


@pytest.mark.parametrize("name", list(SDES))
def test_kernel_consistent_with_drift_and_diffusion(name):
    """d log m/dt = f and d s^2/dt = 2 f s^2 + g^2 (central differences in float64)."""
    sde = SDES[name]()
    t = torch.tensor([0.05, 0.3, 0.6, 0.95], dtype=torch.float64)
    h = 1e-6
    m_p, s_p = sde.marginal(t + h)
    m_m, s_m = sde.marginal(t - h)
    m, s = sde.marginal(t)
    dlogm = (torch.log(m_p) - torch.log(m_m)) / (2 * h)
    ds2 = (s_p ** 2 - s_m ** 2) / (2 * h)
    f, g = sde.drift_coeff(t), sde.diffusion(t)
    torch.testing.assert_close(dlogm, f, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(ds2, 2 * f * s ** 2 + g ** 2, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", list(SDES))
def test_log_snr_inverse_closed_form_and_bisection(name):
    sde = SDES[name]()
    t = torch.tensor([sde.eps, 1e-3, 0.2, 0.7, sde.T], dtype=torch.float64)
    lam = sde.log_snr(t)
    assert bool(torch.all(lam[1:] < lam[:-1]))
    torch.testing.assert_close(sde.t_from_log_snr(lam), t, rtol=1e-7, atol=1e-10)
    torch.testing.assert_close(SDE.t_from_log_snr(sde, lam), t, rtol=1e-7, atol=1e-10)
    torch.testing.assert_close(sde.t_from_sigma(sde.sigma(t)), t, rtol=1e-7, atol=1e-10)


def test_cosine_schedule_endpoints_are_finite():
    """PITFALLS: the cosine schedule's log-SNR must not overflow at t -> 0 or t = T."""
    sde = VPSDE(schedule="cosine")
    t = torch.tensor([0.0, 1e-7, sde.eps, 1 - 1e-7, 1.0], dtype=torch.float64)
    m, s = sde.marginal(t)
    assert bool(torch.isfinite(m).all() and torch.isfinite(s).all())
    assert bool(torch.isfinite(sde.diffusion(t)).all())
    lam = sde.log_snr(t[1:])
    assert bool(torch.isfinite(lam).all())
    # alpha_bar(T) is the configured floor, not 0: log-SNR(T) = log(a / (1 - a))
    a = sde.schedule.alpha_bar_min
    assert abs(float(lam[-1]) - math.log(a / (1 - a))) < 1e-9
    # float32 times are promoted: the same answer as float64 to float32 precision
    m32, s32 = sde.marginal(torch.tensor([1e-5, 0.5], dtype=torch.float32))
    torch.testing.assert_close(s32, sde.marginal(torch.tensor([1e-5, 0.5], dtype=torch.float64))[1],
                               rtol=1e-6, atol=0)


def test_ve_diffusion_has_log_factor():
    sde = VESDE(sigma_min=0.01, sigma_max=50.0)
    t = 0.37
    sigma = 0.01 * (50 / 0.01) ** t
    assert abs(float(sde.diffusion(t)) - sigma * math.sqrt(2 * math.log(50 / 0.01))) < 1e-10
    assert abs(sde.prior_std() - math.sqrt(50.0 ** 2 - 0.01 ** 2)) < 1e-9


def test_suggest_sigma_max_is_largest_pairwise_distance():
    x = torch.tensor([[0.0, 0.0], [3.0, 4.0], [1.0, 1.0]])
    assert VESDE.suggest_sigma_max(x) == pytest.approx(5.0)


def _vp_B(t):  # int_0^t beta for the default linear schedule, written out
    return 0.1 * t + 0.5 * (20.0 - 0.1) * t * t


def test_perturb_and_prior():
    """Against the VP closed form written out here: m = exp(-B/2), s = sqrt(1 - exp(-B))."""
    sde = VPSDE()
    g = torch.Generator().manual_seed(0)
    x0 = torch.randn(4, 3, 2, generator=g, dtype=torch.float64)
    noise = torch.randn(4, 3, 2, generator=g, dtype=torch.float64)
    t = torch.tensor([0.1, 0.2, 0.5, 1.0], dtype=torch.float64)
    B = _vp_B(t)[:, None, None]
    expected = torch.exp(-B / 2) * x0 + torch.sqrt(1 - torch.exp(-B)) * noise
    torch.testing.assert_close(sde.perturb(x0, t, noise), expected, rtol=1e-12, atol=1e-12)
    z = sde.prior_sample((5, 3), generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    var = 1 - math.exp(-_vp_B(1.0))  # s(T)^2
    lp = -0.5 * (z ** 2).sum(1) / var - 1.5 * math.log(2 * math.pi * var)
    torch.testing.assert_close(sde.prior_logp(z), lp, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(z / math.sqrt(var), torch.randn(5, 3, generator=torch.Generator().manual_seed(0),
                                                                dtype=torch.float64))


# ---------------------------------------------------------------- discrete chain (tutorial)
def test_composed_one_step_kernel_equals_closed_form_jump():
    chain = VPSDE().discrete(50)
    # mean coefficient: apply the step with zero noise i times
    x = torch.ones(1, dtype=torch.float64)
    var = torch.zeros(1, dtype=torch.float64)
    for i in range(1, 51):
        x = chain.step(x, i, torch.zeros_like(x))
        var = chain.alphas[i - 1] * var + chain.betas[i - 1]  # Var of the composed noise
        torch.testing.assert_close(x, chain.alpha_bars[i].sqrt().reshape(1), rtol=1e-12, atol=0)
        torch.testing.assert_close(var, (1 - chain.alpha_bars[i]).reshape(1), rtol=1e-12, atol=0)
    # and in distribution: 20 composed random steps vs the jump, Monte Carlo
    g = torch.Generator().manual_seed(0)
    n = 40000
    x0 = torch.full((n, 1), 2.0, dtype=torch.float64)
    x = x0
    for i in range(1, 21):
        x = chain.step(x, i, torch.randn(n, 1, generator=g, dtype=torch.float64))
    ab = float(chain.alpha_bars[20])
    assert abs(float(x.mean()) - 2.0 * math.sqrt(ab)) < 4 * math.sqrt((1 - ab) / n)
    assert abs(float(x.var()) - (1 - ab)) < 4 * (1 - ab) * math.sqrt(2 / n)


def test_discrete_alpha_bar_matches_sde_marginal():
    sde = VPSDE(schedule="cosine")
    chain = sde.discrete(100)
    torch.testing.assert_close(chain.alpha_bars, sde.marginal(chain.times)[0] ** 2, rtol=1e-12, atol=1e-15)


def test_posterior_mean_equals_bayes_rule():
    """q(x_{t-1} | x_t, x_0) from Gaussian conditioning, computed independently."""
    chain = DiscreteChain(torch.linspace(1e-4, 0.02, 1000, dtype=torch.float64))
    g = torch.Generator().manual_seed(1)
    x0 = torch.randn(6, 3, generator=g, dtype=torch.float64)
    xt = torch.randn(6, 3, generator=g, dtype=torch.float64)
    for i in (1, 2, 10, 500, 1000):
        ab_prev = float(chain.alpha_bars[i - 1])
        a, b = float(chain.alphas[i - 1]), float(chain.betas[i - 1])
        # prior x_{t-1} | x0 ~ N(sqrt(ab_prev) x0, 1 - ab_prev); likelihood x_t | x_{t-1} ~ N(sqrt(a) x_{t-1}, b)
        if i == 1:
            prec_mean, var = x0, 0.0  # x_0 is known exactly
        else:
            prec = 1 / (1 - ab_prev) + a / b
            var = 1 / prec
            prec_mean = var * (math.sqrt(ab_prev) * x0 / (1 - ab_prev) + math.sqrt(a) * xt / b)
        mean, v = chain.posterior(xt, x0, i)
        torch.testing.assert_close(mean, prec_mean, rtol=1e-9, atol=1e-9)
        assert abs(float(v) - var) < 1e-12


def test_tutorial_conditional_score_is_minus_eps_over_std():
    """grad log p(x_t | x_0) = -eps / sqrt(1 - alpha_bar_t) (autograd of the Gaussian density)."""
    sde = VPSDE()
    x0, eps = torch.randn(5, 2, dtype=torch.float64), torch.randn(5, 2, dtype=torch.float64)
    t = torch.full((5,), 0.4, dtype=torch.float64)
    xt = sde.perturb(x0, t, eps).requires_grad_(True)
    m, s = sde.marginal(t)
    logp = -0.5 * ((xt - m[:, None] * x0) ** 2).sum() / float(s[0]) ** 2
    (grad,) = torch.autograd.grad(logp, xt)
    ab = sde.alpha_bar(0.4)
    torch.testing.assert_close(grad, -eps / torch.sqrt(1 - ab), rtol=1e-10, atol=1e-10)


def test_discrete_chain_rejects_bad_input():
    with pytest.raises(ValueError, match="beta_2"):
        DiscreteChain(torch.tensor([0.1, 1.5]))
    chain = DiscreteChain(torch.tensor([0.1, 0.2]))
    with pytest.raises(ValueError, match="i >= 1"):
        chain.posterior(torch.zeros(1), torch.zeros(1), 0)
    with pytest.raises(ValueError, match="num_steps"):
        VPSDE().discrete(0)


# ---------------------------------------------------------------- reverse SDE and PF-ODE
def _true_floor(gm, n):
    a = gm.sample(n, generator=torch.Generator().manual_seed(11), dtype=torch.float64)
    b = gm.sample(n, generator=torch.Generator().manual_seed(12), dtype=torch.float64)
    return sliced_wasserstein(a, b), a


@pytest.mark.parametrize("name", ["vp", "ve"])
def test_reverse_sde_and_pf_ode_recover_mixture(name):
    """Fine Euler-Maruyama on the reverse SDE and Heun on the PF-ODE, exact mixture score:
    sliced Wasserstein to fresh data within 2x the true-vs-true floor."""
    sde = SDES[name]()
    gm = ring_of_gaussians()
    n = 2000
    floor, ref = _true_floor(gm, n)
    score = gm.score_fn(sde)
    g = torch.Generator().manual_seed(3)
    ts = torch.linspace(sde.T, sde.eps, 1001, dtype=torch.float64)

    rsde = sde.reverse(score)
    x = sde.prior_sample((n, 2), generator=g, dtype=torch.float64)
    for k in range(len(ts) - 1):
        t, dt = ts[k], ts[k + 1] - ts[k]  # dt < 0
        z = torch.randn(x.shape, generator=g, dtype=torch.float64)
        x = x + rsde.drift(x, t) * dt + rsde.diffusion(t) * torch.sqrt(-dt) * z
    assert sliced_wasserstein(x, ref) < 2 * floor

    ode = sde.probability_flow(score)
    x = sde.prior_sample((n, 2), generator=g, dtype=torch.float64)
    for k in range(0, len(ts) - 1, 2):  # 500 Heun steps
        t0, t1 = ts[k], ts[k + 2]
        d0 = ode(x, t0)
        x1 = x + (t1 - t0) * d0
        x = x + (t1 - t0) * 0.5 * (d0 + ode(x1, t1))
    assert sliced_wasserstein(x, ref) < 2 * floor


def test_reverse_torchsde_interface_is_time_reversed():
    """torchsde sees tau = T - t: f(tau, y) = -(f(t) y - g(t)^2 score), g(tau) = g(t); the PF-ODE
    drift is f y - g^2/2 score. beta(t) = 0.1 + 19.9 t written out (f = -beta/2, g^2 = beta)."""
    sde = VPSDE()
    gm = ring_of_gaussians()
    score = gm.score_fn(sde)
    rsde = sde.reverse(score)
    y = torch.randn(4, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    t = 0.7
    beta = 0.1 + 19.9 * t
    sc = score(y, torch.full((4,), t, dtype=torch.float64))
    tau = torch.tensor(1.0 - t, dtype=torch.float64)
    torch.testing.assert_close(rsde.f(tau, y), -(-0.5 * beta * y - beta * sc), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(rsde.g(tau, y), torch.full((4, 2), math.sqrt(beta), dtype=torch.float64))
    ode = sde.reverse(score, probability_flow=True)
    assert float(ode.diffusion(0.5)) == 0.0
    torch.testing.assert_close(ode.drift(y, t), -0.5 * beta * y - 0.5 * beta * sc, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(ode.divergence(torch.ones(4, dtype=torch.float64), -0.5 * beta, math.sqrt(beta), 2),
                               torch.full((4,), -beta - 0.5 * beta, dtype=torch.float64))


# ---------------------------------------------------------------- validation
def test_bad_input_raises_value_error_naming_value():
    with pytest.raises(ValueError, match="'quadratic'.*'linear', 'cosine'"):
        VPSDE(schedule="quadratic")
    with pytest.raises(ValueError, match="beta_min"):
        VPSDE(beta_min=0.0)
    with pytest.raises(ValueError, match="beta_max"):
        VPSDE(beta_min=1.0, beta_max=0.5)
    with pytest.raises(ValueError, match="sigma_min"):
        VESDE(sigma_min=-1.0)
    with pytest.raises(ValueError, match="sigma_max"):
        VESDE(sigma_min=1.0, sigma_max=0.5)
    with pytest.raises(ValueError, match=r"t=1\.5"):
        VPSDE().marginal(1.5)
    with pytest.raises(ValueError, match=r"t=-0\.1"):
        VESDE().diffusion(torch.tensor([0.5, -0.1]))
    with pytest.raises(ValueError, match="eps"):
        VPSDE(eps=2.0)
    with pytest.raises(ValueError, match="noise shape"):
        VPSDE().perturb(torch.zeros(3, 2), 0.5, torch.zeros(3, 3))


def test_beta_schedule_objects_shared_by_vp_subvp_and_linear_sde():
    """One CosineBeta object drives VP, sub-VP and a LinearSDE (by quadrature of f = -beta/2,
    g = sqrt(beta)); the three agree with the closed forms alpha_bar = cos^2(theta)/cos^2(theta_0)."""
    from sde_diffusion.sdes import LinearSDE
    from sde_diffusion.sdes.schedules import CosineBeta, vp_diffusion, vp_drift
    beta = CosineBeta()
    t = torch.linspace(0.01, 1.0, 50, dtype=torch.float64)
    th0 = 0.008 / 1.008 * math.pi / 2
    th1 = math.acos(math.sqrt(5e-5) * math.cos(th0))
    ab = torch.cos(th0 + t * (th1 - th0)) ** 2 / math.cos(th0) ** 2
    vp, sub = VPSDE(schedule=beta), SubVPSDE(schedule=beta)
    lin = LinearSDE(f=vp_drift(beta), g=vp_diffusion(beta))
    torch.testing.assert_close(vp.marginal(t)[1], torch.sqrt(1 - ab), rtol=1e-12, atol=0)
    torch.testing.assert_close(sub.marginal(t)[1], 1 - ab, rtol=1e-12, atol=0)
    torch.testing.assert_close(lin.marginal(t)[1], torch.sqrt(1 - ab), rtol=1e-7, atol=0)
    assert vp.schedule is sub.schedule is beta
