"""Error must not rise with NFE, on the whole problem suite: every default deterministic sampler,
RMS(2n) <= 1.05 x RMS(n) for n = 10, 20, 40 steps, scored end to end (data estimate against the
exact PF-ODE map to the data end, the same x_T for every n). A fast subset of two cheap
problems runs by default; the whole suite (both halves) is slow-marked.

The same x_T for every n makes the comparison paired: the ratio has no Monte Carlo error of
its own beyond which 48 points are drawn, so 5 % is a tolerance for discretisation effects,
not for noise.

``KNOWN`` lists the (problem, SDE, sampler) rows that rise today, each with its measured cause
(``benchmarks/RESULTS.md``, "Error vs NFE on the whole suite"). A row that rises and is not
listed fails the test; a listed row that no longer rises fails it too, so the list stays true.
"""
import pytest
import torch

from sde_diffusion.analytic import problem_suite, suite_problem
from sde_diffusion.benchmarking.reference import data_end_reference, end_to_end_errors
from sde_diffusion.sdes import EDMSDE, VPSDE
from sde_diffusion.solvers import SAMPLERS

FEW_STEP = ("euler", "heun", "ddim", "dpm_solver2", "dpm_solver3", "dpm_solver_2s",
            "dpm_solver_3s", "unipc", "deis", "edm_heun", "ipndm", "ipndm_v")
SAMPLER_NAMES = [s for s in FEW_STEP if s in SAMPLERS and not SAMPLERS[s].stochastic]
FAST = ("outlier_1d", "two_scales_1d")
SDES = {"VP": VPSDE, "EDM": EDMSDE}

_FLOOR = ("cancellation: at 10-20 steps VP stops at t = 1e-3 without denoising, and on this "
          "sharp problem (mode std 0.015) the exact flow stopped there is 0.0030 from the data "
          "end; the run's discretisation error (falling with n) partly cancels it, and the "
          "cancellation is lost at the next n")
_EDGE = ("one of 48 points passes near a boundary between modes, where the flow separates "
         "neighbouring trajectories; ")
KNOWN = {
    ("ring8_sharp", "VP", "heun"): _FLOOR,
    ("ring8_sharp", "VP", "dpm_solver_2s"): _FLOOR,
    ("ring8_sharp", "VP", "deis"): _FLOOR,
    ("ring8_sharp", "VP", "ipndm_v"): _FLOOR,
    ("ring8_sharp", "VP", "dpm_solver3"): "cancellation, as above, at 40 steps: the exact flow "
                                          "stopped at t_end(40) = 2.5e-4 is 7.6e-4 from the data "
                                          "end, the 40-step run 4.0e-4; from 50 steps it lands "
                                          "on sigma = 0 (5.4e-4 at 80, 1.3e-4 at 160 steps)",
    ("lowrank64", "VP", "ipndm"): _EDGE + "fixed-step Adams-Bashforth weights on the unequal "
                                  "sigma steps of the VP grid send it to the wrong mode at "
                                  "20-160 steps (ipndm_v, exact weights, converges)",
    ("lowrank64", "VP", "unipc"): _EDGE + "at 40 steps, with order-5 steps up to h = 0.4 "
                                  "(order.MAX_STEP since section 12), one point ends at error "
                                  "1.7, the other 47 at <= 0.0058 (80 steps: 3.5e-4)",
    ("outlier_16d", "EDM", "ipndm"): "pre-asymptotic: fixed-step Adams-Bashforth weights on "
                                     "the Karras grid's unequal sigma steps; the discretisation "
                                     "error itself is 0.010 / 0.013 / 0.0027 / 0.00044 at 10 / "
                                     "20 / 40 / 80 steps (the end floor is 1.4e-5), spread over "
                                     "the points; ipndm_v (exact weights) falls",
    ("ring12_sharp", "VP", "dpm_solver2"): "cancellation, as ring8_sharp: at 40 steps the run "
                                           "(2.4e-4) is below the exact flow stopped at its end "
                                           "t = 2.5e-4 (3.2e-4 from the data end); at 80 steps "
                                           "4.0e-4 against a floor of 8.7e-5",
    ("ring12_sharp", "VP", "dpm_solver_2s"): "cancellation at 10 steps: the run (6.2e-4) is "
                                             "below the exact flow stopped at t = 1e-3 (1.3e-3 "
                                             "from the data end); 20 steps 1.2e-3, 80 steps 5.8e-5",
    ("ring7_sharp", "VP", "ddim"): "first order on a grid that reaches further each time: with "
                                   "a fixed end t = 1e-3 its error falls (0.0075 / 0.0050 / "
                                   "0.0032 at 20 / 40 / 80 steps), but the VP end falls 4x per "
                                   "doubling (1e-3, 2.5e-4, 6.25e-5), each adding steps near "
                                   "sigma = mode std 0.02, where its error is made: 0.0066 / "
                                   "0.0072 / 0.0064",
    ("ring7_sharp", "VP", "dpm_solver3"): "cancellation at 40 steps: the run (4.6e-4) is below "
                                          "the exact flow stopped at t = 2.5e-4 (6.7e-4 from the "
                                          "data end); from 50 steps it lands on sigma = 0 (80 "
                                          "steps: 6.0e-4)",
    ("ring7_sharp", "VP", "ipndm_v"): "cancellation at 20 steps: the run (9.2e-4) is below the "
                                      "exact flow stopped at t = 1e-3 (0.0027 from the data "
                                      "end); 40 steps 1.1e-3, 80 steps 2.3e-4",
    ("multiscale_line", "EDM", "dpm_solver3"): _EDGE + "its error at 40 steps is 0.19, the "
                                               "other 47 fall 5x from 20 to 40 steps",
}


