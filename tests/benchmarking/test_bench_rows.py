"""``benchmarks/bench_rows.py``: ``spec`` (which problems), ``--rows`` parsing, ``compare`` on records with known
answers, and ``run`` writing a named row beside the defaults on a small problem."""
import argparse
import json
import math
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
rows = pytest.importorskip("bench_rows")

from sde_diffusion.solvers.grids import ZeroEnded  # noqa: E402

OTHERS = ("euler", "heun", "ddim", "dpm_solver2", "dpm_solver3", "dpm_solver_2s", "dpm_solver_3s", "deis", "ipndm",
          "ipndm_v", "edm_heun")


def _record(problem, rms, sharp=True, low_rank=False, seed=2, n=10):
    out = {f"{s}@{n}": 1.0 for s in OTHERS}
    out.update({f"{k}@{n}": v for k, v in rms.items()})
    return {"problem": problem, "half": "x", "dim": 1, "seed": seed, "spread": 1.0, "sharp": sharp,
            "ratios": {"0.05": 0.55, "0.8": 0.40}, "low_rank": low_rank, "rms": out}


def _compare(tmp_path, records, **kw):
    path = tmp_path / "r.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return rows.compare(argparse.Namespace(**{"records": [str(path)], "rows": "a", "taken": "all",
                                              "against": "unipc", "min_dim": 1, "tag": None, **kw}))


def test_spec_filters_by_dimension_and_tags_and_takes_a_reproducible_half():
    one = rows.spec("fresh36", "1").split(";")
    assert len(one) == len(set(one)) == 79 and "fresh35:six_scales_o_1d" in one
    smooth = rows.spec("fresh36", "2+", ["sharp", "low_rank"]).split(";")
    assert "fresh24:unequal_28d" in smooth and not any(n.endswith("_1d") or "lowrank" in n for n in smooth)
    half = rows.spec("fresh36", "2+", ["sharp", "low_rank"], half_seed=30).split(";")
    assert len(half) == len(smooth) // 2 and set(half) < set(smooth)
    assert half == rows.spec("fresh36", "2+", ["sharp", "low_rank"], half_seed=30).split(";")
    assert half != rows.spec("fresh36", "2+", ["sharp", "low_rank"], half_seed=31).split(";")
    full = rows.spec("fresh38", tag="full_cov", min_dim=17).split(";")      # few-step 51a's 39 problems
    assert len(full) == 39 and "tuning:full32" in full and "fresh37:full52_cond2900" in full
    assert "fresh37:full17_cond2100" in full and "fresh13:full14_cond2500" not in full
    assert not any(n.split(":")[0] == "fresh38" for n in full)


def test_rows_json_becomes_settings_and_bad_rows_stop_clearly():
    out = rows.parse_rows('{"a": ["unipc", {"order": 2}], "z": ["unipc", {"grid": ["zero", "karras", 0.002]}]}')
    assert out["a"] == ("unipc", {"order": 2})
    assert out["z"] == ("unipc", {"grid": ZeroEnded("karras", 0.002)})
    for bad, why in (('["unipc"]', "JSON object"), ('{"a": ["unipc"]}', "JSON object"),
                     ('{"Pa": ["unipc", {}]}', "start with P"), ('{"a@1": ["unipc", {}]}', "hold @"),
                     ('{"a": ["unipc", {"grid": ["one", "karras", 0.1]}]}', "zero")):
        with pytest.raises(SystemExit, match=why):
            rows.parse_rows(bad)


def test_compare_puts_the_row_in_unipcs_place_and_reads_the_best_peer(tmp_path):
    # record 1: UniPC 0.2, row a 0.1, other defaults 1.0: best default 0.1 over 0.2 = 0.5; peers 0.08 / 0.3: 1.25
    # record 2: UniPC 0.1, row a 0.4 but deis 0.3: 0.3 / 0.1 = 3; peer 0.6: 0.5. Not-sharp record 3 only with "all"
    recs = [_record("p1", {"unipc": 0.2, "a": 0.1, "Px": 0.08, "Py": 0.3}),
            _record("p2", {"unipc": 0.1, "a": 0.4, "deis": 0.3, "Px": 0.6}),
            _record("p3", {"unipc": 0.1, "a": 0.1}, sharp=False)]
    out = _compare(tmp_path, recs, taken="sharp_1d")
    row = next(line for line in out.splitlines() if line.startswith("| 10 | a |"))
    cells = [c.strip() for c in row.split("|")]
    assert float(cells[3]) == pytest.approx(math.sqrt(0.5 * 3.0), abs=5e-4)
    assert cells[4] == "1 of 2" and cells[5] == "3.00 (p2, 2)"
    assert float(cells[6]) == pytest.approx(math.sqrt(1.25 * 0.5), abs=5e-4) and cells[7] == "1 of 2"
    assert "3 records" in _compare(tmp_path, recs, taken="all")
    assert "1 records" in _compare(tmp_path, recs, taken="smooth")
    with pytest.raises(SystemExit, match="no record"):
        _compare(tmp_path, recs[:2], taken="smooth")
    with pytest.raises(SystemExit, match=r"\['b'\] in no record taken"):
        _compare(tmp_path, recs, rows="a,b")


def test_run_writes_the_named_row_beside_every_default(tmp_path):
    out = tmp_path / "r.jsonl"
    rows.main(["run", "--sets", "tuning:clusters1d", "--sde", "EDM", "--nfes", "6", "--n", "64", "--seed", "3",
               "--cache", str(tmp_path / "refs"), "--rows", '{"u1": ["unipc", {"order": 1}]}', "--out", str(out)])
    rec = json.loads(out.read_text().splitlines()[0])
    assert rec["problem"] == "clusters1d" and rec["points"] == 64
    assert rec["rms"]["u1@6"] > 0 and rec["rms"]["unipc@6"] > 0 and rec["rms"]["u1@6"] != rec["rms"]["unipc@6"]


def test_compare_filters_by_dimension_and_suite_tag(tmp_path):
    # three real suite names: clusters1d (1-D), full33_cond2900 (33-D, full_cov), unequal_28d (28-D)
    recs = [_record("clusters1d", {"unipc": 0.2, "a": 0.1}), _record("full33_cond2900", {"unipc": 0.2, "a": 0.1}),
            _record("unequal_28d", {"unipc": 0.1, "a": 0.4})]
    recs[1]["dim"], recs[2]["dim"] = 33, 28
    assert "2 records" in _compare(tmp_path, recs, min_dim=2)
    out = _compare(tmp_path, recs, tag="full_cov")
    assert "1 records" in out and "| 10 | a | 0.500 | 1 of 1 |" in out
    with pytest.raises(SystemExit, match="no record"):
        _compare(tmp_path, recs, min_dim=40)
