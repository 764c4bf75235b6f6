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
4. Inpainting of half-masked test digits (the top half observed, the bottom half filled in)
   with the replacement method, PiGDM and DPS (both with the Gaussian Jacobian; PiGDM with the
   network's Jacobian is run too and diverges on this model, recorded as such): picture
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
from sde_diffusion.losses import DenoisingLoss, sample_time
from sde_diffusion.models import ScoreModel, UNet
from sde_diffusion.models.classifier import NoiseConditionalClassifier, noisy_classifier_loss
from sde_diffusion.sdes import VPSDE
from sde_diffusion.training.quality import train_digits_classifier as train_eval_classifier

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


DSM = DenoisingLoss()


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
        # t, noise, then label dropout (null label 10), all from g: the draws of the figures
        t, _ = sample_time(model.sde, 64, "uniform", generator=g)
        noise = torch.randn(x[idx].shape, generator=g, dtype=x.dtype)
        drop = torch.rand(64, generator=g, dtype=torch.float64) < p_uncond
        labels = torch.where(drop, torch.full_like(y[idx], model.num_classes), y[idx])
        loss = DSM(model, x[idx], y=labels, t=t, noise=noise).mean()
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


def save_grid(images: torch.Tensor, rows: int, path: str, row_labels=None) -> None:
    """images (rows*cols, 1, 8, 8) in [-1, 1] -> one PNG grid."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    cols = images.shape[0] // rows
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 0.6 + (1.2 if row_labels else 0), rows * 0.6))
    for i, ax in enumerate(axes.reshape(-1)):
        ax.imshow(((images[i, 0] + 1) / 2).clamp(0, 1).numpy(), cmap="gray_r", vmin=0, vmax=1)
        ax.set_xticks([]), ax.set_yticks([])
        if row_labels and i % cols == 0:
            ax.set_ylabel(row_labels[i // cols], rotation=0, ha="right", va="center", fontsize=8)
    fig.tight_layout(pad=0.2)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def evaluate(model, noisy_clf, data, sde, args, log) -> None:
    from sde_diffusion.conditional import (LinearMeasurement, cfg_score, classifier_score,
                                           posterior_score, replacement)
    from sde_diffusion.metrics import frechet_distance
    from sde_diffusion.solvers import sample
    from sde_diffusion.solvers.base import NonFiniteSampleError

    t0 = time.perf_counter()
    feat, head, acc = train_eval_classifier(data, seed=args.seed)
    log(f"evaluation classifier: held-out accuracy {acc:.4f} ({time.perf_counter() - t0:.0f}s)")
    res = {"eval_classifier_test_accuracy": acc, "sampler": args.sampler,
           "sample_steps": args.sample_steps, "n_per_class": args.n_per_class, "guidance": []}
    with torch.no_grad():
        f_test = feat(data.test)
        res["fd_train_vs_test"] = frechet_distance(feat(data.train), f_test)
    labels = torch.arange(NUM_CLASSES).repeat_interleave(args.n_per_class)
    n = labels.shape[0]

    def run(score, tag, **kw):
        t1 = time.perf_counter()
        x, info = sample(sde, score, (n, 1, 8, 8), sampler=args.sampler, steps=args.sample_steps,
                         generator=torch.Generator().manual_seed(args.seed), **kw)
        x = x.clamp(-1, 1)
        with torch.no_grad():
            f = feat(x)
            pred = head(f).argmax(1)
        row = {"method": tag, "accuracy": float((pred == labels).float().mean()),
               "fd_vs_test": frechet_distance(f, f_test), "solver_nfe": info.nfe,
               "network_evals": getattr(score, "nfe", info.nfe), "seconds": round(time.perf_counter() - t1, 1)}
        log(json.dumps(row))
        return x, row

    for w in args.scales:
        x, row = run(cfg_score(model, labels, w=w), f"cfg w={w:g}")
        row["w"] = w
        res["guidance"].append(row)
        if w == args.grid_scale:
            pick = torch.cat([x[labels == c][:10] for c in range(NUM_CLASSES)])
            save_grid(pick, NUM_CLASSES, "docs/digits_cond_grid.png", [str(c) for c in range(NUM_CLASSES)])
    res["classifier_guidance"] = []
    for scale in args.clf_scales:
        _, row = run(classifier_score(model, noisy_clf, labels, scale=scale), f"classifier scale={scale:g}")
        row["scale"] = scale
        res["classifier_guidance"].append(row)
    plot_guidance(res)

    # inpainting: observe the top half (rows 0-3), fill in the bottom half
    k = min(args.n_inpaint, data.test.shape[0])
    x_true, y_true = data.test[:k], data.test_labels[:k]
    mask = torch.zeros(1, 8, 8)
    mask[:, :4] = 1.0
    meas = LinearMeasurement.inpainting(mask, x_true)
    data_var = float(data.train.var())
    with torch.no_grad():
        pred_true = head(feat(x_true)).argmax(1)
        pred_masked = head(feat(x_true * mask + (1 - mask) * -1.0)).argmax(1)  # bottom half blank
    res["inpainting"] = {"n": k, "observed": "top 4 of 8 rows",
                         "classifier_on_originals_accuracy": float((pred_true == y_true).float().mean()),
                         "blank_bottom_agreement": float((pred_masked == y_true).float().mean())}
    fills = {}
    for tag, kw in (("replacement", dict(score=model, after_step=replacement(sde, meas))),
                    ("pigdm", dict(score=posterior_score(sde, model, meas, "pigdm", data_var=data_var,
                                                         jacobian="gaussian"))),
                    ("dps", dict(score=posterior_score(sde, model, meas, "dps", dps_noise=0.1,
                                                       data_var=data_var, jacobian="gaussian"))),
                    ("pigdm_network_jacobian",
                     dict(score=posterior_score(sde, model, meas, "pigdm", data_var=data_var)))):
        t1 = time.perf_counter()
        score = kw.pop("score")
        try:
            x, info = sample(sde, score, (k, 1, 8, 8), sampler="euler_maruyama", steps=args.inpaint_steps,
                             generator=torch.Generator().manual_seed(args.seed), **kw)
        except NonFiniteSampleError as e:  # record the divergence instead of a number
            res["inpainting"][tag] = {"diverged": str(e), "steps": args.inpaint_steps}
            log(f"inpainting {tag}: diverged: {e}")
            continue
        x = x.clamp(-1, 1)
        with torch.no_grad():
            pred = head(feat(x)).argmax(1)
        fills[tag] = x
        res["inpainting"][tag] = {
            "agreement_with_true_label": float((pred == y_true).float().mean()),
            "agreement_with_classifier_on_original": float((pred == pred_true).float().mean()),
            "observed_rows_max_abs_err": float(((x - x_true) * mask).abs().max()),
            "nfe": info.nfe, "seconds": round(time.perf_counter() - t1, 1)}
        log(f"inpainting {tag}: {res['inpainting'][tag]}")
    show = 12
    masked = x_true[:show] * mask + (1 - mask) * -1.0
    save_grid(torch.cat([x_true[:show], masked] + [fills[t][:show] for t in fills]), 2 + len(fills),
              "docs/digits_inpainting.png", ["original", "top half"] + list(fills))
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(res, f, indent=1)
    log("wrote " + os.path.join(args.out, "results.json"))


def plot_guidance(res) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    ws = [r["w"] for r in res["guidance"]]
    fig, (a, b) = plt.subplots(1, 2, figsize=(8, 3.2))
    a.plot(ws, [r["accuracy"] for r in res["guidance"]], "o-", label="classifier-free")
    b.plot(ws, [r["fd_vs_test"] for r in res["guidance"]], "o-", label="classifier-free")
    b.axhline(res["fd_train_vs_test"], color="k", ls="--", lw=1, label="train vs test digits")
    a.set_xlabel("guidance scale w (0 = conditional, -1 = unconditional)"), a.set_ylabel("accuracy on samples")
    b.set_xlabel("guidance scale w"), b.set_ylabel("Frechet distance to test digits")
    a.legend(fontsize=7), b.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig("docs/digits_cond_guidance.png", dpi=120)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="outputs/cond_digits")
    ap.add_argument("--steps", type=int, default=6000, help="score-model training steps")
    ap.add_argument("--clf-steps", type=int, default=3000, help="noisy-classifier training steps")
    ap.add_argument("--p-uncond", type=float, default=0.2)
    ap.add_argument("--n-per-class", type=int, default=50, help="samples per class per scale")
    ap.add_argument("--sample-steps", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--train-only", action="store_true")
    ap.add_argument("--sampler", default="ddim")
    ap.add_argument("--scales", type=float, nargs="+", default=[-1.0, 0.0, 0.5, 1.0, 2.0, 4.0])
    ap.add_argument("--grid-scale", type=float, default=1.0)
    ap.add_argument("--clf-scales", type=float, nargs="+", default=[1.0, 3.0])
    ap.add_argument("--n-inpaint", type=int, default=120)
    ap.add_argument("--inpaint-steps", type=int, default=100)
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
