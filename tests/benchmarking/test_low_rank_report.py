"""``benchmarks/bench_low_rank.py``: ``report`` (the best default with the low-rank pick in UniPC's place,
cells worse on every seed, the best peer) and ``fit`` (the best fixed sigma_j per budget) on records with
known answers."""
import json
import math
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
lr = pytest.importorskip("bench_low_rank")

PROJ = ("euler", "heun", "ddim", "dpm_solver2", "dpm_solver3", "dpm_solver_2s", "dpm_solver_3s", "deis", "ipndm",
        "ipndm_v", "edm_heun")


def _collect(problem, seed, low_rank, unipc, pick, best_other):
    rms = {f"{s}@10": 10.0 for s in PROJ}
    rms["ipndm@10"] = best_other
    rms.update({"unipc@10": unipc, "pick@10": pick})
    return {"problem": problem, "half": "x", "dim": 8, "seed": seed, "spread": 1.0,
            "ratios": {"0.05": 0.9, "0.8": 0.9}, "sharp": False, "low_rank": low_rank, "rms": rms}


def _write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def _report_args(records, peers=(), **over):
    """``report``'s arguments: the record and peer files, no records on other noise, harm 1.5, the pick in the place
    of UniPC's defaults where the low-rank entry takes the data; ``over`` sets any of them (``without_row``,
    ``taken``, ...)."""
    return type("A", (), {"records": list(records), "peers": list(peers), "peers_chosen_on": (),
                          "defaults_chosen_on": (), "harm": 1.5, "without_row": "unipc", "taken": "low_rank", **over})


def test_report_puts_the_pick_in_unipcs_place_and_counts_harm_on_every_seed(tmp_path):
    recs = [
        # taken: seed 1 best default 1.0 (iPNDM) -> 0.25 with the pick; seed 2 UniPC 2.0 best -> pick 4.0,
        # but iPNDM 3.0 caps the best default at 3.0 / 2.0 = 1.5x
        _collect("a", 1, True, 2.0, 0.25, 1.0), _collect("a", 2, True, 2.0, 4.0, 3.0),
        # taken, worse on both seeds by 2x (UniPC the best default both times)
        _collect("b", 1, True, 1.0, 2.0, 5.0), _collect("b", 2, True, 1.0, 2.0, 5.0),
        # not taken: its pick row equals UniPC's and is not counted
        _collect("c", 1, False, 1.0, 1.0, 5.0), _collect("c", 2, False, 1.0, 1.0, 5.0),
    ]
    peers = [{"problem": p, "sde": "VP", "nfe": 10, "row": "peer:x", "kind": "peer", "rms": 1.0, "n": 1024, "seed": 1,
              "error": None} for p in "abc"]
    a = _report_args([_write(tmp_path / "c.jsonl", recs)], [_write(tmp_path / "p.jsonl", peers)])
    out = lr.report(a)
    assert "takes 2 of 3 problems: a, b" in out
    cells = [0.25, 1.5, 2.0, 2.0]
    assert f"geometric mean {math.exp(sum(map(math.log, cells)) / 4):.3f}" in out
    assert "below 1 in 1, ties (the same best default with and without) 0, worst 2.00" in out
    assert "worse by more than 1.5x on every seed: 1 (b at 10: 2.00, 2.00)" in out
    # seed 1 against the peer: without a 1.0, b 1.0, c 1.0; with a 0.25, b 2.0, c 1.0
    assert f"| 10 | 3 | 1.000 | 3 | {(0.25 * 2.0 * 1.0) ** (1 / 3):.3f} | 2 |" in out


def test_report_against_the_peer_keeps_the_probes_other_picks_on_both_sides(tmp_path):
    # d is not low-rank but the probe picks another recipe (sharp data on EDM): 0.5 against UniPC's 1.0;
    # without the low-rank entry it keeps that pick, so only a (taken) changes against the peer
    recs = [_collect("a", 1, True, 2.0, 0.25, 1.0), _collect("d", 1, False, 1.0, 0.5, 5.0)]
    peers = [{"problem": p, "sde": "VP", "nfe": 10, "row": "peer:x", "kind": "peer", "rms": 1.0, "n": 1024, "seed": 1,
              "error": None} for p in "ad"]
    a = _report_args([_write(tmp_path / "c.jsonl", recs)], [_write(tmp_path / "p.jsonl", peers)])
    out = lr.report(a)
    assert f"| 10 | 2 | {0.5 ** 0.5:.3f} | 2 | {(0.25 * 0.5) ** 0.5:.3f} | 2 |" in out
    assert "above 1.0x" not in out
    recs.append(_collect("e", 1, False, 3.0, 3.0, 1.25))        # best default 1.25 against the peer's 1.0
    peers.append({**peers[0], "problem": "e"})
    a.records, a.peers = [_write(tmp_path / "c2.jsonl", recs)], [_write(tmp_path / "p2.jsonl", peers)]
    assert lr.report(a).endswith("above 1.0x at 10 NFE with the new pick: e 1.25")


def test_report_with_the_rows_and_the_peer_chosen_on_other_noise(tmp_path):
    # scored: pick 0.25, ipndm 1.0 (others 10), UniPC 2.0; peers x 1.0, y 4.0. On the other noise the pick
    # loses to ipndm (0.5 > 0.3) and y beats x: the chosen best default is ipndm (1.0), the peer y (4.0)
    scored, other = _collect("a", 3, True, 2.0, 0.25, 1.0), _collect("a", 1, True, 2.0, 0.5, 0.3)
    peer = lambda row, v: {"problem": "a", "sde": "VP", "nfe": 10, "row": row, "kind": "peer", "rms": v,
                           "n": 4096, "seed": 3, "error": None}
    a = _report_args([_write(tmp_path / "c.jsonl", [scored])],
                     [_write(tmp_path / "p.jsonl", [peer("peer:x", 1.0), peer("peer:y", 4.0)])],
                     peers_chosen_on=[_write(tmp_path / "po.jsonl", [peer("peer:x", 0.9), peer("peer:y", 0.5)])],
                     defaults_chosen_on=[_write(tmp_path / "co.jsonl", [other])])
    assert "| 10 | 1 | 0.250 | 1 | 0.250 | 1 |" in lr.report(a)       # ipndm 1.0 / y 4.0, with and without
    for missing in ({**other, "rms": {k: v for k, v in other["rms"].items() if k != "pick@10"}},   # a row
                    {**other, "problem": "b"}):                                                 # the problem
        a.defaults_chosen_on = [_write(tmp_path / "co2.jsonl", [missing])]
        with pytest.raises(SystemExit, match="no complete record of a / VP at 10 NFE"):
            lr.report(a)
    a.defaults_chosen_on = ()
    assert "| 10 | 1 | 0.250 | 1 | 0.062 | 1 |" in lr.report(a)       # the scored best: pick 0.25 / 4.0
    a.peers_chosen_on = ()
    assert "| 10 | 1 | 1.000 | 1 | 0.250 | 1 |" in lr.report(a)       # against x (1.0)


def test_fit_finds_the_best_fixed_sigma_j_and_the_rule(tmp_path):
    # one problem, UniPC 1.0 (the best default), u5 best at c = 0.4 (0.2), u3 never better; at 20 steps
    # u5 is best at c = 0.2: the rule c0 (10 / n)^p with c0 = 0.4 needs p = 1
    cs = (0.1, 0.2, 0.4, 0.8)
    rms = {}
    for n, best in ((10, 0.4), (20, 0.2)):
        rms.update({f"{s}@{n}": 5.0 for s in PROJ})
        rms[f"unipc@{n}"] = 1.0
        for c in cs:
            rms[f"u3_{c}@{n}"] = 2.0
            rms[f"u5_{c}@{n}"] = 0.2 * math.exp(abs(math.log(c / best)))
    a = type("A", (), {"records": [_write(tmp_path / "t.jsonl", [{"problem": "a", "rms": rms}])],
                       "nfes": "10,20", "splits": "20", "pmax": 2.0})
    out = lr.fit(a)
    assert "| 10 | 5 | 0.4 | 0.200 | 0.20 |" in out and "| 20 | 5 | 0.2 | 0.200 | 0.20 |" in out
    assert "| 10 | 3 | 0.1 | 2.000 | 2.00 |" in out            # in UniPC's place, u3 (2.0) costs 2x
    rule = next(line for line in out.splitlines() if line.startswith("| 20 | 0."))
    c0, p = (float(v) for v in rule.split("|")[2:4])
    assert abs(c0 - 0.4) < 0.03 and p == pytest.approx(1.0)


