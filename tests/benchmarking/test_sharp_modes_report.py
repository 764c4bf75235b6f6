"""``benchmarks/bench_sharp_modes.py report``: the best default with the probe replaces UniPC's
default row by the probe's row, and nothing else, on records with known answers."""
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
sm = pytest.importorskip("bench_sharp_modes")


def _row(problem, row, rms, kind="project", **extra):
    return {"problem": problem, "sde": "EDM", "nfe": 10, "row": row, "kind": kind, "rms": rms, **extra}


def _probe(problem, rms, sharp):
    return _row(problem, "unipc+probe:data{}", rms, sharp=sharp, ratios={"0.05": 0.95 if sharp else 0.5,
                                                                         "0.8": 0.5})


RECORDS = [
    # a ring: UniPC 4.0 (the best default, 2.0 by iPNDM), the probe fires and reaches 0.5
    _row("ring", "peer:a@0.002", 1.0, "peer"), _row("ring", "peer:b@0.002", 3.0, "peer"),
    _row("ring", "unipc{}", 4.0), _row("ring", "ipndm{}", 2.0), _row("ring", "unipc{\"order\": 2}", 0.1),
    _probe("ring", 0.5, True),
    # smooth data: UniPC is the best default (0.8); the probe does not fire, same RMS
    _row("smooth", "peer:a@0.002", 1.0, "peer"), _row("smooth", "unipc{}", 0.8),
    _row("smooth", "ipndm{}", 1.2), _probe("smooth", 0.8, False),
    # a false alarm: the probe fires and costs UniPC 3x, but iPNDM stays the best default
    _row("lattice", "peer:a@0.002", 2.0, "peer"), _row("lattice", "unipc{}", 3.0),
    _row("lattice", "ipndm{}", 2.2), _probe("lattice", 9.0, True),
]


def test_the_probe_row_replaces_unipc_and_nothing_else():
    out = sm.report(RECORDS)
    rows = {line.split(" | ")[0].strip("| "): line.split(" | ") for line in out.splitlines()
            if line.startswith("| ring") or line.startswith("| smooth") or line.startswith("| lattice")}
    # columns: UniPC / peer, with the probe, best default / peer, with the probe
    assert [c.strip(" |") for c in rows["ring"][6:10]] == ["4.00", "0.50", "2.00", "0.50"]
    assert [c.strip(" |") for c in rows["smooth"][6:10]] == ["0.80", "0.80", "0.80", "0.80"]
    assert [c.strip(" |") for c in rows["lattice"][6:10]] == ["1.50", "4.50", "1.10", "1.10"]
    assert rows["ring"][5].strip() == "yes" and rows["smooth"][5].strip() == "no"
    # the summary: geo-mean (2.0 * 0.8 * 1.1)^(1/3) before, (0.5 * 0.8 * 1.1)^(1/3) after; cells <= 1x
    summary = [line for line in out.splitlines() if line.startswith("| EDM | 10 |")][0].split(" | ")
    assert float(summary[3]) == pytest.approx((2.0 * 0.8 * 1.1) ** (1 / 3), abs=1e-3)
    assert float(summary[5]) == pytest.approx((0.5 * 0.8 * 1.1) ** (1 / 3), abs=1e-3)
    assert summary[4] == "1" and summary[6].strip(" |") == "2"


def test_report_without_a_probe_row_names_what_is_missing():
    with pytest.raises(SystemExit, match="unipc\\+probe:pilot"):
        sm.report(RECORDS, "pilot")


def _tune(problem, fine, coarse, unipc, recipe, other):
    return {"problem": problem, "ratios": {"0.05": fine, "0.8": coarse},
            "rms": {"unipc@10": unipc, "recipe@10": recipe, "ipndm@10": other, "deis@10": None}}


