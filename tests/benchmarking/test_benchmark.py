"""Solver benchmark: records, keys, skip-on-rerun, reproducibility, metrics, NFE budgets,
report statistics, tracker wiring, Hydra sweep."""
import json
import math
import os
import re
import runpy
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from sde_diffusion import benchmarking as B
from sde_diffusion.analytic import ring_of_gaussians
from sde_diffusion.configs.benchmark import resolve_cell
from sde_diffusion.solvers import SAMPLERS

ROOT = Path(__file__).resolve().parents[2]
CLUSTERS = {"name": "clusters1d", "mixture": {"_target_": "sde_diffusion.analytic.three_clusters_1d"}}
RING = {"name": "ring8", "mixture": {"_target_": "sde_diffusion.analytic.ring_of_gaussians"}}
VP = {"_target_": "sde_diffusion.sdes.VPSDE"}


def cell(sampler="heun", steps=8, problem=CLUSTERS, sde=VP, seed=0, n=128, metrics=None, **kw):
    c = dict(problem=problem, sde=sde, sampler={"name": sampler, "steps": steps, "options": {}},
             nfe=None, seed=seed, n_samples=n, n_heldout=n,
             metrics=metrics or ["sliced_wasserstein", "mmd", "energy_distance", "nll", "mode_tv",
                                 "ode_rmse"],
             reference={"method": "DOP853", "rtol": 1e-9, "atol": 1e-9}, checkpoint=None,
             device="cpu", dtype="float32", labels={"sde": "vp"})
    c.update(kw)
    return c


def run(c, out_dir=None, **kw):
    """run_cell with the objects the cell describes (built by the config glue)."""
    problem, sde = resolve_cell(c)
    return B.run_cell(c, out_dir, problem=problem, sde=sde, **kw)


# ------------------------------------------------------------------ keys and records
def test_cell_key_is_stable_and_covers_the_numbers():
    a = cell()
    b = json.loads(json.dumps(a))          # same content, fresh dict
    b = dict(reversed(list(b.items())))    # other key order
    assert B.cell_key(a) == B.cell_key(b)
    assert B.cell_key(a).startswith("clusters1d__vp__heun__steps8__s0__")
    for change in ({"seed": 1}, {"n_samples": 64}, {"sampler": {"name": "heun", "steps": 9,
                                                                "options": {}}}):
        assert B.cell_key({**a, **change}) != B.cell_key(a)
    # labels only name things; they do not change the hash
    assert B.cell_key({**a, "labels": {"sde": "vp"}}).rsplit("__", 1)[1] == \
        B.cell_key({**a, "labels": {}}).rsplit("__", 1)[1]


def test_same_cell_twice_gives_identical_numbers_on_cpu():
    for name in ("heun", "euler_maruyama"):    # deterministic and stochastic
        c = cell(name, steps=10, problem=RING)
        r1, r2 = run(c), run(c)
        assert r1["metrics"] == r2["metrics"] and r1["baseline"] == r2["baseline"]
        assert r1["nfe"] == r2["nfe"] and r1["steps"] == r2["steps"]
        other = run({**c, "seed": 1})
        assert other["metrics"]["sliced_wasserstein"] != r1["metrics"]["sliced_wasserstein"]


def test_interrupted_sweep_rerun_completes_only_missing_cells(tmp_path):
    cells = [cell(s, steps=k) for s in ("euler", "heun") for k in (4, 8)]
    for c in cells[:2]:                      # "interrupted" after two cells ...
        assert run(c, tmp_path)["status"] == "computed"
    (tmp_path / "records" / ".half-written.json.tmp").write_text("{")   # ... mid-write
    before = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "records").glob("*.json")}
    status = [run(c, tmp_path)["status"] for c in cells]
    assert status == ["skipped", "skipped", "computed", "computed"]
    after = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "records").glob("*.json")}
    assert len(after) == 4 and all(after[k] == v for k, v in before.items())
    assert len(B.load_records(tmp_path)) == 4
    assert run(cells[0], tmp_path, force=True)["status"] == "computed"


# ------------------------------------------------------------------ bad input
def test_unknown_sampler_lists_the_choices():
    with pytest.raises(ValueError, match=r"unknown sampler 'heunn'.*'dpm_solver2'.*'heun'"):
        run(cell("heunn"))


def test_unknown_metric_lists_the_choices(tmp_path):
    with pytest.raises(ValueError, match=r"unknown metric 'fid'.*'sliced_wasserstein'.*'ode_rmse'"):
        run(cell(metrics=["sliced_wasserstein", "fid"]))
    rec = run(cell(), tmp_path)
    with pytest.raises(ValueError, match=r"unknown report metric 'kl'.*'mmd'"):
        B.build_report([rec], tmp_path, metrics=["kl"])


def _meta(shape):
    from sde_diffusion.io import ModelMeta
    return ModelMeta(data_shape=shape, data_kind=None, data_name=None, value_range=None, bits=None,
                     step=None, use_ema=True, data=None, checkpoint="run", run_dir="run",
                     model_spec={})


