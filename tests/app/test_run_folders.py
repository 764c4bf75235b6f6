"""Nothing a run or model folder names reaches outside it: output subfolders that are links are
refused, a stored data path outside the run is not read unless the user names it on the command
line (``data_root=``), stored grid files resolve against the run folder, run names stay inside
``outputs/``, and output folders are created atomically (16 processes, 16 folders)."""
import multiprocessing as mp
import os
from pathlib import Path

import pytest
import torch

from sde_diffusion.app import OutsideRunError, build_run_data, check_run_name, output_dir
from sde_diffusion.io import save_pretrained
from sde_diffusion.sdes import VPSDE
from sde_diffusion.solvers import OptimizedGrid

from runs_helpers import legacy_config, make_run, run_script, tiny_model


def _one_line(code, err, want_code, *needles):
    lines = err.strip().splitlines()
    assert code == want_code and len(lines) == 1, (code, err)
    for n in needles:
        assert n in lines[0], (n, lines[0])


def _images(folder: Path, k=4):
    from PIL import Image
    folder.mkdir(parents=True)
    for i in range(k):
        Image.new("L", (8, 8), color=30 * i).save(folder / f"{i}.png")
    return folder


# ------------------------------------------------------------------------ output subfolders
@pytest.mark.parametrize("script,kind,arg", [("sample", "samples", "run"), ("likelihood", "eval", "checkpoint")])
def test_output_subfolder_that_links_out_of_the_run_is_refused(tmp_path, script, kind, arg):
    run = make_run(tmp_path / "run")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (run / kind).symlink_to(elsewhere)
    extra = ["n=4", "trajectory_frames=0"] if script == "sample" else ["method=elbo", "n_points=8",
                                                                        "elbo.n_samples=2"]
    code, err = run_script(script, [f"{arg}={run}", *extra])
    _one_line(code, err, 2, f"{script}: error: OutsideRunError", str(run / kind), "is a link to",
              "out=<folder>")
    assert list(elsewhere.iterdir()) == []  # nothing written through the link


def test_output_subfolder_that_is_a_file_is_refused_and_a_link_inside_is_not_followed(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "samples").write_text("x")
    with pytest.raises(OutsideRunError, match="is not a plain folder"):
        output_dir(run, "samples")
    (run / "inner").mkdir()
    (run / "eval").symlink_to(run / "inner")  # inside the run, but still a link: refused
    with pytest.raises(OutsideRunError, match="is a link to"):
        output_dir(run, "eval")
    with pytest.raises(ValueError, match="one plain folder name"):
        output_dir(run, "../x")
    user = output_dir(run, "samples", out=tmp_path / "mine")  # the user's own out= is followed
    assert user == tmp_path / "mine" and user.is_dir()


def _make_folder(args):
    run, barrier = args
    barrier.wait()
    path = output_dir(run, "samples")
    (path / f"{os.getpid()}.txt").write_text("mine")
    return str(path)


def test_sixteen_processes_started_together_get_sixteen_folders(tmp_path):
    """16 processes create their folder at one barrier (one timestamp), 8 rounds: os.mkdir fails
    for all but one per name, so each gets its own suffix and writes alone. Power: the old
    check-then-mkdir shared a folder in 3 of 8 single rounds here, so 8 rounds miss it with
    probability about (5/8)^8 = 2 %."""
    rounds = 8
    ctx = mp.get_context("fork")
    barrier = ctx.Manager().Barrier(16)
    with ctx.Pool(16) as pool:
        paths = pool.map(_make_folder, [(tmp_path / "run", barrier)] * (16 * rounds), chunksize=1)
    assert len(set(paths)) == 16 * rounds
    for p in paths:
        assert len(list(Path(p).iterdir())) == 1


# ------------------------------------------------------------------------ stored data paths
def test_stored_data_path_outside_the_run_is_not_walked_unless_named_on_the_command_line(tmp_path):
    outside = _images(tmp_path / "outside")
    cfg = legacy_config()
    cfg["data"] = {"_target_": "sde_diffusion.data.image_folder", "path": str(outside),
                   "image_size": 8, "channels": 1}
    run = make_run(tmp_path / "run", config=cfg)
    code, err = run_script("likelihood", [f"checkpoint={run}", "method=elbo", "n_points=2"])
    _one_line(code, err, 2, "likelihood: error: OutsideRunError", f"data.path={str(outside)!r}",
              "points outside the run folder", f"data_root={outside}")
    assert not (run / "eval").exists()
    # named on the command line: read (and then refused for its shape: the model is 2-D points)
    code, err = run_script("likelihood", [f"checkpoint={run}", "method=elbo", "n_points=2",
                                          f"data_root={outside}"])
    _one_line(code, err, 2, "has per-sample shape [1, 8, 8], the model was trained on shape [2]")


