"""Steps/s of the README training jobs with the old thread behaviour vs the new default.

    git archive f42ac0a | tar -x -C /tmp/old        # the code before the thread setting
    python benchmarks/bench_train_threads.py /tmp/old /tmp/bench > results.jsonl

Runs, one after another (old/new alternating, so machine-load drift hits both alike), with
OMP_NUM_THREADS unset: toy2d (45 steps) and digits (30 steps) with the old code (torch's default
threads), the new code with ``train.num_threads=1`` and with the automatic default, and a
two-job joblib multirun of toy2d old vs new. Prints one JSON line per run: steps/s (the trainer's
average from train.log), wall seconds, the 1-minute load average at the start, the command.
"""
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

NEW = str(Path(__file__).resolve().parents[1])


def run(label, root, args, out_root, steps, multirun=False):
    out = f"{out_root}/{label}"
    subprocess.run(["rm", "-rf", out])
    env = dict(os.environ, SDE_DIFFUSION_PROGRESS="0", WANDB_MODE="disabled", PYTHONPATH=root)
    env.pop("OMP_NUM_THREADS", None)
    key = "hydra.sweep.dir" if multirun else "hydra.run.dir"
    cmd = [sys.executable, f"{root}/scripts/train.py", *(["-m"] if multirun else []), *args,
           "logger=none", f"train.steps={steps}", "train.eval_samples=0", "train.n_samples=0",
           f"train.checkpoint_every={steps}", f"train.log_every={steps // 3}", f"{key}={out}"]
    load, t0 = os.getloadavg()[0], time.perf_counter()
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=out_root)
    wall = time.perf_counter() - t0
    rates = [float(m[-1]) for log in Path(out).rglob("train.log")
             if (m := re.findall(r"step \d+/\d+ loss [\d.]+ lr \S+ \(([\d.]+) steps/s\)",
                                 log.read_text()))]
    rec = dict(label=label, rc=r.returncode, wall_s=round(wall, 1), steps_per_s=rates,
               load1=round(load, 2), cmd=" ".join(cmd[1:]))
    if r.returncode:
        rec["err"] = r.stderr[-500:]
    print(json.dumps(rec), flush=True)


def main():
    old, out_root = sys.argv[1], sys.argv[2]
    Path(out_root).mkdir(parents=True, exist_ok=True)
    for exp, steps in (("toy2d", 45), ("digits", 30)):
        run(f"{exp}_old", old, [f"experiment={exp}"], out_root, steps)
        run(f"{exp}_new_threads1", NEW, [f"experiment={exp}", "train.num_threads=1"], out_root, steps)
        run(f"{exp}_new_default", NEW, [f"experiment={exp}"], out_root, steps)
    for label, root in (("old", old), ("new", NEW)):
        run(f"toy2d_multirun2_{label}", root, ["experiment=toy2d", "hydra/launcher=local",
                                               "seed=0,1"], out_root, 45, multirun=True)


if __name__ == "__main__":
    main()
