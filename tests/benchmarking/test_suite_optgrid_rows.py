"""``benchmarks/bench_suite.py``'s optimize_grid row: the option sets it hands each sampler's
search (UniPC's orders with and without the step onto 0; iPNDM's orders when asked)."""
import argparse
import sys
from pathlib import Path
from unittest import mock

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
bench = pytest.importorskip("bench_suite")

from sde_diffusion.analytic import suite_problem  # noqa: E402
from sde_diffusion.sdes import EDMSDE  # noqa: E402


class _Called(Exception):
    pass


def _called_with(opt_sampler, ipndm_orders, with_pick=0, problem="ring8", seed=0, opt_seed=None, n_val=0):
    """(args, keywords) that ``opt_rows`` hands optimize_grid."""
    a = argparse.Namespace(opt_sampler=opt_sampler, n_calib=4, n_val=n_val, seed=seed, opt_seed=opt_seed,
                           max_evals=1, starts=1, cand_orders=[2, 3], zero_candidates=1,
                           ipndm_orders=ipndm_orders, with_pick=with_pick)

    def fake(*args, **kw):
        raise _Called(args, kw)

    p = suite_problem(problem)
    x_T = torch.zeros(2, p.dim, dtype=torch.float64)
    with mock.patch("sde_diffusion.solvers.optimize_grid", fake), pytest.raises(_Called) as got:
        bench.opt_rows(EDMSDE(), p.mixture.score_fn(EDMSDE()), x_T, None, p, 10, a)
    return got.value.args


def _candidates(*args, **kw):
    return _called_with(*args, **kw)[1]["candidates"]


def test_opt_seed_fixes_the_calibration_and_held_out_batches_whatever_the_scoring_seed():
    """``--opt-seed`` lets the same optimised grid be scored on new noise (few-step 30): its batches are
    drawn at the opt seed (+100, +200), not at x_T's seed."""
    sde = EDMSDE()
    want_c, want_v = bench.opt_batches(sde, 2, 1, 4, 8)
    for seed in (1, 3, 7):
        args, kw = _called_with("unipc", None, seed=seed, opt_seed=1, n_val=8)
        assert torch.equal(args[4], want_c) and torch.equal(kw["x_val"], want_v)
    args, kw = _called_with("unipc", None, seed=3, n_val=8)            # no opt seed: x_T's seed
    assert torch.equal(args[4], bench.opt_batches(sde, 2, 3, 4, 8)[0])
    assert not torch.equal(args[4], want_c)


def test_each_search_gets_its_own_candidates():
    unipc = [{"order": 2}, {"order": 2, "final_zero": True}, {"order": 3}, {"order": 3, "final_zero": True}]
    assert _candidates("unipc", None) == unipc
    assert _candidates("ipndm", None) is None                        # iPNDM's own options
    assert _candidates("ipndm", [2, 4]) == [{"order": 2}, {"order": 4}]
    assert _candidates("unipc,ipndm", [3]) == {"unipc": unipc, "ipndm": [{"order": 3}]}
    assert _candidates("unipc,ipndm", None) == {"unipc": unipc}


def test_with_pick_adds_the_probes_low_rank_pick_to_unipcs_candidates_only_where_it_takes_the_data():
    from sde_diffusion.solvers.grids import ZeroEnded
    from sde_diffusion.solvers.sharp_modes import low_rank_recipe
    unipc = [{"order": 2}, {"order": 2, "final_zero": True}, {"order": 3}, {"order": 3, "final_zero": True}]
    got = _candidates("unipc,ipndm", [3], with_pick=1, problem="lowrank64")
    pick = got["unipc"][-1]
    assert got["unipc"][:-1] == unipc and got["ipndm"] == [{"order": 3}]
    assert isinstance(pick["grid"], ZeroEnded) and pick["grid"].grid == "log_snr" and pick["order"] == 5
    assert low_rank_recipe(EDMSDE(), 10, 1.0)[1]["grid"].grid == pick["grid"].grid
    assert _candidates("unipc,ipndm", [3], with_pick=0, problem="lowrank64")["unipc"] == unipc
    assert _candidates("unipc,ipndm", [3], with_pick=1, problem="ring8")["unipc"] == unipc      # sharp, not low-rank
