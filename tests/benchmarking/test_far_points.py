"""``benchmarks/bench_far_points.py``: far points (error above half the smallest gap between component means),
the variants laid over the probe's pick, and the record and summary of few-step 33a."""
import json
import math
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import bench_far_points as fp  # noqa: E402

from sde_diffusion.sdes import VPSDE  # noqa: E402
from sde_diffusion.solvers.grids import ZeroEnded  # noqa: E402


def test_a_point_is_far_beyond_half_the_smallest_gap_between_means():
    # means 4 and 10 apart (smallest gap 4): errors 1.9 and 2.0 are not far, 2.1 and 5 are; one mean: none
    means = torch.tensor([[0.0, 0.0], [4.0, 0.0], [0.0, 10.0]])
    ref = torch.zeros(4, 2, dtype=torch.float64)
    x0 = torch.tensor([[1.9, 0.0], [0.0, 2.0], [2.1, 0.0], [3.0, 4.0]], dtype=torch.float64)
    assert fp.far_count(x0, ref, means) == 2
    assert fp.far_count(x0, ref, means[:1]) == 0


def test_variants_lay_options_over_the_pick_and_keep_its_step_onto_zero():
    sde, pick = VPSDE(), {"order": 4, "step_limit": False, "variant": "bh1", "grid": ZeroEnded("uniform_t", 0.05)}
    got = fp.variant_options(sde, 20, pick, {"variant": "bh2", "grid": "log_snr"})
    assert got == {"order": 4, "step_limit": False, "variant": "bh2", "grid": ZeroEnded("log_snr", 0.05)}
    assert fp.variant_options(sde, 20, {"grid": "uniform_t"}, {"grid": "karras"}) == {"grid": "karras"}
    # a banded pick (few-step 34): a named grid drops the bands (the uniform row of 34a), other keys keep them
    banded = {**pick, "grid": ZeroEnded("uniform_t", 0.05, ((0.6, 6), (0.25, 9)))}
    assert fp.variant_options(sde, 20, banded, {"grid": "uniform_t"})["grid"] == ZeroEnded("uniform_t", 0.05)
    assert fp.variant_options(sde, 20, banded, {"variant": "bh2"})["grid"] == banded["grid"]
    # band [6, 8, 0.25, 0.6] at 20 steps onto 0: 6 steps of 0.4 / 6 from T, 8 to 0.25, 19 - 14 = 5 to 0.05, then 0
    grid = fp.variant_options(sde, 20, pick, {"band": [6, 8, 0.25, 0.6]})["grid"]
    assert len(grid) == 21 and float(grid[-1]) == 0.0 and float(grid[-2]) == pytest.approx(0.05)
    assert float(grid[0]) == 1.0 and float(grid[6]) == pytest.approx(0.6) and float(grid[14]) == pytest.approx(0.25)
    assert torch.all(grid[1:] < grid[:-1])
    # to the default end (floor pick): 20 steps, the last at default_t_end
    grid = fp.variant_options(sde, 20, {"grid": "uniform_t"}, {"band": [6, 8, 0.25, 0.6]})["grid"]
    assert len(grid) == 21 and float(grid[-1]) == pytest.approx(1e-3) and float(grid[14]) == pytest.approx(0.25)
    with pytest.raises(ValueError, match=r"^band \[12, 8, 0.25, 0.6\] does not fit 20 steps"):
        fp.variant_options(sde, 20, pick, {"band": [12, 8, 0.25, 0.6]})
    with pytest.raises(ValueError, match=r"^unknown variant keys \['c0'\]; valid: \['order', 'variant'"):
        fp.variant_options(sde, 20, pick, {"c0": 0.5})
    with pytest.raises(ValueError, match=r"^unknown grid 'cosine'; valid: \["):
        fp.variant_options(sde, 20, pick, {"grid": "cosine"})


def test_run_records_far_points_rms_and_bulk_of_each_variant_and_summary_divides_them(tmp_path):
    # lowrank32_r4 (tuning half), 64 x_T: the bh1 row is the pick with variant bh1, against a UniPC-200 reference
    from bench_low_rank import trimmed_rms
    from bench_sharp_modes import probe
    from sde_diffusion.analytic import suite_problem
    from sde_diffusion.benchmarking.reference import data_estimate, end_to_end_rms
    from sde_diffusion.solvers import sample
    out = tmp_path / "far.jsonl"
    fp.main(["run", "--problems", "lowrank32_r4", "--n", "64", "--seed", "2", "--nfes", "18",
             "--variants", '{"bh2": {"variant": "bh2"}, "bh1": {"variant": "bh1"}}', "--cache", str(tmp_path),
             "--out", str(out)])
    rec = json.loads(out.read_text())
    assert rec["trim"] == 0 and rec["low_rank"] and (tmp_path / "lowrank32_r4-VP-n64-s2-unipc200.pt").exists()
    p, sde = suite_problem("lowrank32_r4"), VPSDE()
    score = p.mixture.score_fn(sde)
    x_T = sde.prior_sample((64, p.dim), generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    x, info = sample(sde, score, sampler="unipc", steps=200, x_init=x_T, progress=False)
    ref = data_estimate(sde, x, info.t_end, info.denoised)
    at = probe(p, sde, score, 10, "data", 1).at_steps(sde, 18)
    x, info = sample(sde, score, sampler="unipc", steps=18, x_init=x_T, progress=False,
                     **{**at.options, "variant": "bh1"})
    x0 = data_estimate(sde, x, info.t_end, info.denoised)
    assert rec["bh1@18"] == [fp.far_count(x0, ref, p.mixture.means), end_to_end_rms(x0, ref), trimmed_rms(x0, ref, 0)]
    assert rec["bh2@18"][1] != rec["bh1@18"][1]
    rec2 = dict(rec, problem="b", **{"bh1@18": [2, 1.0, 0.5], "bh2@18": [3, 1.0, 1.0]})
    rec.update({"bh1@18": [0, 2.0, 2.0], "bh2@18": [1, 1.0, 1.0]})
    path = tmp_path / "s.jsonl"
    path.write_text(json.dumps(rec) + "\n" + json.dumps(rec2) + "\n")
    text = fp.summary(type("A", (), {"records": [str(path)], "row": "bh1", "against": "bh2"}))
    assert f"| 18 | {1.0:.3f} | 1 of 2; 2.000 | {math.sqrt(2.0):.3f} | 4 / 2 |" in text
    fp.main(["run", "--problems", "lowrank32_r4", "--n", "64", "--seed", "2", "--nfes", "18", "--cache",
             str(tmp_path), "--out", str(out)])                                    # done: not run again
    assert len(out.read_text().splitlines()) == 1
    with pytest.raises(SystemExit, match="^--variants must be a JSON object"):
        fp.main(["run", "--problems", "lowrank32_r4", "--variants", "[1]", "--out", str(tmp_path / "x.jsonl")])
    with pytest.raises(SystemExit, match=r"^--variants: unknown keys \['c0'\]; valid: \['order'"):
        fp.main(["run", "--problems", "lowrank32_r4", "--variants", '{"a": {"c0": 1}}', "--out", str(tmp_path / "x.jsonl")])
    assert not (tmp_path / "x.jsonl").exists()
