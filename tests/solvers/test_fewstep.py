"""Few-step samplers (issue 15): measured convergence orders, exact NFE, adaptive tolerance.

Exact scores of a smooth 2-D Gaussian mixture, so the only error is the solver's; the
reference is DOP853 at rtol = atol = 1e-12 from the same x_T. Orders are the log2 ratio of
RMS end-point errors between N and 2N log-SNR-uniform steps, within +-0.3 of theory.
"""
import inspect
import math

import pytest
import torch

from sde_diffusion.analytic import GaussianMixture
from sde_diffusion.sdes import EDMSDE, VESDE, VPSDE
from sde_diffusion.solvers import SAMPLERS, sample

GM = GaussianMixture(torch.tensor([[-1.0, 0.5], [1.0, -0.5], [0.5, 1.5]]),
                     torch.tensor([0.5, 0.4, 0.6]))
SDES = {"vp": (VPSDE, 1e-3), "ve": (lambda: VESDE(sigma_min=0.01, sigma_max=20.0), 1e-5)}
_REFS = {}


def _setup(kind):
    make, t_end = SDES[kind]
    sde = make()
    if kind not in _REFS:
        x = sde.prior_sample((100, 2), generator=torch.Generator().manual_seed(0),
                             dtype=torch.float64)
        ref, _ = sample(sde, GM.score_fn(sde), sampler="rk45", x_init=x, t_end=t_end,
                        rtol=1e-12, atol=1e-12, method="DOP853")
        _REFS[kind] = (x, ref)
    return (sde, t_end) + _REFS[kind]


def _rms(a, b):
    return float((a - b).pow(2).sum(1).mean().sqrt())


def _slope(kind, name, opts, n):
    """Order of the scheme itself: the k-th-last-step order cap of the default rule is off."""
    sde, t_end, x, ref = _setup(kind)
    if "lower_order_final" in inspect.signature(SAMPLERS[name].__init__).parameters:
        opts = {"lower_order_final": False, **opts}
    errs = []
    for steps in (n, 2 * n):
        y, _ = sample(sde, GM.score_fn(sde), sampler=name, steps=steps, x_init=x,
                      grid="log_snr", t_end=t_end, denoise=False, **opts)
        errs.append(_rms(y, ref))
    return math.log2(errs[0] / errs[1])


# (sampler, options, theoretical order, N for the N -> 2N slope)
ORDERS = [
    ("deis", {"order": 1, "basis": "t"}, 1.0, 32), ("deis", {"order": 2, "basis": "t"}, 2.0, 64),
    ("deis", {"order": 3, "basis": "t"}, 3.0, 64),
    ("deis", {"order": 2}, 2.0, 64), ("deis", {"order": 3}, 3.0, 64),
    ("unipc", {"order": 1}, 2.0, 64), ("unipc", {"order": 2}, 3.0, 32),
    ("unipc", {"order": 2, "variant": "bh1"}, 3.0, 32), ("unipc", {"order": 3}, 4.0, 64),
    ("unipc", {"order": 3, "corrector": False}, 3.0, 64),
    # orders above 3 (MAX_STEP allows them here: N = 64 log-SNR steps on VP are h ~ 0.15)
    # (UniP-4 without the corrector reads 3.6-3.9 on VP but 3.0 then 2.3 on VE at N = 64-128: its
    # uncorrected first-order warm-up step leaves an O(h^2) error there; UniPC-4 checks UniP-4)
    ("unipc", {"order": 4}, 5.0, 64),
    # UniPC-5 (order 6) reads 5.5-6.0 at N = 32-256 on VP (5.9-6.0 on VE), pre-asymptotic; the
    # band [5.4, 6.0] excludes UniPC-4's 5.0-5.1
    ("unipc", {"order": 5}, 5.7, 64),
    ("unipc", {"order": 2, "predictor": "dpm_solver"}, 3.0, 32),
    ("dpm_solver_2s", {}, 2.0, 32), ("dpm_solver_3s", {}, 3.0, 32),
    ("dpmpp_2m_sde", {"eta": 0.0}, 2.0, 32),
    ("ipndm_v", {"order": 2}, 2.0, 64), ("ipndm_v", {"order": 3}, 3.0, 128),
    ("ipndm_v", {"order": 4}, 4.0, 128),
    # fixed Adams-Bashforth weights on a non-uniform grid: order min(p, 2) (see test_ipndm_*)
    # afs off: the analytic first step (eps = x / sigma at sigma_max, iPNDM's default) has an
    # O(h sigma_max^-1) error that is first order in h (small on VP, sigma_max ~ 157; visible on VE)
    ("ipndm", {"order": 2, "afs": False}, 2.0, 64), ("ipndm", {"order": 4, "afs": False}, 2.0, 64),
]


