"""The VP end-time rule t_end(n): end-to-end RMS of every default deterministic sampler on one
half of the problem suite at n = 5..80 steps, for the step rule and continuous candidates.

    nice -n 10 python benchmarks/bench_t_end.py --half tuning      # choose the rule here
    nice -n 10 python benchmarks/bench_t_end.py --half validation  # then check it here

Candidates: t_end(n) = clamp(1e-3 (n0/n)^k, eps, 1e-3). Printed per rule: the worst ratio
RMS(2n)/RMS(n) over problems x samplers (n = 10, 20, 40; the goal is <= 1.05), the worst and
the geometric-mean ratio to today's rule at 5-20 steps (few-step accuracy), and at 40-80.
"""
import argparse
import itertools
import math

import torch

from sde_diffusion.analytic import problem_suite
from sde_diffusion.benchmarking.reference import data_end_reference, data_estimate, end_to_end_rms
from sde_diffusion.sdes import VPSDE
from sde_diffusion.solvers import SAMPLERS, sample

SAMPLER_NAMES = ("euler", "heun", "ddim", "dpm_solver2", "dpm_solver3", "dpm_solver_2s",
                 "dpm_solver_3s", "unipc", "deis", "edm_heun", "ipndm", "ipndm_v")
STEPS = (5, 10, 20, 40, 80)


def step_rule(n, eps):
    return 1e-3 if n < 25 else eps


def power_rule(n0, k):
    return lambda n, eps: min(1e-3, max(eps, 1e-3 * (n0 / n) ** k))


RULES = {"step (today)": step_rule}
for n0, k in itertools.product((10, 15, 20), (1.0, 1.5, 2.0, 3.0, 4.0)):
    RULES[f"n0={n0} k={k:g}"] = power_rule(n0, k)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--half", default="tuning", choices=["tuning", "validation"])
    ap.add_argument("--n", type=int, default=48)
    a = ap.parse_args()
    sde = VPSDE()
    cache = {}
    for prob in problem_suite(a.half):
        sf = prob.mixture.score_fn(sde)
        x_T = sde.prior_sample((a.n, prob.dim), generator=torch.Generator().manual_seed(0),
                               dtype=torch.float64)
        ref = data_end_reference(sde, sf, x_T)
        for name in SAMPLER_NAMES:
            for n in STEPS:
                for t_end in sorted({r(n, sde.eps) for r in RULES.values()}):
                    x, info = sample(sde, sf, sampler=name, steps=n, x_init=x_T, t_end=t_end,
                                     progress=False)
                    cache[prob.name, name, n, t_end] = end_to_end_rms(
                        data_estimate(sde, x, info.t_end, info.denoised), ref)
        print(f"# {prob.name} done", flush=True)
    probs = sorted({k[0] for k in cache})
    print(f"half={a.half}, VP, {len(probs)} problems x {len(SAMPLER_NAMES)} samplers, {a.n} points")
    print(f"{'rule':16s} {'worst 2n/n':>10s} {'#>1.05':>6s} {'few worst':>9s} {'few gmean':>9s} "
          f"{'40-80 gmean':>11s}")
    for rname, r in RULES.items():
        e = lambda p, s, n: cache[p, s, n, r(n, sde.eps)]
        mono = [e(p, s, 2 * n) / e(p, s, n) for p in probs for s in SAMPLER_NAMES for n in (10, 20, 40)]
        few = [e(p, s, n) / cache[p, s, n, step_rule(n, sde.eps)]
               for p in probs for s in SAMPLER_NAMES for n in (5, 10, 20)]
        many = [e(p, s, n) / cache[p, s, n, step_rule(n, sde.eps)]
                for p in probs for s in SAMPLER_NAMES for n in (40, 80)]
        gm = lambda v: math.exp(sum(map(math.log, v)) / len(v))
        print(f"{rname:16s} {max(mono):10.3f} {sum(m > 1.05 for m in mono):6d} {max(few):9.3f} "
              f"{gm(few):9.3f} {gm(many):11.3f}")


if __name__ == "__main__":
    main()
