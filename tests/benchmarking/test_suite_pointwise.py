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
    assert "| VP | 10 | 2 | 1 | 1 | 1 |" in text          # q: 0.11 by RMS, 10 by the others
    assert "| p | VP | 10 | unipc | 8.84 | 0.10 | 0.10 | 1.00 / 0.01 |" in text