def test_checkpoint_with_wrong_data_shape_is_refused_before_sampling(monkeypatch):
    import sde_diffusion.solvers as solvers
    import sde_diffusion.io as io
    from omegaconf import OmegaConf
    from sde_diffusion.models import MLP, ScoreModel
    from sde_diffusion.sdes import VPSDE

    sde = VPSDE()
    model = ScoreModel(MLP(3, hidden=16, depth=1), sde)
    cfg = OmegaConf.create({"sde": VP})
    monkeypatch.setattr(io, "load_model", lambda path, **kw: (model, cfg, _meta([3])))

    def no_sampling(*a, **k):
        raise AssertionError("sampled before checking the data shape")

    monkeypatch.setattr(solvers, "sample", no_sampling)
    with pytest.raises(ValueError, match=r"shape \(3,\).*'ring8' has data shape \(2,\)"):
        run(cell(problem=RING, checkpoint="some/run"))
    # and a checkpoint trained with another SDE than the one asked for
    cfg2 = OmegaConf.create({"sde": {"_target_": "sde_diffusion.sdes.VESDE"}})
    monkeypatch.setattr(io, "load_model", lambda path, **kw: (model, cfg2, _meta([2])))
    with pytest.raises(ValueError, match="trained with sde 'sde_diffusion.sdes.VESDE'"):
        run(cell(problem=RING, checkpoint="some/run"))


def test_data_metrics_need_an_analytic_problem_or_a_checkpoint():
    digits = {"name": "digits", "data": {"_target_": "sde_diffusion.data.digits"}}
    with pytest.raises(ValueError, match="need an analytic problem.*frechet"):
        run(cell(problem=digits, metrics=["nll"]))
    with pytest.raises(ValueError, match="checkpoint=<path>"):
        run(cell(problem=digits, metrics=["frechet"]))


# ------------------------------------------------------------------ stale records
def vp_grid(sampler):
    """The grid ``sampler`` uses on VP without one given (``VPSDE.sampler_defaults``)."""
    from sde_diffusion.sdes import VPSDE
    from sde_diffusion.solvers import get_sampler
    return get_sampler(sampler)().default_grid_on(VPSDE())


def test_a_cached_record_is_recomputed_when_the_resolved_sampler_settings_change(tmp_path,
                                                                                 monkeypatch):
    """A cell with no grid / end time resolves them from the SDE's defaults; its record stores
    them, and a cached record made with other settings (or none: before issue 15) is
    recomputed, naming why, instead of being served."""
    from sde_diffusion.sdes import VPSDE
    c = cell("dpm_solver2", steps=4, n=64, metrics=["sliced_wasserstein"])
    first = run(c, tmp_path)
    st = first["settings"]
    # VPSDE's defaults below 20 steps for a sampler without an entry in its
    # sampler_defaults: its default grid, ending at 1e-3 (no denoising)
    assert VPSDE.default_grid != "uniform_t"
    assert (st["grid"], st["t_end"], st["denoise"]) == (VPSDE.default_grid, 1e-3, False)
    assert first["t_end"] == pytest.approx(1e-3, rel=1e-12)
    assert run(c, tmp_path)["status"] == "skipped"
    # a record from before the settings were stored, with a planted number: not served
    path = B.record_path(tmp_path, c)
    old = json.loads(path.read_text())
    del old["settings"]
    old["metrics"]["sliced_wasserstein"] = 123.0
    path.write_text(json.dumps(old))
    with pytest.warns(RuntimeWarning, match=r"stale benchmark record .*records no resolved "
                                            r"sampler settings.*recomputing it"):
        again = run(c, tmp_path)
    assert again["status"] == "computed"
    assert again["metrics"]["sliced_wasserstein"] == first["metrics"]["sliced_wasserstein"]
    # the default grid changes (the same cell, the same key): the record is stale by name
    monkeypatch.setattr(VPSDE, "default_grid", "uniform_t")
    with pytest.warns(RuntimeWarning, match=rf"made with grid {st['grid']}, t_end 0.001, "
                                            r"denoise False; the sampler now uses grid "
                                            r"uniform_t, t_end 0.001"):
        changed = run(c, tmp_path)
    assert changed["status"] == "computed" and changed["settings"]["grid"] == "uniform_t"
    assert changed["metrics"]["sliced_wasserstein"] != first["metrics"]["sliced_wasserstein"]
    assert run(c, tmp_path)["status"] == "skipped"


def test_a_sweep_opens_a_tracker_for_a_stale_record_and_none_for_a_valid_one(tmp_path):
    opened = []

    class _Tracker:
        def __init__(self):
            self.finished = None

        def log(self, payload, step):
            pass

        def summary(self, d):
            pass

        def finish(self, exit_code):
            self.finished = exit_code

    def factory(c, problem, sde):
        opened.append(_Tracker())
        return opened[-1]

    c = cell("euler", steps=4, n=64, metrics=["sliced_wasserstein"])
    sweep = lambda: B.run_sweep([c], tmp_path, resolve_cell, tracker_factory=factory,
                                progress=False)
    assert [r["status"] for r in sweep()] == ["computed"] and len(opened) == 1
    assert [r["status"] for r in sweep()] == ["skipped"] and len(opened) == 1
    path = B.record_path(tmp_path, c)
    old = json.loads(path.read_text())
    old["settings"]["t_end"] = 1e-5                     # made with another end time
    path.write_text(json.dumps(old))
    from sde_diffusion.sdes import VPSDE
    with pytest.warns(RuntimeWarning, match=f"t_end 1e-05, denoise False; the sampler now uses "
                                            f"grid {vp_grid('euler')}, t_end 0.001"):
        assert [r["status"] for r in sweep()] == ["computed"]
    assert len(opened) == 2 and [t.finished for t in opened] == [0, 0]


def test_the_report_names_the_grids_used_and_the_stale_records(tmp_path):
    from sde_diffusion.sdes import VPSDE
    recs = [run(cell("euler", steps=4, n=64, seed=s, metrics=["sliced_wasserstein"]))
            for s in (0, 1)]
    old = dict(recs[1])
    del old["settings"]                                  # a record from before issue 15
    md = B.build_report([recs[0], old], tmp_path, ["sliced_wasserstein"])["markdown"]
    assert f"- vp, steps 4: grid `{vp_grid('euler')}`, t_end 0.001 — euler" in md
    assert (f"**Stale:** 1 records carry no resolved sampler settings (made with the defaults "
            f"of their day: `uniform_t`, t_end 1e-5); re-run their sweep to "
            f"recompute them: `{old['key']}`.") in md


