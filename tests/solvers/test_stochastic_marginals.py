"""Every stochastic sampler checked at the distribution level, at several times.

Two complementary tests, both on analytic data with 20 000-40 000 samples (1-D, vectorised):

1. **Fine grid vs the exact marginal.** From exact samples of p_T of a two-component mixture,
   each sampler runs on a 196-step grid to t = 0.02; its states at t = 0.5, 0.2 and 0.05 are
   compared with the mixture's exact marginal p_t (mean, variance, and the mass below the
   valley between the modes) by z-scores. The correct samplers give |z| < 4.5 (the
   discretisation bias at 196 steps included); an inconsistent step rule (a wrong factor in the
   step size, the noise or the score term) moves some statistic by tens of standard errors.

2. **Coarse grid vs the exact law of the discrete chain.** On Gaussian data the score is
   affine in x, so every step rule here maps a Gaussian to a Gaussian; the mean and variance
   of the chain after each of 8 steps follow from the algorithm's equations (written out
   below, independently of the package). Consistent bugs, such as a score, noise or step size
   read at the neighbouring grid time, change these moments by O(step) and are invisible
   on a fine grid; on this coarse grid they move a moment by > 6 standard errors (each case's
   planted bug is listed in ``benchmarks/mutation_check.py`` and measured there), while the
   correct code stays within 4.5.

Thresholds: with Gaussian statistics, |z| > 4.5 happens by chance with probability 7e-6 per
statistic; the seeds are fixed, so the tests are deterministic. Power, measured on the planted
bugs of ``benchmarks/mutation_check.py``: correct code gives a worst |z| of 1.2-2.7; a score,
drift or noise read at the neighbouring grid time, a wrong step size or noise factor in EM,
reverse diffusion, ancestral, Langevin, annealed Langevin and SDE DPM-Solver++ gives a worst
|z| between 11.8 (Langevin's score one level late) and 2566 (ancestral variance inverted).
"""
import math

import pytest
import torch

from sde_diffusion.analytic import GaussianMixture
from sde_diffusion.sdes import VPSDE
from sde_diffusion.solvers import sample

SDE = VPSDE()
Z_MAX = 4.5

# ---------------------------------------------------------------------------------- fine grid
MEANS, STDS, WEIGHTS = (-1.5, 1.0), (0.3, 0.6), (0.3, 0.7)
MIX = GaussianMixture(torch.tensor([[MEANS[0]], [MEANS[1]]], dtype=torch.float64),
                      torch.tensor(STDS, dtype=torch.float64), torch.tensor(WEIGHTS, dtype=torch.float64))
N_FINE = 20_000
FINE_GRID = torch.linspace(1.0, 0.02, 197, dtype=torch.float64)  # step 0.005: 0.5, 0.2, 0.05 on it
CHECK_TIMES = (0.5, 0.2, 0.05)


class MixtureScore:
    """Exact score of the 1-D two-component mixture under ``SDE`` (p_t = sum_k w_k
    N(m mu_k, m^2 sd_k^2 + s^2)), written out for speed; equal to ``MIX.score_fn`` (tested)."""

    def __call__(self, x, t):
        m, s = SDE.marginal(float(t[0]))
        m, s = float(m), float(s)
        out = []
        logp, grad = [], []
        for mu, sd, w in zip(MEANS, STDS, WEIGHTS):
            v = m * m * sd * sd + s * s
            d = x - m * mu
            logp.append(math.log(w) - 0.5 * math.log(v) - 0.5 * d * d / v)
            grad.append(-d / v)
        r = torch.softmax(torch.stack(logp), 0)
        out = (r * torch.stack(grad)).sum(0)
        return out


def test_fast_score_is_the_exact_mixture_score():
    x = torch.linspace(-4, 4, 101, dtype=torch.float64)[:, None]
    for t in (1.0, 0.5, 0.05, 1e-3):
        tt = torch.full((101,), t, dtype=torch.float64)
        torch.testing.assert_close(MixtureScore()(x, tt), MIX.score_fn(SDE)(x, tt), rtol=1e-10, atol=1e-10)


def _mixture_stats(t: float):
    """Exact mean, variance, 4th central moment and P(x < valley) of p_t (valley: m(t) * -0.25)."""
    m, s = (float(v) for v in SDE.marginal(t))
    w = torch.tensor(WEIGHTS, dtype=torch.float64)
    mu = m * torch.tensor(MEANS, dtype=torch.float64)
    var = m * m * torch.tensor(STDS, dtype=torch.float64) ** 2 + s * s
    mean = float((w * mu).sum())
    a = mu - mean
    v = float((w * (a * a + var)).sum())
    m4 = float((w * (a ** 4 + 6 * a * a * var + 3 * var * var)).sum())
    cut = m * -0.25
    p = float((w * 0.5 * (1 + torch.erf((cut - mu) / torch.sqrt(2 * var)))).sum())
    return mean, v, m4, p, cut


