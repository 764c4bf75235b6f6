"""``benchmarks/bench_point_share.py``: the share of a cell's squared error in its worst points."""
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
ps = pytest.importorskip("bench_point_share")


def test_shares_on_errors_with_a_known_answer():
    # per-point squared errors (mean over 2 coordinates) 100, 4, 1, 1: RMS sqrt(106 / 4); the worst
    # point holds 100 / 106; without it the RMS is sqrt(6 / 3)
    ref = torch.zeros(4, 2, dtype=torch.float64)
    x0 = torch.tensor([[10.0, 10.0], [2.0, 2.0], [1.0, -1.0], [-1.0, 1.0]], dtype=torch.float64)
    rms, share, rest = ps.shares(x0, ref, top=1)
    assert rms == pytest.approx((106 / 4) ** 0.5, rel=1e-12)
    assert share == pytest.approx(100 / 106, rel=1e-12)
    assert rest == pytest.approx((6 / 3) ** 0.5, rel=1e-12)
    assert ps.shares(x0, ref, top=2)[1] == pytest.approx(104 / 106, rel=1e-12)