def test_rule_takes_the_problems_whose_ratio_falls_and_scores_the_recipe_there(tmp_path):
    # a ring (R falls 0.9 -> 0.5): the recipe 0.5 against UniPC 2.0, iPNDM 1.0 the best default;
    # a lattice (0.6 -> 0.4): the recipe 3.0 against UniPC 1.5, iPNDM 2.0;
    # low-rank data (R flat, 0.95 -> 0.95): not taken, whatever the recipe does there
    recs = [_tune("ring", 0.9, 0.5, 2.0, 0.5, 1.0), _tune("lattice", 0.6, 0.4, 1.5, 3.0, 2.0),
            _tune("lowrank", 0.95, 0.95, 1.0, 9.0, 1.0)]
    path = tmp_path / "t.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in recs[:2]) + "\n")
    more = tmp_path / "u.jsonl"      # a second file adds a budget to a problem already read
    more.write_text(json.dumps(recs[2]) + "\n" + json.dumps({**recs[0], "rms": {"unipc@20": 1.0,
                                                                              "recipe@20": 4.0,
                                                                              "ipndm@20": 2.0}}) + "\n")
    loaded = sm.load_tune([path, more])
    assert len(loaded) == 3 and loaded[0]["rms"]["recipe@20"] == 4.0 and loaded[0]["rms"]["recipe@10"] == 0.5
    out = sm.rule(loaded)
    assert out.startswith("fires on 2 of 3 problems")
    assert "below 0.000, above 0.200" in out
    row10 = [line for line in out.splitlines() if line.startswith("| 10 |")][0].split(" | ")
    # UniPC: 0.5 / 2.0 and 3.0 / 1.5 -> geo-mean sqrt(0.5), worst 2.0 (lattice); best default:
    # min(1.0, 0.5) / min(1.0, 2.0) = 0.5 and min(2.0, 3.0) / min(2.0, 1.5) = 4/3
    assert float(row10[1]) == pytest.approx(0.5 ** 0.5, abs=1e-3) and row10[2] == "2.00 (lattice)"
    assert float(row10[3]) == pytest.approx((0.5 * 4 / 3) ** 0.5, abs=1e-3) and row10[4].startswith("1.33 (lattice)")
    row20 = [line for line in out.splitlines() if line.startswith("| 20 |")][0].split(" | ")
    assert row20[2] == "4.00 (ring)" and row20[4].startswith("2.00 (ring)")   # min(2, 4) / min(2, 1)


def test_candidates_put_each_setting_in_unipcs_place():
    # one cell: UniPC 2.0, iPNDM 1.0 (the best default), the recipe 4.0, DEIS-3 0.5
    rec = {"problem": "grid", "ratios": {"0.05": 0.9, "0.8": 0.4},
           "rms": {"unipc@20": 2.0, "ipndm@20": 1.0, "recipe@20": 4.0, "deis3_logsnr@20": 0.5}}
    out = sm.candidates([rec])
    rows = {line.split(" | ")[1]: line.split(" | ") for line in out.splitlines() if line.startswith("| 20 |")}
    assert set(rows) == {"recipe", "deis3_logsnr"}          # settings without a record are left out
    assert rows["deis3_logsnr"][2] == "0.250" and rows["deis3_logsnr"][3] == "0.500"
    assert rows["recipe"][2] == "2.000" and rows["recipe"][3] == "1.000"   # min(1, 4) / min(1, 2)
    assert out.splitlines()[2].split(" | ")[1] == "deis3_logsnr"           # best first


def test_branch_scores_the_pick_where_the_probe_takes_it():
    def rec(problem, nfe, seed, row, rms, **kw):
        return {"problem": problem, "sde": "EDM", "nfe": nfe, "seed": seed, "row": row, "kind": "project",
                "rms": rms, **kw}
    rows = []
    for seed, (pick_a, pick_b) in ((1, (0.5, 4.0)), (2, (1.0, 2.0))):
        # lattice: UniPC 2.0, iPNDM 1.0; line: UniPC 1.0 (the best default), iPNDM 3.0;
        # ring: UniPC 1.0, iPNDM 1.5 (the probe keeps UniPC there)
        rows += [rec("lattice", 20, seed, "unipc{}", 2.0), rec("lattice", 20, seed, "ipndm{}", 1.0),
                 rec("lattice", 20, seed, "unipc+probe:data{}", pick_a, sampler="deis", options={"order": 3}),
                 rec("line", 20, seed, "unipc{}", 1.0), rec("line", 20, seed, "ipndm{}", 3.0),
                 rec("line", 20, seed, "unipc+probe:data{}", pick_b, sampler="deis", options={"order": 3}),
                 rec("ring", 20, seed, "unipc{}", 1.0), rec("ring", 20, seed, "ipndm{}", 1.5),
                 rec("ring", 20, seed, "unipc+probe:data{}", 0.5, sampler="unipc", options={"order": 2},
                     ring_like=True)]
    out = sm.branch(rows)
    assert "| ring |" not in out
    assert "(Q1) problems taken: 2" in out
    # pick / UniPC: 0.25, 4.0, 0.5, 2.0 -> geo-mean 1.0, better in 2 of 4
    assert "geo-mean 1.000, better in 2 of 4" in out
    # best with / without: lattice 0.5, 1.0; line min(3, 4) / 1 = 3.0, 2.0 -> geo-mean 3^(1/4); the
    # line is worse by more than 1.5x on both seeds, the lattice on neither
    assert f"geo-mean {3 ** 0.25:.3f}; worse by > 1.5x on every seed: [('line', 20)]" in out
    assert sm.branch([r for r in rows if r["problem"] == "ring"]) == "the probe picks deis in no cell"
    # the ring branch: UniPC with options on ring-like data; 0.5 / 1.0 on both seeds
    ring = sm.branch(rows, "unipc", ring_like=True)
    assert "(Q1) problems taken: 1" in ring and "geo-mean 0.500, better in 2 of 2" in ring
    assert sm.branch(rows, "unipc", ring_like=False) == "the probe picks unipc in no cell"