@pytest.mark.parametrize("name,opts,order,n", ORDERS, ids=lambda v: str(v))
def test_order_vp(name, opts, order, n):
    assert abs(_slope("vp", name, opts, n) - order) <= 0.3


# On VE the order-4 iPNDM-v reads 3.5-3.6 at N = 64-256 (VP: 3.7-3.9): its warm-up takes the
# first three steps at orders 1, 2, 3, and the first step's local error O(h^2) stays in the
# global error; on VE (sigma_max = 20) its constant is large enough to show at these N (the
# slope falls to 3.3 at N = 512). An order-3 weight at order 4 reads <= 3.1 and still fails.
VE_ORDER = {("ipndm_v", 4): 3.5, ("unipc", 5): 5.9}


@pytest.mark.slow
@pytest.mark.parametrize("name,opts,order,n", ORDERS, ids=lambda v: str(v))
def test_order_ve(name, opts, order, n):
    order = VE_ORDER.get((name, opts.get("order")), order)
    assert abs(_slope("ve", name, opts, n) - order) <= 0.3


@pytest.mark.parametrize("name,per_step,saved", [
    ("unipc", 1, 0), ("deis", 1, 0), ("ipndm", 1, 1), ("ipndm_v", 1, 0), ("dpm_solver_2s", 2, 0),
    ("dpm_solver_3s", 3, 0), ("dpmpp_2m_sde", 1, 0)])
@pytest.mark.parametrize("steps", [1, 2, 7])
def test_nfe_exact(name, per_step, saved, steps):
    # saved: model calls replaced by a closed form (ipndm's default analytic first step)
    sde = VPSDE()
    _, info = sample(sde, GM.score_fn(sde), (8, 2), sampler=name, steps=steps, denoise=False,
                     generator=torch.Generator().manual_seed(0))
    assert info.nfe == steps * per_step - saved and info.steps == steps


def test_unipc_corrector_costs_no_nfe_and_helps():
    sde, t_end, x, ref = _setup("vp")
    out = {}
    for corr in (True, False):
        y, info = sample(sde, GM.score_fn(sde), sampler="unipc", steps=32, x_init=x,
                         t_end=t_end, corrector=corr, order=2, grid="log_snr")
        out[corr] = (info.nfe, _rms(y, ref))
    assert out[True][0] == out[False][0] == 32
    assert out[True][1] < 0.5 * out[False][1], out


def test_dpmpp_2m_sde_preserves_marginal_of_gaussian():
    """eta = 1 on a single Gaussian N(mu, 0.5^2): sample mean and std within 4 standard errors."""
    gm = GaussianMixture(torch.tensor([[1.0]]), torch.tensor([0.5]))
    sde = VPSDE()
    x, info = sample(sde, gm.score_fn(sde), (20000, 1), sampler="dpmpp_2m_sde", steps=50,
                     generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    assert info.nfe == 51  # 50 steps + the denoising step
    # after denoising, E[x0 | x_eps] has std sqrt(0.25 - tiny) and mean 1
    assert abs(float(x.mean()) - 1.0) < 4 * 0.5 / math.sqrt(20000)
    assert abs(float(x.std()) - 0.5) < 4 * 0.5 / math.sqrt(2 * 20000) + 0.01


@pytest.mark.parametrize("pair", [12, 23])
def test_adaptive_meets_tolerance_and_nfe_falls(pair):
    sde, t_end, x, ref = _setup("vp")
    res = []
    for rtol in (1e-3, 1e-4, 1e-5):
        y, info = sample(sde, GM.score_fn(sde), sampler="dpm_adaptive", x_init=x, t_end=t_end,
                         pair=pair, rtol=rtol, atol=rtol)
        rel = _rms(y, ref) / float(ref.pow(2).sum(1).mean().sqrt())
        res.append((rtol, info.nfe, rel))
        assert rel <= 10 * rtol, res
        assert info.times[0] == sde.T and abs(float(info.times[-1]) - t_end) < 1e-15
    nfes = [r[1] for r in res]
    assert nfes[0] < nfes[1] < nfes[2], res


def test_adaptive_nfe_reported_equals_calls():
    sde = EDMSDE()
    calls = [0]

    def score(x, t):
        calls[0] += 1
        return GM.score_fn(sde)(x, t)

    _, info = sample(sde, score, (16, 2), sampler="dpm_adaptive", rtol=1e-3, atol=1e-3,
                     generator=torch.Generator().manual_seed(0))
    assert info.nfe == calls[0] > 0 and info.steps == len(info.times) - 1