def _check(problem, sde_name, n=48):
    sde = SDES[sde_name]()
    sf = problem.mixture.score_fn(sde)
    x_T = sde.prior_sample((n, problem.dim), generator=torch.Generator().manual_seed(0),
                           dtype=torch.float64)
    ref = data_end_reference(sde, sf, x_T)  # one exact map for every sampler of the cell
    bad, fixed = [], []
    for sampler in SAMPLER_NAMES:
        try:
            err = end_to_end_errors(sde, sf, x_T, sampler, (10, 20, 40, 80), ref=ref)
        except ValueError as e:             # a sampler that refuses this SDE (e.g. edm on VP)
            if "SDE" in str(e) or "sde" in str(e):
                continue
            raise
        rises = [f"RMS({2 * n}) = {err[2 * n]:.3g} > 1.05 x RMS({n}) = {err[n]:.3g}"
                 for n in (10, 20, 40) if err[2 * n] > 1.05 * err[n]]
        known = (problem.name, sde_name, sampler) in KNOWN
        if rises and not known:
            bad.append(f"{sampler}: " + ", ".join(rises))
        if known and not rises:
            fixed.append(sampler)
    assert not bad, f"{problem.name}/{sde_name}: " + "; ".join(bad)
    assert not fixed, (f"{problem.name}/{sde_name}: {fixed} no longer rise: remove them from "
                       f"KNOWN")


def test_known_rows_are_suite_rows_with_a_reason():
    names = {p.name for p in problem_suite("all")}
    for (prob, sde, sampler), why in KNOWN.items():
        assert prob in names and sde in SDES and sampler in SAMPLER_NAMES and len(why) > 40


@pytest.mark.parametrize("sde_name", list(SDES))
@pytest.mark.parametrize("name", FAST)
def test_error_does_not_rise_with_nfe_fast_subset(name, sde_name):
    _check(suite_problem(name), sde_name)


@pytest.mark.slow
@pytest.mark.parametrize("sde_name", list(SDES))
@pytest.mark.parametrize("problem", problem_suite("all"), ids=lambda p: p.name)
def test_error_does_not_rise_with_nfe_whole_suite(problem, sde_name):
    _check(problem, sde_name)