def test_fit_searches_p_up_to_pmax(tmp_path):
    # u5 best at c = 0.8 at 10 steps and 0.1 at 20: c0 = 0.8 needs p = 3, which --pmax 3 finds and
    # the default range (p <= 2) cannot
    rms = {}
    for n, best in ((10, 0.8), (20, 0.1)):
        rms.update({f"{s}@{n}": 5.0 for s in PROJ})
        rms[f"unipc@{n}"] = 1.0
        for c in (0.1, 0.2, 0.4, 0.8):
            rms[f"u3_{c}@{n}"] = 2.0
            rms[f"u5_{c}@{n}"] = 0.2 * math.exp(abs(math.log(c / best)))
    path = _write(tmp_path / "t.jsonl", [{"problem": "a", "rms": rms}])

    def rule(pmax):
        out = lr.fit(type("A", (), {"records": [path], "nfes": "10,20", "splits": "20", "pmax": pmax}))
        return [float(v) for v in next(x for x in out.splitlines() if x.startswith("| 20 | 0.")).split("|")[2:5]]
    c0, p, g = rule(3.0)
    assert abs(c0 - 0.8) < 0.05 and p == pytest.approx(3.0) and g < 0.21
    assert rule(2.0)[1] <= 2.0 and rule(2.0)[2] > 0.25


def test_collect_and_tune_run_on_the_sde_and_grid_asked_for(tmp_path):
    # a 1-D problem (not low-rank: the pick is UniPC's defaults) at 5 NFE: every row is the package's
    # sampler on the SDE named by --sde, and tune's rows on the grid named by --grid
    from bench_suite import run_project, setup
    from sde_diffusion.analytic import suite_problem
    spec, cache = "fresh17:eight_scales_e_1d", str(tmp_path / "refs")
    lr.main(["collect", "--sde", "EDM", "--sets", spec, "--nfes", "5", "--cache", cache,
             "--out", str(tmp_path / "c.jsonl")])
    rec = json.loads((tmp_path / "c.jsonl").read_text())
    sde, score, x_T, ref = setup(suite_problem("eight_scales_e_1d"), "EDM", 1024, 1, Path(cache))
    assert rec["sde"] == "EDM" and not rec["low_rank"] and set(rec["rms"]) == {f"{s}@5" for s in PROJ + ("unipc", "pick")}
    assert rec["rms"]["pick@5"] == rec["rms"]["unipc@5"] == run_project(sde, score, x_T, ref, "unipc", {}, 5)[0]
    lr.main(["tune", "--sde", "EDM", "--problems", spec, "--nfes", "5", "--cs", "0.5", "--grid", "log_snr",
             "--no-defaults", "--cache", cache, "--out", str(tmp_path / "t.jsonl")])
    rec = json.loads((tmp_path / "t.jsonl").read_text())
    assert set(rec["rms"]) == {"u3_0.5@5", "u5_0.5@5"}
    opts = {"order": 5, "step_limit": False, "t_end": 0.5 * rec["spread"], "final_zero": True}
    assert rec["rms"]["u5_0.5@5"] == run_project(sde, score, x_T, ref, "unipc", {**opts, "grid": "log_snr"}, 5)[0]
    assert rec["rms"]["u5_0.5@5"] != run_project(sde, score, x_T, ref, "unipc", {**opts, "grid": "uniform_t"}, 5)[0]


def test_collect_scores_on_n_points_of_its_seed_with_the_probe_at_probe_seed(tmp_path):
    # --n 256 --seed 3 --probe-seed 1: the probe (its spread) is the seed-1 run's, the rows are scored on 256
    # x_T points of seed 3 (few-step 30: the same choices on new noise)
    from bench_suite import run_project, setup
    from sde_diffusion.analytic import suite_problem
    spec, cache = "fresh17:eight_scales_e_1d", str(tmp_path / "refs")
    run = lambda *more: lr.main(["collect", "--sde", "EDM", "--sets", spec, "--nfes", "5", "--cache", cache, *more])
    run("--n", "256", "--seed", "3", "--probe-seed", "1", "--out", str(tmp_path / "a.jsonl"))
    run("--n", "256", "--seed", "3", "--out", str(tmp_path / "b.jsonl"))
    run("--out", str(tmp_path / "c.jsonl"))
    a, b, c = (json.loads((tmp_path / f).read_text()) for f in ("a.jsonl", "b.jsonl", "c.jsonl"))
    assert a["spread"] == c["spread"] != b["spread"] and a["points"] == 256 and c["points"] == 1024
    sde, score, x_T, ref = setup(suite_problem("eight_scales_e_1d"), "EDM", 256, 3, Path(cache))
    assert x_T.shape == (256, 1) and a["rms"]["unipc@5"] == run_project(sde, score, x_T, ref, "unipc", {}, 5)[0]


def test_optgrid_pick_compares_the_searches_on_low_rank_cells_only(tmp_path):
    # a (low-rank): best default 0.5 (the pick), search without 1.0, with 0.25 -> 2.0 / 0.5 / 0.25 ;
    # b (low-rank): without 0.1, with 0.4 -> 4x worse with the pick ; c (not low-rank): left out
    def og(p, rms, kept):
        return {"problem": p, "sde": "EDM", "nfe": 10, "row": "optgrid:unipc,ipndm", "kind": "optgrid", "rms": rms,
                "made": {"options": {"order": 5, "final_zero": True, "zero_start": 0.5} if kept else {"order": 3}}}
    def coll(p, low):
        rms = {f"{s}@10": 9.0 for s in PROJ}
        rms.update({"unipc@10": 2.0, "pick@10": 0.5})
        return {"problem": p, "sde": "EDM", "low_rank": low, "rms": rms}
    peers = [{"problem": p, "sde": "EDM", "nfe": 10, "row": "peer:x", "kind": "peer", "rms": 1.0, "n": 1024, "seed": 1,
              "error": None} for p in "abc"]
    a = type("A", (), {"without": [_write(tmp_path / "w.jsonl", [og("a", 1.0, False), og("b", 0.1, False),
                                                                 og("c", 1.0, False)])],
                       "with_pick": [_write(tmp_path / "p.jsonl", [og("a", 0.25, True), og("b", 0.4, True),
                                                                   og("c", 0.1, True)])],
                       "collect": [_write(tmp_path / "c.jsonl", [coll("a", True), coll("b", True), coll("c", False)])],
                       "peers": [_write(tmp_path / "q.jsonl", peers)], "peers_chosen_on": (), "harm": 1.5})
    out = lr.optgrid_pick(a)
    assert "| a | EDM | 2.00 | 0.50 | 0.25 | 1.00 -> 0.25 | yes |" in out
    assert "| b | EDM | 0.20 | 0.80 | 4.00 | 0.10 -> 0.40 | yes |" in out and "| c |" not in out
    assert f"over 2 cells: with the pick over without {math.sqrt(0.25 * 4.0):.3f}; over the best default without " \
           f"{math.sqrt(2.0 * 0.2):.3f}, with {math.sqrt(0.5 * 0.8):.3f}; worse with the pick by more than 1.5x: 1" in out
    assert f"against the best peer (2 cells): {math.sqrt(0.1):.3f} -> {math.sqrt(0.1):.3f}, <= 0.5x in 1 -> 2" in out


