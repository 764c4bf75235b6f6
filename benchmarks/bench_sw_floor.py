"""The sliced-Wasserstein floor of the README main job's data: SW between two independent exact
sample sets of n points, over many draws -- how noisy one draw is, and what
``sliced_wasserstein_report`` (mean and sd of 5 draws) reports.

    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/bench_sw_floor.py --n 4000 --draws 40
"""
import argparse

import torch

from sde_diffusion.data import ring
from sde_diffusion.metrics import sliced_wasserstein
from sde_diffusion.training.sampling import sliced_wasserstein_report


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=4000)
    ap.add_argument("--draws", type=int, default=40)
    ap.add_argument("--sw", type=float, default=None, help="a model's SW to place against the floor")
    a = ap.parse_args()
    data = ring()
    g = torch.Generator().manual_seed(0)
    f = torch.tensor([sliced_wasserstein(data.reference.sample(a.n, generator=g),
                                         data.reference.sample(a.n, generator=g), seed=k)
                      for k in range(a.draws)], dtype=torch.float64)
    print(f"single draws (n={a.n}, {a.draws} draws): mean {f.mean():.4f} sd {f.std():.4f} "
          f"min {f.min():.4f} max {f.max():.4f}")
    reports = [sliced_wasserstein_report(data.reference.sample(a.n, generator=g), data, n=a.n, seed=s)
               for s in range(10)]
    means = torch.tensor([r["sw_floor"] for r in reports])
    print(f"sliced_wasserstein_report floor (mean of 5 draws) over 10 seeds: mean {means.mean():.4f} "
          f"sd {means.std():.4f}; exact samples score z = "
          + ", ".join(f"{r['sw_z']:.1f}" for r in reports))
    if a.sw is not None:
        print(f"SW {a.sw}: ratio {a.sw / float(f.mean()):.2f} to the mean floor, "
              f"z = {(a.sw - float(f.mean())) / float(f.std()):.1f} floor sds")


if __name__ == "__main__":
    main()
