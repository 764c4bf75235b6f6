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


def test_peer_of_row_reads_back_the_rows_bench_suite_writes():
    from bench_suite import peer_of_row
    assert peer_of_row("peer:diffusers_unipc3_linspace_karras_zero@0.002") == ("diffusers_unipc3_linspace_karras_zero", 0.002)
    assert peer_of_row(f"peer:kdiff_dpmpp_2m@{1e-3:g}") == ("kdiff_dpmpp_2m", 1e-3)


def _run(tmp_path, capsys, more):
    ps.main(["--problems", "lowrank64", "--sde", "VP", "--n", "64", "--seeds", "3", "--nfe", "5", "--samplers", "pick",
             "--peers", "", "--top", "1", "--cache", str(tmp_path / "refs"), *more])
    return [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("| lowrank64")]


def test_pick_row_on_the_sde_and_points_asked_for(tmp_path, capsys):
    # VP, 64 points of seed 3: the ``pick`` row is the probe's low-rank pick, probed on seed-1 data
    from bench_sharp_modes import probe
    from bench_suite import setup
    from sde_diffusion.analytic import suite_problem
    lines = _run(tmp_path, capsys, [])
    assert [ln.split(" | ")[2] for ln in lines] == ["pick"]
    p = suite_problem("lowrank64")
    sde, score, x_T, ref = setup(p, "VP", 64, 3, tmp_path / "refs")
    at = probe(p, sde, score, 10, "data", 1).at_steps(sde, 5)
    x0 = ps.project_estimate(sde, score, x_T, at.sampler, at.options, 5)[0]
    assert x_T.shape == (64, 64) and "grid" in at.options and lines[0].split(" | ")[3] == f"{ps.shares(x0, ref, 1)[0]:.4g}"


def test_best_peer_of_adds_the_records_best_peer_at_its_own_end_time(tmp_path, capsys):
    # the records name y (1.0) before x (2.0): --best-peer-of adds y, run at the records' t_end
    import json
    pytest.importorskip("diffusers")
    from bench_suite import setup
    from sde_diffusion.analytic import suite_problem
    rec = lambda row, v: {"problem": "lowrank64", "sde": "VP", "nfe": 5, "row": row, "kind": "peer",
                          "rms": v, "n": 1024, "seed": 1, "error": None}
    peers = tmp_path / "p.jsonl"
    peers.write_text("".join(json.dumps(r) + "\n" for r in [rec("peer:diffusers_unipc3_trailing@0.001", 1.0),
                                                             rec("peer:diffusers_dpmpp2_linspace@0.001", 2.0)]))
    lines = _run(tmp_path, capsys, ["--best-peer-of", str(peers)])
    assert [ln.split(" | ")[2] for ln in lines] == ["pick", "peer:diffusers_unipc3_trailing"]
    sde, score, x_T, ref = setup(suite_problem("lowrank64"), "VP", 64, 3, tmp_path / "refs")
    x0 = ps.peer_estimate(sde, score, x_T, "diffusers_unipc3_trailing", 1e-3, 5)[0]
    assert lines[1].split(" | ")[3] == f"{ps.shares(x0, ref, 1)[0]:.4g}"