def test_pick_names_the_tune_key_of_each_verdict_and_budget():
    from sde_diffusion.solvers.sharp_modes import SharpModes
    ring = SharpModes(sharp=True, ratios={}, spread=1.0, ring_like=True)
    line = SharpModes(sharp=True, ratios={}, spread=1.0, ring_like=False)
    plain = SharpModes(sharp=False, ratios={}, spread=1.0)
    assert [sm._pick(ring, n) for n in (6, 7, 12, 13, 16, 17, 22, 23)] == [
        "unipc", "recipe", "recipe", "unipc2_logsnr", "unipc2_logsnr", "unipc2_karras_005", "unipc2_karras_005", "unipc"]
    assert [sm._pick(line, n) for n in (7, 12, 13, 24, 25)] == [
        "recipe", "recipe", "deis3_logsnr_005", "deis3_logsnr_005", "unipc"]
    assert {sm._pick(plain, n) for n in range(1, 30)} == {"unipc"}


def test_embedded_scores_the_new_pick_against_the_old_where_the_verdict_changes(tmp_path):
    # x_ring10_8d: every setting has a known RMS; the ring (new verdict) takes the recipe at 10 and
    # the log-SNR UniPC-2 at 14, UniPC's defaults before. iPNDM is the best other default (0.5)
    rms = {f"{s}@{n}": 1.0 for s in sm.PROJECT for n in (10, 14)}
    rms.update({"ipndm@10": 0.5, "ipndm@14": 0.5, "recipe@10": 0.2, "unipc2_logsnr@14": 0.8,
                "unipc@10": 2.0, "unipc@14": 0.4})
    path = tmp_path / "t.jsonl"
    path.write_text(json.dumps({"problem": "x_ring10_8d", "ratios": {"0.05": 0.5, "0.8": 0.9}, "rms": rms}) + "\n")

    class A:
        sets, tune, seed, peers = "extra", [str(path)], 1, ()
    out = sm.embedded(A())
    assert out.startswith("the verdict changes on 1 of 11 problems")
    row = next(line for line in out.splitlines() if line.startswith("| x_ring10_8d"))
    # 10: recipe / UniPC = 0.1, best default min(0.5, 0.2) / min(0.5, 2.0) = 0.4;
    # 14: 0.8 / 0.4 = 2.0, best default 0.5 / 0.4 = 1.25
    assert "10: 0.10 / 0.40; 14: 2.00 / 1.25" in row and "| no |" in row and "| ring |" in row
    # with a best peer of 0.4 at 10 NFE: the best default 0.5 / 0.4 before, 0.2 / 0.4 after
    peers = tmp_path / "p.jsonl"
    peers.write_text("".join(json.dumps(_row("x_ring10_8d", f"peer:{k}@0.002", v, "peer")) + "\n"
                             for k, v in (("a", 0.4), ("b", 0.9))))
    A.peers = [str(peers)]
    assert "| 10 | 1 | 1.250 | 0 | 0.500 | 1 |" in sm.embedded(A())


def test_lines_scores_the_line_entry_against_the_probes_pick(tmp_path):
    # x_line6 (a line of sharp modes: sharp, 1-D subspace): at 10 NFE the entry's DEIS-3 (0.5)
    # replaces UniPC's recipe (2.0); the other defaults are at 1.0. At 7 NFE the entry does not apply.
    rms = {f"{s}@{n}": 1.0 for s in sm.PROJECT for n in (7, 10)}
    rms.update({"recipe@7": 2.0, "recipe@10": 2.0, "deis3_logsnr_005@7": 0.1, "deis3_logsnr_005@10": 0.5})
    path = tmp_path / "t.jsonl"
    path.write_text(json.dumps({"problem": "x_line6", "ratios": {"0.05": 0.8, "0.8": 0.6}, "rms": rms}) + "\n")

    class A:
        sets, tune, seed, peers = "extra", [str(path)], 1, ()
    out = sm.line_entry(A())
    assert out.startswith("the line entry takes 2 of 11 problems")      # x_line6 and x_line12
    row = next(line for line in out.splitlines() if line.startswith("| x_line6"))
    assert "7: 1.00 / 1.00; 10: 0.25 / 0.50" in row
