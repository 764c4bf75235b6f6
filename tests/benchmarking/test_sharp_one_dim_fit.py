"""``benchmarks/bench_sharp_one_dim.py``: ``fit`` on records with known answers (which records it takes, the
law's end sigma in spreads or in sigma, the interpolation between the rows), ``seen`` (every 1-D problem of the
sets before ``FRESH32``, or before ``--before``, each once)."""
import argparse
import json
import math
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
one = pytest.importorskip("bench_sharp_one_dim")

PROJ = ("euler", "heun", "ddim", "dpm_solver2", "dpm_solver3", "dpm_solver_2s", "dpm_solver_3s", "deis", "ipndm",
        "ipndm_v", "edm_heun")
ENDS = one.ENDS["e"][2]                           # 0.005 ... 0.03


def _record(problem, spread, rms_at_end, dim=1, sharp=True, coarse=0.40, n=30, other=1.0):
    """RMS of every row e<t> = rms_at_end(t); UniPC's defaults 0.1, the other defaults ``other``."""
    rms = {f"{s}@{n}": other for s in PROJ}
    rms[f"unipc@{n}"] = 0.1
    rms.update({f"e{t}@{n}": rms_at_end(t) for t in ENDS})
    rms.update({f"t{t}@{n}": 0.2 for t in one.ENDS["t"][2]})
    return {"problem": problem, "half": "x", "dim": dim, "seed": 2, "spread": spread, "sharp": sharp,
            "ratios": {"0.05": 0.55, "0.8": coarse}, "low_rank": False, "rms": rms}


def _fit(tmp_path, records, *args):
    path = tmp_path / "r.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    opts = {"records": [str(path)], "order": 5, "family": None, "absolute": False, "at": None, "against": "unipc",
            "fit_from": one.FIT_FROM, "c_max": 0.02, "p_min": 0.0, **dict(args)}
    return one.fit(argparse.Namespace(**opts))


def test_fit_reads_each_record_at_c_times_its_spread_and_takes_only_sharp_1d_data_not_ring_like(tmp_path):
    # e<t> RMS = 0.1 t / 0.012: at 30 steps the law c = 0.004 spreads ends at 0.012 on spread 3 (RMS 0.1, ratio 1)
    # and at 0.008 on spread 2 (0.0667: ratio 2/3, geometric mean sqrt(2/3)); in sigma c = 0.004 ends at 0.005
    # (the lowest row) for both: 0.0417 -> 5/12. Ring-like, 2-D and not-sharp records are left out.
    linear = lambda t: 0.1 * t / 0.012
    recs = [_record("a", 3.0, linear), _record("b", 2.0, linear),
            _record("ring", 3.0, lambda t: 9.0, coarse=0.5), _record("two_d", 3.0, lambda t: 9.0, dim=2),
            _record("flat", 3.0, lambda t: 9.0, sharp=False)]
    out = _fit(tmp_path, recs, ("at", "0.004,1"))
    assert "2 problems, 2 records" in out
    row = next(line for line in out.splitlines() if line.startswith("| 30 |"))
    assert float(row.split("|")[2]) == pytest.approx(math.sqrt(2 / 3), abs=5e-4)
    assert "1.00 (a, 2)" in row                               # the worst cell and where
    out = _fit(tmp_path, recs, ("at", "0.004,1"), ("absolute", True))
    row = next(line for line in out.splitlines() if line.startswith("| 30 |"))
    assert float(row.split("|")[2]) == pytest.approx(0.1 * 0.005 / 0.012 / 0.1, abs=5e-4)


def test_fit_finds_the_end_where_the_rms_is_least(tmp_path):
    # RMS least at sigma_end = 0.012 on spread 1.5 at 30 steps, so c = 0.008 at any p: the fit's c is within a grid
    # step (x1.05) of it; the other defaults (1.0) never win
    v = lambda t: 0.05 * (1.0 + math.log(t / 0.012) ** 2)
    out = _fit(tmp_path, [_record("a", 1.5, v)])
    c = float(out.split("sigma_end = ")[1].split(" ")[0])
    assert abs(math.log(c / 0.008)) < math.log(1.06), out
    row = next(line for line in out.splitlines() if line.startswith("| 30 |"))
    assert float(row.split("|")[2]) == pytest.approx(0.5, abs=0.01)


def test_fit_without_sharp_1d_records_stops_clearly(tmp_path):
    with pytest.raises(SystemExit, match="no record of sharp data of one coordinate"):
        _fit(tmp_path, [_record("two_d", 3.0, lambda t: 1.0, dim=2)])


def test_seen_lists_the_43_one_coordinate_problems_of_the_sets_before_fresh32_once_each():
    names = [item.split(":")[1] for item in one.seen().split(";")]
    assert len(names) == len(set(names)) == 43
    assert "six_scales_c_1d" in names and "five_scales_r_1d" in names
    assert "five_scales_s_1d" not in names and "four_scales_e_1d" not in names          # fresh32, fresh33


