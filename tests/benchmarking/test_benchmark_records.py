"""Benchmark records that cannot lie: odd files are named and recomputed, poisoned metrics
are not served, writes are atomic, and the script's bad input / full disk is one line."""
import errno
import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from sde_diffusion import benchmarking as B
from sde_diffusion.analytic import three_clusters_1d
from sde_diffusion.benchmarking import records
from sde_diffusion.sdes import VPSDE

ROOT = Path(__file__).resolve().parents[2]
CLUSTERS = {"name": "clusters1d", "mixture": {"_target_": "sde_diffusion.analytic.three_clusters_1d"}}
PROBLEM = B.Problem("clusters1d", (1,), mixture=three_clusters_1d())
CELL = dict(problem=CLUSTERS, sde={"_target_": "sde_diffusion.sdes.VPSDE"},
            sampler={"name": "euler", "steps": 4, "options": {}}, nfe=None, seed=0,
            n_samples=64, n_heldout=64, metrics=["sliced_wasserstein", "energy_distance", "mmd"],
            reference={"method": "DOP853", "rtol": 1e-9, "atol": 1e-9}, checkpoint=None,
            device="cpu", dtype="float32", labels={"sde": "vp"})


def run(out, **kw):
    return B.run_cell(CELL, out, problem=PROBLEM, sde=VPSDE(), **kw)


@pytest.fixture
def good(tmp_path):
    """A computed record on disk: (its path, the record)."""
    rec = run(tmp_path)
    assert rec["status"] == "computed"
    return B.record_path(tmp_path, CELL), rec


def _recomputed(tmp_path, path, why):
    with pytest.warns(RuntimeWarning, match=f"record '{path}' is corrupt \\({why}"):
        rec = run(tmp_path)
    assert rec["status"] == "computed"
    assert B.read_record(path)["metrics"] == rec["metrics"]      # a good record is back
    return rec


# ------------------------------------------------------------------ odd files
def test_a_record_that_is_a_directory_is_named_moved_aside_and_recomputed(tmp_path):
    path = B.record_path(tmp_path, CELL)
    (path / "inside").mkdir(parents=True)
    with pytest.raises(B.CorruptRecordError, match=r"is corrupt \(a directory, not a file\)$"):
        B.read_record(path)
    with pytest.warns(RuntimeWarning, match=r"skipped"):
        assert B.load_records(tmp_path) == []                    # the report: named, skipped
    _recomputed(tmp_path, path, "a directory, not a file")
    assert (path.parent / (path.name + ".corrupt") / "inside").is_dir()   # nothing deleted


def test_json_nested_200000_deep_is_named_not_a_recursion_error(tmp_path, good):
    path, _ = good
    path.write_text("[" * 200_000 + "]" * 200_000)
    with pytest.raises(B.CorruptRecordError, match=r"is corrupt \(JSON nested too deeply\)$"):
        B.read_record(path)
    with pytest.warns(RuntimeWarning, match="JSON nested too deeply"):
        recs, bad = B.scan_records(tmp_path)
    assert recs == [] and bad == [path]
    _recomputed(tmp_path, path, "JSON nested too deeply")


def test_a_fifo_record_is_refused_without_blocking(tmp_path, good):
    path, _ = good
    path.unlink()
    os.mkfifo(path)
    with pytest.raises(B.CorruptRecordError, match=r"is corrupt \(not a regular file\)$"):
        B.read_record(path)
    _recomputed(tmp_path, path, "not a regular file")


def test_a_dangling_link_is_unreadable_and_replaced_not_followed(tmp_path, good):
    path, _ = good
    path.unlink()
    path.symlink_to(tmp_path / "elsewhere.json")
    with pytest.raises(B.CorruptRecordError, match=r"is corrupt \(unreadable: No such file"):
        B.read_record(path)
    _recomputed(tmp_path, path, "unreadable")
    assert not path.is_symlink() and not (tmp_path / "elsewhere.json").exists()


def test_a_huge_record_is_read_with_a_bound(tmp_path, good, monkeypatch):
    path, rec = good
    monkeypatch.setattr(B.records.LIMITS, "max_text_bytes", 100)
    with pytest.raises(B.CorruptRecordError, match=r"larger than 100 bytes; raise the limit with "
                                                   r"SDE_DIFFUSION_MAX_TEXT_BYTES=<n>\)$"):
        B.read_record(path)