def test_the_grid_list_maps_each_nfe_budget_to_its_grid_and_end_time(tmp_path):
    """VP ends at 1e-3 up to 20 steps and at 1e-3 (20/n)^2 beyond (eps from 200 steps): the list
    says which NFE used which end time (one line per (grid, t_end) with its budgets)."""
    from sde_diffusion.sdes import VPSDE
    recs = [run(cell("euler", n=32, metrics=["sliced_wasserstein"], nfe=nfe)) for nfe in (10, 30)]
    md = B.build_report(recs, tmp_path, ["sliced_wasserstein"])["markdown"]
    g = vp_grid("euler")
    assert f"- vp, NFE 10: grid `{g}`, t_end 0.001 — euler" in md
    assert f"- vp, NFE 30: grid `{g}`, t_end {1e-3 * (20 / 30) ** 2} — euler" in md


@pytest.mark.parametrize("sampler,steps,options,want", [
    ("euler", 30, {}, ("<vp default>", 1e-3 * (20 / 30) ** 2, False)),   # 1e-3 (20/n)^2
    ("euler", 400, {}, ("<vp default>", 1e-5, False)),         # from 200 steps: sde.eps
    ("euler", 4, {"grid": "uniform_t", "t_end": 1e-5}, ("uniform_t", 1e-5, False)),
    ("euler_maruyama", 4, {}, ("<vp default>", 1e-3, True)),    # stochastic: Tweedie at the end
    ("rk45", 4, {}, ("rk45 own grid", 1e-5, False)),            # end points only
])
def test_resolved_settings_name_the_grid_and_end_time_used(sampler, steps, options, want):
    from sde_diffusion.benchmarking.settings import resolved_settings
    from sde_diffusion.sdes import VPSDE
    c = cell(sampler, steps=steps)
    c["sampler"]["options"] = options
    st = resolved_settings(c, VPSDE())
    want = (want[0].replace("<vp default>", vp_grid(sampler)),) + want[1:]
    assert (st["grid"], st["t_end"], st["denoise"]) == want


# ------------------------------------------------------------------ budget and metrics
# NFE(k) of each sampler's default configuration, written down from its algorithm (not from
# the code under test): the budget B must map to the largest k with NFE(k) <= B.
EXPECTED_NFE = {
    "euler": lambda k: k,                  # one score per Euler step
    "ddim": lambda k: k,                   # first-order exponential step, one score
    "dpm_solver2": lambda k: k,            # multistep: one new score per step
    "dpm_solver3": lambda k: k,
    "heun": lambda k: 2 * k,               # predictor + corrector evaluation
    "edm_heun": lambda k: 2 * k - 1,       # EDM's last step to sigma = 0 is plain Euler
    "edm": lambda k: 2 * k - 1,
    "euler_maruyama": lambda k: k + 1,     # + the final Tweedie denoising step
    "reverse_diffusion": lambda k: k + 1,
    "ancestral": lambda k: k + 1,
    "pc": lambda k: 2 * k + 1,             # reverse-diffusion predictor + 1 Langevin corrector
    "annealed_langevin": lambda k: 5 * k + 1,  # 5 Langevin moves per noise level + Tweedie
    "torchsde": lambda k: k + 2,           # Euler-Maruyama via sdeint (+1 at the start) + Tweedie
    "unipc": lambda k: k,                  # multistep; the corrector reuses the next step's score
    "deis": lambda k: k,                   # multistep exponential integrator: one new score a step
    "dpm_solver_2s": lambda k: 2 * k,      # singlestep: x0 at the start + one midpoint
    "dpm_solver_3s": lambda k: 3 * k,      # singlestep: x0 at the start + two intermediate points
    "dpmpp_2m_sde": lambda k: k + 1,       # multistep, one score a step + the final Tweedie step
    "ipndm": lambda k: k - 1,              # Adams-Bashforth, one new eps a step; the default
                                           # analytic first step needs none
    "ipndm_v": lambda k: k,
    "flow_euler": lambda k: k,             # Euler on dx/dt = u: one velocity a step
    "flow_midpoint": lambda k: 2 * k,      # velocity at the start and at the midpoint
    "flow_sde": lambda k: k,               # one velocity a step; it ends at t = 0 (no Tweedie)
}
FLOW_ONLY = {"flow_euler", "flow_midpoint", "flow_sde"}   # refuse SDEs that are not flow paths
ADAPTIVE = {"rk45", "dpm_adaptive"}       # NFE set by the error control, not by the step count


def _expected_steps(name, budget):
    f = EXPECTED_NFE[name]
    return max([1] + [k for k in range(1, budget + 2) if f(k) <= budget])


def test_every_fixed_step_sampler_has_an_expected_nfe():
    assert set(EXPECTED_NFE) == set(SAMPLERS) - ADAPTIVE, "add the new sampler's NFE formula"


