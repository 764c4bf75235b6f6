"""Adversarial inputs to the solver benchmark: each asserts the exact outcome (the error type
and a message naming the bad value and the choices, or the correct behaviour)."""
import json
import math
import sys
import types

import numpy as np
import pytest

from sde_diffusion import benchmarking as B
from sde_diffusion.analytic import three_clusters_1d
from sde_diffusion.configs.benchmark import resolve_cell
from sde_diffusion.sdes import VPSDE

CLUSTERS = {"name": "clusters1d", "mixture": {"_target_": "sde_diffusion.analytic.three_clusters_1d"}}
VP = {"_target_": "sde_diffusion.sdes.VPSDE"}
PROBLEM = B.Problem("clusters1d", (1,), mixture=three_clusters_1d())


def cell(sampler="euler", steps=4, **kw):
    c = dict(problem=CLUSTERS, sde=VP, sampler={"name": sampler, "steps": steps, "options": {}},
             nfe=None, seed=0, n_samples=32, n_heldout=32, metrics=["sliced_wasserstein"],
             reference={"method": "DOP853", "rtol": 1e-9, "atol": 1e-9}, checkpoint=None,
             device="cpu", dtype="float32", labels={"sde": "vp"})
    c.update(kw)
    return c


def with_sampler(**fields):
    c = cell()
    c["sampler"] = {**c["sampler"], **fields}
    return c


def run(c, out=None, **kw):
    return B.run_cell(c, out, problem=PROBLEM, sde=VPSDE(), **kw)


# ------------------------------------------------------------------ sampler names and steps
def test_unknown_sampler_name_lists_the_registered_ones():
    with pytest.raises(ValueError, match=r"unknown sampler 'heunn'; valid choices: .*'euler'.*'heun'"):
        B.validate_cell(with_sampler(name="heunn"))


def test_sampler_name_of_the_wrong_type():
    with pytest.raises(TypeError, match="sampler name must be a string, got 42"):
        B.validate_cell(with_sampler(name=42))


def test_empty_peer_name():
    with pytest.raises(ValueError, match="peer sampler name 'peer:' is empty"):
        B.validate_cell(with_sampler(name="peer:"))


@pytest.mark.parametrize("steps", [0, -3, 2.5, True, "10", None, math.nan])
def test_bad_step_counts(steps):
    with pytest.raises(ValueError, match=r"sampler steps must be an integer >= 1, got "
                       + repr(steps).replace("(", r"\(").replace(")", r"\)")):
        B.validate_cell(with_sampler(steps=steps))


def test_numpy_integer_steps_and_budgets_are_accepted():
    c = B.validate_cell({**with_sampler(steps=np.int64(4)), "nfe": np.int32(10)})
    assert (c["sampler"]["steps"], c["nfe"]) == (4, 10)
    assert type(c["sampler"]["steps"]) is int and type(c["nfe"]) is int


def test_sampler_options_that_are_not_a_mapping():
    with pytest.raises(ValueError, match=r"sampler options must be a mapping, got \['grid'\]"):
        B.validate_cell(with_sampler(options=["grid"]))


# ------------------------------------------------------------------ NFE budgets
@pytest.mark.parametrize("nfe", [0, -1, 1.5, True, "20"])
def test_bad_nfe_budgets(nfe):
    with pytest.raises(ValueError, match=f"nfe must be an integer >= 1, got {nfe!r}"):
        B.validate_cell(cell(nfe=nfe))
    with pytest.raises(ValueError, match=f"nfe must be an integer >= 1, got {nfe!r}"):
        B.steps_for_nfe({"name": "heun", "options": {}}, nfe)


def test_a_budget_below_one_step_still_runs_one_step():
    """heun costs 2 NFE per step: a budget of 1 gives 1 step, and the record says NFE 2."""
    assert B.steps_for_nfe({"name": "heun", "options": {}}, 1) == 1
    rec = run({**cell("heun"), "nfe": 1})
    assert (rec["steps"], rec["nfe"], rec["nfe_budget"]) == (1, 2, 1)


# ------------------------------------------------------------------ seeds and sizes
@pytest.mark.parametrize("seed", [-1, 1.0, "0", None])
def test_bad_seeds(seed):
    with pytest.raises(ValueError, match=f"seed must be an integer >= 0, got {seed!r}"):
        B.validate_cell(cell(seed=seed))


