"""``benchmarks/bench_suite_pointwise.py``: per-point errors and the three ratios (RMS, one point
out, median) on inputs with known answers."""
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
pw = pytest.importorskip("bench_suite_pointwise")


def test_point_errors_are_the_rms_over_coordinates_of_each_point():
    ref = torch.zeros(3, 2, 2, dtype=torch.float64)
    x0 = torch.zeros(3, 2, 2, dtype=torch.float64)
    x0[0] = 1.0                     # every coordinate off by 1 -> e_0 = 1
    x0[2, 0, 0] = 2.0               # one of 4 coordinates off by 2 -> e_2 = sqrt(4 / 4) = 1
    x0[1, 1, 1] = 4.0               # sqrt(16 / 4) = 2
    assert pw.point_errors(x0, ref).tolist() == [1.0, 2.0, 1.0]


def test_one_bad_point_decides_the_rms_ratio_but_not_the_others():
    """Ours: 127 points at 0.001 and one at 1.0; the peer: 128 points at 0.01. The RMS ratio is
    sqrt((127e-6 + 1) / 128) / 0.01 = 8.84; one point out it is 0.1, the median ratio 0.1, and
    our largest point holds 1 / (1 + 127e-6) of our squared error."""
    ours = torch.full((128,), 1e-3, dtype=torch.float64)
    ours[5] = 1.0
    peer = torch.full((128,), 1e-2, dtype=torch.float64)
    c = pw.compare(ours, peer)
    assert c["rms"] == pytest.approx(((127e-6 + 1) / 128) ** 0.5 / 0.01)
    assert c["one_out"] == pytest.approx(0.1) and c["median"] == pytest.approx(0.1)
    assert c["top_share_ours"] == pytest.approx(1 / (1 + 127e-6))
    assert c["top_share_peer"] == pytest.approx(1 / 128)
    cells = [{"problem": "p", "sde": "VP", "nfe": 10, "ours": "unipc{}", **c},
             {"problem": "q", "sde": "VP", "nfe": 10, "ours": "ipndm{}", **pw.compare(peer, ours)}]
    text = pw.report(cells)
    # q: 0.11 by RMS, 10 by the others. p's miss is one point, drawn k ~ Poisson(1) times per
    # resample: k = 0 (37 %) gives 0.1x, and the 97.5 % quantile k = 3 gives sqrt(3 / 128) / 0.01
    assert "| VP | 10 | 2 | 1 | 1 | 1 | 0 |" in text
    assert c["rms_lo"] == pytest.approx(0.1, rel=1e-9)
    assert c["rms_hi"] == pytest.approx((3 / 128) ** 0.5 / 0.01, rel=1e-3)
    assert f"| p | VP | 10 | unipc | 8.84 | 0.10-{c['rms_hi']:.2f} | 0.10 | 0.10 | 1.00 / 0.01 |" in text


def test_bootstrap_interval_of_a_fixed_ratio_is_that_ratio():
    peer = torch.rand(300, generator=torch.Generator().manual_seed(1), dtype=torch.float64) + 0.1
    lo, hi = pw.bootstrap_interval(2.0 * peer, peer)
    assert lo == pytest.approx(2.0, rel=1e-12) and hi == pytest.approx(2.0, rel=1e-12)


def test_bootstrap_interval_covers_a_true_ratio_of_one_about_95_percent_of_the_time():
    """ours and the peer iid |N(0, 1)| (true RMS ratio 1), 256 points, 300 trials: the share of
    intervals containing 1 lies within 3 standard errors of 0.95 (sqrt(0.95 * 0.05 / 300) =
    0.0126); a 68 % or a 99.9 % interval would fall outside."""
    g = torch.Generator().manual_seed(3)
    hits = 0
    for trial in range(300):
        e = torch.randn(2, 256, generator=g, dtype=torch.float64).abs()
        lo, hi = pw.bootstrap_interval(e[0], e[1], resamples=1000, seed=trial)
        hits += lo <= 1.0 <= hi
    assert abs(hits / 300 - 0.95) < 3 * (0.95 * 0.05 / 300) ** 0.5


def test_bootstrap_resamples_the_two_sides_at_the_same_points():
    """Errors shared point by point (ours = 1.1 x the peer's, times 5 % noise) on heavy-tailed
    points: paired resampling keeps the interval near 1.1 and above 1; drawing each side's
    points separately would stretch it over 1."""
    g = torch.Generator().manual_seed(4)
    peer = torch.randn(512, generator=g, dtype=torch.float64).exp().pow(2)
    ours = 1.1 * peer * (0.05 * torch.randn(512, generator=g, dtype=torch.float64)).exp()
    lo, hi = pw.bootstrap_interval(ours, peer)
    assert 1.0 < lo < 1.1 < hi < 1.2
