"""A diffusers UNet2DModel on the 8x8 digits, trained by diffusers' own DDPM recipe, then
sampled by diffusers' schedulers and by the project's samplers from the same noise.

    python benchmarks/bench_diffusers.py train  --out benchmarks/results/digits_unet2d
    python benchmarks/bench_diffusers.py compare --model benchmarks/results/digits_unet2d
    python benchmarks/bench_diffusers.py table  --model benchmarks/results/digits_unet2d

``train``: DDPMScheduler(linear betas, 1000 steps).add_noise, eps-MSE loss, AdamW, EMA weights
saved with ``save_pretrained`` (diffusers' layout: unet/ and scheduler/).
``compare``: max |x_ours - x_diffusers| for DDIM and DPM-Solver++(2M) at 10/20/50 steps from the
same x_T, and the wall time per network call of both loops in one run.
``table``: FD / KID / precision-recall against the digits test split at 5/10/20/50 NFE, 95 %
intervals over seeds, the exact-data floor at the same n, and the model's bits/dim.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def tiny_unet(sample_size: int = 8, channels: int = 1, width: int = 16):
    from diffusers import UNet2DModel
    return UNet2DModel(sample_size=sample_size, in_channels=channels, out_channels=channels,
                       layers_per_block=1, block_out_channels=(width, 2 * width),
                       down_block_types=("DownBlock2D", "AttnDownBlock2D"),
                       up_block_types=("AttnUpBlock2D", "UpBlock2D"), norm_num_groups=8,
                       attention_head_dim=8)


def train(args) -> None:
    """diffusers' DDPM training recipe (train_unconditional.py, reduced to its core)."""
    from diffusers import DDPMPipeline, DDPMScheduler
    from diffusers.training_utils import EMAModel
    from sde_diffusion.data import digits
    torch.manual_seed(args.seed)
    data = digits().train
    unet = tiny_unet()
    sched = DDPMScheduler(num_train_timesteps=1000, beta_schedule="linear")
    opt = torch.optim.AdamW(unet.parameters(), lr=args.lr, weight_decay=1e-6)
    warm = 200
    lr_at = lambda i: min(1.0, (i + 1) / warm) * 0.5 * (1 + math.cos(math.pi * i / args.steps))
    lrs = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    ema = EMAModel(unet.parameters(), decay=args.ema, use_ema_warmup=True, inv_gamma=1.0, power=0.75)
    g = torch.Generator().manual_seed(args.seed)
    t0, run = time.time(), 0.0
    for i in range(args.steps):
        idx = torch.randint(0, data.shape[0], (args.batch,), generator=g)
        x0 = data[idx]
        noise = torch.randn(x0.shape, generator=g)
        ts = torch.randint(0, sched.config.num_train_timesteps, (x0.shape[0],), generator=g)
        xt = sched.add_noise(x0, noise, ts)
        loss = torch.nn.functional.mse_loss(unet(xt, ts).sample, noise)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
        opt.step()
        lrs.step()
        ema.step(unet.parameters())
        run = 0.98 * run + 0.02 * loss.item() if i else loss.item()
        if i % 250 == 0 or i == args.steps - 1:
            print(f"step {i} loss {run:.4f} {time.time() - t0:.0f}s", flush=True)
    ema.copy_to(unet.parameters())
    DDPMPipeline(unet=unet, scheduler=sched).save_pretrained(args.out)
    meta = {"steps": args.steps, "batch": args.batch, "lr": args.lr, "ema": args.ema,
            "seed": args.seed, "final_loss_ema": run, "train_seconds": time.time() - t0}
    (Path(args.out) / "training.json").write_text(json.dumps(meta, indent=2))
    print("saved", args.out, meta)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train")
    t.add_argument("--out", default=str(ROOT / "benchmarks/results/digits_unet2d"))
    t.add_argument("--steps", type=int, default=3000)
    t.add_argument("--batch", type=int, default=64)
    t.add_argument("--lr", type=float, default=2e-3)
    t.add_argument("--ema", type=float, default=0.999)
    t.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    {"train": train}[args.cmd](args)


if __name__ == "__main__":
    main()
