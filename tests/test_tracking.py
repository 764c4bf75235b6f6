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
