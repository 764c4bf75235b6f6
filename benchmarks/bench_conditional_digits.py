"""Class-conditional digits: classifier-free guidance, classifier guidance, inpainting.

1. Train a class-conditional U-Net (the ``experiment=digits`` network plus a label embedding,
   ``num_classes=10``) with the DSM loss and label dropout ``p_uncond`` (one network gives the
   conditional and the unconditional score), AdamW + warm-up, grad clipping, EMA. Also a
   noise-conditional classifier on perturbed digits (same SDE) for classifier guidance, and a
   small classifier on clean digits for evaluation (the MLP of ``bench_digits.py``).
2. A 10-class sample grid (``docs/digits_cond_grid.png``).
3. Against the guidance scale w (CFG convention: score = (1 + w) s(x|c) - w s(x), w = 0 is the
   conditional model): the evaluation classifier's accuracy on the guided samples (does it
   read the requested class?) and the Frechet distance in its 64-d feature space to the held-out
   test digits (``docs/digits_cond_guidance.png``); also classifier guidance at a few scales.
4. Inpainting of half-masked test digits (bottom half observed... no: the *top* half observed,
   the bottom half filled in) with the replacement method and PiGDM: picture
   (``docs/digits_inpainting.png``) and how often the classifier's label of a completion agrees
   with the original's.

    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/bench_conditional_digits.py \
        --out outputs/cond_digits --steps 6000
Training is skipped when ``--out`` already holds ``model.pt`` (weights only, loaded with
``weights_only=True``); results go to ``--out/results.json``.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import time

import torch
from torch import nn

from sde_diffusion.data import digits
from sde_diffusion.losses import dsm_loss
from sde_diffusion.models import ScoreModel, UNet
from sde_diffusion.models.classifier import NoiseConditionalClassifier, noisy_classifier_loss
from sde_diffusion.sdes import VPSDE

NUM_CLASSES = 10


def build(data_std: float):
    net = UNet(in_channels=1, image_size=8, base_channels=16, channel_mult=(1, 2),
               num_res_blocks=1, attn_resolutions=(4,), dropout=0.1, num_heads=1, num_groups=8,
               num_classes=NUM_CLASSES)
    return ScoreModel(net, VPSDE(), "eps", data_std=data_std)


def ema_update(ema: dict, model: nn.Module, decay: float, n: int) -> None:
    d = min(decay, (1.0 + n) / (10.0 + n))
    with torch.no_grad():
        for k, v in model.state_dict().items():
            if v.is_floating_point():
                ema[k].lerp_(v, 1.0 - d)
            else:
                ema[k].copy_(v)


def train_score(data, steps: int, p_uncond: float, seed: int, log) -> ScoreModel:
    torch.manual_seed(seed)
    model = build(float(data.train.std()))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    ema = {k: v.detach().clone() for k, v in model.state_dict().items()}
    g = torch.Generator().manual_seed(seed)
    x, y = data.train, data.train_labels
    t0 = time.perf_counter()
    for step in range(steps):
        for group in opt.param_groups:
            group["lr"] = 1e-3 * min(1.0, (step + 1) / 200)
        idx = torch.randint(0, x.shape[0], (64,), generator=g)
        loss = dsm_loss(model, x[idx], generator=g, y=y[idx], p_uncond=p_uncond).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        ema_update(ema, model, 0.999, step)
        if step % 500 == 0 or step == steps - 1:
            log(f"score step {step} loss {loss.item():.4f} {time.perf_counter() - t0:.0f}s")
    model.load_state_dict(ema)
    return model.eval()


def train_noisy_classifier(data, sde, steps: int, seed: int, log) -> NoiseConditionalClassifier:
    torch.manual_seed(seed)
    clf = NoiseConditionalClassifier(64, NUM_CLASSES, sde=sde, data_std=float(data.train.std()),
                                     hidden=256, depth=3)
    opt = torch.optim.AdamW(clf.parameters(), lr=1e-3, weight_decay=1e-4)
    g = torch.Generator().manual_seed(seed + 7)
    x, y = data.train, data.train_labels
    for step in range(steps):
        idx = torch.randint(0, x.shape[0], (128,), generator=g)
        loss = noisy_classifier_loss(clf, sde, x[idx], y[idx], generator=g).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % 1000 == 0 or step == steps - 1:
            log(f"noisy classifier step {step} loss {loss.item():.4f}")
    return clf.eval()


def train_eval_classifier(data, epochs: int = 60, seed: int = 0):
    """The clean-digit MLP of bench_digits.py: 64-256-64-10; returns (features, head, accuracy)."""
    torch.manual_seed(seed)
    feat = nn.Sequential(nn.Flatten(), nn.Linear(64, 256), nn.SiLU(), nn.Linear(256, 64), nn.SiLU())
    head = nn.Linear(64, NUM_CLASSES)
    net = nn.Sequential(feat, head)
    opt = torch.optim.AdamW(net.parameters(), lr=2e-3, weight_decay=1e-4)
    x, y = data.train, data.train_labels
    g = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        perm = torch.randperm(x.shape[0], generator=g)
        for i in range(0, x.shape[0], 64):
            idx = perm[i:i + 64]
            xb = x[idx] + 0.05 * torch.randn(x[idx].shape, generator=g)
            loss = nn.functional.cross_entropy(net(xb), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    net.eval()
    with torch.no_grad():
        acc = float((net(data.test).argmax(1) == data.test_labels).float().mean())
    return feat, head, acc


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="outputs/cond_digits")
    ap.add_argument("--steps", type=int, default=6000, help="score-model training steps")
    ap.add_argument("--clf-steps", type=int, default=3000, help="noisy-classifier training steps")
    ap.add_argument("--p-uncond", type=float, default=0.2)
    ap.add_argument("--n-per-class", type=int, default=50, help="samples per class per scale")
    ap.add_argument("--sample-steps", type=int, default=40)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--train-only", action="store_true")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    logf = open(os.path.join(args.out, "log.txt"), "a")

    def log(msg: str) -> None:
        print(msg, flush=True)
        logf.write(msg + "\n")
        logf.flush()

    data = digits()
    sde = VPSDE()
    path = os.path.join(args.out, "model.pt")
    if os.path.exists(path):
        state = torch.load(path, weights_only=True)
        model = build(float(data.train.std()))
        model.load_state_dict(state["score"])
        clf = NoiseConditionalClassifier(64, NUM_CLASSES, sde=sde, data_std=float(data.train.std()),
                                         hidden=256, depth=3)
        clf.load_state_dict(state["noisy_classifier"])
        model.eval(), clf.eval()
        log(f"loaded {path}")
    else:
        t0 = time.perf_counter()
        model = train_score(data, args.steps, args.p_uncond, args.seed, log)
        t_score = time.perf_counter() - t0
        t0 = time.perf_counter()
        clf = train_noisy_classifier(data, sde, args.clf_steps, args.seed, log)
        t_clf = time.perf_counter() - t0
        torch.save({"score": model.state_dict(), "noisy_classifier": clf.state_dict(),
                    "seconds": {"score": t_score, "noisy_classifier": t_clf}}, path)
        log(f"saved {path}: score {t_score:.0f}s, noisy classifier {t_clf:.0f}s")
    if args.train_only:
        return
    evaluate(model, clf, data, sde, args, log)


if __name__ == "__main__":
    main()
