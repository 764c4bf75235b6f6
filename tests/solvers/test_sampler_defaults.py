"""Per-(SDE, sampler) defaults (``SDE.sampler_defaults``): grid and ending chosen on the tuning
half of the problem suite. Each numerical case is a tuning cell where the entry was measured
to matter (``benchmarks/RESULTS.md``, "Few-step defaults on the problem suite", sections 9 and 11; 64
points, seed 1, end to end); the bound leaves a factor >= 2 of margin to the measured ratio."""
import pytest
import torch

from sde_diffusion.analytic import suite_problem
from sde_diffusion.benchmarking.reference import data_end_reference, data_estimate, end_to_end_rms
from sde_diffusion.benchmarking.settings import resolved_settings
from sde_diffusion.sdes import EDMSDE, VESDE, VPSDE
from sde_diffusion.solvers import SAMPLERS, get_sampler, sample
from sde_diffusion.solvers.grids import GRIDS, default_t_end, make_grid
from sde_diffusion.solvers.optimized_grid import OptimizedGrid


@pytest.mark.parametrize("sde_cls", [VPSDE, EDMSDE])
def test_every_entry_names_a_sampler_a_grid_and_a_possible_ending(sde_cls):
    for name, entry in sde_cls.sampler_defaults.items():
        assert name in SAMPLERS and set(entry) <= {"grid", "zero_from", "zero_end", "zero_end_steps"}, name
        assert entry.get("grid", "log_snr") in GRIDS, name
        if "zero_from" in entry:
            assert get_sampler(name).lands_on_zero and entry["zero_from"] >= 2, name
        if "zero_end" in entry:
            lo, hi = entry["zero_end_steps"]
            assert get_sampler(name).lands_on_zero and 2 <= lo <= hi and entry["zero_end"] > 0, name


def test_edm_unipc_steps_onto_zero_from_higher_up_in_short_runs():
    """EDM UniPC: at 8-30 steps, steps - 1 log-SNR steps to sigma = 0.007 (20 / n)^2, then one onto
    sigma = 0; at 7 and 31-49 steps it stops at sigma_min; from 50 it steps onto 0 from sigma_min.
    Other samplers on EDM (DPM-Solver-3 among them, few-step 21-22) and every sampler on VP keep
    their ending."""
    sde, smp = EDMSDE(), get_sampler("unipc")()
    for steps, approx in ((8, 0.04375), (10, 0.028), (20, 0.007), (30, 0.00311)):
        start = 0.007 * (20 / steps) ** 2
        assert start == pytest.approx(approx, abs=1e-5)
        t = smp.make_times(sde, steps, None, None, None)
        assert t.shape == (steps + 1,) and float(t[-1]) == 0.0
        assert float(t[-2]) == pytest.approx(start, rel=1e-12)
        assert torch.equal(t[:-1], make_grid(sde, "log_snr", steps - 1, t_end=start))
    for steps in (7, 31, 49):
        t = smp.make_times(sde, steps, None, None, None)
        assert torch.equal(t, make_grid(sde, "log_snr", steps)) and float(t[-1]) == 0.002
    t = smp.make_times(sde, 50, None, None, None)
    assert float(t[-1]) == 0.0 and float(t[-2]) == 0.002
    assert float(smp.make_times(sde, 20, None, 0.002, None)[-1]) == 0.002           # t_end given
    assert float(smp.make_times(sde, 20, "karras", None, None)[-2]) == pytest.approx(0.007)
    assert float(get_sampler("deis")().make_times(sde, 20, None, None, None)[-1]) == 0.002
    assert float(smp.make_times(VPSDE(), 20, None, None, None)[-1]) == default_t_end(VPSDE(), 20)
    assert float(get_sampler("dpm_solver3")().make_times(sde, 20, None, None, None)[-1]) == 0.002
    cell = {"sampler": {"name": "unipc"}, "nfe": 20}
    assert resolved_settings(cell, sde)["grid"] == "log_snr, then sigma = 0"