# ------------------------------------------------------------------ poisoned records
@pytest.mark.parametrize("edit,why", [
    (lambda r: r["metrics"].update(sliced_wasserstein=float("nan")),
     "poisoned: metric sliced_wasserstein = nan but the record has no non-finite samples"),
    (lambda r: r["metrics"].update(sliced_wasserstein=1e-9),
     r"poisoned: metric sliced_wasserstein = 1e-09 is below 0.05 x its exact-sample floor"),
    (lambda r: r["metrics"].update(energy_distance=-0.5),
     "poisoned: metric energy_distance = -0.5 is negative"),
    (lambda r: r["metrics"].update(mmd="0.1"), "poisoned: metric mmd = '0.1' is not a number"),
])
def test_poisoned_records_are_not_served(tmp_path, good, edit, why):
    path, rec = good
    forged = json.loads(path.read_text())
    edit(forged)
    path.write_text(json.dumps(forged))                      # json writes NaN as NaN
    with pytest.raises(B.CorruptRecordError, match=why):
        B.read_record(path)
    assert _recomputed(tmp_path, path, "poisoned")["metrics"] == rec["metrics"]


def test_nan_metrics_of_non_finite_samples_are_a_true_record(good):
    path, _ = good
    rec = json.loads(path.read_text())
    rec["metrics"] = {k: float("nan") for k in rec["metrics"]}
    rec["nonfinite"] = 3
    assert records.poison_reason(rec) is None


def test_honest_records_are_far_from_the_poison_floor(good):
    """The rule's margin: an honest record's SW / floor is O(1), not near 0.05."""
    _, rec = good
    assert rec["metrics"]["sliced_wasserstein"] > 0.3 * rec["baseline"]["sliced_wasserstein"]


# ------------------------------------------------------------------ atomic writes
def test_record_write_is_atomic_when_the_writer_dies(tmp_path, good, monkeypatch):
    """A crash before the rename (here: fsync fails) leaves the old record, byte for byte, and
    no temporary file; writing in place would leave the new text or a torn file."""
    path, rec = good
    before = path.read_bytes()

    def crash(fd):
        raise OSError(errno.EIO, "simulated crash")
    monkeypatch.setattr(records.os, "fsync", crash)
    with pytest.raises(OSError, match="Input/output error"):
        records.atomic_write(path, json.dumps({**rec, "metrics": {"sliced_wasserstein": 9.0}}))
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]


def test_disk_full_names_the_record(tmp_path, good, monkeypatch):
    path, rec = good

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(records.os, "fsync", full)
    with pytest.raises(OSError) as e:
        records.atomic_write(path, "{}")
    assert e.value.errno == errno.ENOSPC and e.value.filename == str(path)


# ------------------------------------------------------------------ the script
def _script(args, pre=""):
    code = (f"import runpy, sys{pre}; sys.argv = ['scripts/benchmark.py'] + {args!r}; "
            "runpy.run_path('scripts/benchmark.py', run_name='__main__')")
    env = dict(os.environ, OMP_NUM_THREADS="1", CI="1", PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)


@pytest.mark.slow
def test_benchmark_script_unknown_peer_and_full_disk_are_one_line(tmp_path):
    common = ["problem=ring8", "nfe=4", f"out_dir={tmp_path}/sweep", f"hydra.run.dir={tmp_path}/run",
              "n_samples=16", "n_heldout=16"]
    p = _script(["peer=nope"] + common)
    assert p.returncode == 2, p.stderr[-2000:]
    lines = [ln for ln in p.stderr.splitlines() if "error" in ln.lower()]
    assert lines == [f"benchmark: error: ValueError: unknown peer solver 'nope'; available: "
                     + lines[0].split("available: ", 1)[1]], p.stderr[-2000:]
    assert not (tmp_path / "sweep" / "records").exists() or not any((tmp_path / "sweep" / "records").iterdir())
    pre = ("; import os, errno; os.fsync = lambda fd: (_ for _ in ()).throw("
           "OSError(errno.ENOSPC, 'No space left on device'))")
    p = _script(["sampler=euler"] + common, pre)
    assert p.returncode == 1, p.stderr[-2000:]
    err = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert len(err) == 1 and err[0].startswith("benchmark: error: OSError: disk full: ")
    assert str(tmp_path / "sweep" / "records") in err[0]
