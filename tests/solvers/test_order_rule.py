"""The one order-control rule of the multistep solvers (``solvers/order.py``) and what it is
for: on the reference problems the end-to-end error of every default deterministic sampler
does not rise with the NFE budget."""
import math

import pytest
import torch

from sde_diffusion.analytic import random_mixture, ring_of_gaussians
from sde_diffusion.sdes import EDMSDE, VESDE, VPSDE
from sde_diffusion.solvers import SAMPLERS, sample
from sde_diffusion.solvers.order import step_orders


def test_warm_up_and_final_steps():
    lam = [float(k) for k in range(11)]  # 10 equal steps
    assert step_orders(lam, 3) == [1, 2, 3, 3, 3, 3, 3, 3, 2, 1]
    assert step_orders(lam, 3, lower_order_final=False) == [1, 2] + [3] * 8
    assert step_orders(lam[:3], 3) == [1, 1]  # 2 steps: warm-up meets the end


def test_far_extrapolation_lowers_the_order():
    # steps 1, 1, 1, then a step of 4: the gaps (1) are < 0.3 * 4 -> order 1 there
    lam = [0.0, 1.0, 2.0, 3.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0]
    orders = step_orders(lam, 3, lower_order_final=False)
    assert orders[3] == 1 and orders[2] == 3
    # a gap of 2 before a step of 4 is >= 0.3 * 4: order 2 allowed, the gap before (1) is not
    lam = [0.0, 1.0, 3.0, 7.0, 8.0, 9.0]
    assert step_orders(lam, 3, lower_order_final=False)[2] == 2


def test_infinite_steps_are_order_one():
    inf = math.inf
    orders = step_orders([-inf, 0.0, 1.0, 2.0, 3.0, inf], 3, lower_order_final=False)
    assert orders[0] == 1 and orders[-1] == 1
    assert orders[1] == 1  # the node at lambda = -inf carries no slope
    assert orders[2] == 2 and orders[3] == 3


def test_orders_of_4_and_above_only_on_short_enough_steps():
    """A step of convergence order q = p + (1 if corrected) >= 4 needs h <= MAX_STEP[q]
    (q = 4: 1.5; q = 5 and q = 6: 0.4); q <= 3 is never limited by it."""
    from sde_diffusion.solvers.order import MAX_STEP
    assert MAX_STEP == {4: 1.5, 5: 0.4, 6: 0.4}

    def mid(h, p, corrected):  # the order of a step in the middle of 30 equal steps
        lam = [h * k for k in range(31)]
        return step_orders(lam, p, corrected=corrected)[15]
    assert mid(0.2, 5, True) == 5 and mid(0.375, 5, True) == 5 and mid(0.5, 5, True) == 3
    assert mid(0.375, 4, True) == 4 and mid(0.4375, 4, True) == 3
    assert mid(0.375, 5, False) == 5 and mid(0.45, 5, False) == 4 and mid(0.45, 4, False) == 4
    assert mid(1.5, 4, False) == 4 and mid(1.5, 3, True) == 3            # q = 4 up to h = 1.5
    assert mid(1.6, 4, False) == 3 and mid(1.6, 3, True) == 2 and mid(1.6, 5, True) == 2
    assert mid(5.0, 3, False) == 3 and mid(5.0, 2, True) == 2            # q <= 3: no limit
    # warm-up; the k-th last step at order <= k only where it is longer than FINAL_LONG_STEP
    assert step_orders([0.45 * k for k in range(11)], 5, corrected=True) == \
        [1, 2, 3, 3, 3, 3, 3, 3, 2, 1]
    assert step_orders([0.35 * k for k in range(11)], 5, corrected=True) == \
        [1, 2, 3, 4, 5, 5, 4, 3, 2, 1]
    assert step_orders([0.2 * k for k in range(11)], 5, corrected=True) == \
        [1, 2, 3, 4, 5, 5, 5, 5, 5, 5]


def test_short_final_steps_keep_the_full_order():
    from sde_diffusion.solvers.order import FINAL_LONG_STEP
    assert FINAL_LONG_STEP == 0.2
    lam = [0.0, 1.0, 2.0, 3.0, 4.0, 4.15, 4.3, 4.45]     # three short final steps (0.15)
    assert step_orders(lam, 3) == [1, 2, 3, 3, 3, 3, 3]
    lam = [0.0, 1.0, 2.0, 3.0, 4.0, 4.25, 4.5, 4.75]     # three final steps of 0.25: long now
    assert step_orders(lam, 3) == [1, 2, 3, 3, 3, 2, 1]
    lam = [0.0, 1.0, 2.0, 3.0, 4.0, 4.15, 5.15]          # a short second-last step, a long last
    assert step_orders(lam, 3) == [1, 2, 3, 3, 3, 1]     # (lowered at every length: 2 then 1)
    # lower_order_final=False never lowers them; an infinite last step is order 1 either way
    assert step_orders([0.0, 1.0, 2.0, 3.0, math.inf], 3, lower_order_final=False)[-1] == 1