def test_optgrid_pick_with_peers_chosen_on_other_noise_scores_that_choice(tmp_path):
    # peer y is the best on the other noise (0.5 < 0.9) and x on the scoring points (1.0 < 4.0): the cell's
    # peer is y, scored 4.0 there, so optimize_grid's 1.0 is 0.25x it; without the option x, 1.0x
    og = {"problem": "a", "sde": "VP", "nfe": 10, "row": "optgrid:unipc,ipndm", "kind": "optgrid", "rms": 1.0,
          "made": {"options": {"order": 3}}}
    rms = {f"{s}@10": 9.0 for s in PROJ}
    rms.update({"unipc@10": 2.0, "pick@10": 2.0})
    coll = {"problem": "a", "sde": "VP", "low_rank": True, "rms": rms}
    def peer(row, v):
        return {"problem": "a", "sde": "VP", "nfe": 10, "row": row, "kind": "peer", "rms": v, "n": 1024, "seed": 1,
                "error": None}
    score = _write(tmp_path / "s.jsonl", [peer("peer:x", 1.0), peer("peer:y", 4.0)])
    other = _write(tmp_path / "o.jsonl", [peer("peer:x", 0.9), peer("peer:y", 0.5)])
    a = type("A", (), {"without": [_write(tmp_path / "w.jsonl", [og])], "with_pick": [_write(tmp_path / "p.jsonl", [og])],
                       "collect": [_write(tmp_path / "c.jsonl", [coll])], "peers": [score],
                       "peers_chosen_on": [other], "harm": 1.5})
    assert "| a | VP | 0.50 | 0.50 | 1.00 | 0.25 -> 0.25 | no |" in lr.optgrid_pick(a)
    a.peers_chosen_on = ()
    assert "| a | VP | 0.50 | 0.50 | 1.00 | 1.00 -> 1.00 | no |" in lr.optgrid_pick(a)


def test_tune_runs_the_orders_asked_for_with_the_step_limit_below_4(tmp_path):
    from bench_suite import run_project, setup
    from sde_diffusion.analytic import suite_problem
    spec, cache = "fresh17:eight_scales_e_1d", str(tmp_path / "refs")
    # on EDM's log-SNR grid at 10 steps the step limit changes UniPC-4 (0.09 without, 0.14 with)
    lr.main(["tune", "--sde", "EDM", "--problems", spec, "--nfes", "10", "--cs", "0.2", "--orders", "3,4",
             "--grid", "log_snr", "--no-defaults", "--n", "256", "--cache", cache, "--out", str(tmp_path / "t.jsonl")])
    rec = json.loads((tmp_path / "t.jsonl").read_text())
    assert set(rec["rms"]) == {"u3_0.2@10", "u4_0.2@10"}
    sde, score, x_T, ref = setup(suite_problem("eight_scales_e_1d"), "EDM", 256, 1, Path(cache))
    opts = {"grid": "log_snr", "t_end": 0.2 * rec["spread"], "final_zero": True}
    run = lambda **o: run_project(sde, score, x_T, ref, "unipc", {**opts, **o}, 10)[0]
    assert rec["rms"]["u4_0.2@10"] == run(order=4, step_limit=False) != run(order=4, step_limit=True)
    assert rec["rms"]["u3_0.2@10"] == run(order=3, step_limit=True)


def _tune_rec(problem, low_rank, u3, u4, others=5.0, nfes=(18, 20), cs=(0.1, 0.2, 0.4)):
    """A tune record whose u<order>_<c> rows are u3(c, n) / u4(c, n) and every default ``others``."""
    rms = {}
    for n in nfes:
        rms.update({f"{s}@{n}": others for s in PROJ + ("unipc",)})
        for c in cs:
            rms[f"u3_{c}@{n}"], rms[f"u4_{c}@{n}"] = u3(c, n), u4(c, n)
    return {"problem": problem, "low_rank": low_rank, "rms": rms}


def test_refit_compares_each_order_with_the_shipped_entry_and_keeps_the_harm_bound(tmp_path):
    # a: the shipped entry (UniPC-3, sigma_j = 0.2 spreads at every budget with p = 0) costs 1.0; UniPC-4 is
    # 0.25 at c = 0.2 and 4.0 elsewhere. b: UniPC-4 is 2.0 everywhere (worse than the shipped 1.0 by 2x), so
    # at --harm 1.5 order 4 is never chosen; at --harm 3 it is (geo-mean sqrt(0.25 * 2.0) per budget)
    u3 = lambda c, n: 1.0
    a = _tune_rec("a", True, u3, lambda c, n: 0.25 if c == 0.2 else 4.0)
    b = _tune_rec("b", True, u3, lambda c, n: 2.0)
    c = _tune_rec("c", False, u3, lambda c, n: 100.0)          # not low-rank: left out
    path = _write(tmp_path / "t.jsonl", [a, b, c])
    args = lambda harm: type("A", (), {"records": [path], "nfes": "18,20", "orders": "3,4", "p": 0.0,
                                       "current": "3,0.2,0", "harm": harm, "recheck": ()})
    out = lr.refit(args(1.5))
    assert out.startswith("2 problems x NFE [18, 20]")
    assert "| 3 | " in out and "| 1.000 | 1.00 | 0 |" in out
    assert "chosen: UniPC-3" in out
    out = lr.refit(args(3.0))
    assert f"| 4 | 0.200 | {math.sqrt(0.25 * 2.0):.3f} | 2.00 | 0 |" in out
    # the rows without the step onto 0 (tune --end-orders) carry no sigma_j and do not enter the fit
    for r in (a, b):
        r["rms"].update({"u4_end@18": 1e-6, "u4_end@20": 1e-6})
    assert lr._cs(a["rms"], 4) == [0.1, 0.2, 0.4]
    args2 = args(3.0)
    args2.records = [_write(tmp_path / "t2.jsonl", [a, b, c])]
    assert lr.refit(args2) == out
    assert f"chosen: UniPC-4, c0 0.200, p 0.0 (geo-mean {math.sqrt(0.5):.3f})" in out


def test_collect_alt_recipes_adds_the_pick_under_other_low_rank_entries(tmp_path):
    # lowrank32_r4 is low-rank on VP: with the shipped entries as --alt-recipes the alt row is the pick; with
    # UniPC-2 at 5-20 steps it is the pick the package would make under that table
    from unittest import mock
    from bench_suite import run_project, setup
    from sde_diffusion.analytic import suite_problem
    from sde_diffusion.solvers import sharp_modes
    spec, cache = "tuning:lowrank32_r4", str(tmp_path / "refs")
    shipped = json.dumps([list(e) for e in sharp_modes.LOW_RANK_RECIPES["VPSDE"]])
    other = [[5, 20, "unipc", {"order": 2}, "uniform_t", 0.3, 1.0]]
    run = lambda alt, out: lr.main(["collect", "--sets", spec, "--nfes", "18", "--n", "256", "--cache", cache,
                                    "--alt-recipes", alt, "--out", str(tmp_path / out)])
    run(shipped, "a.jsonl")
    run(json.dumps(other), "b.jsonl")
    a, b = (json.loads((tmp_path / f).read_text()) for f in ("a.jsonl", "b.jsonl"))
    assert a["low_rank"] and a["rms"]["alt@18"] == a["rms"]["pick@18"] == b["rms"]["pick@18"]
    sde, score, x_T, ref = setup(suite_problem("lowrank32_r4"), "VP", 256, 1, Path(cache))
    sampler, opts = None, None
    with mock.patch.dict(sharp_modes.LOW_RANK_RECIPES, {"VPSDE": tuple(map(tuple, other))}):
        sampler, opts = sharp_modes.low_rank_recipe(sde, 18, a["spread"])
    assert opts["order"] == 2
    assert b["rms"]["alt@18"] == run_project(sde, score, x_T, ref, sampler, opts, 18)[0] != b["rms"]["pick@18"]


