"""The choice rules of ``benchmarks/bench_suite_report.py`` on records with known answers: the
per-(SDE, sampler) defaults (worst case, ties within 2x by geometric mean, endings "zero from
N") and the peers on the same footing (one configuration per published solver)."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
report = pytest.importorskip("bench_suite_report")


def rec(row, kind, nfe, rms, problem="p1", sde="EDM"):
    return {"problem": problem, "sde": sde, "nfe": nfe, "row": row, "kind": kind, "rms": rms}


def test_per_sampler_takes_the_smallest_worst_case_then_the_geometric_mean_among_ties():
    nfes = (10, 20, 50)
    rows = [rec("peer:x@0.002", "peer", n, 1.0) for n in nfes]
    ratios = {'a{"grid": "default"}': (1, 1, 10),                   # worst 10
              'a{"grid": "karras"}': (3, 3, 3),                     # worst 3, geo 3
              'a{"grid": "log_snr"}': (2, 2, 5),                    # worst 5
              'a{"final_zero": true, "grid": "log_snr"}': (9, 9, 1)}  # zero from 50: (2, 2, 1)
    rows += [rec(row, "project", n, r) for row, rs in ratios.items() for n, r in zip(nfes, rs)]
    got = report.per_sampler(rows, per_budget=False)[("EDM", "a")]
    assert got[:3] == ("a", "log_snr", "zero from 50") and got[3] == pytest.approx(2.0)
    assert got[4] == pytest.approx(4 ** (1 / 3))
    assert got[5:] == (pytest.approx(10.0), pytest.approx(10 ** (1 / 3)))  # SDE's grid, stop
    # without the zero rows: karras (worst 3, geo 3) and log_snr (worst 5 <= 2 x 3, geo 2.71)
    # tie, and log_snr's smaller geometric mean wins; with tie = 1 only karras is left
    plain = [r for r in rows if "final_zero" not in r["row"]]
    assert report.per_sampler(plain, per_budget=False)[("EDM", "a")][1:3] == ("log_snr", "stop")
    assert report.per_sampler(plain, tie=1.0, per_budget=False)[("EDM", "a")][1:3] == ("karras", "stop")


def test_per_sampler_per_budget_keeps_one_budgets_hard_cell_from_deciding_another():
    """One cell at 20 NFE is hard for every candidate (25x); over all budgets both endings share
    that worst case and stopping wins on the geometric mean, although at 50 NFE its worst is
    18x against 0.9x for the step to 0. Per budget, stopping scores 18 / 0.9 = 20 (the zero
    ending 1) and is out of the factor-2 tie."""
    rows = [rec("peer:x@0.002", "peer", n, 1.0, p) for n in (20, 50) for p in ("p", "q")]
    ratios = {'a{"grid": "default"}': {("p", 20): 25, ("q", 20): 1, ("p", 50): 18, ("q", 50): 0.01},
              'a{"final_zero": true, "grid": "default"}':
                  {("p", 20): 26, ("q", 20): 1, ("p", 50): 0.9, ("q", 50): 0.5}}
    rows += [rec(row, "project", n, r, p) for row, d in ratios.items() for (p, n), r in d.items()]
    everywhere = report.per_sampler(rows, per_budget=False)[("EDM", "a")]
    assert everywhere[2] == "stop" and everywhere[3] == pytest.approx(25.0)
    assert everywhere[4] == pytest.approx(4.5 ** 0.25)
    per_budget = report.per_sampler(rows, per_budget=True)[("EDM", "a")]
    assert per_budget[2] == "zero from 50" and per_budget[3] == pytest.approx(25.0)
    assert per_budget[4] == pytest.approx(11.25 ** 0.25)      # 25 * 1 * 0.9 * 0.5


def test_peer_family_and_the_same_footing():
    assert report.peer_family("peer:diffusers_unipc3_linspace_karras_zero@0.002") == "diffusers_unipc3"
    assert report.peer_family("peer:kdiff_dpmpp_3m_sde_logsnr_nozero@0.001") == "kdiff_dpmpp_3m_sde"
    assert report.peer_family("peer:diffusers_unipc_bh12_trailing@0.001") == "diffusers_unipc_bh12"
    tuning = [rec("peer:s_trailing@0.002", "peer", 10, 1.0, "t1"),
              rec("peer:s_trailing@0.002", "peer", 10, 4.0, "t2"),
              rec("peer:s_linspace@0.002", "peer", 10, 2.0, "t1"),
              rec("peer:s_linspace@0.002", "peer", 10, 2.0, "t2")]
    # ratios to the per-cell best: trailing (1, 2), linspace (2, 1): equal worst, equal geo ->
    # the first in order; make linspace strictly better in the worst case
    tuning[1]["rms"] = 5.0                                 # trailing (1, 2.5), linspace (2, 1)
    assert report.fixed_peers(tuning)[("EDM", "s")] == "peer:s_linspace@0.002"
    val = [rec("peer:s_trailing@0.002", "peer", 10, 0.1, "v"),   # the oracle would take this
           rec("peer:s_linspace@0.002", "peer", 10, 1.0, "v"),
           rec("ours{}", "project", 10, 0.5, "v")]
    text = report.fixed_peer_summary(tuning, val)
    assert "| EDM | 10 | 1 / 1 | 0.50 | 0.50 |" in text


def test_order_limits_settings_and_report():
    """``bench_order_limits.py``: the shipped limits are among the settings it sweeps (and order
    5 only with H5 <= H4), and its table is the ratio to the best peer per SDE and NFE."""
    limits = pytest.importorskip("bench_order_limits")
    from sde_diffusion.solvers import order
    settings = limits.settings()
    assert ("order5 H4=0.4 H5=0.4 final>0.2 Q4=1.5", 5, order.MAX_STEP, order.FINAL_LONG_STEP) in settings
    assert all(lim[6] <= lim[5] for _, top, lim, _ in settings if top == 5)
    peers = [rec("peer:x@0.002", "peer", n, 2.0, sde=s) for s in ("VP", "EDM") for n in (5, 10, 20, 50)]
    rows = [rec("A", "project", n, 1.0 if s == "VP" else 8.0, sde=s)
            for s in ("VP", "EDM") for n in (5, 10, 20, 50)]
    table = limits.report(rows, peers)
    line = next(x for x in table.splitlines() if x.startswith("| A |"))
    assert line.count("0.50 / 0.5 / 1") == 4 and line.count("4.00 / 4.0 / 0") == 4
    assert line.endswith("| 1.41, 4.0 |")                 # sqrt(0.5 * 4)



def test_load_refuses_a_record_with_zero_error(tmp_path):
    """Ratios divide by the best peer's RMS and geometric means take logs: a record with RMS 0
    is refused by name; failed (null) and diverged (inf) runs are left out."""
    import json
    f = tmp_path / "r.jsonl"
    good = rec("a{}", "project", 10, 0.5)
    f.write_text("\n".join(json.dumps(r) for r in (good, {**good, "rms": None},
                                                    {**good, "rms": float("inf")})) + "\n")
    assert report.load([f]) == [good]
    with f.open("a") as fh:
        fh.write(json.dumps({**good, "row": "peer:x", "rms": 0.0}) + "\n")
    with pytest.raises(ValueError, match=r"rms 0.0 <= 0: p1 / EDM / 10 NFE / peer:x"):
        report.load([f])


def test_choose_clip_keeps_a_far_ahead_cell_from_deciding_the_tie():
    """A is 1000x ahead of the best peer in one cell and 1.2x behind in the other; B is 100x
    ahead and 0.9x. Both tie (scores 1.33 and 1). The plain geometric mean takes A (0.035 vs
    0.095); with clip 0.5 a cell more than 2x ahead counts as 0.5, and B wins (0.67 vs 0.77)."""
    cands = {"A": {("p", 10): 0.001, ("q", 10): 1.2}, "B": {("p", 10): 0.01, ("q", 10): 0.9}}
    assert report.choose(cands) == "A"
    assert report.choose(cands, clip=0.5) == "B"
    assert report.choose(cands, tie=1.0) == "B"              # A's 1.33 is out of a factor 1
    limits = pytest.importorskip("bench_order_limits")
    peers = [rec("peer:x@0.002", "peer", 10, 1.0, p, s) for p in ("p", "q") for s in ("VP", "EDM")]
    rows = [rec(k, "project", 10, r, p, s) for k, d in cands.items() for (p, _), r in d.items()
            for s in ("VP", "EDM")]
    assert limits.chosen(rows, peers) == "A" and limits.chosen(rows, peers, clip=0.5) == "B"


def test_optgrid_vs_defaults_per_setting(tmp_path):
    """Two settings in one record file are kept apart by their row tag; ratios are to the same
    sampler's default on the same cell and points, and to the best default of the cell (rows
    with a constructor variant are neither)."""
    import json

    def r(row, kind, rms, problem):
        return {**rec(row, kind, 10, rms, problem), "n": 8, "seed": 1}
    defaults = [r("unipc{}", "project", 0.1, "p1"), r("ipndm{}", "project", 0.05, "p1"),
                r("unipc{}", "project", 0.2, "p2"), r("ipndm{}", "project", 0.4, "p2"),
                r("unipc{}", "project", 0.3, "p3"),           # p3: no optimize_grid record
                r('unipc{"order": 2}', "project", 1e-9, "p1")]  # a variant: neither default nor best
    opt = [r("optgrid:unipc/val256", "optgrid", 0.02, "p1"), r("ays:unipc/val256", "ays", 1e-9, "p1"),
           r("optgrid:unipc/val256", "optgrid", 0.4, "p2"),
           r("optgrid:unipc/val1024", "optgrid", 0.05, "p1"),
           r("optgrid:unipc/val1024", "optgrid", 0.21, "p2")]
    path = tmp_path / "opt.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in opt))
    lines = report.optgrid_vs_defaults(defaults, [str(path)]).splitlines()[2:]
    cells = {ln.split(" | ")[1]: ln.split(" | ")[2:] for ln in lines}
    # val256: ratios to unipc 0.2 and 2.0 (geo 0.632, one cell > 1.05x); to the best default
    # 0.4 and 2.0 (geo 0.894, one cell <= 0.5x)
    assert cells["val256"] == ["2", "0.632", "2.00", "1", "0.894", "2.00", "1 |"]
    # val1024: 0.5 and 1.05 (not > 1.05x); 1.0 and 1.05
    assert cells["val1024"] == ["2", "0.725", "1.05", "0", "1.025", "1.05", "0 |"]


def test_before_after_lists_only_the_moved_rows_and_counts_the_best_default():
    peers = [rec("peer:x@0.002", "peer", n, 1.0, problem=p) for n in (5, 10) for p in ("p1", "p2")]
    before = [rec("a{}", "project", 10, 3.0, "p1"), rec("a{}", "project", 10, 1.5, "p2"),
              rec("b{}", "project", 10, 1.2, "p1"), rec("b{}", "project", 10, 0.9, "p2"),
              rec("a{}", "project", 5, 0.8, "p1"), rec("a{}", "project", 5, float("nan"), "p2"),
              rec('a{"order": 2}', "project", 10, 0.1, "p1")]          # a variant: never counted
    after = [dict(r) for r in before]
    after[0]["rms"], after[1]["rms"] = 0.75, 3.0                          # a at 10 NFE moves
    after[5]["rms"] = float("nan")                                        # NaN == NaN: not moved
    after[6]["rms"] = 0.01
    out = report.before_after(peers, before, after)
    assert "| EDM | 10 | a | 2 | 2.121 -> 1.500 | 0 -> 1 | 1 -> 1 |" in out   # sqrt(3 * 1.5), sqrt(.75 * 3)
    assert out.count("| EDM | 10 | a |") == 1 and "| EDM | 5 | a |" not in out and "| b |" not in out
    assert "| EDM | 10 | best default" not in out and "| EDM | 10 | 1 -> 2 of 2 |" in out   # p1: 1.2 -> 0.75
    with pytest.raises(ValueError, match="cover different rows: 1 differ"):
        report.before_after(peers, before, after[:-2] + after[-1:])


def test_order4_limit_report_cells_and_choice():
    """``bench_order4_limit.report``: per limit the budget cells "geo-mean / worst / <= 1x" of the
    ratio to the best peer, and the limit section 12's rule picks (here the only one within 2x of
    the smallest per-budget worst case)."""
    lim4 = pytest.importorskip("bench_order4_limit")
    peers = [rec("peer:x@0.002", "peer", 10, 1.0, sde=s) for s in ("EDM", "VP")]
    row = lambda lim, sde, rms: {"limit": lim, "problem": "p1", "sde": sde, "nfe": 10,
                                 "sampler": "unipc", "rms": rms}
    records = [row("inf", "EDM", 4.0), row("inf", "VP", 1.0), row("1.0", "EDM", 1.0), row("1.0", "VP", 1.2)]
    table = lim4.report(records, peers)
    assert "| unipc | 1.0 | - | 1.00 / 1.0 / 1 | - | - | - | 1.20 / 1.2 / 0 | - | - | 1.095 | **yes** |" in table
    assert "| unipc | inf | - | 4.00 / 4.0 / 0 | - | - | - | 1.00 / 1.0 / 1 | - | - | 2.000 |  |" in table
    assert report.budget_cells([("VP", 5, 0.5), ("VP", 5, 2.0)], ("VP",), (5, 10)) == ["1.00 / 2.0 / 1", "-"]


def test_optgrid_pick_takes_the_smaller_held_out_rms_not_the_smaller_score():
    peers = [rec("peer:x@0.002", "peer", 10, 1.0, problem=p) for p in ("p1", "p2", "p3")]
    og = lambda name, p, rms, val: {**rec(f"optgrid:{name}/val1024", "optgrid", 10, rms, problem=p),
                                    "made": {"val_rms": val}}
    rows = [og("unipc", "p1", 0.4, 0.1), og("ipndm", "p1", 0.2, 0.3),     # held-out picks unipc
            og("unipc", "p2", 2.0, 0.5), og("ipndm", "p2", 0.8, 0.2),     # held-out picks ipndm
            og("unipc", "p3", 0.5, 0.1)]                                 # p3: ipndm missing
    out = report.optgrid_pick(peers, rows, ["optgrid:unipc/val1024", "optgrid:ipndm/val1024"])
    assert "| optgrid:unipc/val1024 | 2 | 0.894 | 2.00 | 1 | 1 |" in out           # sqrt(0.4 * 2)
    assert "| optgrid:ipndm/val1024 | 2 | 0.400 | 0.80 | 1 | 2 |" in out
    assert "| smallest held-out RMS | 2 | 0.566 | 0.80 | 1 | 2 |" in out         # sqrt(0.4 * 0.8)
    defaults = [rec("a{}", "project", 10, 0.5, "p1"), rec("b{}", "project", 10, 0.2, "p1"),
                rec("a{}", "project", 10, 1.6, "p2"), rec('a{"order": 2}', "project", 10, 0.01, "p2")]
    out = report.optgrid_pick(peers, rows, ["optgrid:unipc/val1024", "optgrid:ipndm/val1024"], defaults)
    assert "| smallest held-out RMS | 2 | 0.566 | 0.80 | 1 | 2 | 1.000 | 2.00 |" in out   # 0.4/0.2, 0.8/1.6
    with pytest.raises(ValueError, match=r"no default row for the optimize_grid cells \[\('p2', 'EDM', 10\)\]"):
        report.optgrid_pick(peers, rows, ["optgrid:unipc/val1024", "optgrid:ipndm/val1024"], defaults[:2])


def test_peer_chosen_on_other_noise_is_scored_on_the_scoring_points():
    """``peers_chosen_on``: the configuration with the smallest RMS on the selection batch, at its
    RMS on the scoring batch (not the scoring batch's own minimum); rows without a score are
    skipped. ``optgrid_pick`` with ``select_rows`` divides by that."""
    score = [rec("peer:a", "peer", 10, 0.1), rec("peer:b", "peer", 10, 0.4), rec("peer:c", "peer", 10, None)]
    select = [rec("peer:a", "peer", 10, 0.9), rec("peer:b", "peer", 10, 0.2), rec("peer:c", "peer", 10, 0.01)]
    assert report.peers_chosen_on(select, score) == {("p1", "EDM", 10): (0.4, "peer:b")}
    assert report.best_peers(score[:2]) == {("p1", "EDM", 10): (0.1, "peer:a")}
    og = {**rec("optgrid:unipc", "optgrid", 10, 0.2), "made": {"val_rms": 0.3}}
    assert "| optgrid:unipc | 1 | 2.000 | 2.00 | 0 | 0 |" in report.optgrid_pick(score[:2], [og], ["optgrid:unipc"])
    assert "| optgrid:unipc | 1 | 0.500 | 0.50 | 1 | 1 |" in report.optgrid_pick(score, [og], ["optgrid:unipc"],
                                                                            select_rows=select)
    dflt = rec("unipc{}", "project", 10, 0.3)
    assert "| EDM | 10 | 0 / 1 |" in report.summary(score[:2] + [dflt])
    assert "| EDM | 10 | 1 / 1 |" in report.summary(score + [dflt], select)


def test_row_ratios_divides_one_row_by_each_cells_best_peer_and_best_default():
    """Cell a: the row 0.02 over the best of two peers (0.04) and the better default (0.05) gives
    0.5 and 0.4; cell b has no default, so only its peer ratio (0.02 / 0.01 = 2) counts. Other
    rows and a cell where the row did not run are left out."""
    rec = lambda p, kind, row, rms: {"problem": p, "sde": "EDM", "nfe": 10, "kind": kind, "row": row,
                                     "rms": rms}
    rows = [rec("a", "peer", "p1", 0.04), rec("a", "peer", "p2", 0.08),
            rec("a", "project", "unipc{}", 0.05), rec("a", "project", "ipndm{}", 0.07),
            rec("a", "project", 'unipc{"order": 2}', 0.02), rec("a", "project", 'unipc{"order": 3}', 0.001),
            rec("b", "peer", "p1", 0.01), rec("b", "project", 'unipc{"order": 2}', 0.02),
            rec("c", "peer", "p1", 0.01)]
    text = report.row_ratios(rows, 'unipc{"order": 2}')
    assert "| a | EDM | 10 | 0.02 | 0.50 | 0.40 |" in text
    assert "| b | EDM | 10 | 0.02 | 2.00 | - |" in text
    assert "| geo-mean | | | | 1.00 (worst 2.00) | 0.40 (worst 0.40) |" in text
    assert "| c |" not in text
    with pytest.raises(SystemExit, match="no cell of the records ran row 'deis{}'"):
        report.row_ratios(rows, "deis{}")