@pytest.mark.parametrize("name", sorted(EXPECTED_NFE))
@pytest.mark.parametrize("budget", [10, 21])
def test_nfe_budget_gives_the_independently_computed_step_count(name, budget):
    """steps_for_nfe(B) is the largest k with NFE(k) <= B for the formula above, and sampling
    with it spends exactly NFE(k)."""
    from sde_diffusion.analytic import three_clusters_1d
    from sde_diffusion.models.parameterization import FunctionModel
    from sde_diffusion.solvers import sample
    from sde_diffusion.sdes import RectifiedFlow, VPSDE
    gm = three_clusters_1d()
    if name in FLOW_ONLY:
        sde = RectifiedFlow()
        model = FunctionModel(gm.velocity_fn(sde), sde, "velocity")
    else:
        sde = VPSDE()
        model = gm.score_fn(sde)
    steps = B.steps_for_nfe({"name": name, "options": {}}, budget, sde=sde)
    assert steps == _expected_steps(name, budget)
    _, info = sample(sde, model, (4, 1), sampler=name, steps=steps,
                     generator=torch.Generator().manual_seed(0), progress=False)
    assert info.nfe == EXPECTED_NFE[name](steps) <= budget


def test_ode_rmse_shows_heuns_second_order():
    """Against the rk45 reference, Heun's error falls ~4x per halving of h (slope 2), Euler's ~2x."""
    err = {}
    for name in ("heun", "euler"):
        for k in (32, 64):
            c = cell(name, steps=k, n=32, metrics=["ode_rmse"], dtype="float64")
            err[name, k] = run(c)["metrics"]["ode_rmse"]
    slope = lambda name: math.log2(err[name, 32] / err[name, 64])
    assert 1.6 < slope("heun") < 2.4, err
    assert 0.6 < slope("euler") < 1.4, err
    # the rk45 reference solves the same ODE: the rk45 sampler at tight tolerance matches it
    c = cell("rk45", n=32, metrics=["ode_rmse"], dtype="float64")
    c["sampler"]["options"] = {"rtol": 1e-8, "atol": 1e-8}
    assert run(c)["metrics"]["ode_rmse"] < 1e-5