def test_report_without_row_alt_compares_the_pick_with_the_alt_row(tmp_path):
    # a (low-rank): pick 0.5, alt 2.0, iPNDM 1.0 -> pick / alt 0.25, best default 0.5 / 1.0; against the peer
    # (1.0) without 1.0, with 0.5. c (not low-rank) keeps its pick on both sides
    rec = _collect("a", 3, True, 3.0, 0.5, 1.0)
    rec["rms"]["alt@10"] = 2.0
    other = _collect("c", 3, False, 1.0, 1.0, 5.0)
    other["rms"]["alt@10"] = 9.0
    peers = [{"problem": p, "sde": "VP", "nfe": 10, "row": "peer:x", "kind": "peer", "rms": 1.0, "n": 4096, "seed": 3,
              "error": None} for p in "ac"]
    a = _report_args([_write(tmp_path / "c.jsonl", [rec, other])], [_write(tmp_path / "p.jsonl", peers)],
                     without_row="alt")
    out = lr.report(a)
    assert "per NFE: pick / the alt row, best default with / without" in out
    assert "| a | 3 | 0.900, 0.900 | 10: 0.25 / 0.50 |" in out
    assert f"| 10 | 2 | 1.000 | 2 | {math.sqrt(0.5):.3f} | 2 |" in out
    a.without_row = "unipc"                                     # against UniPC's 3.0: 0.5 / 3.0, 0.5 / 1.0
    assert "| a | 3 | 0.900, 0.900 | 10: 0.17 / 0.50 |" in lr.report(a)


def test_refit_counts_a_cell_as_harmed_only_if_the_recheck_repeats_it(tmp_path):
    # main: UniPC-4 2.0 against the shipped 1.0 at 18 and 20 steps (two cells > 1.5x). The recheck (other
    # points) has 20 steps only, where UniPC-4 is 0.5: the 20-step cell is cleared, the 18-step one (no
    # recheck there) stays harmed; without any recheck both are
    main = _tune_rec("a", True, lambda c, n: 1.0, lambda c, n: 2.0)
    again = _tune_rec("a", True, lambda c, n: 1.0, lambda c, n: 0.5, nfes=(20,))
    args = type("A", (), {"records": [_write(tmp_path / "t.jsonl", [main])], "nfes": "18,20", "orders": "4",
                          "p": 0.0, "current": "3,0.2,0", "harm": 1.5,
                          "recheck": [_write(tmp_path / "r.jsonl", [again])]})
    out = lr.refit(args)
    assert "rechecked on other points: a" in out and "| 4 | " in out and "| 2.000 | 2.00 | 2 | 1 |" in out
    assert "chosen: none" in out
    args.recheck = ()
    assert "| 2.000 | 2.00 | 2 | 2 |" in lr.refit(args)
    args.recheck = [_write(tmp_path / "r2.jsonl", [_tune_rec("a", True, lambda c, n: 1.0, lambda c, n: 0.5)])]
    assert "| 2.000 | 2.00 | 2 | 0 |" in lr.refit(args) and "chosen: UniPC-4" in lr.refit(args)


@pytest.mark.parametrize("bad,why", [("[[18, 20", "is not JSON"), ('{"a": 1}', "must be a JSON list"),
                                     ('[[18, 20, "unipc", {"order": 3}, "uniform_t", 0.5]]', "must be a JSON list"),
                                     ('[["18", 20, "unipc", {}, "uniform_t", 0.5, 1.6]]', "must be a JSON list")])
def test_collect_alt_recipes_that_are_not_entries_stop_with_a_message(tmp_path, bad, why):
    with pytest.raises(SystemExit, match=f"^--alt-recipes {why}"):
        lr.main(["collect", "--sets", "tuning:lowrank32_r4", "--nfes", "18", "--n", "16", "--alt-recipes", bad,
                 "--cache", str(tmp_path), "--out", str(tmp_path / "c.jsonl")])
    assert not (tmp_path / "c.jsonl").exists()


def test_rows_compares_two_rows_on_the_floor_problems_only(tmp_path):
    # a: floor (R rises 0.1), u4_end 0.5 against lowrank 1.0, iPNDM 0.8 -> 0.5, best default 0.5 / 0.8;
    # b: no floor (flat R): left out with --where floor, in with --where low_rank (u4_end 2.0 / 1.0, 1.0 / 1.0
    # with iPNDM 1.0 the best default on both sides... capped at 1.0 / 1.0)
    def rec(name, fine, coarse, end, other):
        rms = {f"{s}@20": 9.0 for s in PROJ}
        rms.update({"ipndm@20": other, "u4_end@20": end, "lowrank@20": 1.0})
        return {"problem": name, "low_rank": True, "ratios": {"0.05": fine, "0.8": coarse}, "rms": rms}
    path = _write(tmp_path / "t.jsonl", [rec("a", 0.84, 0.94, 0.5, 0.8), rec("b", 0.94, 0.94, 2.0, 1.0)])
    args = type("A", (), {"records": [path], "row": "u4_end", "against": "lowrank", "nfes": "20", "where": "floor"})
    out = lr.rows_vs(args)
    assert out.startswith("1 problems (floor)") and "| a | +0.100 | 0.50, 0.62 |" in out and "| b |" not in out
    args.where = "low_rank"
    out = lr.rows_vs(args)
    assert "| b | +0.000 | 2.00, 1.00 |" in out
    assert (f"over 2 cells: row / against {1.0:.3f} (below 1 in 1, worst 2.00); best default {math.sqrt(0.625):.3f}, "
            "worst 1.00") in out


def test_rows_of_trimmed_rms_have_no_best_default(tmp_path):
    # pick_trim 0.5 and 2.0 against alt_trim 1.0: geometric mean 1.0, worst 2.0; no best-default column or mean
    def rec(name, x):
        return {"problem": name, "low_rank": True, "ratios": {"0.05": 0.9, "0.8": 0.9},
                "rms": {"ipndm@20": 0.1, "pick_trim@20": x, "alt_trim@20": 1.0}}
    path = _write(tmp_path / "t.jsonl", [rec("a", 0.5), rec("b", 2.0)])
    args = type("A", (), {"records": [path], "row": "pick_trim", "against": "alt_trim", "nfes": "20",
                          "where": "low_rank"})
    out = lr.rows_vs(args)
    assert "| a | +0.000 | 0.50, - |" in out and "| b | +0.000 | 2.00, - |" in out
    assert out.endswith(f"over 2 cells: row / against {1.0:.3f} (below 1 in 1, worst 2.00)")


def test_trimmed_rms_drops_the_worst_points_only():
    # 4 points of 2 coordinates: squared errors 0, 2, 8, 200 -> without the worst 1: sqrt(10 / 3 / 2);
    # without none: the end-to-end RMS; k out of range or not an int: refused
    import torch
    from sde_diffusion.benchmarking.reference import end_to_end_rms
    ref = torch.zeros(4, 2, dtype=torch.float64)
    x0 = torch.tensor([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0], [10.0, 10.0]], dtype=torch.float64)
    assert lr.trimmed_rms(x0, ref, 1) == pytest.approx(math.sqrt(10 / 3 / 2), rel=1e-12)
    assert lr.trimmed_rms(x0, ref, 0) == pytest.approx(end_to_end_rms(x0, ref), rel=1e-12)
    assert lr.trimmed_rms(x0[[3, 0, 2, 1]], ref, 3) == 0.0
    for bad in (4, -1, 1.0, True):
        with pytest.raises(ValueError, match=r"^k must be an int in \[0, 4\), got "):
            lr.trimmed_rms(x0, ref, bad)


def test_tune_end_rows_and_the_low_rank_recipe_row(tmp_path):
    # lowrank48_floor (floor: the package's pick at 20 steps is UniPC-4 to the default end): tune's u4_end row is
    # that run, and its lowrank row the recipe without the floor entry (the step onto 0 from sigma_j)
    from bench_suite import run_project, setup
    from sde_diffusion.analytic import suite_problem
    from sde_diffusion.solvers.sharp_modes import low_rank_recipe
    cache = str(tmp_path / "refs")
    lr.main(["tune", "--problems", "tuning:lowrank48_floor", "--nfes", "20", "--orders=", "--end-orders", "4",
             "--with-lowrank", "--no-defaults", "--n", "64", "--cache", cache, "--out", str(tmp_path / "t.jsonl")])
    rec = json.loads((tmp_path / "t.jsonl").read_text())
    assert set(rec["rms"]) == {"u4_end@20", "lowrank@20"}
    sde, score, x_T, ref = setup(suite_problem("lowrank48_floor"), "VP", 64, 1, Path(cache))
    assert rec["rms"]["u4_end@20"] == run_project(sde, score, x_T, ref, "unipc", {"order": 4, "step_limit": False,
                                                                                  "grid": "uniform_t"}, 20)[0]
    name, opts = low_rank_recipe(sde, 20, rec["spread"])
    assert rec["rms"]["lowrank@20"] == run_project(sde, score, x_T, ref, name, opts, 20)[0] != rec["rms"]["u4_end@20"]


