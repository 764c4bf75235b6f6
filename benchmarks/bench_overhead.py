"""Per-NFE overhead of the samplers on a trivial model, in one run.

Trivial model (one elementwise op), batch 64 x 2, 1000 steps, one thread: what is timed is the
sampler machinery. Rows: the package's ``euler`` against a bare Euler loop on the same PF-ODE
(host-float coefficients, no checks), and every sampler against its k-diffusion equivalent
(the same step count, k-diffusion's ``sample_*`` on x/m and sigma = s/m with a trivial
denoiser). Best of ``--repeats`` runs each after a warm-up run, the package's and the
reference's runs alternating, microseconds per NFE.

    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/bench_overhead.py [--steps 1000] [--repeats 5]
"""
from __future__ import annotations

import argparse
import time

import torch

from sde_diffusion.benchmarking.peers import _kdiffusion_sampling
from sde_diffusion.sdes import VPSDE
from sde_diffusion.solvers import sample

BATCH = (64, 2)
# package sampler, options, k-diffusion equivalent, its options, NFE per step (both)
PAIRS = [
    ("euler", {}, "euler", {}, 1),
    ("ddim", {}, "euler", {}, 1),
    ("heun", {}, "heun", {}, 2),
    ("dpm_solver2", {}, "dpmpp_2m", {}, 1),
    ("dpm_solver3", {}, "dpmpp_3m_sde", {"eta": 0.0}, 1),
    ("unipc", {}, "dpmpp_2m", {}, 1),
    ("deis", {}, "lms", {}, 1),
    ("ipndm", {}, "lms", {}, 1),
    ("ipndm_v", {}, "lms", {}, 1),
    ("dpm_solver_2s", {}, "dpmpp_2s_ancestral", {"eta": 0.0}, 2),
    ("dpm_solver_3s", {}, "dpmpp_2s_ancestral", {"eta": 0.0}, 2),
    ("edm_heun", {}, "heun", {}, 2),
]


def score(x, t):
    return -x


def denoiser(x, sigma):
    return 0.5 * x


def timed(fn):
    t0 = time.perf_counter()
    nfe = fn()
    return (time.perf_counter() - t0) / nfe * 1e6


def paired(fa, fb, repeats):
    """Best of ``repeats`` for each after one untimed run of each, the two runs alternating
    (a load change hits both)."""
    fa(), fb()
    a, b = [], []
    for _ in range(repeats):
        a.append(timed(fa))
        b.append(timed(fb))
    return min(a), min(b)


def bare_euler(sde, x, steps):
    times = torch.linspace(sde.T, sde.eps, steps + 1, dtype=torch.float64)
    f, g = sde.drift_coeff(times).tolist(), sde.diffusion(times).tolist()
    t = times.tolist()
    for i in range(steps):
        tt = torch.full((x.shape[0],), t[i], dtype=x.dtype)
        x = x + (t[i + 1] - t[i]) * (f[i] * x - (0.5 * g[i] * g[i]) * score(x, tt))
    return steps


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    torch.set_num_threads(1)
    ks = _kdiffusion_sampling()
    sde = VPSDE()
    x0 = torch.randn(*BATCH, generator=torch.Generator().manual_seed(0))
    n = args.steps

    def ours(name, opts):
        def run():
            _, info = sample(sde, score, sampler=name, steps=n, x_init=x0, progress=False,
                             denoise=False, **opts)
            return info.nfe
        return run

    def kdiff(name, opts, per_step):
        sigmas = torch.cat([torch.linspace(80.0, 0.002, n), torch.zeros(1)])
        if per_step == 2:
            sigmas = torch.linspace(80.0, 0.002, n + 1)

        def run():
            calls = [0]

            def model(x, s):
                calls[0] += 1
                return denoiser(x, s)
            getattr(ks, "sample_" + name)(model, x0 * 80.0, sigmas, disable=True, **opts)
            return calls[0]
        return run

    print(f"# {n} steps, batch {BATCH}, threads {torch.get_num_threads()}, best of {args.repeats}")
    e, bare = paired(ours("euler", {}), lambda: bare_euler(sde, x0, n), args.repeats)
    print("| package sampler | us/NFE | reference | us/NFE | ratio |")
    print("|---|---:|---|---:|---:|")
    print(f"| euler | {e:.1f} | bare Euler loop | {bare:.1f} | {e / bare:.2f} |")
    for name, opts, kname, kopts, per in PAIRS:
        a, b = paired(ours(name, opts), kdiff(kname, kopts, per), args.repeats)
        print(f"| {name} | {a:.1f} | k-diffusion sample_{kname} | {b:.1f} | {a / b:.2f} |",
              flush=True)


if __name__ == "__main__":
    main()