def test_mode_tv_and_nll_of_known_sample_sets():
    gm = ring_of_gaussians()
    n = 4000
    x = gm.sample(n, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    q = B.quality(["mode_tv", "nll"], x, x, gm, 0)
    # exact samples: E TV <= 1/2 sum_k sqrt(w_k (1 - w_k) / n)
    bound = 0.5 * sum(math.sqrt(w * (1 - w) / n) for w in gm.weights.tolist())
    assert q["mode_tv"] < 2 * bound
    # all mass on mode 0 (well separated: responsibilities ~ 1): TV = 1 - w_0 = 7/8
    x0 = gm.means[0] + 0.3 * torch.randn(n, 2, generator=torch.Generator().manual_seed(1),
                                         dtype=torch.float64)
    assert B.quality(["mode_tv"], x0, x, gm, 0)["mode_tv"] == pytest.approx(7 / 8, abs=1e-6)
    # NLL of exact samples = entropy H = log 8 + entropy of N(0, 0.3^2 I) (modes ~disjoint)
    h = math.log(8) + math.log(2 * math.pi * math.e * 0.09)
    nll = -gm.log_prob(x)
    assert q["nll"] == pytest.approx(h, abs=4 * float(nll.std()) / math.sqrt(n))


def test_two_sample_metrics_come_from_metrics_METRICS():
    from sde_diffusion import metrics
    from sde_diffusion.benchmarking.quality import TWO_SAMPLE_METRICS
    for name, fn in metrics.METRICS.items():
        assert TWO_SAMPLE_METRICS[name] is fn and name in B.METRIC_NAMES


# ------------------------------------------------------------------ statistics over seeds
def test_confidence_interval_is_the_student_t_interval():
    e = B.estimate([1.0, 2.0, 3.0])
    # sd = 1, n = 3: half-width = t_{0.975, 2} / sqrt(3) = 4.302653 / 1.732051
    assert (e.mean, e.n) == (2.0, 3)
    assert e.half_width == pytest.approx(4.302653 / math.sqrt(3), rel=1e-6)
    assert math.isnan(B.estimate([5.0]).half_width) and B.estimate([]) is None
    assert math.isnan(B.estimate([1.0, math.nan]).mean)       # a diverged seed is not dropped


def test_significance_is_paired_by_seed():
    a = {0: 1.00, 1: 2.00, 2: 3.00, 3: 4.00}
    b = {s: v + 0.10 + 0.001 * s for s, v in a.items()}   # always ~0.1 worse, tiny spread
    assert B.significantly_less(a, b) and not B.significantly_less(b, a)
    noisy = {0: 1.2, 1: 1.8, 2: 3.3, 3: 3.8}              # differences of both signs
    assert not B.significantly_less(a, noisy) and not B.significantly_less(noisy, a)
    assert not B.significantly_less({0: 1.0}, {0: 5.0})   # one seed: no spread, no verdict


def _rec(sampler, nfe, seed, value, floor=1.0, metric="sliced_wasserstein", **kw):
    base = {"nll": 2.0} if metric == "nll" else {metric: floor}
    r = {"key": f"{sampler}{nfe}{seed}", "cell": {"sampler": {"options": {}}}, "problem": "p",
         "sde": "vp", "sampler": sampler, "steps": nfe, "nfe_budget": nfe, "seed": seed,
         "nfe": nfe, "wall_time": 0.01 * nfe, "peak_mem_mb": 1.0, "stochastic": False,
         "metrics": {metric: value}, "baseline": base, "error": None}
    r.update(kw)
    return r


def test_ranks_and_pareto_marks_only_beyond_the_noise(tmp_path):
    recs = []
    for s, e in enumerate([0.0, 0.05, -0.05]):
        recs += [_rec("good", 10, s, 2.0 + e), _rec("tied", 10, s, 2.0 - e + 0.01 * s),
                 _rec("bad", 10, s, 3.0 + e),            # 1.0 worse on every seed
                 _rec("good", 20, s, 1.99 + e),          # not significantly better than at 10
                 _rec("good", 40, s, 1.0 + 0.3 * e)]     # significantly better, at the floor
    rows = {(r["label"], r["budget"]): r["stats"]["sliced_wasserstein"]
            for r in B.aggregate(recs, ["sliced_wasserstein"])}
    assert rows["good", 10]["rank"] == rows["tied", 10]["rank"] == 1
    assert rows["bad", 10]["rank"] == 3 and not rows["bad", 10]["tied_best"]   # 2 beat it
    assert rows["good", 10]["pareto_nfe"] and not rows["bad", 10]["pareto_nfe"]
    assert not rows["good", 20]["pareto_nfe"]     # costs more, not better beyond the noise
    assert rows["good", 40]["pareto_nfe"] and rows["good", 40]["at_floor"]
    assert not rows["good", 10]["at_floor"]
    rep = B.build_report(recs, tmp_path, metrics=["sliced_wasserstein"], commands=["cmd --x"])
    assert "cmd --x" in rep["markdown"] and "seeds [0, 1, 2] (n = 3)" in rep["markdown"]
    bad_line = [ln for ln in rep["markdown"].splitlines() if ln.startswith("| bad |")][0]
    assert "| 3 ± 0.12 |" in bad_line, bad_line          # t_{.975,2} * 0.05 / sqrt(3) = 0.124


def test_nll_is_judged_as_distance_from_the_exact_samples(tmp_path):
    """An under-dispersed sampler has a *lower* NLL than exact samples (2.0); it must not win."""
    recs = []
    for s, e in enumerate([0.0, 0.02, -0.02]):
        recs += [_rec("sharp", 10, s, 1.2 + e, metric="nll"),      # |gap| = 0.8
                 _rec("right", 10, s, 2.05 + e, metric="nll")]     # |gap| = 0.05
    rows = {r["label"]: r["stats"]["nll"] for r in B.aggregate(recs, ["nll"])}
    assert rows["right"]["rank"] == 1 and rows["sharp"]["rank"] == 2
    assert rows["sharp"]["est"].mean == pytest.approx(0.8)
    assert rows["sharp"]["raw"].mean == pytest.approx(1.2)
    rep = B.build_report(recs, tmp_path, metrics=["nll"])
    lines = rep["csv"].read_text().splitlines()
    assert lines[0].startswith("problem,sde,sampler,budget_kind,budget")
    sharp = [ln for ln in lines if ",sharp," in ln][0].split(",")
    assert sharp[13] == "abs(nll - nll_exact)" and float(sharp[14]) == pytest.approx(0.8)


def test_report_plots_are_print_quality(tmp_path):
    from PIL import Image
    recs = [_rec(s, n, seed, v * (1 + 0.01 * seed)) for seed in range(3)
            for s, n, v in (("a", 10, 2.0), ("a", 20, 1.5), ("b", 10, 3.0), ("b", 20, 1.2))]
    rep = B.build_report(recs, tmp_path, metrics=["sliced_wasserstein"])
    for p in rep["plots"].values():
        assert min(Image.open(p).info["dpi"]) >= 149.5
    with pytest.raises(ValueError, match="dpi must be an integer >= 150.*got 80"):
        B.build_report(recs, tmp_path, metrics=["sliced_wasserstein"], dpi=80)


def test_peak_memory_sees_a_large_cpu_tensor():
    # the tensor lives on fresh anonymous pages (an mmap of its own), so the allocator cannot hand
    # it memory an earlier test freed but kept resident (seen once in a full run: peak 4 KiB)
    import mmap
    with B.PeakMemory(torch.device("cpu")) as m:
        buf = mmap.mmap(-1, 64 * 2 ** 20)
        x = torch.frombuffer(buf, dtype=torch.uint8).fill_(1)   # 64 MiB, touched
        time.sleep(0.05)
        del x
        buf.close()
    assert m.peak >= 48 * 2 ** 20


def test_peak_memory_sees_a_peak_between_samples():
    """A 64 MiB tensor freed before the sampling thread's next sample (interval 60 s) is still
    seen, through the kernel's reset high-water mark; and it is not over-counted."""
    if not B.PeakMemory._reset_hwm():
        pytest.skip("/proc/self/clear_refs is not writable here (the sampling thread is used)")
    import mmap
    with B.PeakMemory(torch.device("cpu"), interval=60.0) as m:
        buf = mmap.mmap(-1, 64 * 2 ** 20)      # fresh pages, as in the test above
        x = torch.frombuffer(buf, dtype=torch.uint8).fill_(1)
        del x
        buf.close()
    assert 48 * 2 ** 20 <= m.peak <= 80 * 2 ** 20


# ------------------------------------------------------------------ Hydra sweep + report
def test_hydra_2x2_sweep_writes_four_records_and_a_report_with_plots(tmp_path):
    """`scripts/benchmark.py -m` over 2 samplers x 2 step counts -> 4 records; a re-run after
    losing one record recomputes only that one; the report has the table and the PNG plots."""
    out = tmp_path / "sweep"
    cmd = [sys.executable, str(ROOT / "scripts" / "benchmark.py"), "-m", "sampler=euler,heun",
           "sampler.steps=4,8", "problem=clusters1d", "n_samples=96", "n_heldout=96",
           "seeds=[0,1]", "logger=none", f"out_dir={out}"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "WANDB_MODE": "disabled", "PYTHONPATH": str(ROOT)}
    run_ = lambda: subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True,
                                  timeout=300)
    p = run_()
    assert p.returncode == 0, p.stderr[-3000:]
    recs = sorted((out / "records").glob("*.json"))
    assert len(recs) == 8
    assert {(json.loads(r.read_text())["sampler"], json.loads(r.read_text())["steps"],
             json.loads(r.read_text())["seed"]) for r in recs} == \
        {(s, k, seed) for s in ("euler", "heun") for k in (4, 8) for seed in (0, 1)}
    recs[1].unlink()
    p = run_()
    assert p.returncode == 0, p.stderr[-3000:]
    log = p.stdout + p.stderr
    assert log.count("[skipped]") == 7 and log.count("[computed]") == 1, log[-3000:]
    assert "job 1/4" in log and re.search(r"job 4/4, elapsed \d+m\d\ds, ETA \d+m\d\ds", log), log[-3000:]

    rep_dir = tmp_path / "report"
    argv = sys.argv
    try:
        sys.argv = ["benchmark_report.py", str(out), "--out", str(rep_dir), "--metrics",
                    "ode_rmse", "sliced_wasserstein", "--command", "python scripts/benchmark.py -m x"]
        with pytest.raises(SystemExit) as e:
            runpy.run_path(str(ROOT / "scripts" / "benchmark_report.py"), run_name="__main__")
        assert e.value.code == 0
    finally:
        sys.argv = argv
    md = (rep_dir / "report.md").read_text()
    assert "python scripts/benchmark.py -m x" in md
    assert f"python scripts/benchmark_report.py {out} --out {rep_dir}" in md
    assert "seeds [0, 1] (n = 2)" in md and "*exact samples (floor)*" in md
    heun = [ln for ln in md.splitlines() if ln.startswith("| heun |")]
    assert len(heun) == 4 and all(ln.count(" ± ") == 2 for ln in heun), heun   # NFE and metric
    csv_lines = (rep_dir / "report.csv").read_text().splitlines()
    assert len(csv_lines) == 1 + 4 * 2 and all(",2,0 1," in ln for ln in csv_lines[1:])
    for name in ("ode_rmse_vs_nfe.png", "ode_rmse_vs_time.png", "sliced_wasserstein_vs_nfe.png"):
        png = (rep_dir / name).read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000