def test_alt_floor_recipes_take_an_entry_with_c_and_p_that_steps_onto_0():
    # few-step 56a: a floor entry may carry c, p (the EDM Karras entry at 30-40 steps); six fields or a string c stop
    entry = [30, 40, "unipc", {"order": 4, "step_limit": False}, "karras", 0.0, 0.0]
    assert lr._alt_recipes(json.dumps([entry, [21, 29, "unipc", {}, None]]), "--alt-floor-recipes") == \
        (tuple(entry), (21, 29, "unipc", {}, None))
    for bad in (entry[:6], entry[:5] + ["0", 0.0]):
        with pytest.raises(SystemExit, match=r"^--alt-floor-recipes must be a JSON list of \[min steps, max steps, "
                                             r"sampler, options, grid or null\(, c, p\)\]"):
            lr._alt_recipes(json.dumps([bad]), "--alt-floor-recipes")
    with pytest.raises(SystemExit, match=r"^--alt-recipes must be a JSON list"):   # the tail is the floor table's only
        lr._alt_recipes(json.dumps([entry + [1.0, 1.0]]), "--alt-recipes")


def test_collect_alt_floor_recipes_swaps_the_floor_table(tmp_path):
    # lowrank48_floor at 20 steps: the pick is the floor entry; with '[]' as --alt-floor-recipes the alt row is
    # the low-rank recipe (the step onto 0); with --trim 3 also both rows without their worst 3 points (the
    # same runs: untrimmed RMS unchanged); with a bad entry collect stops before writing
    from bench_suite import project_estimate, run_project, setup
    from sde_diffusion.analytic import suite_problem
    from sde_diffusion.solvers.sharp_modes import low_rank_recipe
    cache, out = str(tmp_path / "refs"), tmp_path / "c.jsonl"
    lr.main(["collect", "--sets", "tuning:lowrank48_floor", "--nfes", "20", "--n", "64", "--cache", cache,
             "--alt-floor-recipes", "[]", "--out", str(out)])
    rec = json.loads(out.read_text())
    sde, score, x_T, ref = setup(suite_problem("lowrank48_floor"), "VP", 64, 1, Path(cache))
    name, opts = low_rank_recipe(sde, 20, rec["spread"])
    assert rec["rms"]["alt@20"] == run_project(sde, score, x_T, ref, name, opts, 20)[0] != rec["rms"]["pick@20"]
    lr.main(["collect", "--sets", "tuning:lowrank48_floor", "--nfes", "20", "--n", "64", "--cache", cache,
             "--alt-floor-recipes", "[]", "--trim", "3", "--out", str(tmp_path / "t.jsonl")])
    trim = json.loads((tmp_path / "t.jsonl").read_text())["rms"]
    assert trim["pick@20"] == rec["rms"]["pick@20"] and trim["alt@20"] == rec["rms"]["alt@20"]
    x0 = project_estimate(sde, score, x_T, name, opts, 20)[0]
    assert trim["alt_trim@20"] == lr.trimmed_rms(x0, ref, 3) < trim["alt@20"]
    assert "ipndm_trim@20" not in trim and trim["pick_trim@20"] < trim["pick@20"]
    with pytest.raises(SystemExit, match=r"^--alt-floor-recipes must be a JSON list of \[min steps"):
        lr.main(["collect", "--sets", "tuning:lowrank48_floor", "--nfes", "20", "--alt-floor-recipes",
                 '[[18, 20, "unipc", {}]]', "--cache", cache, "--out", str(tmp_path / "d.jsonl")])
    # a null grid: the sampler's own defaults (the shipped floor entry from 21 steps); at 30 steps the pick
    # of floor data is UniPC's defaults and the alt row under '[]' the step onto 0
    lr.main(["collect", "--sets", "tuning:lowrank48_floor", "--nfes", "20,30", "--n", "64", "--cache", cache,
             "--alt-floor-recipes", '[[18, 20, "unipc", {}, null]]', "--out", str(tmp_path / "n.jsonl")])
    got = json.loads((tmp_path / "n.jsonl").read_text())["rms"]
    assert got["alt@20"] == got["unipc@20"] != got["pick@20"] and got["pick@30"] == got["unipc@30"]
    assert got["alt@30"] == run_project(sde, score, x_T, ref, *low_rank_recipe(sde, 30, rec["spread"]), 30)[0]
    assert got["alt@30"] != got["pick@30"]


def test_collect_alt_high_dim_recipes_swaps_the_high_dim_table(tmp_path):
    # lowrank148_r6 (148 coordinates, no floor) at 36 steps: the pick is the high-dim entry (UniPC-5); with '[]'
    # as --alt-high-dim-recipes the alt row is the order-4 pick of the 21-40 entry; at 35 steps both are that
    from bench_suite import run_project, setup
    from sde_diffusion.analytic import suite_problem
    from sde_diffusion.solvers.sharp_modes import low_rank_recipe
    cache, out = str(tmp_path / "refs"), tmp_path / "c.jsonl"
    lr.main(["collect", "--sets", "fresh23:lowrank148_r6", "--nfes", "35,36", "--n", "64", "--cache", cache,
             "--alt-high-dim-recipes", "[]", "--out", str(out)])
    rec = json.loads(out.read_text())
    assert rec["dim"] == 148 and rec["low_rank"]
    sde, score, x_T, ref = setup(suite_problem("lowrank148_r6"), "VP", 64, 1, Path(cache))
    new, old = low_rank_recipe(sde, 36, rec["spread"], dim=148), low_rank_recipe(sde, 36, rec["spread"])
    assert (new[1]["order"], old[1]["order"]) == (5, 4)
    assert rec["rms"]["pick@36"] == run_project(sde, score, x_T, ref, *new, 36)[0]
    assert rec["rms"]["alt@36"] == run_project(sde, score, x_T, ref, *old, 36)[0] != rec["rms"]["pick@36"]
    assert rec["rms"]["alt@35"] == rec["rms"]["pick@35"]
    with pytest.raises(SystemExit, match=r"^--alt-high-dim-recipes must be a JSON list of \[min steps, max steps, "
                                         r"min dimension"):
        lr.main(["collect", "--sets", "fresh23:lowrank148_r6", "--nfes", "36", "--alt-high-dim-recipes",
                 '[[36, 40, "unipc", {}, "uniform_t", 0.4, 1.1]]', "--cache", cache, "--out", str(tmp_path / "d.jsonl")])


def _sharp(problem, dim, coarse, rms_alt, rms_pick, unipc=1.0):
    """A collect record of sharp data (R falls 0.6 -> ``coarse``) in ``dim`` coordinates at 20 steps."""
    rec = _collect(problem, 3, False, unipc, rms_pick, 10.0)
    rec.update(dim=dim, sharp=True, ratios={"0.05": 0.6, "0.8": coarse})
    rec["rms"] = {k.replace("@10", "@20"): v for k, v in rec["rms"].items()}
    rec["rms"]["alt@20"] = rms_alt
    return rec