def test_a_seed_too_large_for_the_generators():
    with pytest.raises(ValueError, match=f"seed must be at most .*, got {2 ** 63}"):
        B.validate_cell(cell(seed=2 ** 63))


@pytest.mark.parametrize("key,value", [("n_samples", 1), ("n_heldout", "many"), ("n_samples", 0)])
def test_bad_sample_sizes(key, value):
    with pytest.raises(ValueError, match=f"{key} must be an integer >= 2, got {value!r}"):
        B.validate_cell(cell(**{key: value}))


# ------------------------------------------------------------------ metrics, dtype, reference
def test_unknown_metric_and_no_metric():
    with pytest.raises(ValueError, match=r"unknown metric 'fid'; valid choices: 'sliced_wasserstein'"):
        B.validate_cell(cell(metrics=["fid"]))
    with pytest.raises(ValueError, match="give at least one metric; valid choices: sliced_wasserstein"):
        B.validate_cell(cell(metrics=[]))


def test_duplicate_metrics_are_computed_once():
    assert B.validate_cell(cell(metrics=["mmd", "mmd", "nll"]))["metrics"] == ["mmd", "nll"]


def test_unknown_dtype():
    with pytest.raises(ValueError, match=r"unknown dtype 'float16'; valid choices: 'float32', 'float64'"):
        B.validate_cell(cell(dtype="float16"))


@pytest.mark.parametrize("rtol", [0, -1e-6, math.nan, math.inf, "tight"])
def test_bad_reference_tolerances(rtol):
    with pytest.raises(ValueError, match=f"reference rtol must be a finite number > 0, got {rtol!r}"):
        B.validate_cell(cell(reference={"rtol": rtol}))


# ------------------------------------------------------------------ cells and problems
def test_a_cell_that_is_not_a_mapping():
    with pytest.raises(TypeError, match="a benchmark cell must be a mapping, got list"):
        B.validate_cell([("sampler", "euler")])


def test_a_problem_spec_without_a_name():
    with pytest.raises(ValueError, match=r"cell\['problem'\] needs a non-empty 'name'"):
        B.validate_cell(cell(problem={"mixture": CLUSTERS["mixture"]}))


def test_a_problem_spec_without_a_source():
    with pytest.raises(ValueError, match="problem 'nowhere' needs a 'mixture' or a 'data' node"):
        B.build_problem({"name": "nowhere"}, build=lambda node: None)


def test_a_problem_whose_declared_shape_is_wrong():
    with pytest.raises(ValueError, match=r"problem 'clusters1d' declares data_shape \(2,\) but its source has \(1,\)"):
        resolve_cell(cell(problem={**CLUSTERS, "data_shape": [2]}))


def test_an_unknown_problem_target_is_refused_by_the_builder():
    bad = {"name": "evil", "mixture": {"_target_": "sde_diffusion.analytic.no_such_problem"}}
    with pytest.raises(ValueError, match=r"problem source 'sde_diffusion.analytic.no_such_problem' "
                       r"is not allowed; valid choices: .*ring_of_gaussians"):
        resolve_cell(cell(problem=bad))


@pytest.mark.parametrize("target", ["builtins.open", "os.system", "subprocess.run",
                                    "shutil.rmtree", "importlib.import_module"])
def test_a_problem_node_never_runs_what_it_names(tmp_path, target):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    bad = {"name": "evil", "data": {"_target_": target, "_args_": [str(victim), "w"]}}
    with pytest.raises(ValueError, match=f"problem source '{target}' is not allowed"):
        resolve_cell(cell(problem=bad))
    assert victim.read_text() == "keep me"


def test_problem_object_and_cell_must_agree():
    other = B.Problem("ring8", (1,), mixture=three_clusters_1d())
    with pytest.raises(ValueError, match="the problem object is 'ring8' but the cell describes 'clusters1d'"):
        B.run_cell(cell(), problem=other, sde=VPSDE())


def test_problem_must_be_a_problem_object():
    with pytest.raises(TypeError, match="problem must be a benchmarking.Problem, got dict"):
        B.run_cell(cell(), problem=CLUSTERS, sde=VPSDE())


