"""Wall time of ``sample.py`` and ``likelihood.py`` on a loaded machine: the default thread plan
vs one thread vs torch's own count (every CPU).

    python benchmarks/bench_train_threads.py ...   # (training: the other harness)
    python benchmarks/bench_entry_threads.py <run dir> [--busy 2] [--repeat 2] > results.jsonl

Starts ``--busy`` CPU-bound processes (``yes > /dev/null``) for the whole measurement (ended at
the end), waits ``--settle`` seconds so the 1-minute load average sees them, then runs each job
with OMP_NUM_THREADS unset (the default plan), =1 and =<CPUs> (torch's default on this machine),
interleaved, ``--repeat`` times. One JSON line per run: job, setting, wall seconds, load average
at the start, the thread plan the script logged, the command.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run")
    p.add_argument("--busy", type=int, default=2)
    p.add_argument("--settle", type=float, default=45.0)
    p.add_argument("--repeat", type=int, default=2)
    p.add_argument("--out", default="/tmp/bench_entry_threads")
    a = p.parse_args()
    cpus = len(os.sched_getaffinity(0))
    jobs = {
        "sample n=1000 steps=100": [f"{ROOT}/scripts/sample.py", f"run={a.run}", "n=1000",
                                    "steps=100", "trajectory_frames=0", f"out={a.out}/s"],
        "likelihood method=ode n_points=200": [f"{ROOT}/scripts/likelihood.py",
                                               f"checkpoint={a.run}", "method=ode",
                                               "n_points=200", f"out={a.out}/l"],
    }
    settings = {"default plan": None, "1 thread": "1", f"{cpus} threads (torch's default)": str(cpus)}
    busy = [subprocess.Popen(["yes"], stdout=subprocess.DEVNULL) for _ in range(a.busy)]
    try:
        time.sleep(a.settle)
        for r in range(a.repeat):
            for job, args in jobs.items():
                for label, omp in settings.items():
                    env = dict(os.environ, PYTHONPATH=str(ROOT), SDE_DIFFUSION_PROGRESS="0")
                    env.pop("OMP_NUM_THREADS", None)
                    env.pop("MKL_NUM_THREADS", None)
                    if omp is not None:
                        env["OMP_NUM_THREADS"] = omp
                    load = os.getloadavg()[0]
                    t0 = time.perf_counter()
                    out = subprocess.run([sys.executable, *args], env=env, capture_output=True,
                                         text=True)
                    wall = time.perf_counter() - t0
                    plan = re.search(r"torch threads: [^\n]*", out.stderr + out.stdout)
                    print(json.dumps({"job": job, "setting": label, "repeat": r,
                                      "wall_s": round(wall, 2), "load1": round(load, 2),
                                      "rc": out.returncode, "plan": plan.group(0) if plan else None,
                                      "busy": a.busy, "cmd": " ".join(args)}), flush=True)
    finally:
        for b in busy:
            b.terminate()
            b.wait()


if __name__ == "__main__":
    main()
