"""Time grids vs convergence of the PF-ODE solvers (exact mixture scores, float64).

RMS end-point error against RK45 (rtol = atol = 1e-10) from the same prior noise, for each
solver x grid x step count on the 2-D ring and the 16-D mixture under VP.
    OMP_NUM_THREADS=1 python benchmarks/bench_grids.py
"""
import torch

from sde_diffusion.analytic import random_mixture, ring_of_gaussians
from sde_diffusion.sdes import VPSDE
from sde_diffusion.solvers import sample

STEPS = (10, 20, 50, 200, 1000)


def main() -> None:
    sde = VPSDE()
    print("| problem | sampler | grid | " + " | ".join(map(str, STEPS)) + " steps |")
    print("|---|---|---|" + "---|" * len(STEPS))
    for name, gm in [("ring8", ring_of_gaussians()), ("mix16", random_mixture(16))]:
        x_init = sde.prior_sample((500, gm.dim), generator=torch.Generator().manual_seed(1),
                                  dtype=torch.float64)
        ref, _ = sample(sde, gm.score_fn(sde), sampler="rk45", x_init=x_init, rtol=1e-10, atol=1e-10)
        for sampler in ("dpm_solver2", "dpm_solver3", "heun"):
            for grid in ("uniform_t", "log_snr", "karras"):
                row = []
                for n in STEPS:
                    x, _ = sample(sde, gm.score_fn(sde), sampler=sampler, steps=n, x_init=x_init, grid=grid)
                    row.append(f"{float((x - ref).pow(2).sum(1).mean().sqrt()):.1e}")
                print(f"| {name} | {sampler} | {grid} | " + " | ".join(row) + " |", flush=True)


if __name__ == "__main__":
    main()
