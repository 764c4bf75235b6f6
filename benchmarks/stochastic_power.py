"""Power of tests/solvers/test_stochastic_marginals.py: the worst |z| of its statistics on correct code
and with each stochastic-sampler bug of benchmarks/mutation_check.py planted (in a copy).

    OMP_NUM_THREADS=1 python benchmarks/stochastic_power.py > benchmarks/results/trust/stochastic_power.md

Columns: | # | mutation | test selection | worst |z| correct | worst |z| with the bug (case) |.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = str(Path(__file__).resolve().parents[1])
sys.path.insert(0, ROOT + "/benchmarks")
TMP = tempfile.mkdtemp(prefix="stochastic_power_")
import mutation_check as M  # noqa: E402
SNIP = r'''
import json, sys
sys.path[:0] = ["tests", "tests/solvers"]
import test_stochastic_marginals as T
kw = sys.argv[1]
out = {}
for kind in T.COARSE_CASES:
    if kw in kind or kw in T.COARSE_CASES[kind][0]:
        out["coarse:" + kind] = max(abs(z) for p in T.coarse_z_scores(kind) for z in p)
for s, o in T.FINE_CASES:
    if o.get("method") == "srk": continue
    name = "-".join([s] + [f"{k}={v}" for k, v in o.items()])
    if kw in name:
        zs = T._run_fine(s, **o)
        out["fine:" + name] = max(abs(z) for v in zs.values() for z in v)
print(json.dumps(out))
'''
def run(tree, kw):
    env = dict(os.environ, PYTHONPATH=tree, OMP_NUM_THREADS="1")
    p = subprocess.run([sys.executable, "-c", SNIP, kw], cwd=tree, env=env, capture_output=True, text=True)
    return json.loads(p.stdout.strip().splitlines()[-1]) if p.returncode == 0 else {"error": p.stderr[-300:]}
print("| # | mutation | tests | worst |z| correct | worst |z| with the bug (case) |")
print("|---|---|---|---|---|")
rows = []
for k, (name, rel, old, new, sel) in enumerate(M.MUTATIONS, 1):
    if "test_stochastic_marginals.py" not in sel[0]:
        continue
    kw = sel[sel.index("-k") + 1]
    tree = f"{TMP}/tree{k}"
    shutil.rmtree(tree, ignore_errors=True)
    shutil.copytree(ROOT + "/sde_diffusion", tree + "/sde_diffusion", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT + "/tests", tree + "/tests", ignore=shutil.ignore_patterns("__pycache__"))
    good = run(tree, kw)
    path = f"{tree}/{rel}"
    text = open(path).read()
    open(path, "w").write(text.replace(old, new, 1))
    bad = run(tree, kw)
    worst_good = max(good.values()) if "error" not in good else None
    best_case = max(bad, key=lambda c: bad[c]) if "error" not in bad else None
    rows.append((k, name, kw, worst_good, best_case, bad.get(best_case) if best_case else bad))
    print(f"| {k} | {name} | `-k {kw}` | {worst_good:.1f} | {bad[best_case]:.1f} (`{best_case}`) |", flush=True)
    shutil.rmtree(tree, ignore_errors=True)