def test_report_taken_sharp_1d_counts_sharp_data_of_one_coordinate_that_is_not_ring_like(tmp_path):
    # a: 1-D, sharp, R(coarse) 0.40 (not ring-like) -> taken; pick 0.5 against alt 2.0 (UniPC 1.0 the best
    # default without): best default 0.5 / 1.0. r: 1-D but ring-like (0.50); m: sharp in 2 coordinates;
    # s: 1-D not sharp. With --row alt the alt row is in UniPC's place: 2.0 / 1.0
    recs = [_sharp("a", 1, 0.40, 2.0, 0.5), _sharp("r", 1, 0.50, 2.0, 0.5), _sharp("m", 2, 0.40, 2.0, 0.5),
            {**_sharp("s", 1, 0.40, 2.0, 0.5), "sharp": False}]
    a = _report_args([_write(tmp_path / "c.jsonl", recs)], without_row="alt", taken="sharp_1d")
    out = lr.report(a)
    assert "the one-coordinate sharp entry takes 1 of 4 problems: a" in out
    assert "| a | 3 | 0.600, 0.400 | 20: 0.25 / 0.25 |" in out
    assert "at 20 NFE: geometric mean 0.250, worst 0.25" in out
    a.without_row, a.row = "unipc", "alt"
    out = lr.report(a)
    assert "per NFE: alt / UniPC's default" in out and "| a | 3 | 0.600, 0.400 | 20: 2.00 / 2.00 |" in out
    a.taken = "low_rank"
    assert "takes 0 of 4 problems" in lr.report(a)


def test_report_taken_low_rank_no_floor_leaves_out_data_with_a_noise_floor(tmp_path):
    # f: low-rank, R rises 0.84 -> 0.94 (a floor: rise 0.10 >= 0.038); e: at the bound's edge, 0.90 -> 0.937
    # (rise 0.037, no floor); g: flat; n: not low-rank. The entry at 21-40 steps takes e and g
    rec = lambda name, fine, coarse, low=True: {**_collect(name, 3, low, 1.0, 0.5, 10.0),
                                               "ratios": {"0.05": fine, "0.8": coarse}}
    recs = [rec("f", 0.84, 0.94), rec("e", 0.90, 0.937), rec("g", 0.95, 0.95), rec("n", 0.95, 0.95, False)]
    a = _report_args([_write(tmp_path / "c.jsonl", recs)], taken="low_rank_no_floor")
    out = lr.report(a)
    assert "the low-rank entry without a noise floor takes 2 of 4 problems: e, g" in out
    assert "over 2 cells: geometric mean 0.500" in out
    a.taken = "low_rank"
    assert "the low-rank entry takes 3 of 4 problems: e, f, g" in lr.report(a)


def test_collect_alt_sharp_recipes_runs_the_pick_under_the_entries_before(tmp_path):
    # six_scales_c_1d is sharp in one coordinate: at 20 steps the pick is the one_dim entry (UniPC-3); with
    # the table before it (no one_dim entry) as --alt-sharp-recipes the alt row is DEIS-3's RMS; with the
    # shipped table it is the pick (SHARP_ONE_DIM_RECIPES, read first where the spread is known, held empty here)
    from unittest import mock
    from bench_suite import run_project, setup
    from sde_diffusion.analytic import suite_problem
    from sde_diffusion.solvers import sharp_modes
    spec, cache = "fresh15:six_scales_c_1d", str(tmp_path / "refs")
    shipped = [list(e) for e in sharp_modes.SHARP_RECIPES["EDMSDE"]]
    before = [e for e in shipped if e[2] != "one_dim"]
    run = lambda alt, out: lr.main(["collect", "--sets", spec, "--sde", "EDM", "--nfes", "20", "--n", "128",
                                    "--cache", cache, "--alt-sharp-recipes", json.dumps(alt),
                                    "--out", str(tmp_path / out)])
    with mock.patch.dict(sharp_modes.SHARP_ONE_DIM_RECIPES, clear=True):
        run(before, "a.jsonl")
        run(shipped, "b.jsonl")
    a, b = (json.loads((tmp_path / f).read_text()) for f in ("a.jsonl", "b.jsonl"))
    assert a["sharp"] and a["dim"] == 1 and b["rms"]["alt@20"] == b["rms"]["pick@20"] == a["rms"]["pick@20"]
    sde, score, x_T, ref = setup(suite_problem("six_scales_c_1d"), "EDM", 128, 1, Path(cache))
    deis = run_project(sde, score, x_T, ref, *sharp_modes.sharp_recipe(sde, 20), 20)[0]
    one_dim = run_project(sde, score, x_T, ref, *sharp_modes.sharp_recipe(sde, 20, one_dim=True), 20)[0]
    assert a["rms"]["alt@20"] == deis != one_dim == a["rms"]["pick@20"]


def _collect_without_an_entry(tmp_path, half, problem, nfe, n, flag, alt=("unipc", {}), pick=None):
    """``collect`` one problem at one budget with ``flag '[]'`` (the table emptied in the row alt@nfe): the record,
    after checking that alt equals ``alt`` (sampler, options; UniPC's defaults, then also the record's unipc row) and,
    given, the pick ``pick``, each run directly on the same x_T, and that the pick differs."""
    from bench_suite import run_project, setup
    from sde_diffusion.analytic import suite_problem
    cache = str(tmp_path / "refs")
    lr.main(["collect", "--sets", f"{half}:{problem}", "--sde", "EDM", "--nfes", str(nfe), "--n", str(n),
             "--cache", cache, flag, "[]", "--out", str(tmp_path / "c.jsonl")])
    rec = json.loads((tmp_path / "c.jsonl").read_text())
    sde, score, x_T, ref = setup(suite_problem(problem), "EDM", n, 1, Path(cache))
    assert rec["rms"][f"alt@{nfe}"] == run_project(sde, score, x_T, ref, *alt, nfe)[0]
    if alt == ("unipc", {}):
        assert rec["rms"][f"unipc@{nfe}"] == rec["rms"][f"alt@{nfe}"]
    if pick is not None:
        assert rec["rms"][f"pick@{nfe}"] == run_project(sde, score, x_T, ref, *pick, nfe)[0]
    assert rec["rms"][f"pick@{nfe}"] != rec["rms"][f"alt@{nfe}"]
    return rec


def test_collect_alt_one_dim_recipes_runs_the_pick_without_the_late_entry(tmp_path):
    # six_scales_c_1d at 30 steps: the pick is SHARP_ONE_DIM_RECIPES' UniPC-5 ending at a multiple of the spread;
    # with '[]' the alt row is UniPC's defaults (no entry at 25-50 steps before few-step 44)
    _collect_without_an_entry(tmp_path, "fresh15", "six_scales_c_1d", 30, 128, "--alt-one-dim-recipes")
    cache = str(tmp_path / "refs")
    with pytest.raises(SystemExit, match="^--alt-one-dim-recipes must be a JSON list of \\[min steps, max steps, sampler"):
        lr.main(["collect", "--sets", "fresh15:six_scales_c_1d", "--sde", "EDM", "--nfes", "30", "--n", "16",
                 "--alt-one-dim-recipes", '[[25, 50, "unipc", {}]]', "--cache", cache, "--out", str(tmp_path / "d.jsonl")])


def test_collect_alt_sharp_recipes_that_are_not_entries_stop_with_a_message(tmp_path):
    with pytest.raises(SystemExit, match="^--alt-sharp-recipes must be a JSON list of \\[min steps, max steps, which"):
        lr.main(["collect", "--sets", "fresh15:six_scales_c_1d", "--sde", "EDM", "--nfes", "20", "--n", "16",
                 "--alt-sharp-recipes", '[[13, 24, "deis", {}]]', "--cache", str(tmp_path),
                 "--out", str(tmp_path / "c.jsonl")])
    assert not (tmp_path / "c.jsonl").exists()


def test_tune_variant_sets_b_of_h_in_its_rows(tmp_path):
    # --variant bh1 runs UniPC with B(h) = h in the rows with the step onto 0 and in the end rows; bh2 (the
    # default) is UniPC's own default (few-step 37a)
    from bench_suite import run_project, setup
    from sde_diffusion.analytic import suite_problem
    spec, cache = "fresh17:eight_scales_e_1d", str(tmp_path / "refs")
    lr.main(["tune", "--sde", "EDM", "--problems", spec, "--nfes", "10", "--cs", "0.2", "--orders", "4",
             "--end-orders", "3", "--variant", "bh1", "--grid", "log_snr", "--no-defaults", "--n", "256",
             "--cache", cache, "--out", str(tmp_path / "t.jsonl")])
    rec = json.loads((tmp_path / "t.jsonl").read_text())
    sde, score, x_T, ref = setup(suite_problem("eight_scales_e_1d"), "EDM", 256, 1, Path(cache))
    run = lambda **o: run_project(sde, score, x_T, ref, "unipc", {"grid": "log_snr", **o}, 10)[0]
    zero = {"order": 4, "step_limit": False, "t_end": 0.2 * rec["spread"], "final_zero": True}
    assert rec["rms"]["u4_0.2@10"] == run(**zero, variant="bh1") != run(**zero, variant="bh2")
    assert rec["rms"]["u3_end@10"] == run(order=3, variant="bh1") != run(order=3)


