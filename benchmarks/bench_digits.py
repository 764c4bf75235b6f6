"""Digits sample quality: Frechet distance in the feature space of a small classifier.

1. Train a small classifier (MLP 64-256-64-10) on the sklearn-digits *training* split that
   the diffusion model was trained on (same seeded split), record its held-out accuracy.
2. Draw samples from a trained run (EMA weights, the run's sampler) and compute
   FD = |mu_s - mu_t|^2 + tr(C_s + C_t - 2 (C_s C_t)^(1/2)) between the classifier's 64-d
   penultimate features of the samples and of the held-out test digits.
3. Reference points on the same scale: training digits vs test digits (the real-data floor at
   these sample sizes) and Gaussian noise matched to the data's mean/std per pixel.
Also reported: the classifier's class histogram and mean confidence on the samples.

    python benchmarks/bench_digits.py --run outputs/digits/<run dir> [--n 1000]
"""
from __future__ import annotations

import argparse
import json
import time

import torch
from sde_diffusion.data import digits
from sde_diffusion.metrics import frechet_distance
from sde_diffusion.io import load_model
from sde_diffusion.training import generate_samples
from sde_diffusion.training.quality import train_digits_classifier


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", required=True, help="run directory or checkpoint of experiment=digits")
    ap.add_argument("--n", type=int, default=1000, help="samples to draw")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--steps", type=int, default=None, help="override the sampler's steps")
    args = ap.parse_args()

    model, cfg, meta = load_model(args.run)
    data = digits(**{k: v for k, v in cfg.data.items() if k != "_target_"})
    t0 = time.perf_counter()
    feat, head, acc = train_digits_classifier(data, seed=args.seed)
    t_clf = time.perf_counter() - t0
    t0 = time.perf_counter()
    x, info, _ = generate_samples(model, args.n, meta.data_shape, cfg.get("sampler"),
                                  seed=args.seed, steps=args.steps)
    t_sample = time.perf_counter() - t0
    x = x.clamp(-1, 1)
    g = torch.Generator().manual_seed(args.seed + 1)
    mu, sd = data.train.mean(0), data.train.std(0)
    noise = (mu + sd * torch.randn((args.n,) + data.train.shape[1:], generator=g)).clamp(-1, 1)
    with torch.no_grad():
        f_test, f_train = feat(data.test), feat(data.train)
        probs = head(feat(x)).softmax(1)
        res = {
            "classifier_test_accuracy": acc,
            "fd_samples_vs_test": frechet_distance(feat(x), f_test),
            "fd_train_vs_test": frechet_distance(f_train, f_test),
            "fd_noise_vs_test": frechet_distance(feat(noise), f_test),
            "sample_class_histogram": torch.bincount(probs.argmax(1), minlength=10).tolist(),
            "sample_mean_confidence": float(probs.max(1).values.mean()),
            "test_mean_confidence": float(head(f_test).softmax(1).max(1).values.mean()),
            "n_samples": args.n, "n_test": int(data.test.shape[0]), "n_train": int(data.train.shape[0]),
            "sampler": info.sampler, "nfe": info.nfe, "train_steps": int(meta.step),
            "classifier_seconds": round(t_clf, 1), "sampling_seconds": round(t_sample, 1),
        }
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
