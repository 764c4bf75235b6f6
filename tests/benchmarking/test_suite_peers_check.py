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
    assert bs._check_peers(some) == {some: peers.PEERS[some]}     # a named subset that imports runs
    with pytest.raises(SystemExit, match=r"^--peers: unknown \['nope'\], not importable here \[\]; valid: "):
        bs._check_peers(f"{some},nope")
    other = sorted(peers.PEERS)[1]
    with pytest.raises(SystemExit, match=rf"not importable here \['{other}'\]"):
        bs._check_peers(other)
    monkeypatch.setattr(peers, "missing_peers_message", lambda: None)
    assert bs._check_peers(None) == {some: peers.PEERS[some]}     # every library present: all that import run


def test_peers_to_run_is_the_one_rule_for_every_benchmark(monkeypatch):
    # bench_suite, bench_suite_digits and bench_fewstep take their peers from it: all of PEERS or a named
    # subset, in available_peers' order (the records' order as before), never a silent part
    names = sorted(peers.PEERS)[:3]
    monkeypatch.setattr(peers, "available_peers", lambda: {k: peers.PEERS[k] for k in names})
    monkeypatch.setattr(peers, "missing_peers_message", lambda: "published peers unavailable (missing x)")
    with pytest.raises(ImportError, match=r"^published peers unavailable \(missing x\)$"):
        peers.peers_to_run()
    assert list(peers.peers_to_run([names[2], names[0]])) == [names[0], names[2]]
    with pytest.raises(ValueError, match=r"^unknown \['nope'\], not importable here \[\]; valid: \["):
        peers.peers_to_run(["nope"])
    for script in ("bench_suite.py", "bench_suite_digits.py", "bench_fewstep.py"):
        text = (Path(__file__).resolve().parents[2] / "benchmarks" / script).read_text()
        assert "peers_to_run" in text and "available_peers" not in text, script