def test_analytic_cell_without_an_sde_object():
    with pytest.raises(ValueError, match=r"an analytic cell needs the SDE object \(sde=...\)"):
        B.run_cell(cell(), problem=PROBLEM)


# ------------------------------------------------------------------ failures inside a cell
def test_nan_score_gives_a_failed_record_naming_the_step(tmp_path):
    class NaN:
        data_shape = (1,)

        def score_fn(self, sde):
            return lambda x, t: x * math.nan

    c = cell(problem={"name": "nan"})
    rec = B.run_cell(c, tmp_path, problem=B.Problem("nan", (1,), mixture=NaN()), sde=VPSDE())
    assert rec["status"] == "failed" and rec["metrics"] == {}
    assert "NonFiniteSampleError: sampler 'euler' produced non-finite values at step 1" in rec["error"]


def test_a_score_of_the_wrong_shape_gives_a_failed_record():
    class Wrong:
        data_shape = (1,)

        def score_fn(self, sde):
            return lambda x, t: x[:, None]

    rec = B.run_cell(cell(problem={"name": "wrong"}), problem=B.Problem("wrong", (1,), mixture=Wrong()),
                     sde=VPSDE())
    assert rec["status"] == "failed" and "score function returned shape (32, 1, 1)" in rec["error"]


# ------------------------------------------------------------------ corrupt records
@pytest.mark.parametrize("content,why", [
    ('{"key": ', "invalid JSON"),
    ("[1, 2, 3]", "a JSON list, not an object"),
    ('{"key": "k"}', "missing field"),
    (b"\xff\xfe\x00garbage", "not text"),
])
def test_corrupt_record_files_are_named(tmp_path, content, why):
    p = tmp_path / "records" / "x.json"
    p.parent.mkdir()
    p.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(B.CorruptRecordError, match=f"record '{p}' is corrupt \\({why}"):
        B.read_record(p)


def test_a_record_of_another_version_is_corrupt_and_recomputed(tmp_path):
    c = cell()
    rec = run(c, tmp_path)
    path = B.record_path(tmp_path, c)
    path.write_text(json.dumps({**rec, "version": 99}))
    with pytest.warns(RuntimeWarning, match=f"record '{path}' is corrupt \\(record version 99"):
        assert run(c, tmp_path)["status"] == "computed"
    from sde_diffusion.benchmarking.cells import RECORD_VERSION
    assert B.read_record(path)["version"] == RECORD_VERSION


def test_unknown_corrupt_policy_and_missing_sweep_dir(tmp_path):
    with pytest.raises(ValueError, match=r"unknown on_corrupt 'ignore'; valid choices: 'warn', 'raise'"):
        B.load_records(tmp_path, on_corrupt="ignore")
    with pytest.raises(FileNotFoundError, match=f"no sweep directory at '{tmp_path / 'nope'}'"):
        B.load_records(tmp_path / "nope")


# ------------------------------------------------------------------ report inputs
def test_report_of_nothing_or_of_failures_only(tmp_path):
    with pytest.raises(ValueError, match=r"no successful record .* \(0 records, 0 failed\)"):
        B.build_report([], tmp_path)
    rec = {"error": "boom", "problem": "p", "sde": "vp", "sampler": "euler", "steps": 1, "seed": 0}
    with pytest.raises(ValueError, match=r"\(1 records, 1 failed\)"):
        B.build_report([rec], tmp_path)


def test_report_metric_choices(tmp_path):
    rec = run(cell())
    with pytest.raises(ValueError, match=r"unknown report metric 'kl'; valid choices: .*'mmd'"):
        B.build_report([rec], tmp_path, metrics=["kl"])
    with pytest.raises(ValueError, match="give at least one report metric"):
        B.build_report([rec], tmp_path, metrics=[])
    with pytest.raises(ValueError, match="no successful record in this sweep has the metric.* nll"):
        B.build_report([rec], tmp_path, metrics=["nll"])     # the cell did not compute it


def test_one_seed_gives_means_without_intervals_and_no_verdicts(tmp_path):
    rec = run(cell())
    rep = B.build_report([rec], tmp_path)
    line = [ln for ln in rep["markdown"].splitlines() if ln.startswith("| euler |")][0]
    assert "±" not in line and "≈" in line          # n = 1: nothing is significant