def test_cfit_reads_each_sigma_j_against_the_18_to_20_law(tmp_path):
    # every problem's RMS is exp(log(c / (1.3 c0))^2) at sigma_j = c (c0 = 0.54 (10 / n)^1.6, the 18-20 law),
    # the defaults far worse: 1.3x the law's sigma_j reads exp(-log(1.3)^2) = 0.9335 at every budget, the law
    # itself (p = 1.6, c = 0.54) 1; a problem without the rows at a budget is left out there
    nfes = (25, 30, 35, 40)
    recs = []
    for name in ("a", "b"):
        rms = {}
        for n in nfes:
            c0 = 0.54 * (10 / n) ** 1.6
            rms.update({f"{s}@{n}": 10.0 for s in PROJ + ("unipc",)})
            for m in (0.8, 1.0, 1.15, 1.3, 1.45, 1.6):
                rms[f"u4_{m * c0!r}@{n}"] = math.exp(math.log(m / 1.3) ** 2)
        recs.append({"problem": name, "low_rank": True, "rms": rms})
    path = _write(tmp_path / "t.jsonl", recs)
    args = type("A", (), {"records": [path], "defaults": (), "nfes": "25,30,35,40", "mults": "1.3", "ps": "1.6,1.1"})
    out = lr.cfit(args)
    g = math.exp(-math.log(1.3) ** 2)
    assert f"| 1.3x | " + " | ".join([f"{g:.3f} ({g:.2f}), 2"] * 4) + " |" in out
    assert "| 1.6 (0.54) | 1.000 | 1.000 | 1.000 | 1.000 | 1.000 |" in out
    # p = 1.1: c = 0.54 * 2^-0.5 = 0.38, sigma_j = c (10 / n)^1.1, i.e. (n / 20)^0.5 x the law's (1.118x at 25,
    # 1.414x at 40), the log RMS read piecewise linearly in log c between the rows
    import numpy as np
    nodes = np.log([0.8, 1.0, 1.15, 1.3, 1.45, 1.6])
    f = lambda m: math.exp(float(np.interp(math.log(m), nodes, (nodes - math.log(1.3)) ** 2)))
    cells = [f(0.54 * 2 ** -0.5 * (10 / n) ** 1.1 / (0.54 * (10 / n) ** 1.6)) / f(1.0) for n in nfes]
    mean = math.exp(sum(map(math.log, cells)) / 4)
    assert "| 1.1 (0.38) | " + " | ".join(f"{v:.3f}" for v in cells) + f" | {mean:.3f} |" in out
    assert cells[0] > cells[3]
    # a sigma_j beyond the rows is not read (no extrapolation): 1.7x the law's lies above every row
    args.mults = "1.7"
    assert "| 1.7x | - | - | - | - |" in lr.cfit(args)


def test_dfit_reads_the_row_at_a_multiple_of_the_21_to_40_law_by_dimension(tmp_path):
    # UniPC-5's rows are flat in c: a (d 150) 0.8 of the pick, c (d 130) 1.2 at 36 steps and 0.8 at 40,
    # b (d 50) 1.5; e (d 160) has rows only at 3x the law (more than 2 % outside: not read); f (d 170) has a
    # default at 0.5 below both rows (ratio 1). At k = 1.2, split 100: 36 steps {0.8, 1.2, 1} (mean 0.987,
    # fails), 40 steps {0.8, 0.8, 1} (0.862, 2 of 3 below 1: fails the share 0.8); split 140: {0.8, 1} at both
    # (0.894, 1 of 2: fails too at share 0.8) -> with --min-share 0.5 split 140 passes both, split 100 passes 40
    law = lambda n: 0.38 * (10 / n) ** 1.1
    recs = []
    for name, dim, at36, at40, where, default in (("a", 150, 0.8, 0.8, 1.0, 10.0), ("b", 50, 1.5, 1.5, 1.0, 10.0),
                                                  ("c", 130, 1.2, 0.8, 1.0, 10.0), ("e", 160, 0.1, 0.1, 3.0, 10.0),
                                                  ("f", 170, 2.0, 2.0, 1.0, 0.5)):
        rms = {}
        for n, v in ((36, at36), (40, at40)):
            rms.update({f"{s}@{n}": default for s in PROJ + ("unipc",)})
            rms[f"lowrank@{n}"] = 1.0
            rms.update({f"u5_{m * where * law(n)!r}@{n}": v for m in (0.8, 1.6)})
        recs.append({"problem": name, "seed": 3, "dim": dim, "low_rank": True, "rms": rms})
    path = _write(tmp_path / "t.jsonl", recs)
    args = type("A", (), {"records": [path], "order": 5, "mults": "1.2", "mult": 1.2, "split_dims": "100,140",
                          "max_mean": 0.9, "min_share": 0.8})
    out = lr.dfit(args)
    g36, g40 = (0.8 * 1.2) ** (1 / 3), (0.8 * 0.8) ** (1 / 3)
    assert (f"| 36 | 1.2 | 1.500 (0/1, 1.50) | {g36:.3f} (1/3, 1.20) | {1.8 ** 0.5:.3f} (0/2, 1.50) | "
            f"{0.8 ** 0.5:.3f} (1/2, 1.00) |") in out
    assert f"| 40 | 1.2 | 1.500 (0/1, 1.50) | {g40:.3f} (2/3, 1.00) |" in out
    assert out.endswith("chosen at k = 1.2: none (the largest budget fails at every split)")
    args.min_share = 0.5
    out = lr.dfit(args)
    assert f"{g40:.3f} (2/3, 1.00) pass" in out and f"{g36:.3f} (1/3, 1.20) |" in out
    assert out.endswith("chosen at k = 1.2: budgets 36-40, d >= 140")


def test_collect_alt_ill_recipes_runs_the_pick_without_the_ill_conditioned_entry(tmp_path):
    # full16_cond3500 at 40 steps: the probe calls it ill-conditioned, the pick is UniPC-4 on the Karras grid onto 0;
    # with '[]' the alt row is UniPC's defaults; report --taken ill_conditioned takes the record
    _collect_without_an_entry(tmp_path, "fresh11", "full16_cond3500", 40, 64, "--alt-ill-recipes")
    a = _report_args([str(tmp_path / "c.jsonl")], without_row="alt", taken="ill_conditioned")
    assert "takes 1 of 1 problems: full16_cond3500" in lr.report(a)


def test_collect_alt_ill_high_dim_recipes_runs_the_order_4_entry_in_the_alt_row(tmp_path):
    # full40_cond3600 (40 coordinates) at 48 steps: the pick is UniPC-5 on the Karras grid onto 0 (few-step 51); with
    # '[]' the alt row is the order-4 entry of few-step 50; an entry of the wrong shape stops with a message
    from sde_diffusion.solvers.grids import ZeroEnded
    grid = ZeroEnded("karras", 0.002)
    _collect_without_an_entry(tmp_path, "fresh28", "full40_cond3600", 48, 64, "--alt-ill-high-dim-recipes",
                              alt=("unipc", {"order": 4, "step_limit": False, "grid": grid}),
                              pick=("unipc", {"order": 5, "grid": grid}))
    cache = str(tmp_path / "refs")
    with pytest.raises(SystemExit, match=r"^--alt-ill-high-dim-recipes must be a JSON list of \[min steps, max steps, "
                                         r"min dimension, sampler"):
        lr.main(["collect", "--sets", "fresh28:full40_cond3600", "--sde", "EDM", "--nfes", "48", "--n", "16",
                 "--alt-ill-high-dim-recipes", '[[46, 50, "unipc", {}, "karras"]]', "--cache", cache,
                 "--out", str(tmp_path / "d.jsonl")])