def test_fit_against_another_row_and_over_chosen_budgets(tmp_path):
    # --against t0.005: the law takes the place of that row (0.05 here; UniPC's defaults 0.1), so the same law as
    # the first test gives ratios twice as large: 0.1 / 0.05 = 2 and 0.0667 / 0.05 = 4/3
    linear = lambda t: 0.1 * t / 0.012
    recs = [_record("a", 3.0, linear), _record("b", 2.0, linear)]
    for r in recs:
        r["rms"]["t0.005@30"] = 0.05
    out = _fit(tmp_path, recs, ("at", "0.004,1"), ("against", "t0.005"))
    row = next(line for line in out.splitlines() if line.startswith("| 30 |"))
    assert "over with t0.005" in out
    assert float(row.split("|")[2]) == pytest.approx(math.sqrt(2.0 * 4 / 3), abs=5e-4)
    with pytest.raises(SystemExit, match="--fit-from 31"):
        _fit(tmp_path, recs, ("fit_from", 31))


def test_fit_reads_deis_rows_with_family_d(tmp_path):
    # rows d<sigma> (DEIS-3) with the RMS of the first test; the e rows flat at 9 must not be read. Against d0.005
    # (its own 0.005 row, 0.0417): the law c = 0.004 spreads ends at 0.012 (RMS 0.1) on spread 3: ratio 0.1 / 0.0417
    linear = lambda t: 0.1 * t / 0.012
    rec = _record("a", 3.0, lambda t: 9.0)
    for t in (0.005, 0.012, 0.02, 0.05):
        rec["rms"][f"d{t}@30"] = linear(t)
    out = _fit(tmp_path, [rec], ("at", "0.004,1"), ("family", "d"), ("against", "d0.005"))
    assert out.startswith("DEIS-3, sigma_end")
    row = next(line for line in out.splitlines() if line.startswith("| 30 |"))
    assert float(row.split("|")[2]) == pytest.approx(0.1 / linear(0.005), rel=1e-3)


def test_fit_with_p_min_below_0_finds_an_end_that_moves_later_with_the_step_count(tmp_path):
    # Karras rows k<sigma> at 10 and 20 steps, RMS least at sigma 0.01 (10 steps) and 0.02 (20) on spread 1: the law
    # c (30 / n)^p with 3^p c = 0.01 and 1.5^p c = 0.02, p = -1, c = 0.03. With --p-min 0 the fit cannot reach it.
    ends = [0.003 * 1.25 ** k for k in range(20)]                       # 0.003 ... 0.2
    rec = _record("a", 1.0, lambda t: 9.0, n=10)
    for n, best in ((10, 0.01), (20, 0.02)):
        rec["rms"].update({f"{s}@{n}": 1.0 for s in PROJ})
        rec["rms"][f"unipc@{n}"] = 0.1
        rec["rms"][f"u0.005@{n}"] = 0.1
        rec["rms"].update({f"k{t}@{n}": 0.05 * (1.0 + math.log(t / best) ** 2) for t in ends})
    out = _fit(tmp_path, [rec], ("family", "k"), ("against", "u0.005"), ("fit_from", 10), ("p_min", -2.0),
               ("c_max", 0.1))
    assert out.startswith("DEIS-3 (Karras), sigma_end")
    c, p = float(out.split("sigma_end = ")[1].split(" ")[0]), float(out.split("^")[1].split(" ")[0])
    for n, best in ((10, 0.01), (20, 0.02)):              # the law's end at each budget, within a grid step of c
        assert abs(math.log(c * (30 / n) ** p / best)) < math.log(1.12), out
    assert p < -0.8, out
    out = _fit(tmp_path, [rec], ("family", "k"), ("against", "u0.005"), ("fit_from", 10), ("c_max", 0.1))
    assert float(out.split("^")[1].split(" ")[0]) >= 0.0


def test_seen_before_a_later_set_takes_its_1d_problems_too():
    names = [item.split(":")[1] for item in one.seen("fresh36").split(";")]
    assert len(names) == len(set(names)) == 79
    assert "six_scales_o_1d" in names and "four_scales_h_1d" not in names               # fresh35 in, fresh36 out


def test_fit_against_another_familys_law(tmp_path):
    # --against law:k:0.004,1: the law takes the place of the Karras rows read at their own law (flat 0.05 here), so
    # the DEIS-3 law c = 0.004 spreads (RMS 0.1 at sigma 0.012 on spread 3) reads 0.1 / 0.05 = 2; a family that is
    # not one of ENDS stops clearly
    rec = _record("a", 3.0, lambda t: 9.0)
    for t in (0.005, 0.012, 0.02, 0.05):
        rec["rms"][f"d{t}@30"] = 0.1 * t / 0.012
        rec["rms"][f"k{t}@30"] = 0.05
    out = _fit(tmp_path, [rec], ("at", "0.004,1"), ("family", "d"), ("against", "law:k:0.004,1"))
    row = next(line for line in out.splitlines() if line.startswith("| 30 |"))
    assert float(row.split("|")[2]) == pytest.approx(2.0, rel=1e-3)
    with pytest.raises(SystemExit, match="family must be one of"):
        _fit(tmp_path, [rec], ("at", "0.004,1"), ("family", "d"), ("against", "law:z:0.004,1"))
    with pytest.raises(SystemExit, match="expected law:<family>:c,p"):
        _fit(tmp_path, [rec], ("at", "0.004,1"), ("family", "d"), ("against", "law:k:0.004"))
