"""MNIST-1D: samplers on a model trained with ``experiment=mnist1d``, scored against the test split.

    python scripts/train.py experiment=mnist1d logger=none hydra.run.dir=<run>
    python benchmarks/bench_mnist1d.py --run <run>

FD / KID / precision-recall-density-coverage in the 64-d penultimate features of a small MLP
classifier trained on the MNIST-1D training split (its test accuracy is recorded), plus FD on
the raw 40-d signals; 95 % Student-t intervals over seeds; the floor is the training split's
first n signals against the same test split.
"""
from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def _interval(vals):
    from scipy import stats
    v = torch.tensor(vals, dtype=torch.float64)
    half = float(stats.t.ppf(0.975, v.numel() - 1) * v.std() / math.sqrt(v.numel())) \
        if v.numel() > 1 else float("nan")
    return float(v.mean()), half


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", required=True)
    p.add_argument("--samplers", nargs="+", default=["ddim", "dpm_solver2", "unipc", "heun",
                                                       "euler_maruyama"])
    p.add_argument("--nfe", type=int, nargs="+", default=[10, 20, 50])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--out", default=str(ROOT / "benchmarks/results/mnist1d_table.json"))
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    from sde_diffusion.data import mnist1d
    from sde_diffusion.metrics import frechet_distance, sample_quality
    from sde_diffusion.solvers import sample
    from sde_diffusion.io import load_model
    from sde_diffusion.training.quality import train_feature_classifier
    model, _, _ = load_model(args.run, use_ema=True)
    data = mnist1d()
    feat, _, acc = train_feature_classifier(data, (256, 64), epochs=40, batch_size=128, noise=0.0)
    name = f"MNIST-1D MLP classifier (64-d penultimate, test acc {acc:.3f})"
    ref, n = data.test, args.n
    records = []
    for seed in args.seeds:
        for nfe in args.nfe:
            for smp in args.samplers:
                g = torch.Generator().manual_seed(1000 + seed)
                evals = 2 if smp == "heun" else 1
                stoch = smp == "euler_maruyama"
                steps = (nfe - 1) // evals if stoch else nfe // evals
                t0 = time.perf_counter()
                x, info = sample(model.sde, model, (n, 40), sampler=smp, steps=steps, generator=g)
                wall = time.perf_counter() - t0
                q = sample_quality(x, ref, feat, name, "mnist1d test (1000)", [seed],
                                   kid_subsets=20, kid_subset_size=500)
                q["fd_raw"] = frechet_distance(x, ref)
                records.append({"sampler": smp, "nfe_budget": nfe, "nfe": info.nfe, "seed": seed,
                                "wall_s": wall, **q})
                print(smp, nfe, seed, info.nfe, round(q["fd"], 3), flush=True)
    floor = sample_quality(data.train[:n], ref, feat, name, "mnist1d test (1000)", [],
                           kid_subsets=20, kid_subset_size=500)
    floor["fd_raw"] = frechet_distance(data.train[:n], ref)
    groups = {}
    for r in records:
        groups.setdefault((r["sampler"], r["nfe_budget"]), []).append(r)
    rows = []
    for (smp, nfe), rs in groups.items():
        rows.append({"sampler": smp, "nfe_budget": nfe, "nfe": rs[0]["nfe"],
                     **{m: _interval([r[m] for r in rs]) for m in
                        ("fd", "fd_raw", "kid", "precision", "recall", "density", "coverage")}})
    out = {"run": str(args.run), "n": n, "seeds": args.seeds, "classifier_test_accuracy": acc,
           "floor_train_vs_test": floor, "rows": rows, "records": records,
           "machine": "2-core shared CPU, OMP_NUM_THREADS=1"}
    Path(args.out).write_text(json.dumps(out, indent=1))
    f = lambda v, d=2: f"{v[0]:.{d}f} ± {v[1]:.{d}f}"
    print("| sampler | NFE | FD (features) | FD (raw 40-d) | KID ×10³ | precision | recall | density | coverage |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in sorted(rows, key=lambda r: (r["nfe_budget"], r["sampler"])):
        kid = (r["kid"][0] * 1e3, r["kid"][1] * 1e3)
        print(f"| {r['sampler']} | {r['nfe']} | {f(r['fd'])} | {f(r['fd_raw'])} | {f(kid)} | "
              f"{f(r['precision'])} | {f(r['recall'])} | {f(r['density'])} | {f(r['coverage'])} |")
    print(f"| exact data (train[:n] vs test) | – | {floor['fd']:.2f} | {floor['fd_raw']:.2f} | "
          f"{floor['kid'] * 1e3:.2f} | {floor['precision']:.2f} | {floor['recall']:.2f} | "
          f"{floor['density']:.2f} | {floor['coverage']:.2f} |")


if __name__ == "__main__":
    main()
