"""``benchmarks/bench_optgrid_pick_rules.py``: the sampler-pick rules on held-out errors with known
answers, and the report's ratios to the best peer."""
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
pr = pytest.importorskip("bench_optgrid_pick_rules")


def _cell(big: int):
    """UniPC: 1024 points at 0.11. iPNDM: 0.1 everywhere but ``big`` points at 1.0, so its median
    is smaller and its RMS sqrt(((1024 - big) 0.01 + big) / 1024) larger for big >= 3. The scored
    errors are twice the held-out ones, so a report reading the held-out errors is seen."""
    ipndm = torch.full((1024,), 0.1, dtype=torch.float64)
    ipndm[:big] = 1.0
    unipc = torch.full((1024,), 0.11, dtype=torch.float64)
    return {"unipc": {"val_e": unipc, "score_e": 2 * unipc}, "ipndm": {"val_e": ipndm, "score_e": 2 * ipndm}}


def test_rms_and_median_disagree_and_the_interval_decides():
    """3 large points: RMS ratio 0.11 / 0.1136 = 0.97, but the count of large points in a resample
    is about Poisson(3), so the 95 % interval (about 0.85-1.10) holds 1 and the median decides.
    24 large points: ratio 0.60 with the interval well below 1, so the RMS decides."""
    few, many = _cell(3), _cell(24)
    assert pr.by_rms(few) == pr.by_rms(many) == "unipc"
    assert pr.by_median(few) == pr.by_median(many) == "ipndm"
    assert pr.rms_if_resolved(0.95)(few) == "ipndm"
    assert pr.rms_if_resolved(0.95)(many) == "unipc"
    assert pr.rms_without_largest(1)(few) == "ipndm"          # 2 large of 1023 left: 0.109
    assert pr.rms_without_largest(1)(many) == "unipc"         # 23 of 1023: 0.180
    assert pr.prefer_unless_resolved("ipndm")(few) == "ipndm"
    assert pr.prefer_unless_resolved("ipndm")(many) == "unipc"
    assert pr.prefer_unless_resolved("unipc")(few) == "unipc"


def test_report_divides_the_picked_search_by_the_best_peer():
    """Two cells, peers 0.2 (best of 0.2 and 0.5) and 0.05; scored errors twice the held-out ones.
    Cell a (3 large points): RMS keeps UniPC, 0.22 / 0.2 = 1.1; the median keeps iPNDM,
    2 x 0.1136 / 0.2 = 1.14. Cell b (24): UniPC 0.22 / 0.05 = 4.4, iPNDM
    2 sqrt((1000 0.01 + 24) / 1024) / 0.05 = 7.29."""
    peers = [{"kind": "peer", "problem": "a", "sde": "VP", "nfe": 10, "row": "p1", "rms": 0.5},
             {"kind": "peer", "problem": "a", "sde": "VP", "nfe": 10, "row": "p2", "rms": 0.2},
             {"kind": "peer", "problem": "b", "sde": "VP", "nfe": 10, "row": "p1", "rms": 0.05}]
    text = pr.report(peers, {("a", "VP"): _cell(3), ("b", "VP"): _cell(24)})
    gm = (1.1 * 4.4) ** 0.5
    assert f"| the smaller held-out RMS (shipped) | {gm:.3f} | 4.40 | 0 | 0 | 0 of 2 |" in text
    ipndm = lambda big: 2 * (((1024 - big) * 0.01 + big) / 1024) ** 0.5
    med = (ipndm(3) / 0.2 * ipndm(24) / 0.05) ** 0.5
    assert f"| the smaller held-out median | {med:.3f} | {ipndm(24) / 0.05:.2f} | 0 | 0 | 2 of 2 |" in text
    assert "| the better of the two on the scored points (no rule can beat it) | " f"{gm:.3f} |" in text