def test_ifit_fits_the_law_on_ill_conditioned_records_and_applies_the_rule_per_budget(tmp_path):
    # two records the probe calls ill-conditioned, one it does not (left out: its rows would move every figure);
    # order 4 at c = 0.1 / 0.2 spreads, p = 0: the law at c = 0.1 is 0.5 / 1.2 of UniPC (geo-mean 0.775, 1 of 2 below
    # 1), so it fails the rule of 44a at a share of 0.8 and passes at 0.5
    ill, other = {"0.05": 0.53, "0.8": 0.975}, {"0.05": 0.1, "0.8": 0.5}
    # UniPC's row comes from --defaults (tune --no-defaults records have none); a tune row there is not read
    recs = [{"problem": name, "seed": 3, "ratios": ratios,
             "rms": {"u4_0.1@10": at01, "u4_0.2@10": 2 * at01, "u4_end@10": end}}
            for name, ratios, at01, end in (("a", ill, 0.5, 0.8), ("b", ill, 1.2, 1.0), ("c", other, 10.0, 10.0))]
    path = _write(tmp_path / "t.jsonl", recs)
    defaults = _write(tmp_path / "d.jsonl", [{"problem": name, "seed": 3, "ratios": ill,
                                              "rms": {"unipc@10": 1.0, "u4_0.1@10": 99.0}} for name in "abc"])
    args = type("A", (), {"records": [path], "defaults": [defaults], "nfes": "10", "orders": "4", "ps": "0",
                          "max_mean": 0.9, "min_share": 0.8})
    out = lr.ifit(args)
    assert out.startswith("2 records called ill-conditioned")
    assert "chosen: UniPC-4, sigma_j = 0.1000 (10 / n)^0 spreads (geo-mean over every cell 0.775)" in out
    assert (f"| 10 | 0.100 | {0.6 ** 0.5:.3f} | 1 of 2 | 1.20 (b, 3) | no | 0 | "
            f"{0.8 ** 0.5:.3f} | 1 of 2 | 1.00 (b, 3) |") in out
    args.min_share = 0.5
    assert "| 1.20 (b, 3) | yes |" in lr.ifit(args)
    args.law = "4,0.2,0"                          # one law read, not fitted: at c = 0.2 the cells are 1.0 / 2.4
    assert "read: UniPC-4, sigma_j = 0.2000 (10 / n)^0 spreads (geo-mean over every cell 1.549)" in lr.ifit(args)
    args.law = None
    # at 20 steps with p = 1 the law's sigma_j, c0 / 2, lies below the rows (0.1-0.2): read off the nearest row, the
    # budget does not pass
    for r in recs:
        r["rms"] = {**{k.replace("@10", "@20"): v for k, v in r["rms"].items()}, "unipc@20": 1.0}
    args.records, args.defaults, args.ps, args.nfes = [_write(tmp_path / "t20.jsonl", recs)], [], "1", "20"
    out = lr.ifit(args)
    assert "| 20 | 0.050 | " in out and "| no (sigma_j outside the rows) |" in out


def test_ifit_ties_apart_counts_the_share_below_1_over_the_cells_that_are_not_ties(tmp_path):
    # few-step 54a. Six cells at 0.5 / 0.5 / 0.5 / 0.5 / tie / tie (DEIS 0.1 the best default with and without): 4 of 6
    # below 1 fails the plain rule (80 %), passes with ties apart (4 of 4, and half of all). One cell at 0.5 and three
    # ties: 1 of 1 not tied, but less than half of all below 1: fails either way.
    ill = {"0.05": 0.53, "0.8": 0.975}

    def rec(name, at01, deis=10.0):
        return {"problem": name, "seed": 3, "ratios": ill, "rms": {"unipc@10": 1.0, "deis@10": deis,
                                                                   "u4_0.1@10": at01, "u4_0.2@10": 2 * at01}}
    six = [rec(x, 0.5) for x in "abcd"] + [rec(x, 0.5, deis=0.1) for x in "ef"]
    args = type("A", (), {"records": [_write(tmp_path / "six.jsonl", six)], "defaults": (), "nfes": "10",
                          "orders": "4", "ps": "0", "max_mean": 0.9, "min_share": 0.8, "ties_apart": False})
    assert f"| 10 | 0.100 | {0.5 ** (4 / 6):.3f} | 4 of 6 | 1.00 (e, 3) | no |" in lr.ifit(args)
    args.ties_apart = True
    assert "| 4 of 6 | 1.00 (e, 3) | yes | 2 |" in lr.ifit(args)
    four = [rec("a", 0.5)] + [rec(x, 0.5, deis=0.1) for x in "bcd"]
    args.records = [_write(tmp_path / "four.jsonl", four)]
    assert f"| 10 | 0.100 | {0.5 ** 0.25:.3f} | 1 of 4 | 1.00 (b, 3) | no |" in lr.ifit(args)


def test_ifit_taken_low_rank_fits_on_the_records_the_probe_calls_low_rank(tmp_path):
    # few-step 56: the same fit over the low-rank records, against UniPC's defaults or another row (--against). Record
    # "a" is low-rank (0.5 of UniPC at c = 0.1), "b" is ill-conditioned, not low-rank (3.0 of UniPC): --taken low_rank
    # reads "a" only, the default reads "b" only
    low, ill = {"0.05": 0.9, "0.8": 0.95}, {"0.05": 0.53, "0.8": 0.975}
    recs = [{"problem": name, "seed": 3, "ratios": ratios, "low_rank": ratios is low,
             "rms": {"unipc@25": 1.0, "lowrank@25": 0.25, "u5_0.1@25": at01, "u5_0.2@25": 2 * at01}}
            for name, ratios, at01 in (("a", low, 0.5), ("b", ill, 3.0))]
    args = type("A", (), {"records": [_write(tmp_path / "t.jsonl", recs)], "defaults": (), "nfes": "25",
                          "orders": "5", "ps": "0", "max_mean": 0.9, "min_share": 0.8, "taken": "low_rank"})
    out = lr.ifit(args)
    assert out.startswith("1 records called low-rank")
    assert "| 25 | 0.100 | 0.500 | 1 of 1 | 0.50 (a, 3) | yes | 0 |" in out
    args.against = "lowrank"                  # against the pick before (0.25): the law at 0.1 is 2x, at 0.2 4x
    out = lr.ifit(args)
    assert "chosen: UniPC-5, sigma_j = 0.1000" in out and "| 25 | 0.100 | 2.000 | 0 of 1 | 2.00 (a, 3) | no |" in out
    args.against, args.taken = "unipc", "ill_conditioned"
    out = lr.ifit(args)
    assert out.startswith("1 records called ill-conditioned") and "| 3.00 (b, 3) | no |" in out
    with pytest.raises(SystemExit):
        lr.main(["ifit", str(tmp_path / "t.jsonl"), "--taken", "lowrank"])


def test_report_counts_the_ties_per_budget(tmp_path):
    # three ill-conditioned records at 10 NFE: the pick 0.5 / 2.0 / 0.5 of UniPC's 1.0; in the third iPNDM (0.1) is the
    # best default with and without: a tie
    ill = {"0.05": 0.53, "0.8": 0.975}
    recs = [{**_collect(name, 3, False, 1.0, pick, other), "ratios": ill}
            for name, pick, other in (("a", 0.5, 10.0), ("b", 2.0, 10.0), ("c", 0.5, 0.1))]
    a = _report_args([_write(tmp_path / "c.jsonl", recs)], taken="ill_conditioned")
    out = lr.report(a)
    assert "the ill-conditioned entry takes 3 of 3 problems: a, b, c" in out
    assert "below 1 in 1, ties (the same best default with and without) 1, worst 2.00" in out
    assert "at 10 NFE: geometric mean 1.000, worst 2.00, below 1 in 1 of 3, ties 1" in out
