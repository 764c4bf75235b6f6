"""The final evaluation's sliced-Wasserstein floor: the mean and sd of several independent
exact-vs-exact draws, so a ratio or a z-score is read against the floor's spread, not one noisy
draw (at n = 4000 on the ring one draw ranges 0.09-0.23)."""
import pytest
import torch

from sde_diffusion.data import ring
from sde_diffusion.metrics import sliced_wasserstein
from sde_diffusion.training.sampling import FLOOR_DRAWS, sliced_wasserstein_report

RING = ring()
N = 400


def _exact(seed, scale=1.0):
    return RING.reference.sample(N, generator=torch.Generator().manual_seed(1000 + seed)) * scale


def test_the_floor_is_an_average_of_draws_with_its_sd():
    """Across 20 seeds the reported floor varies like the mean of FLOOR_DRAWS single draws:
    sd ratio ~ 1/sqrt(5) = 0.45 (one draw would give 1; threshold 0.75, the ratio's sampling
    error at 20 seeds is ~ 0.1)."""
    reps = [sliced_wasserstein_report(_exact(s), RING, n=N, seed=s) for s in range(20)]
    g = torch.Generator().manual_seed(7)
    single = torch.tensor([sliced_wasserstein(RING.reference.sample(N, generator=g),
                                              RING.reference.sample(N, generator=g), seed=k)
                           for k in range(40)])
    floors = torch.tensor([r["sw_floor"] for r in reps])
    assert float(floors.std() / single.std()) < 0.75
    assert abs(float(floors.mean() / single.mean()) - 1) < 0.15
    sds = torch.tensor([r["sw_floor_sd"] for r in reps])
    assert abs(float(sds.mean() / single.std()) - 1) < 0.35  # each report's sd estimates one draw's
    assert all(r["sw_floor_draws"] == FLOOR_DRAWS and r["sw_n"] == N for r in reps)


def test_z_separates_exact_samples_from_a_biased_sampler():
    """Exact samples: |z| < 3 in at least 11 of 12 seeds; samples scaled by 1.3 (a clearly
    biased sampler): z > 2 in every seed, 4 on average (measured 2.9-8.6)."""
    exact = [sliced_wasserstein_report(_exact(s), RING, n=N, seed=s)["sw_z"] for s in range(12)]
    assert sum(abs(z) < 3 for z in exact) >= 11
    biased = [sliced_wasserstein_report(_exact(s, 1.3), RING, n=N, seed=s) for s in range(5)]
    assert all(r["sw_z"] > 2 and r["sw_ratio"] > 1.8 for r in biased)
    assert sum(r["sw_z"] for r in biased) / 5 > 4


def test_draws_must_allow_an_sd():
    with pytest.raises(ValueError, match="draws must be an integer >= 2"):
        sliced_wasserstein_report(_exact(0), RING, n=N, draws=1)


def test_the_report_aggregates_every_draw(monkeypatch):
    """With a stand-in metric that returns 1, 2, 3, ... in call order: SW = the first call (1),
    the floor = the mean of the next FLOOR_DRAWS calls (2..6 -> 4), sd their sample sd (1.58),
    ratio 1/4, z = (1 - 4)/1.58."""
    import sde_diffusion.metrics as metrics
    calls = []

    def fake(x, y, seed=0, **k):
        calls.append(seed)
        return float(len(calls))
    monkeypatch.setattr(metrics, "sliced_wasserstein", fake)
    r = sliced_wasserstein_report(_exact(0), RING, n=N, seed=3)
    sd = torch.tensor([2.0, 3, 4, 5, 6]).std().item()
    assert len(calls) == 1 + FLOOR_DRAWS and len(set(calls[1:])) == FLOOR_DRAWS  # own projections each
    assert r["sw"] == 1 and r["sw_floor"] == 4 and r["sw_floor_sd"] == pytest.approx(sd)
    assert r["sw_ratio"] == 0.25 and r["sw_z"] == pytest.approx(-3 / sd)