# ---------------------------------------------------------------- error does not rise with NFE
DETERMINISTIC = ["euler", "heun", "ddim", "dpm_solver2", "dpm_solver3", "unipc", "deis",
                 "dpm_solver_2s", "dpm_solver_3s", "edm_heun", "ipndm", "ipndm_v"]
PROBLEMS = {"ring8": ring_of_gaussians, "mix16": lambda: random_mixture(16)}
SDES = {"VP": VPSDE, "VE": VESDE, "EDM": EDMSDE}
NFES = (10, 20, 40, 80)
N = 200


def _rms(a, b):
    return float((a - b).pow(2).sum(1).mean().sqrt())


@pytest.mark.parametrize("sde_name", list(SDES))
@pytest.mark.parametrize("problem", list(PROBLEMS))
def test_error_does_not_rise_with_nfe(problem, sde_name):
    """RMS(2n) <= 1.05 RMS(n) + 1e-6 for n = 10, 20, 40, end to end: from the same x_T at T to
    the data (denoised at the sampler's default end), against the exact PF-ODE map (DOP853 at
    1e-10 to eps, denoised). 1e-6 is the reference's own accuracy; every default (grid, end
    time, order rule) as a user gets it."""
    gm, sde = PROBLEMS[problem](), SDES[sde_name]()
    sf = gm.score_fn(sde)
    x_T = sde.prior_sample((N, gm.dim), generator=torch.Generator().manual_seed(1),
                           dtype=torch.float64)
    ref, _ = sample(sde, sf, sampler="rk45", x_init=x_T, t_end=sde.eps, rtol=1e-10,
                    atol=1e-10, method="DOP853", denoise=True)
    rises = []
    for name in DETERMINISTIC:
        errs = []
        for nfe in NFES:
            steps = nfe // SAMPLERS[name].evals_per_step
            x, _ = sample(sde, sf, sampler=name, steps=steps, x_init=x_T, denoise=True)
            errs.append(_rms(x, ref))
        rises += [(name, NFES[k + 1], errs) for k in range(3) if errs[k + 1] > 1.05 * errs[k] + 1e-6]
    assert not rises, rises


MEASURED = 2.6   # 1024 tuning points (RESULTS few-step 14i); 2.56 on the 64 points here


def test_unipc_3_limit_pays_on_edm_five_steps():
    """UniPC's default on EDM at 5 steps (h = 2.1): the q = 4 limit makes its middle steps
    UniPC-2, orders [1, 2, 2, 2, 1] (without it [1, 2, 3, 2, 1]), and on the tuning cell
    aniso_gauss64 / EDM (64 points; 1024 points: 2.6x) the error falls by >= min(3, measured / 2)
    against the rule without the limit."""
    from unittest import mock

    from sde_diffusion.analytic import suite_problem
    from sde_diffusion.benchmarking.reference import data_end_reference, data_estimate, end_to_end_rms
    from sde_diffusion.solvers import get_sampler, order
    sde, p = EDMSDE(), suite_problem("aniso_gauss64")
    sf = p.mixture.score_fn(sde)
    x = sde.prior_sample((64, p.dim), generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    ref = data_end_reference(sde, sf, x)
    lam = [-math.log(float(t)) for t in get_sampler("unipc")().make_times(sde, 5, None, None, None)]

    def run():  # (orders of the 5 steps, end-to-end RMS) under the current order.MAX_STEP
        y, info = sample(sde, sf, sampler="unipc", steps=5, x_init=x, progress=False)
        rms = end_to_end_rms(data_estimate(sde, y, info.t_end, info.denoised), ref)
        return step_orders(lam, 5, corrected=True), rms
    orders, limited = run()
    assert orders == [1, 2, 2, 2, 1]
    with mock.patch.dict(order.MAX_STEP, {4: math.inf}):
        orders, unlimited = run()
    assert orders == [1, 2, 3, 2, 1]
    assert limited * min(3.0, MEASURED / 2) <= unlimited, (limited, unlimited)