@pytest.mark.parametrize("stored", ["/usr", "../elsewhere", "~", "inside/../../x"])
def test_build_run_data_refuses_paths_outside_before_building(tmp_path, monkeypatch, stored):
    import sde_diffusion.registry as registry
    built = []
    monkeypatch.setattr(registry, "build", lambda node, **k: built.append(node))
    monkeypatch.chdir(tmp_path)
    run = tmp_path / "run"
    (run / "inside").mkdir(parents=True)
    node = {"_target_": "sde_diffusion.data.image_folder", "path": stored}
    with pytest.raises(OutsideRunError, match=r"data\.path=.* points outside the run folder"):
        build_run_data(node, run_dir=run)
    assert built == []
    build_run_data({**node, "path": str(run / "inside")}, run_dir=run)  # inside: built
    build_run_data(node, trusted=True)  # the user's own config (data=<name> on the command line)
    assert len(built) == 2


def test_a_link_inside_the_run_that_points_out_is_refused(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "data").symlink_to("/usr")
    with pytest.raises(OutsideRunError, match="points outside"):
        build_run_data({"_target_": "sde_diffusion.data.image_folder", "path": str(run / "data")},
                       run_dir=run)


def test_sample_picture_of_a_run_with_an_outside_data_path_shows_samples_only(tmp_path, caplog):
    cfg = legacy_config()
    cfg["data"] = {"_target_": "sde_diffusion.data.image_folder", "path": "/usr", "image_size": 8}
    run = make_run(tmp_path / "run", config=cfg)
    with caplog.at_level("WARNING"):
        code, err = run_script("sample", [f"run={run}", "n=4", "trajectory_frames=0"])
    assert code == 0, err
    assert "the picture shows samples only" in caplog.text and "data.path='/usr'" in caplog.text


# ------------------------------------------------------------------------ stored grid paths
def _grid(path: Path, steps=4):
    t = torch.linspace(1.0, 1e-3, steps + 1).tolist()
    OptimizedGrid("mine", t, repr(VPSDE()), "euler", steps).save(path)


def test_stored_grid_resolves_against_the_run_folder_not_the_current_folder(tmp_path, monkeypatch):
    cfg = legacy_config()
    cfg["sampler"] = {"name": "euler", "steps": 4, "options": {"grid": "grid.json"}}
    run = make_run(tmp_path / "run", config=cfg)
    _grid(run / "grid.json")
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    (cwd / "grid.json").write_text("not a grid")  # the current folder's file must not be read
    monkeypatch.chdir(cwd)
    code, err = run_script("sample", [f"run={run}", "n=4", "trajectory_frames=0"])
    assert code == 0, err


@pytest.mark.parametrize("grid", ["../grid.json", "/tmp/grid.json"])
def test_stored_grid_outside_the_run_is_refused(tmp_path, grid):
    cfg = legacy_config()
    cfg["sampler"] = {"name": "euler", "steps": 4, "options": {"grid": grid}}
    run = make_run(tmp_path / "run", config=cfg)
    _grid(tmp_path / "grid.json")
    code, err = run_script("sample", [f"run={run}", "n=4", "trajectory_frames=0"])
    _one_line(code, err, 2, "OutsideRunError", f"sampler.options.grid={grid!r} points outside")
    assert not (run / "samples").exists()


# ------------------------------------------------------------------------ run names
@pytest.mark.parametrize("name", ["../../x", "/abs", "a/../../b", "~/x", "a\\b", "", "a b", "."])
def test_run_names_cannot_climb_out_of_outputs(name):
    with pytest.raises(ValueError, match=r"^name(=| must be a non-empty)"):
        check_run_name(name)


@pytest.mark.parametrize("name", ["toy2d", "sweeps/a-1", "digits_cond.v2", "lr=1e-3,bs=64"])
def test_plain_run_names_pass(name):
    assert check_run_name(name) == name


def test_train_with_a_climbing_name_writes_nothing(tmp_path):
    import subprocess
    import sys
    from runs_helpers import ROOT, subprocess_env
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "train.py"), "experiment=toy2d",
                        "name=../../escaped", "train.steps=1"], cwd=tmp_path,
                       env=subprocess_env(), capture_output=True, text=True, timeout=120)
    assert r.returncode == 2, r.stderr
    assert "name='../../escaped' must stay inside outputs/" in r.stderr
    assert not (tmp_path.parent / "escaped").exists() and not (tmp_path / "outputs").exists()


# ------------------------------------------------------------------------ the default sampler
def test_a_model_folder_without_a_sampler_uses_the_few_step_default_and_says_so(tmp_path, caplog):
    d = save_pretrained(tiny_model(), tmp_path / "model")
    with caplog.at_level("INFO"):
        code, err = run_script("sample", [f"run={d}", "n=4", "trajectory_frames=0"])
    assert code == 0, err
    assert "stores no sampler: using unipc with 20 steps" in caplog.text
    assert "unipc, 20 NFE" in caplog.text  # not pc at 2001 NFE