def _z_mixture(x: torch.Tensor, t: float):
    mean, var, m4, p, cut = _mixture_stats(t)
    x = x[:, 0].double()
    n = x.shape[0]
    zm = (float(x.mean()) - mean) / math.sqrt(var / n)
    zv = (float(x.var()) - var) / math.sqrt((m4 - var * var) / n)
    zp = (float((x < cut).double().mean()) - p) / math.sqrt(p * (1 - p) / n)
    return zm, zv, zp


def _run_fine(sampler, **opts):
    g = torch.Generator().manual_seed(1)
    x_init = MIX.marginal(SDE, 1.0).sample(N_FINE, generator=g).float()
    states = {}

    def keep(d):
        states[d["i"]] = (d["t"], d["x"].clone())

    sample(SDE, MixtureScore(), sampler=sampler, x_init=x_init, grid=FINE_GRID, denoise=False,
           generator=g, callback=keep, progress=False, **opts)
    out = {}
    for t in CHECK_TIMES:
        i = int(torch.argmin((FINE_GRID - t).abs()))
        ti, x = states[i]
        out[t] = _z_mixture(x, ti)
    return out


FINE_CASES = [
    ("euler_maruyama", {}),
    ("reverse_diffusion", {}),
    ("ancestral", {}),
    ("ancestral", {"variance": "forward"}),
    ("pc", {}),                                                   # reverse diffusion + Langevin
    ("pc", {"predictor": "euler_maruyama", "corrector": "langevin", "snr": 0.1, "n_steps": 2}),
    ("pc", {"predictor": "ancestral", "corrector": "annealed_langevin", "step_scale": 0.05}),
    ("dpmpp_2m_sde", {}),
    ("dpmpp_2m_sde", {"eta": 0.5}),
    ("torchsde", {"method": "euler"}),
    ("torchsde", {"method": "srk"}),                              # 10 drift evaluations per step
    ("edm", {"S_churn": 40.0}),
]


@pytest.mark.parametrize("sampler,opts", [
    pytest.param(s, o, id="-".join([s] + [f"{k}={v}" for k, v in o.items()]),
                 marks=[pytest.mark.slow] if o.get("method") == "srk" else [])
    for s, o in FINE_CASES])
def test_sampler_matches_exact_marginal_at_several_times(sampler, opts):
    zs = _run_fine(sampler, **opts)
    worst = max(abs(z) for v in zs.values() for z in v)
    assert worst < Z_MAX, {t: tuple(round(z, 2) for z in v) for t, v in zs.items()}


# -------------------------------------------------------------------------------- coarse grid
MU, SD = 0.8, 0.5            # Gaussian data N(MU, SD^2)
N_COARSE = 40_000
COARSE_GRID = torch.linspace(1.0, 0.05, 9, dtype=torch.float64)   # 8 steps


def gauss_score(x, t):
    """Exact score of N(m MU, m^2 SD^2 + s^2)."""
    m, s = (float(v) for v in SDE.marginal(float(t[0])))
    return -(x - m * MU) / (m * m * SD * SD + s * s)


def _coeffs(i):
    """t, m, s, f, g and (mu_t, v_t) of p_t at grid point i, from the SDE's own definitions."""
    t = float(COARSE_GRID[i])
    m, s = (float(v) for v in SDE.marginal(t))
    f = float(SDE.drift_coeff(torch.tensor(t, dtype=torch.float64)))
    g = float(SDE.diffusion(torch.tensor(t, dtype=torch.float64)))
    return t, m, s, f, g, m * MU, m * m * SD * SD + s * s


def _em(M, V, i):
    """x' = x + [f x - g^2 score] dt + g sqrt(-dt) z at t_i, dt = t_{i+1} - t_i < 0."""
    t, m, s, f, g, mu, v = _coeffs(i)
    dt = float(COARSE_GRID[i + 1]) - t
    return 1 + (f + g * g / v) * dt, -(g * g * mu / v) * dt, g * g * (-dt)


def _ab(i):
    """(a, b) of the exact forward transition x_{t_i} = a x_{t_{i+1}} + sqrt(b) z, and s_i, s_{i+1}."""
    _, m0, s0, *_ = _coeffs(i)
    _, m1, s1, *_ = _coeffs(i + 1)
    a = m0 / m1
    return a, s0 * s0 - a * a * s1 * s1, s0, s1


def _reverse_diffusion(M, V, i):
    """x' = (2 - a) x + b score(x, t_i) + sqrt(b) z."""
    a, b, *_ = _ab(i)
    mu, v = _coeffs(i)[5:]
    return (2 - a) - b / v, b * mu / v, b