@pytest.mark.filterwarnings("ignore:Matrix is singular")  # constant-zero pixels of digits
def test_checkpoint_source_on_digits_computes_data_metrics(monkeypatch):
    """A (stand-in, untrained) checkpoint of the right shape runs; FD is in the 64-D pixel space."""
    import sde_diffusion.io as io
    from omegaconf import OmegaConf
    from sde_diffusion.models import MLP, ScoreModel
    from sde_diffusion.sdes import VPSDE

    torch.manual_seed(0)
    model = ScoreModel(MLP(64, hidden=16, depth=1), VPSDE())
    cfg = OmegaConf.create({"sde": VP})
    monkeypatch.setattr(io, "load_model", lambda path, **kw: (model, cfg, _meta([1, 8, 8])))
    digits = {"name": "digits", "data": {"_target_": "sde_diffusion.data.digits"}}
    c = cell("euler", steps=3, problem=digits, n=160, checkpoint="run",
             metrics=["sliced_wasserstein", "frechet"])
    rec = run(c)
    assert rec["source"] == "checkpoint" and rec["nfe"] == 3
    assert rec["metrics"]["frechet"] > rec["baseline"]["frechet"] > 0
    again = run(c)
    assert (again["metrics"], again["baseline"]) == (rec["metrics"], rec["baseline"])


@pytest.mark.cuda
def test_cell_on_cuda_is_reproducible_and_measures_memory():
    c = cell("heun", steps=20, problem=RING, n=4096, device="cuda")
    r1, r2 = run(c), run(c)
    assert r1["metrics"] == r2["metrics"] and r1["nfe"] == 40
    assert r1["peak_mem_mb"] > 4096 * 8 * 2 * 4 / 2 ** 20      # at least the (N, K, d) score temporaries
    cpu = run({**c, "device": "cpu"})
    assert cpu["metrics"]["ode_rmse"] == pytest.approx(r1["metrics"]["ode_rmse"], rel=0.05)


class _RecordingTracker:
    """Stands in for sde_diffusion.tracking.Tracker and records what it is given."""

    active = False

    def __init__(self):
        self.logged, self.images, self.summaries, self.finished = [], [], [], []

    def log(self, metrics, step):
        self.logged.append(dict(metrics))

    def log_image(self, key, path, step, caption=None):
        self.images.append((key, Path(path)))

    def summary(self, metrics):
        self.summaries.append(dict(metrics))

    def finish(self, exit_code=0):
        self.finished.append(exit_code)


def test_cells_and_report_log_through_the_tracker(tmp_path):
    tr = _RecordingTracker()
    recs = [run(cell(s, steps=6), tmp_path, tracker=tr) for s in ("euler", "heun")]
    assert [d["metrics/ode_rmse"] for d in tr.logged] == [r["metrics"]["ode_rmse"] for r in recs]
    assert all(d["nfe"] == r["nfe"] for d, r in zip(tr.logged, recs))
    rep_tr = _RecordingTracker()
    rep = B.build_report(recs, tmp_path / "rep", metrics=["ode_rmse"], tracker=rep_tr)
    assert {k for k, _ in rep_tr.images} == {"benchmark/ode_rmse_vs_nfe", "benchmark/ode_rmse_vs_time"}
    assert all(p.exists() for _, p in rep_tr.images) and rep_tr.summaries[0]["benchmark/rows"] == 2
    assert set(rep["plots"].values()) == {p for _, p in rep_tr.images}