# ------------------------------------------------------------------ peers
def _fake_peers(monkeypatch, table):
    mod = types.ModuleType("sde_diffusion.benchmarking.peers")
    mod.PEERS = table
    mod.missing_peers_message = lambda: 'missing: pip install -e ".[bench]"'
    monkeypatch.setitem(sys.modules, "sde_diffusion.benchmarking.peers", mod)


def test_a_peer_row_runs_from_the_same_noise_and_counts_its_nfe(monkeypatch):
    from sde_diffusion.benchmarking.reference import data_estimate
    from sde_diffusion.solvers import sample

    def euler_peer(sde, score_fn, x_T, steps, t_end):
        x, _ = sample(sde, score_fn, sampler="euler", steps=steps, x_init=x_T, t_end=t_end,
                      grid="uniform_t", progress=False)
        return data_estimate(sde, x, t_end, False)          # a peer returns its data estimate

    _fake_peers(monkeypatch, {"euler_copy": euler_peer})
    peer = run(with_sampler(name="peer:euler_copy", steps=6, options={"t_end": 1e-5}))
    ours = run(with_sampler(name="euler", steps=6, options={"grid": "uniform_t", "t_end": 1e-5}))
    assert peer["status"] == "computed" and peer["nfe"] == 6
    assert peer["metrics"] == ours["metrics"]          # same x_T, same solver: same numbers


def test_unknown_peer_and_missing_peer_packages(monkeypatch):
    _fake_peers(monkeypatch, {"unipc": None})
    rec = run(with_sampler(name="peer:nope"))
    assert rec["status"] == "failed"
    assert "unknown peer solver 'nope'; available: unipc. missing: pip install" in rec["error"]
    monkeypatch.setitem(sys.modules, "sde_diffusion.benchmarking.peers", None)   # not installed
    rec = run(with_sampler(name="peer:unipc"))
    assert rec["status"] == "failed" and 'pip install -e ".[bench]"' in rec["error"]


def test_a_peer_returning_the_wrong_shape(monkeypatch):
    _fake_peers(monkeypatch, {"bad": lambda sde, s, x, steps, t_end: x[:1]})
    rec = run(with_sampler(name="peer:bad"))
    assert "peer solver 'bad' returned (1, 1), expected a tensor of shape (32, 1)" in rec["error"]


def test_a_peer_refuses_sampler_options(monkeypatch):
    _fake_peers(monkeypatch, {"p": lambda sde, s, x, steps, t_end: x})
    rec = run(with_sampler(name="peer:p", options={"grid": "karras"}))
    assert "peer solver 'p' takes only the option t_end, got grid" in rec["error"]


# ------------------------------------------------------------------ statistics
def test_statistics_of_degenerate_inputs():
    assert math.isnan(B.estimate([1.0, math.inf]).mean)
    assert not B.significantly_less({0: 1.0, 1: 1.0}, {2: 5.0, 3: 6.0})   # no shared seed
    e = B.estimate([2.0, 2.0, 2.0])
    assert (e.mean, e.half_width) == (2.0, 0.0)


def test_a_sampler_that_refuses_the_sde_is_recorded_as_refused():
    from sde_diffusion.sdes import VESDE
    rec = B.run_cell(with_sampler(name="ancestral", options={"discrete": True}), problem=PROBLEM,
                     sde=VESDE())
    assert rec["status"] == "failed"
    assert rec["error"].startswith("refused: SamplerRefusal: sampler 'ancestral' needs an SDE with "
                                  "the capability 'discrete_chain' (SDE.has_discrete_chain); "
                                  "VESDE does not have it")


def test_peer_from_the_config_and_a_bad_peer_value():
    from sde_diffusion.configs.benchmark import cells_from_config
    from sde_diffusion.configs import compose as compose_config
    cfg = compose_config(["peer=unipc", "nfe=10"], config_name="benchmark")
    c = cells_from_config(cfg)[0]
    assert c["sampler"] == {"name": "peer:unipc", "steps": 50, "options": {}} and c["nfe"] == 10
    with pytest.raises(ValueError, match="peer must be the name of a published solver or null, got 3"):
        cells_from_config(compose_config(["peer=3"], config_name="benchmark"))
