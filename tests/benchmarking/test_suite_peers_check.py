"""``bench_suite.py peers`` stops before any run where a peer configuration would be left out
silently (sections 22-37 of RESULTS ran without k-diffusion's 24 that way)."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
bs = pytest.importorskip("bench_suite")
import sde_diffusion.benchmarking.peers as peers  # noqa: E402


def test_peers_without_a_library_stop_before_any_run(tmp_path, monkeypatch):
    monkeypatch.setattr(peers, "missing_peers_message",
                        lambda: "published peers unavailable (missing k-diffusion); install: x")
    out = tmp_path / "p.jsonl"
    with pytest.raises(SystemExit, match=r"^published peers unavailable \(missing k-diffusion\); install: x; "
                                         r"or name the peers to run with --peers$"):
        bs.main(["peers", "--half", "fresh26", "--problems", "lowrank76_r4", "--sdes", "VP", "--nfes", "30",
                 "--n", "8", "--out", str(out)])
    assert not out.exists()


def test_named_peers_must_exist_and_import(monkeypatch):
    some = sorted(peers.PEERS)[0]
    monkeypatch.setattr(peers, "available_peers", lambda: {some: peers.PEERS[some]})
    monkeypatch.setattr(peers, "missing_peers_message", lambda: "missing")
    assert bs._check_peers(some) is None                  # a named subset that imports runs
    with pytest.raises(SystemExit, match=r"^--peers: unknown \['nope'\], not importable here \[\]; valid: "):
        bs._check_peers(f"{some},nope")
    other = sorted(peers.PEERS)[1]
    with pytest.raises(SystemExit, match=rf"not importable here \['{other}'\]"):
        bs._check_peers(other)
    monkeypatch.setattr(peers, "missing_peers_message", lambda: None)
    assert bs._check_peers(None) is None                  # every library present: all of them run
