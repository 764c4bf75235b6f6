"""``benchmarks/bench_unipc_order_test.py`` (a candidate, measured in few-step section 15e and not
adopted): its loop is UniPC's own when the test never fires, lowers every order-3+ step by one
when it always fires, and decides per sample."""
import math
import sys
from pathlib import Path
from unittest import mock

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
cand = pytest.importorskip("bench_unipc_order_test")

from sde_diffusion.analytic import ring_of_gaussians  # noqa: E402
from sde_diffusion.sdes import EDMSDE  # noqa: E402
from sde_diffusion.solvers import order, sample, unipc  # noqa: E402


@pytest.fixture(scope="module")
def cell():
    sde, mix = EDMSDE(), ring_of_gaussians(7, radius=1.2, std=0.02)
    x = sde.prior_sample((8, 2), generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    return sde, mix.score_fn(sde), x


def _run(cell, test, x=None, steps=10):
    sde, sf, x_T = cell
    with mock.patch.object(unipc.UniPCSampler, "run", cand.candidate_run(test, 0.0)):
        return sample(sde, sf, sampler="unipc", steps=steps, x_init=x_T if x is None else x, progress=False)[0]


def test_never_firing_is_the_shipped_sampler_bit_for_bit(cell):
    sde, sf, x = cell
    shipped = sample(sde, sf, sampler="unipc", steps=10, x_init=x, progress=False)[0]
    assert torch.equal(_run(cell, math.inf), shipped)


def test_always_firing_lowers_every_order_3_step_by_one(cell):
    sde, sf, x = cell
    lowered = lambda lam, p, *a, **k: [q - 1 if q >= 3 else q for q in order.step_orders(lam, p, *a, **k)]
    with mock.patch.object(unipc, "step_orders", lowered):
        want = sample(sde, sf, sampler="unipc", steps=10, x_init=x, progress=False)[0]
    got = _run(cell, 0.0)
    assert torch.allclose(got, want, rtol=0, atol=1e-12)
    assert not torch.allclose(got, _run(cell, math.inf), rtol=0, atol=1e-6)   # it did change


def test_the_test_decides_per_sample(cell):
    batch = _run(cell, 1.0)
    alone = torch.cat([_run(cell, 1.0, x=cell[2][k:k + 1]) for k in range(8)])
    assert torch.allclose(batch, alone, rtol=0, atol=1e-12)
    # and the samples did not all decide alike: the result is neither extreme
    assert not torch.allclose(batch, _run(cell, 0.0), rtol=0, atol=1e-9)
    assert not torch.allclose(batch, _run(cell, math.inf), rtol=0, atol=1e-9)


def _run_corr(cell, test, x=None):
    sde, sf, x_T = cell
    with mock.patch.object(unipc.UniPCSampler, "run", cand.candidate_run(test, 0.0, "corrector")):
        return sample(sde, sf, sampler="unipc", steps=10, x_init=x_T if x is None else x, progress=False)[0]


def test_the_corrector_statistic_spans_the_shipped_and_the_lowered_sampler_and_decides_per_sample(cell):
    """16e's statistic (the corrector's change against the step before's top-order term): never
    firing is the shipped sampler bit for bit, always firing lowers every order-3+ step, and in
    between it decides per sample."""
    sde, sf, x = cell
    assert torch.equal(_run_corr(cell, math.inf), sample(sde, sf, sampler="unipc", steps=10, x_init=x,
                                                         progress=False)[0])
    assert torch.allclose(_run_corr(cell, 0.0), _run(cell, 0.0), rtol=0, atol=1e-12)
    mid = next(c for c in (1.0, 0.3, 3.0, 0.1, 10.0)
               if not torch.allclose(_run_corr(cell, c), _run_corr(cell, 0.0), rtol=0, atol=1e-9)
               and not torch.allclose(_run_corr(cell, c), _run_corr(cell, math.inf), rtol=0, atol=1e-9))
    alone = torch.cat([_run_corr(cell, mid, x=x[k:k + 1]) for k in range(8)])
    assert torch.allclose(_run_corr(cell, mid), alone, rtol=0, atol=1e-12)
