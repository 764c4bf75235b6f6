"""The tracker: wrong keywords fail loudly, online without network falls back fast, banners
off, failures never stop training."""
import time

import pytest

from sde_diffusion import tracking
from sde_diffusion.tracking import NullTracker, WandbTracker


def test_unknown_keywords_are_refused():
    with pytest.raises(TypeError, match="config"):
        WandbTracker(mode="disabled", config={"a": 1})  # the bug of issue 14.8: run_config
    with pytest.raises(TypeError, match="confg"):
        NullTracker(confg=1)
    NullTracker(run_dir="x", run_config={}, run_id=None, default_group=None)


def test_online_without_network_falls_back_to_offline_quickly(tmp_path, monkeypatch):
    import wandb
    calls = []
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setattr(tracking.socket, "create_connection",
                        lambda *a, **k: (_ for _ in ()).throw(OSError("network unreachable")))

    class Run:
        id = "abc"

        def finish(self, **k):
            pass

    monkeypatch.setattr(wandb, "init", lambda **k: calls.append(k) or Run())
    t0 = time.perf_counter()
    with pytest.warns(RuntimeWarning, match=r"unreachable within 3 s: logging offline"):
        t = WandbTracker(mode="online", run_dir=str(tmp_path), run_config={"lr": 1.0})
    assert time.perf_counter() - t0 < 5
    assert calls[0]["mode"] == "offline" and calls[0]["config"] == {"lr": 1.0}
    assert calls[0]["settings"].silent and t.run_id == "abc"
    assert calls[0]["dir"] == str(tmp_path)


def test_reachability_probe_is_bounded(monkeypatch):
    import socket
    with socket.socket() as sock:  # a port that was free a moment ago: connection refused
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    assert tracking.wandb_reachable(timeout=0.5, host=f"http://127.0.0.1:{port}") is False
    seen = {}
    monkeypatch.setattr(tracking.socket, "create_connection",
                        lambda addr, timeout: seen.update(addr=addr, timeout=timeout) or _Closing())
    assert tracking.wandb_reachable(timeout=2.5) is True
    assert seen == {"addr": ("api.wandb.ai", 443), "timeout": 2.5}


class _Closing:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False


def test_tracker_failures_warn_and_disable(tmp_path, monkeypatch):
    import wandb
    monkeypatch.setattr(wandb, "init", lambda **k: (_ for _ in ()).throw(RuntimeError("no")))
    with pytest.warns(RuntimeWarning, match="init"):
        t = WandbTracker(mode="offline", run_dir=str(tmp_path))
    assert not t.active
    t.log({"a": 1.0}, step=1)  # a no-op, no error

    class Broken:
        def log(self, *a, **k):
            raise ConnectionError("wandb is down")

        def finish(self, *a, **k):
            pass

    t._run, t._warned = Broken(), False
    with pytest.warns(RuntimeWarning, match="training continues"):
        t.log({"a": 1.0}, step=2)
    assert not t.active


def test_a_resumed_offline_run_is_a_second_fragment_of_the_same_id(tmp_path, monkeypatch, caplog):
    # a real offline wandb run: train, stop, resume from the checkpoint
    import logging
    from functools import partial
    from helpers_training import make
    pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    factory = partial(WandbTracker, mode="offline", run_dir=str(tmp_path))
    first = make(tmp_path, tracker=factory, steps=10)
    first.fit()
    run_id = first.tracker_id
    assert run_id and len(tracking.offline_fragments(str(tmp_path), run_id)) == 1
    with caplog.at_level(logging.INFO, logger="sde_diffusion.tracking"):
        second = make(tmp_path, tracker=factory, steps=20)
        second.fit()
    assert second.tracker_id == run_id and second.step == 20
    frags = tracking.offline_fragments(str(tmp_path), run_id)
    folders = [p for p in (tmp_path / "wandb").iterdir() if p.is_dir() and not p.is_symlink()]
    assert sorted(folders) == sorted(frags) and len(frags) == 2  # every folder is this id's
    assert all((p / f"run-{run_id}.wandb").stat().st_size > 0 for p in frags)
    assert (tmp_path / "wandb" / "latest-run").resolve() == frags[1].resolve()  # start order
    assert f"wandb run {run_id} resumed offline: fragment 2" in caplog.text
    assert f"wandb sync {tmp_path / 'wandb'}" in caplog.text


def test_offline_fragments_are_ordered_by_start_time_then_same_second_index(tmp_path):
    names = ["offline-run-20260101_120000-abc-2", "offline-run-20251231_235959-abc",
             "offline-run-20260101_120000-abc", "offline-run-20260101_120000-abc-10",
             "offline-run-20260101_120000-abc-1", "offline-run-20260101_120000-abcd",
             "run-20260101_120000-abc"]
    for n in names:
        (tmp_path / "wandb" / n).mkdir(parents=True)
    got = [p.name for p in tracking.offline_fragments(str(tmp_path), "abc")]
    assert got == ["offline-run-20251231_235959-abc", "offline-run-20260101_120000-abc",
                   "offline-run-20260101_120000-abc-1", "offline-run-20260101_120000-abc-2",
                   "offline-run-20260101_120000-abc-10"]
    assert tracking.offline_fragments(str(tmp_path / "none"), "abc") == []