@pytest.mark.parametrize("problem", sorted(p.stem for p in (ROOT / "conf" / "problem").glob("*.yaml")))
def test_every_problem_config_composes_and_builds(problem):
    from sde_diffusion.configs.benchmark import build_problem_node, cell_from_config
    from sde_diffusion.configs import compose as compose_config
    cfg = compose_config([f"problem={problem}", "sde=ve", "sampler=dpm_solver2", "nfe=20"],
                         config_name="benchmark")
    c = B.validate_cell(cell_from_config(cfg))
    assert c["sde"]["_target_"] == "sde_diffusion.sdes.VESDE" and c["sampler"]["name"] == "dpm_solver2"
    assert c["metrics"] == list(cfg.problem.metrics) and c["nfe"] == 20
    prob = B.build_problem(c["problem"], build_problem_node)       # checks the declared data_shape
    # conf/problem/suite.yaml names any suite problem: no fixed data_shape to declare
    assert cfg.problem.data_shape is None or prob.data_shape == tuple(cfg.problem.data_shape)
    assert prob.analytic == (problem != "digits")


# ------------------------------------------------------------------ tracker wiring (issue 17)
def _bench_cfg(tmp_path, *overrides):
    from sde_diffusion.configs import compose as compose_config
    return compose_config(["problem=clusters1d", "sampler=heun", "nfe=10", "n_samples=64",
                           "n_heldout=64", "name=mysweep", f"out_dir={tmp_path / 'sweep'}",
                           *overrides], config_name="benchmark")


def test_benchmark_runs_carry_their_config_and_are_grouped_by_sweep(tmp_path, monkeypatch):
    """One tracker per computed cell, built with exactly WandbTracker's parameters, carrying
    sampler, steps / NFE, SDE, problem and seed; none for cells already on disk."""
    import inspect

    from sde_diffusion import tracking
    from sde_diffusion.configs.benchmark import run_from_config
    made = []
    real_sig = inspect.signature(tracking.WandbTracker.__init__)

    class FakeWandb(_RecordingTracker):
        def __init__(self, **kwargs):
            real_sig.bind(self, **kwargs)          # TypeError on a parameter it does not take
            super().__init__()
            self.kwargs = kwargs
            made.append(self)

    monkeypatch.setattr(tracking, "WandbTracker", FakeWandb)
    cfg = _bench_cfg(tmp_path, "logger=wandb", "seeds=[0,1]", "tags=[paper]")
    recs = run_from_config(cfg, str(tmp_path / "job"), str(tmp_path / "sweep"), progress=False)
    assert len(made) == 2 == len(recs)
    for tr, rec in zip(made, recs):
        rc = tr.kwargs["run_config"]
        assert (rc["sampler"], rc["nfe_budget"], rc["steps"], rc["problem"], rc["seed"]) == \
            ("heun", 10, 5, "clusters1d", rec["seed"])
        assert rc["sde_target"] == "sde_diffusion.sdes.VPSDE" and rc["sweep"] == "mysweep"
        assert tr.kwargs["group"] == "benchmark-mysweep"
        assert tr.kwargs["name"] == rec["key"].rsplit("__", 1)[0]
        assert {"benchmark", "clusters1d", "heun", f"seed{rec['seed']}", "paper"} <= \
            set(tr.kwargs["tags"])
        assert tr.logged[0]["metrics/ode_rmse"] == rec["metrics"]["ode_rmse"]
        assert tr.finished == [0]
    again = run_from_config(cfg, str(tmp_path / "job"), str(tmp_path / "sweep"), progress=False)
    assert [r["status"] for r in again] == ["skipped", "skipped"] and len(made) == 2


def test_a_real_offline_wandb_cell_makes_one_run_and_no_stray_one(tmp_path, monkeypatch):
    pytest.importorskip("wandb")
    from sde_diffusion.configs.benchmark import run_from_config
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.chdir(tmp_path)
    cfg = _bench_cfg(tmp_path, "logger=wandb")
    rec = run_from_config(cfg, str(tmp_path / "job"), str(tmp_path / "sweep"), progress=False)[0]
    assert rec["status"] == "computed"
    assert not (tmp_path / "wandb").exists()                       # nothing in the cwd
    runs = list((tmp_path / "job").rglob("offline-run-*"))
    assert len(runs) == 1, runs                                     # one run, for the cell
    # offline, the config is in the run's .wandb file, which wandb's service process may still
    # be flushing after finish(): wait for it (bounded)
    deadline = time.time() + 20
    while True:
        data = b"".join(p.read_bytes() for p in runs[0].glob("run-*.wandb"))
        if b"nfe_budget" in data or time.time() > deadline:
            break
        time.sleep(0.5)
    assert b"nfe_budget" in data and b"clusters1d" in data and b"benchmark-mysweep" in data


# ------------------------------------------------------------------ robust sweeps (issue 13)
class _NaNMixture:
    """A 'mixture' whose score is NaN: every sampler must fail on it."""

    data_shape = (1,)

    def score_fn(self, sde):
        return lambda x, t: torch.full_like(x, math.nan)


def test_a_failing_cell_is_recorded_and_the_sweep_goes_on(tmp_path):
    good, bad_opt = cell("euler", steps=4, n=32), cell("rk45", steps=1, n=32)
    bad_opt["sampler"]["options"] = {"method": "nope"}
    nan_cell = cell("heun", steps=4, n=32, problem={"name": "nan1d"}, metrics=["sliced_wasserstein"])
    nan_problem = B.Problem("nan1d", (1,), mixture=_NaNMixture())

    def resolve(c):
        return (nan_problem, resolve_cell(cell())[1]) if c["problem"]["name"] == "nan1d" \
            else resolve_cell(c)

    recs = B.run_sweep([good, bad_opt, nan_cell, cell("heun", steps=4, n=32)], tmp_path, resolve,
                       progress=False)
    assert [r["status"] for r in recs] == ["computed", "failed", "failed", "computed"]
    assert "unknown solve_ivp method 'nope'" in recs[1]["error"]
    assert "non-finite values at step 1" in recs[2]["error"]
    assert len(list((tmp_path / "records").glob("*.json"))) == 4     # failures are on disk too
    again = B.run_sweep([good, bad_opt], tmp_path, resolve, progress=False)
    assert [r["status"] for r in again] == ["skipped", "skipped"]     # failed cells count as done
    rep = B.build_report(B.load_records(tmp_path), tmp_path / "rep", metrics=["sliced_wasserstein"])
    assert "## Cells that failed" in rep["markdown"] and "unknown solve_ivp method" in rep["markdown"]