def _ancestral(M, V, i):
    """x' = (x + b score(x, t_i)) / a + sqrt(s_{i+1}^2 b / s_i^2) z (DDPM's posterior step)."""
    a, b, s0, s1 = _ab(i)
    mu, v = _coeffs(i)[5:]
    return (1 - b / v) / a, b * mu / (v * a), s1 * s1 * b / (s0 * s0)


def _annealed(M, V, j, scale=0.1):
    """One NCSN step at level j: x += e/2 score + sqrt(e) z, e = scale s_j^2."""
    _, _, s, _, _, mu, v = _coeffs(j)
    e = scale * s * s
    return 1 - 0.5 * e / v, 0.5 * e * mu / v, e


def _langevin(M, V, j, snr):
    """Target-SNR Langevin at level j (batch-mean norms): e = 2 alpha (snr E|z| / E|score|)^2,
    alpha = (m_{j-1}/m_j)^2, x += e score + sqrt(2 e) z; E|score| = E|x - mu_j| / v_j with
    x ~ N(M, V) (folded normal mean)."""
    _, m_prev, *_ = _coeffs(j - 1)
    _, m, _, _, _, mu, v = _coeffs(j)
    alpha = (m_prev / m) ** 2
    d, sd = M - mu, math.sqrt(V)
    e_abs = sd * math.sqrt(2 / math.pi) * math.exp(-d * d / (2 * V)) + d * math.erf(d / (sd * math.sqrt(2)))
    e = 2 * alpha * (snr * math.sqrt(2 / math.pi) * v / e_abs) ** 2
    return 1 - e / v, e * mu / v, 2 * e


def _steps(kind, i):
    """The affine steps (as functions of the current mean and variance) from t_i to t_{i+1}."""
    return {
        "euler_maruyama": [lambda M, V: _em(M, V, i)],
        "reverse_diffusion": [lambda M, V: _reverse_diffusion(M, V, i)],
        "ancestral": [lambda M, V: _ancestral(M, V, i)],
        "annealed_langevin": [lambda M, V: _annealed(M, V, i + 1)] * 5,   # defaults: 5, 0.1
        "langevin": [lambda M, V: _langevin(M, V, i + 1, 0.3)] * 3,
        "rd+langevin": [lambda M, V: _reverse_diffusion(M, V, i),
                        lambda M, V: _langevin(M, V, i + 1, 0.16)],
    }[kind]


COARSE_CASES = {
    "euler_maruyama": ("euler_maruyama", {}),
    "reverse_diffusion": ("reverse_diffusion", {}),
    "ancestral": ("ancestral", {}),
    "annealed_langevin": ("annealed_langevin", {}),
    "langevin": ("pc", {"predictor": "none", "corrector": "langevin", "snr": 0.3, "n_steps": 3}),
    "rd+langevin": ("pc", {}),
}


def coarse_z_scores(kind):
    """z-scores (mean, variance) after each coarse step, conditional on the drawn x_init.

    The chain is x_k = A_k x_init + B_k + sqrt(C_k) z_k with z_k independent of x_init, so given
    x_init's empirical mean m0 and variance v0: E mean(x_k) = A_k m0 + B_k with standard error
    sqrt(C_k / n), and E var(x_k) = A_k^2 v0 + C_k with standard error
    sqrt((2 C_k^2 + 4 A_k^2 v0 C_k) / n). Only the sampler's own noise enters the error."""
    sampler, opts = COARSE_CASES[kind]
    g = torch.Generator().manual_seed(2)
    _, m, s, *_ = _coeffs(0)
    x_init = (m * MU + math.sqrt(m * m * SD * SD + s * s)
              * torch.randn(N_COARSE, 1, generator=g, dtype=torch.float64)).float()
    states = {}
    sample(SDE, gauss_score, sampler=sampler, x_init=x_init, grid=COARSE_GRID, denoise=False,
           generator=g, callback=lambda d: states.__setitem__(d["i"], d["x"].double()[:, 0]),
           progress=False, **opts)
    x0 = x_init.double()[:, 0]
    m0, v0 = float(x0.mean()), float(x0.var())
    A, B, C = 1.0, 0.0, 0.0
    zs = []
    for i in range(len(COARSE_GRID) - 1):
        for step in _steps(kind, i):
            a, b, c = step(A * m0 + B, A * A * v0 + C)
            A, B, C = a * A, a * B + b, a * a * C + c
        x = states[i + 1]
        zs.append(((float(x.mean()) - (A * m0 + B)) / math.sqrt(C / N_COARSE),
                   (float(x.var()) - (A * A * v0 + C)) / math.sqrt((2 * C * C + 4 * A * A * v0 * C) / N_COARSE)))
    return zs


@pytest.mark.parametrize("kind", list(COARSE_CASES))
def test_coarse_chain_has_the_algorithms_exact_law(kind):
    zs = coarse_z_scores(kind)
    worst = max(abs(z) for pair in zs for z in pair)
    assert worst < Z_MAX, [tuple(round(z, 2) for z in pair) for pair in zs]
