"""Adversarial inputs to the few-step samplers, grids and saved grids (issue 15): each attack
asserts the exact outcome (error type and a message naming the value), or correct behaviour."""
import json

import pytest
import torch

from sde_diffusion.analytic import ring_of_gaussians
from sde_diffusion.sdes import EDMSDE, VPSDE
from sde_diffusion.solvers import load_grid, make_grid, optimize_grid, sample
from sde_diffusion.solvers.base import NonFiniteSampleError
from sde_diffusion.solvers.optimized_grid import GRID_FORMAT, OptimizedGrid

GM = ring_of_gaussians()
SDE = VPSDE()
SF = GM.score_fn(SDE)


def run(sampler, steps=4, **kw):
    return sample(SDE, kw.pop("score", SF), kw.pop("shape", (4, 2)), sampler=sampler,
                  steps=steps, generator=torch.Generator().manual_seed(0), **kw)


@pytest.mark.parametrize("sampler,opts,match", [
    ("unipc", {"order": 6}, "unipc order must be 1, 2, 3, 4 or 5, got 6"),
    ("unipc", {"order": True}, "unipc order must be 1, 2, 3, 4 or 5, got True"),
    ("unipc", {"order": 2.5}, "unipc order must be 1, 2, 3, 4 or 5, got 2.5"),
    ("unipc", {"variant": "bh3"}, "unknown UniPC variant 'bh3'; valid choices: 'bh1', 'bh2'"),
    ("unipc", {"predictor": "euler"}, "unknown UniPC predictor 'euler'"),
    ("deis", {"order": 0}, "deis order must be 1, 2 or 3, got 0"),
    ("deis", {"basis": "sigma"}, "unknown DEIS basis 'sigma'; valid choices: 't', 'log_sigma'"),
    ("deis", {"quad_points": 1}, "quad_points must be an integer >= 2, got 1"),
    ("dpm_adaptive", {"rtol": 0}, "rtol must be a finite number > 0, got 0"),
    ("dpm_adaptive", {"rtol": -1e-3}, "rtol must be a finite number > 0, got -0.001"),
    ("dpm_adaptive", {"atol": 0.0}, "atol must be a finite number > 0, got 0.0"),
    ("dpm_adaptive", {"rtol": float("nan")}, "rtol must be a finite number > 0, got nan"),
    ("dpm_adaptive", {"rtol": float("inf")}, "rtol must be a finite number > 0, got inf"),
    ("dpm_adaptive", {"rtol": "1e-3"}, "rtol must be a finite number > 0, got '1e-3'"),
    ("dpm_adaptive", {"pair": 13}, "pair must be 12 or 23, got 13"),
    ("dpm_adaptive", {"theta": 0}, r"theta must lie in \(0, 1\], got 0"),
    ("dpm_adaptive", {"max_nfe": 0}, "max_nfe must be an integer >= 1, got 0"),
    ("dpmpp_2m_sde", {"eta": 1.5}, r"eta must lie in \[0, 1\], got 1.5"),
    ("dpmpp_2m_sde", {"eta": -0.1}, r"eta must lie in \[0, 1\], got -0.1"),
])
def test_bad_options_raise_value_error_naming_value(sampler, opts, match):
    with pytest.raises(ValueError, match=match):
        run(sampler, **opts)


@pytest.mark.parametrize("sampler", ["unipc", "deis", "dpm_solver_2s", "dpm_adaptive"])
def test_unknown_option_is_type_error(sampler):
    with pytest.raises(TypeError, match=r"unknown option\(s\) 'ordr'"):
        run(sampler, ordr=2)


@pytest.mark.parametrize("sampler", ["unipc", "deis", "dpm_solver_3s", "dpmpp_2m_sde",
                                     "dpm_adaptive"])
def test_nan_score_names_the_step(sampler):
    def bad(x, t):
        return torch.full_like(x, float("nan"))

    with pytest.raises(NonFiniteSampleError, match=rf"sampler '{sampler}' produced non-finite"):
        run(sampler, score=bad)


@pytest.mark.parametrize("sampler", ["unipc", "deis", "dpm_solver_2s", "dpm_adaptive"])
def test_wrong_score_shape_is_value_error(sampler):
    with pytest.raises(ValueError, match="shape"):
        run(sampler, score=lambda x, t: x[:, :1])


@pytest.mark.parametrize("sampler", ["unipc", "deis", "dpm_solver_2s", "dpm_solver_3s",
                                     "dpmpp_2m_sde"])
def test_grid_ending_at_zero_takes_a_denoising_last_step(sampler):
    """s = 0 at t = 0: log-SNR is infinite; the last step is x = m x0 (finite, no crash)."""
    x, info = run(sampler, steps=None, grid=[1.0, 0.3, 0.05, 0.0], denoise=False)
    assert bool(torch.isfinite(x).all()) and info.t_end == 0.0