def test_a_corrupt_record_is_named_and_recomputed(tmp_path):
    c = cell("euler", steps=4, n=32)
    first = run(c, tmp_path)
    path = B.record_path(tmp_path, c)
    path.write_text('{"key": "trunc')
    with pytest.warns(RuntimeWarning, match=f"record '{path}' is corrupt.*recomputing"):
        rec = run(c, tmp_path)
    assert rec["status"] == "computed" and rec["metrics"] == first["metrics"]
    assert json.loads(path.read_text())["metrics"] == first["metrics"]
    path.write_text("[1, 2]")
    with pytest.warns(RuntimeWarning, match=f"record '{path}' is corrupt.*skipped"):
        assert B.load_records(tmp_path) == []
    with pytest.raises(B.CorruptRecordError, match=f"record '{path}' is corrupt.*JSON list"):
        B.load_records(tmp_path, on_corrupt="raise")


# ------------------------------------------------------------------ what the report leads with
def _synthetic(sampler, seed, sw, mmd_v):
    return {"key": f"p__vp__{sampler}__nfe10__s{seed}", "problem": "p", "sde": "vp",
            "sampler": sampler, "steps": 10, "nfe_budget": 10, "seed": seed, "nfe": 10,
            "wall_time": 0.1, "peak_mem_mb": None, "stochastic": False, "error": None,
            "cell": {"sampler": {"options": {}}}, "settings": {"grid": "log_snr", "t_end": 1e-3},
            "command": "python scripts/benchmark.py -m sampler=a,b 'seeds=[0,1,2,3,4]'",
            "metrics": {"sliced_wasserstein": sw, "mmd": mmd_v},
            "baseline": {"sliced_wasserstein": 0.1, "mmd": 0.0}}


def test_the_default_report_leads_with_the_metric_that_separates_the_samplers(tmp_path):
    """a and b: SW equal within the seed noise, MMD² clearly apart on every seed; the
    default report leads with MMD², says why (1 of 1 pair separated vs 0 of 1), lists SW."""
    noise = [0.01, -0.02, 0.015, -0.005, 0.0]
    recs = [_synthetic("a", s, 0.2 + noise[s], 0.010 + noise[s] / 10) for s in range(5)]
    recs += [_synthetic("b", s, 0.2 - noise[s], 0.050 + noise[s] / 10) for s in range(5)]
    said = []
    rep = B.build_report(recs, tmp_path, progress=said.append)
    assert said == ["aggregating 10 records", "plot 1/4: mmd vs nfe", "plot 2/4: mmd vs time",
                    "plot 3/4: sliced_wasserstein vs nfe", "plot 4/4: sliced_wasserstein vs time"]
    assert rep["metrics"] == ["mmd", "sliced_wasserstein"]
    assert rep["separation"] == {"mmd": (1, 1), "sliced_wasserstein": (0, 1)}
    md = rep["markdown"]
    assert "**Lead metric: MMD² (mmd)**, chosen by the data." in md
    assert "per metric: MMD² 1/1; SW2 0/1." in md
    assert md.index("## MMD² (mmd)") < md.index("## SW2 (sliced_wasserstein)")
    # the made-by block names the sweep command the records carry, with its cell count
    assert "python scripts/benchmark.py -m sampler=a,b 'seeds=[0,1,2,3,4]'    # 10 cells" in md
    # an explicit choice is respected and still shows the counts
    md2 = B.build_report(recs, tmp_path, ["sliced_wasserstein"])["markdown"]
    assert "**Lead metric: SW2 (sliced_wasserstein)**, chosen by --metrics." in md2


def test_records_name_their_command_and_leave_cpu_memory_blank(tmp_path):
    rec = run(cell("euler", steps=4, n=32, metrics=["sliced_wasserstein"]), tmp_path)
    assert rec["peak_mem_mb"] is None and rec["device"] == "cpu"
    assert rec["command"].split()[0].startswith("python")
    B.build_report([rec], tmp_path / "rep", ["sliced_wasserstein"])
    line = (tmp_path / "rep" / "report.csv").read_text().splitlines()[1].split(",")
    assert line[11] == ""                                  # peak_mem_mb_mean: blank on CPU


def test_progress_lines_give_done_total_and_eta():
    from sde_diffusion.benchmarking.runner import format_duration, progress_line
    assert progress_line(0, 24, 3.0) == "0/24, elapsed 0m03s"
    assert progress_line(6, 24, 60.0) == "6/24, elapsed 1m00s, ETA 3m00s"
    assert format_duration(7325) == "2h02m"


def test_sweep_size_counts_the_jobs_of_a_multirun():
    import importlib.util
    spec = importlib.util.spec_from_file_location("bench_script", ROOT / "scripts" / "benchmark.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.sweep_size(["sampler=euler,heun,ddim", "nfe=10,20", "seeds=[0,1,2]", "sde=vp"]) == 6
    assert mod.sweep_size(["problem=ring8"]) == 1
