"""Sample metrics: known values for shifted Gaussians, zero for identical sets."""

import pytest
import torch

from sde_diffusion.metrics import energy_distance, frechet_distance, mean_nll, mmd, sliced_wasserstein


def test_sliced_wasserstein_of_a_shift():
    """For y = x + d, every 1-D projection shifts by theta.d, so SW_2^2 = E(theta.d)^2 = |d|^2/D."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(5000, 4, generator=g, dtype=torch.float64)
    d = torch.tensor([1.0, -2.0, 0.5, 0.0], dtype=torch.float64)
    sw = sliced_wasserstein(x, x + d, n_projections=4000)
    assert sw == pytest.approx(float(d.norm()) / 2, rel=0.05)  # |d| / sqrt(D), D = 4
    assert sliced_wasserstein(x, x) == 0.0
    # unequal sizes go through quantiles
    assert sliced_wasserstein(x[:1000], x + d, n_projections=4000) == pytest.approx(float(d.norm()) / 2, rel=0.1)


def test_mmd_energy_and_frechet():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(1500, 2, generator=g, dtype=torch.float64)
    y = torch.randn(1500, 2, generator=g, dtype=torch.float64)
    z = y + 3.0
    assert abs(mmd(x, y)) < 0.01 and mmd(x, z) > 0.3
    assert abs(energy_distance(x, y)) < 0.02 and energy_distance(x, z) > 1.0
    # Frechet distance between N(0, I) and N(3, I) fits is |3 1|^2 = 18
    assert frechet_distance(x, z) == pytest.approx(18.0, rel=0.05)
    assert frechet_distance(x, y) < 0.05


def test_mean_nll_and_dimension_check():
    x = torch.zeros(10, 2)
    assert mean_nll(x, lambda v: torch.full((v.shape[0],), -1.5)) == 1.5
    with pytest.raises(ValueError, match="dimension"):
        sliced_wasserstein(torch.zeros(3, 2), torch.zeros(3, 3))