def test_adaptive_refuses_t_end_zero():
    with pytest.raises(ValueError, match="dpm_adaptive needs t_end > 0"):
        run("dpm_adaptive", t_end=0.0)


def test_adaptive_max_nfe_stops_with_clear_error():
    with pytest.raises(RuntimeError, match=r"max_nfe=5.*loosen rtol=1e-08"):
        run("dpm_adaptive", rtol=1e-8, atol=1e-8, max_nfe=5)


@pytest.mark.parametrize("grid,match", [
    ([1.0, float("nan"), 0.1], "strictly decreasing"),
    ([0.1, 0.5, 1.0], "strictly decreasing"),
    ([1.0], "at least 2 points"),
    ([], "at least 2 points"),
    ([2.0, 1.0, 0.1], r"must lie in \[0, T=1.0\]"),
])
def test_bad_explicit_grid(grid, match):
    with pytest.raises(ValueError, match=match):
        make_grid(SDE, grid, 2)


def test_time_quadratic_with_reversed_ends():
    with pytest.raises(ValueError, match="need 0 <= t_end < t_start"):
        make_grid(SDE, "time_quadratic", 4, t_end=0.5, t_start=0.2)


def test_missing_saved_grid_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        make_grid(SDE, str(tmp_path / "nope.json"), 4)


def _write(tmp_path, data):
    p = tmp_path / "g.json"
    p.write_text(data if isinstance(data, str) else json.dumps(data))
    return p


def _valid():
    return {"format": GRID_FORMAT, "name": "g", "times": [1.0, 0.1, 0.001], "sde": repr(SDE),
            "sampler": "unipc", "steps": 2, "sampler_options": {}, "made": {}}


@pytest.mark.parametrize("patch,match", [
    ({"format": "other/1"}, "is not a saved grid"),
    ({"times": [1.0, "0.1", 0.001]}, "times must be numbers"),
    ({"times": [1.0, 0.1, 0.2]}, "strictly decreasing"),
    ({"times": [1.0, float("inf"), 0.001]}, "strictly decreasing"),
    ({"steps": True}, "field 'steps' must be int, got True"),
    ({"steps": 3}, r"3 times for steps=3 \(need steps \+ 1\)"),
    ({"sde": 5}, "field 'sde' must be str"),
    ({"made": []}, "field 'made' must be dict"),
])
def test_corrupt_saved_grid(tmp_path, patch, match):
    data = {**_valid(), **patch}
    with pytest.raises(ValueError, match=match):
        load_grid(_write(tmp_path, data))


def test_saved_grid_not_json(tmp_path):
    with pytest.raises(ValueError, match="is not a saved grid \\(invalid JSON"):
        load_grid(_write(tmp_path, "{not json"))


def test_saved_grid_extra_keys_are_ignored_never_instantiated(tmp_path):
    data = {**_valid(), "_target_": "builtins.open", "args": ["/tmp/pwned", "w"]}
    g = load_grid(_write(tmp_path, data))
    assert isinstance(g, OptimizedGrid) and not hasattr(g, "_target_")


def test_saved_grid_of_other_sde_names_what_fits(tmp_path):
    g = load_grid(_write(tmp_path, _valid()))
    with pytest.raises(ValueError, match=r"made for SDE VPSDE\(LinearBeta\(beta_min=0.1, .*"
                                         r"with 2 steps, not for EDMSDE\(sigma_min"):
        sample(EDMSDE(), GM.score_fn(EDMSDE()), (2, 2), sampler="unipc", steps=2, grid=g)


@pytest.mark.parametrize("steps,match", [(1, "needs steps >= 2"), (0, "steps must be an integer >= 1")])
def test_optimize_grid_bad_steps(steps, match):
    with pytest.raises(ValueError, match=match):
        optimize_grid(SDE, SF, "unipc", steps, torch.randn(4, 2))


@pytest.mark.parametrize("x", [torch.randn(4), [[0.0, 1.0]], torch.empty(0, 2)])
def test_optimize_grid_bad_calibration_batch(x):
    with pytest.raises(ValueError, match="x_calib must be a \\(N, ...\\) tensor"):
        optimize_grid(SDE, SF, "unipc", 3, x)


def test_optimize_grid_unknown_sampler():
    with pytest.raises(ValueError, match="unknown sampler 'unipcc'"):
        optimize_grid(SDE, SF, "unipcc", 3, torch.randn(4, 2, dtype=torch.float64))


def test_float32_state_stays_float32():
    x, _ = run("unipc", dtype=torch.float32)
    assert x.dtype == torch.float32


def test_optimize_grid_nan_calibration_batch():
    x = torch.randn(4, 2, dtype=torch.float64)
    x[1, 0] = float("nan")
    with pytest.raises(ValueError, match="x_calib contains non-finite values"):
        optimize_grid(SDE, SF, "unipc", 3, x)