def test_the_table_sets_the_grid_and_the_ending(tmp_path):
    """ipndm on VP: time-power grid; from 20 steps, 19 steps to the default end, then t = 0.
    An explicit grid or end time is the caller's; a sampler without an entry keeps the SDE's."""
    sde = VPSDE()
    smp = get_sampler("ipndm")()
    t = smp.make_times(sde, 10, None, None, None)
    assert torch.equal(t, make_grid(sde, "time_power", 10))
    t = smp.make_times(sde, 20, None, None, None)
    assert t.shape == (21,) and float(t[-1]) == 0.0
    assert torch.equal(t[:-1], make_grid(sde, "time_power", 19))
    assert float(t[-2]) == default_t_end(sde, 19)
    assert float(smp.make_times(sde, 20, None, 1e-3, None)[-1]) == 1e-3      # t_end given
    assert float(smp.make_times(sde, 20, "karras", 1e-3, None)[-1]) == 1e-3
    assert torch.equal(get_sampler("dpm_solver2")().make_times(sde, 50, None, None, None),
                       make_grid(sde, "time_quadratic", 50))                # no entry
    # an SDE without a table (VE) and a sampler that cannot land on sigma = 0 (heun on EDM)
    assert torch.equal(smp.make_times(VESDE(), 30, None, None, None), make_grid(VESDE(), "karras", 30))
    assert float(get_sampler("heun")().make_times(EDMSDE(), 60, None, None, None)[-1]) == 0.002
    # a saved grid keeps its own times, also given as the path of its .json file
    saved = OptimizedGrid(name="g", times=make_grid(sde, "karras", 30).tolist(), sde=repr(sde),
                          sampler="ipndm", steps=30, sampler_options={}, made={})
    path = tmp_path / "g.json"
    saved.save(path)
    for grid in (saved, str(path)):
        assert smp.make_times(sde, 30, grid, None, None).tolist() == saved.times
    assert resolved_settings({"sampler": {"name": "ipndm", "steps": 30,
                                          "options": {"grid": str(path)}}}, sde)["t_end"] > 0
    cell = {"sampler": {"name": "ipndm"}, "nfe": 30}
    assert resolved_settings(cell, sde)["grid"] == "time_power, then sigma = 0"
    assert resolved_settings(cell, sde)["t_end"] == 0.0


def _rms(sde, problem, sampler, steps, **kw):
    p = suite_problem(problem)
    sf = p.mixture.score_fn(sde)
    x = sde.prior_sample((64, p.dim), generator=torch.Generator().manual_seed(1),
                         dtype=torch.float64)
    ref = data_end_reference(sde, sf, x)
    out = []
    for opts in ({}, kw):
        y, info = sample(sde, sf, sampler=sampler, steps=steps, x_init=x, progress=False, **opts)
        out.append(end_to_end_rms(data_estimate(sde, y, info.t_end, info.denoised), ref))
    return out


@pytest.mark.parametrize("sde_cls,sampler,problem,steps,untuned,measured", [
    # low-rank data: the step onto sigma = 0 removes the noise left in the null directions
    (VPSDE, "ipndm", "lowrank32_r4", 51,
     {"grid": "time_quadratic", "t_end": default_t_end(VPSDE(), 51)}, 24.2),
    (EDMSDE, "deis", "lowrank32_r4", 10, {"grid": "log_snr"}, 6.4),
    (EDMSDE, "heun", "full8_cond2000", 25, {"grid": "log_snr"}, 25.8),
    (VPSDE, "euler", "unequal_2d", 20, {"grid": "time_quadratic"}, 5.1),
    # round 5, the worst case per budget: on VP at 50 steps the step onto sigma = 0
    (VPSDE, "unipc", "lowrank128_r12", 50, {"t_end": default_t_end(VPSDE(), 50)}, 38.1),
    (VPSDE, "dpm_solver3", "lowrank128_r12", 50, {"t_end": default_t_end(VPSDE(), 50)}, 5.4),
    # round 13: EDM UniPC's step onto sigma = 0 from sigma 0.007 (20 / n)^2 at 8-30 steps
    (EDMSDE, "unipc", "modes64_8d", 20, {"t_end": 0.002}, 7.07),
    (EDMSDE, "unipc", "ring7_sharp", 10, {"t_end": 0.002}, 2.30),
])
def test_tuned_entry_beats_the_sdes_default_where_it_was_measured(sde_cls, sampler, problem,
                                                                   steps, untuned, measured):
    tuned, plain = _rms(sde_cls(), problem, sampler, steps, **untuned)
    assert tuned * min(3.0, measured / 2) <= plain, (tuned, plain)


@pytest.mark.parametrize("problem,measured", [("grid25", 11.6), ("unequal_2d", 3.7)])
def test_unipc_default_order_beats_order_3_at_50_steps_on_edm(problem, measured):
    """UniPC's default order 5 (orders 4-5 only on steps h <= 0.4, ``order.MAX_STEP``): on
    EDM's 50-step default grid (h = 0.22) it beats UniPC-3 where measured on the tuning half
    (ratio ``measured``), at 30 steps (h = 0.35) it takes order 5 (it differs from UniPC-4),
    and at 20 steps (h = 0.56) it is UniPC-3, bit for bit."""
    sde = EDMSDE()
    default, order3 = _rms(sde, problem, "unipc", 50, order=3)
    assert default * min(3.0, measured / 2) <= order3, (default, order3)
    p = suite_problem(problem)
    x = sde.prior_sample((16, p.dim), generator=torch.Generator().manual_seed(1),
                         dtype=torch.float64)
    def run(steps, **kw):
        return sample(sde, p.mixture.score_fn(sde), sampler="unipc", steps=steps, x_init=x,
                      progress=False, **kw)[0]
    a = run(20)
    assert torch.equal(a, run(20, order=3)) and not torch.equal(a, run(20, order=2))
    assert not torch.equal(run(30), run(30, order=4))
