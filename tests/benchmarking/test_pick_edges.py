"""``benchmarks/bench_pick_edges.py``: the probe's kind, the pick's label without its end time, and the report of
pick(n + 1) / pick(n) (geometric mean, rises, edges where the pick changes) on records with known answers."""
import json
import math
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
pe = pytest.importorskip("bench_pick_edges")

from sde_diffusion.solvers.grids import ZeroEnded  # noqa: E402
from sde_diffusion.solvers.sharp_modes import SharpModes  # noqa: E402


def _rec(problem, kind, rms, made, sde="VP", seed=2):
    return {"problem": problem, "sde": sde, "kind": kind, "seed": seed, "dim": 4,
            "rms": {str(n): v for n, v in rms.items()}, "made": {str(n): m for n, m in made.items()}}


def test_rises_take_the_geometric_mean_and_mark_where_the_pick_changes():
    a = _rec("a", "low_rank", {20: 1.0, 21: 2.0, 22: 1.0}, {20: "x", 21: "y", 22: "y"})
    b = _rec("b", "low_rank", {20: 1.0, 21: 0.5, 22: 0.25}, {20: "x", 21: "y", 22: "y"})
    out = pe.rises([a, b])
    ratios, moves = out[("VP", "low_rank", 20)]
    assert sorted(v for v, _, _ in ratios) == [0.5, 2.0] and moves == {("x", "y")}      # an edge
    ratios, moves = out[("VP", "low_rank", 21)]
    assert sorted(v for v, _, _ in ratios) == [0.5, 0.5] and not moves                   # inside one pick
    assert ("VP", "low_rank", 22) not in out                      # no 23-step score


def test_a_missing_or_failed_score_is_left_out_not_counted_as_a_rise():
    a = _rec("a", "none", {5: 1.0, 6: None, 7: float("nan"), 8: 1.0}, {n: "u" for n in (5, 6, 7, 8)})
    assert dict(pe.rises([a])) == {}


def test_the_report_flags_rises_above_tol_and_names_the_worst_problem(tmp_path):
    recs = [_rec("a", "sharp", {12: 1.0, 13: 3.0}, {12: "p", 13: "q"}),
            _rec("b", "sharp", {12: 1.0, 13: 1.2}, {12: "p", 13: "q"})]
    path = tmp_path / "r.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    text = pe.report(type("A", (), {"records": [str(path)], "tol": 1.05, "all": False}))
    g = math.sqrt(3.0 * 1.2)
    assert f"| VP | sharp | 12 -> 13 | yes | 2 | {g:.3f} | 2 | 3.00 (a, s2) |" in text
    assert f"- VP sharp 12 -> 13: {g:.3f} (edge)" in text and "    p -> q" in text


def test_kind_and_label_follow_the_probes_verdict():
    flat = {0.05: 0.95, 0.8: 0.95}
    assert pe.kind_of(SharpModes(True, flat, 1.0), 1) == "sharp_1d"
    assert pe.kind_of(SharpModes(True, flat, 1.0), 3) == "sharp"
    assert pe.kind_of(SharpModes(False, flat, 1.0, low_rank=True), 8) == "low_rank"
    assert pe.kind_of(SharpModes(False, flat, 1.0), 8) == "none"
    found = SharpModes(False, flat, 1.0, sampler="unipc",
                       options={"order": 4, "grid": ZeroEnded("log_snr", 0.01), "t_end": 0.3})
    assert pe.made(found) == 'unipc{"grid": "zero_ended:log_snr", "order": 4}'


def test_step_counts_take_a_range_or_a_list():
    assert pe._steps("5-8") == [5, 6, 7, 8] and pe._steps("5,7,10") == [5, 7, 10]


def test_compare_divides_the_pick_by_the_alt_row_per_step_count(tmp_path):
    a = _rec("a", "sharp_1d", {25: 2.0, 26: 1.0}, {25: "p", 26: "p"}, sde="EDM")
    a["alt"] = {"25": 1.0, "26": 1.0}
    b = _rec("b", "sharp_1d", {25: 0.5, 26: 3.0}, {25: "p", 26: "p"}, sde="EDM")
    b["alt"] = {"25": 1.0, "26": 1.0}
    c = _rec("c", "none", {25: 9.0}, {25: "u"}, sde="EDM")                     # no alt row: left out
    path = tmp_path / "c.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in (a, b, c)))
    text = pe.compare(type("A", (), {"records": [str(path)], "kind": "sharp_1d"}))
    assert "| EDM | sharp_1d | 25 | 2 | 1.000 | 1 | 0 | 2.00 (a, s2) |" in text
    assert f"| EDM | sharp_1d | 26 | 2 | {math.sqrt(3.0):.3f} | 0 | 1 | 3.00 (b, s2) |" in text


def test_alt_takes_only_tables_of_sharp_modes():
    entries = pe._alt_tables('{"SHARP_ONE_DIM_RECIPES": [[25, 30, "unipc", {"order": 3}, 0.007, 0.7]]}')
    assert entries == {"SHARP_ONE_DIM_RECIPES": ((25, 30, "unipc", {"order": 3}, 0.007, 0.7),)}
    assert pe._alt_tables(None) == {} and pe._alt_tables("") == {}
    with pytest.raises(SystemExit, match="'PROBE_COORDS' is not a table of sharp_modes"):
        pe._alt_tables('{"PROBE_COORDS": []}')


def test_ending_scores_the_default_and_the_run_stopped_at_t_end(tmp_path):
    out = tmp_path / "e.jsonl"
    pe.main(["ending", "--sets", "tuning:clusters1d", "--nfes", "50", "--n", "16", "--cache", str(tmp_path / "c"),
             "--out", str(out)])
    rec = json.loads(out.read_text())
    assert set(rec["rms"]) == {"unipc@50", "unipc_stop@50"}
    assert rec["rms"]["unipc@50"] != rec["rms"]["unipc_stop@50"]              # the step onto 0 is taken at 50 on VP
