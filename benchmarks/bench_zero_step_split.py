"""The end-to-end error of a zero-ended UniPC run split at the step onto sigma = 0 (few-step 42f).

A zero-ended grid (``grids.ZeroEnded``) runs the solver down to t_j (sigma_j) and lands on 0 with the
model's data prediction D(x, t_j) = (x + s(t_j)^2 score) / m(t_j). Its error against the PF-ODE's data
end x0_ref splits into

    e_jump  = D(x_ref(t_j), t_j) - x0_ref          the step onto 0 from the exact state (O(sigma_j^2)),
    e_state = D(x_sol(t_j), t_j) - D(x_ref(t_j))   the solver's state error at t_j, seen through D,
    e_last  = x0 - D(x_sol(t_j), t_j)              what the last step adds beyond D (0 for UniPC),

with x_ref(t_j) the tight DOP853 solution from the same x_T. When cos(e_jump, e_state) is near -1 the
run's accuracy rests on the two cancelling, and the best sigma_j is where they do (a notch):

    env OMP_NUM_THREADS=1 PYTHONPATH=.:benchmarks python benchmarks/bench_zero_step_split.py \\
        --problem lowrank92_r5 --steps 100,75 --cs 0.030,0.036,0.040,0.045,0.050

Options are UniPC-5, B(h) = h, no step limit, uniform-t grid (the VP low-rank entry's; ``--grid`` and
``--variant`` change the last two); sigma_j is ``c`` times the probe's spread. 1024 x_T of ``--seed``,
data of seed 2, probe of seed 3 (as the tests).
"""
from __future__ import annotations

import argparse
import sys
from typing import Dict

import torch

from sde_diffusion.analytic import suite_problem
from sde_diffusion.benchmarking.reference import data_end_reference, data_estimate, end_to_end_errors, end_to_end_rms
from sde_diffusion.models.parameterization import tweedie
from sde_diffusion.sdes import VPSDE
from sde_diffusion.solvers import sample
from sde_diffusion.solvers.grids import ZeroEnded
from sde_diffusion.solvers.sharp_modes import probe_sharp_modes

ENTRY = {"order": 5, "step_limit": False, "variant": "bh1"}
TOL = {"method": "DOP853", "rtol": 1e-8, "atol": 1e-8}


def _cos(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a * b).sum() / (a.norm() * b.norm()))


def split(sde, score, x_T: torch.Tensor, ref: torch.Tensor, steps: int, sigma_j: float,
          grid: str = "uniform_t", **options) -> Dict[str, float]:
    """RMS of the total error and of e_jump, e_state, e_last, and cos(e_jump, e_state), of the zero-ended
    UniPC run (``ENTRY`` with ``options`` over it, on the named ``grid``) from ``x_T`` at ``steps`` steps with
    the jump at ``sigma_j`` (``ref``: the data end of x_T)."""
    t_j = float(sde.t_from_sigma(torch.tensor(sigma_j, dtype=torch.float64)))
    last = {}

    def recording(x, t):
        s = score(x, t)
        last.update(x=x.detach().clone(), s=s.detach().clone(),
                    t=float((t if torch.is_tensor(t) else torch.tensor(t)).reshape(-1)[0]))
        return s

    out, info = sample(sde, recording, sampler="unipc", steps=steps, x_init=x_T, progress=False,
                       grid=ZeroEnded(grid, t_j), **{**ENTRY, **options})
    x0 = data_estimate(sde, out, float(info.t_end), info.denoised)
    if abs(last["t"] - t_j) > 1e-9 * max(1.0, t_j):
        raise RuntimeError(f"the last model call was at t = {last['t']:g}, not at t_j = {t_j:g}")
    m, s = (float(v.reshape(-1)[0]) for v in sde.marginal(torch.tensor([t_j], dtype=torch.float64)))
    d_sol = tweedie(last["x"], last["s"], m, s)
    d_ref, _ = sample(sde, score, sampler="rk45", x_init=x_T, t_end=t_j, denoise=True, progress=False, **TOL)
    return {"total": end_to_end_rms(x0, ref), "jump": end_to_end_rms(d_ref, ref),
            "state": end_to_end_rms(d_sol, d_ref), "last": end_to_end_rms(x0, d_sol),
            "cos_jump_state": _cos(d_ref - ref, d_sol - d_ref)}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--problem", required=True, help="a suite problem name (any set)")
    p.add_argument("--steps", required=True, help="comma-separated step counts")
    p.add_argument("--cs", required=True, help="comma-separated sigma_j values in spreads")
    p.add_argument("--n", type=int, default=1024)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--grid", default="uniform_t", help="the named grid down to sigma_j (default: the entry's)")
    p.add_argument("--variant", default="bh1", choices=["bh1", "bh2"], help="UniPC's B(h) (default: the entry's)")
    a = p.parse_args(argv)
    sde, gm = VPSDE(), suite_problem(a.problem).mixture
    score = gm.score_fn(sde)
    x_T = sde.prior_sample((a.n, gm.dim), generator=torch.Generator().manual_seed(a.seed), dtype=torch.float64)
    ref = data_end_reference(sde, score, x_T, **TOL)
    data = gm.sample(1024, generator=torch.Generator().manual_seed(2)).to(torch.float64)
    spread = probe_sharp_modes(sde, score, 10, data, generator=torch.Generator().manual_seed(3)).spread
    print(f"{a.problem}: {gm.dim} coordinates, spread {spread:.4f}\n")
    print("| steps | sigma_j / spread | total | e_jump | e_state | e_last | cos(e_jump, e_state) |")
    print("|---|---|---|---|---|---|---|")
    for steps in (int(v) for v in a.steps.split(",")):
        defaults = end_to_end_errors(sde, score, x_T, "unipc", [steps], ref=ref)[steps]
        print(f"| {steps} | UniPC's defaults | {defaults:.2e} | | | | |")
        for c in (float(v) for v in a.cs.split(",")):
            r = split(sde, score, x_T, ref, steps, c * spread, grid=a.grid, variant=a.variant)
            print(f"| {steps} | {c:.3f} | {r['total']:.2e} | {r['jump']:.2e} | {r['state']:.2e} | "
                  f"{r['last']:.1e} | {r['cos_jump_state']:+.3f} |", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
