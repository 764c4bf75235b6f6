"""``benchmarks/mutation_check.py`` stays applicable: every entry's text occurs exactly once in
its file (a stale entry reports "not applied" instead of "caught", and only a full run would
show it), the mutation changes something, and its test selection names existing files."""
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
mc = pytest.importorskip("mutation_check")


@pytest.mark.parametrize("k", range(len(mc.MUTATIONS)), ids=lambda k: str(k + 1))
def test_every_mutation_entry_applies_once(k):
    name, rel, old, new, selection = mc.MUTATIONS[k]
    assert old != new, name
    assert (ROOT / rel).read_text().count(old) == 1, f"entry {k + 1} ({name}): text not found once in {rel}"
    assert all((ROOT / s.split("::")[0]).exists() for s in selection if s.startswith("tests/")), name
