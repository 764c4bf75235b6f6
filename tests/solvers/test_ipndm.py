"""iPNDM / iPNDM-v: Adams-Bashforth in (x/m, sigma) on the denoiser; weights, orders, NFE."""
import math

import numpy as np
import pytest
import torch

from sde_diffusion.analytic import GaussianMixture
from sde_diffusion.sdes import EDMSDE, VPSDE
from sde_diffusion.solvers import sample
from sde_diffusion.solvers.ipndm import AB_WEIGHTS, variable_ab_weights

GM = GaussianMixture(torch.tensor([[-1.0, 0.5], [1.0, -0.5], [0.5, 1.5]]),
                     torch.tensor([0.5, 0.4, 0.6]))


@pytest.mark.parametrize("p", [1, 2, 3, 4])
def test_variable_weights_integrate_polynomials_exactly(p):
    rng = np.random.default_rng(p)
    sig = sorted(rng.uniform(0.1, 10.0, 8).tolist(), reverse=True)
    i = 5
    H = sig[i + 1] - sig[i]
    b = variable_ab_weights(sig, i, p)
    for deg in range(p):  # mean of f over [sigma_i, sigma_{i+1}] for f = sigma^deg
        exact = (sig[i + 1] ** (deg + 1) - sig[i] ** (deg + 1)) / ((deg + 1) * H)
        got = sum(bk * sig[i - k] ** deg for k, bk in enumerate(b))
        assert abs(got - exact) <= 1e-10 * max(1.0, abs(exact))


@pytest.mark.parametrize("p", [1, 2, 3, 4])
def test_variable_weights_on_uniform_steps_are_adams_bashforth(p):
    sig = [10.0 - 0.5 * k for k in range(8)]
    np.testing.assert_allclose(variable_ab_weights(sig, 4, p), AB_WEIGHTS[p], rtol=1e-12)


def _errors(name, order, grid, ns, sde, t_start=None, t_end=None):
    x = torch.randn(100, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    x = x * float(sde.marginal(sde.T if t_start is None else t_start)[1])
    ref, _ = sample(sde, GM.score_fn(sde), sampler="rk45", x_init=x, t_start=t_start,
                    t_end=t_end, rtol=1e-12, atol=1e-12, method="DOP853")
    out = []
    afs = {"afs": False} if name == "ipndm" else {}   # the scheme itself: the analytic first
    for n in ns:                                       # step is an O(1/sigma) approximation
        y, _ = sample(sde, GM.score_fn(sde), sampler=name, order=order, steps=n, x_init=x,
                      grid=grid, t_start=t_start, t_end=t_end, lower_order_final=False, **afs)
        out.append(float((y - ref).pow(2).sum(1).mean().sqrt()))
    return out


@pytest.mark.parametrize("order", [2, 3, 4])
def test_ipndm_reaches_its_order_on_uniform_steps_in_sigma(order):
    """EDM's time is sigma, so grid uniform_t is uniform in sigma: AB-p is order p there. The
    warm-up steps (orders 1..p-1) add O(h^2)..O(h^p) terms with small constants, so the slope
    approaches p from below: within 0.45 of p at 128 -> 256 steps (measured 1.89, 2.78, 3.58)."""
    e = _errors("ipndm", order, "uniform_t", (128, 256), EDMSDE(), t_start=20.0, t_end=1.0)
    assert abs(math.log2(e[0] / e[1]) - order) <= 0.45, e


def test_afs_is_the_default_of_ipndm_only():
    from sde_diffusion.solvers.ipndm import IPNDMSampler, IPNDMVSampler
    assert IPNDMSampler().afs is True and IPNDMVSampler().afs is False


def test_afs_saves_one_nfe_and_stays_close():
    sde = VPSDE()
    x = sde.prior_sample((200, 2), generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    ref, _ = sample(sde, GM.score_fn(sde), sampler="rk45", x_init=x, t_end=1e-3,
                    rtol=1e-10, atol=1e-10, method="DOP853")
    out = {}
    for afs in (False, True):
        y, info = sample(sde, GM.score_fn(sde), sampler="ipndm", steps=10, x_init=x,
                         t_end=1e-3, afs=afs)
        out[afs] = (info.nfe, float((y - ref).pow(2).sum(1).mean().sqrt()))
    assert out[False][0] == 10 and out[True][0] == 9
    # sigma(T) ~ 150 on VP: the analytic eps(x_T) is off by O(1/sigma); the run stays within 1.5x
    assert out[True][1] < 1.5 * out[False][1], out


def test_bad_order_is_a_clear_error():
    with pytest.raises(ValueError, match="order must be 1, 2, 3 or 4"):
        sample(VPSDE(), GM.score_fn(VPSDE()), (4, 2), sampler="ipndm", steps=4, order=5)
