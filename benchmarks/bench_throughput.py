"""Training and sampling throughput of the 32x32 U-Net: plain vs torch.compile vs bf16 autocast,
and the framework trainer against a bare PyTorch loop on the same model.

    OMP_NUM_THREADS=1 python benchmarks/bench_throughput.py --preset cpu-small --batch 8 \
        --iters 6 --rounds 3 --sample-steps 10            # CPU smoke numbers (minutes)
    python benchmarks/bench_throughput.py --preset ddpmpp --batch 128 --iters 50 \
        --variants plain,bf16,bf16_cl,compile,bf16_compile   # a GPU

Measured, per variant:
* train images/s = batch / (seconds per optimiser step), for (a) the framework's
  ``Trainer.train_step`` (data position, DSM loss through ``ScoreModel``, AdamW with warm-up lr,
  grad clipping, finiteness check, EMA) and (b) a bare loop written directly in PyTorch doing the
  same work on an identical model (uniform t, x_t = m x0 + s z, eps-MSE on the c_in-scaled input,
  AdamW, clip, EMA with ``torch._foreach_lerp_``). The two are timed in alternating rounds and the
  ratio is the median of the per-round ratios, which cancels most of the drift of a shared
  machine. Target: framework / bare >= 0.95.
* sample images/s = batch / seconds for an Euler-Maruyama run of ``--sample-steps`` steps
  (``solvers.sample``, EMA-free plain weights, batched on the device), with images * NFE / s.

Variants: plain (fp32), bf16 (torch.autocast bf16), bf16_cl (bf16 + channels-last memory
format), compile (torch.compile of the network), bf16_compile. The framework trainer enables
bf16 autocast only on CUDA (``train.amp``), so on CPU the bf16 variants are bare-loop only.
Writes a JSON file and prints a Markdown table for benchmarks/RESULTS.md.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from sde_diffusion import registry
from sde_diffusion.configs import compose, to_plain
from sde_diffusion.data import DataBundle
from sde_diffusion.solvers import sample
from sde_diffusion.tracking import NullTracker
from sde_diffusion.training import Trainer, TrainOptions

PRESETS = {
    # the DDPM++-style config of conf/model/unet.yaml (what a GPU run would train on CIFAR-10)
    "ddpmpp": ["model.net.base_channels=64", "model.net.channel_mult=[1,2,2]",
               "model.net.num_res_blocks=2", "model.net.attn_resolutions=[16]"],
    # a narrower net with the same structure, so a shared 1-core CPU finishes in minutes
    "cpu-small": ["model.net.base_channels=32", "model.net.channel_mult=[1,2,2]",
                  "model.net.num_res_blocks=1", "model.net.attn_resolutions=[16]",
                  "model.net.num_groups=8"],
}
VARIANTS = ("plain", "bf16", "bf16_cl", "compile", "bf16_compile")
SHAPE = (3, 32, 32)


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (CUDA {torch.version.cuda})"
    return (f"CPU {platform.processor() or platform.machine()}, {torch.get_num_threads()} torch "
            f"thread(s), {os.cpu_count()} visible core(s)")


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def build_sde(node):
    return registry.build(to_plain(node))


def build_model(model_cfg, sde, shape):
    """The U-Net ScoreModel of ``model_cfg`` for images of ``shape`` (C, S, S)."""
    m = to_plain(model_cfg)
    net = {**m["net"], "in_channels": shape[0], "image_size": shape[1]}
    return registry.build_score_model({"sde": registry.spec_of(sde), "net": net,
                                       "parameterization": m.get("parameterization", "eps"),
                                       "data_std": m.get("data_std") or 1.0,
                                       "input_scaling": m.get("input_scaling", True)})


def make_cfg(preset: str, batch: int, device: torch.device, variant: str):
    return compose(["model=unet", "logger=none", "sampler=euler_maruyama",
                           f"train.batch_size={batch}", "train.resume=false",
                           f"train.device={device}", "train.warmup_steps=100",
                           f"train.amp={'bf16' in variant}", f"train.compile={'compile' in variant}",
                           "train.log_every=1000000", "train.checkpoint_every=1000000",
                           *PRESETS[preset]])


def fake_images(n: int, seed: int = 0) -> DataBundle:
    """Uniformly quantised random images in [-1, 1] (throughput does not depend on content)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (n, *SHAPE), generator=g).float() / 127.5 - 1.0
    return DataBundle(train=x, test=x[:16], data_shape=SHAPE, kind="images", name="random32",
                      bits=8, value_range=(-1.0, 1.0))


class BareLoop:
    """The same training step written directly in PyTorch (no framework code on the hot path)."""

    def __init__(self, cfg, data: torch.Tensor, device: torch.device, variant: str):
        sde = build_sde(cfg.sde)
        torch.manual_seed(0)
        self.model = build_model(cfg.model, sde, SHAPE).to(device)
        self.net = self.model.net
        self.cl = variant.endswith("_cl")
        if self.cl:
            self.net = self.net.to(memory_format=torch.channels_last)
        self.fwd = torch.compile(self.net) if "compile" in variant else self.net
        self.bf16 = "bf16" in variant
        self.beta_min, self.beta_max = float(cfg.sde.beta_min), float(cfg.sde.beta_max)
        self.eps, self.T = float(cfg.sde.eps), float(cfg.sde.T)
        self.data_std = float(cfg.model.data_std or 1.0)
        self.batch, self.device, self.data = int(cfg.train.batch_size), device, data
        self.opt = torch.optim.AdamW(self.net.parameters(), lr=float(cfg.train.lr),
                                     betas=tuple(cfg.train.betas))
        self.clip = float(cfg.train.grad_clip)
        self.params = [p for p in self.net.parameters()]
        self.ema = [p.detach().clone() for p in self.params]
        self.gen = torch.Generator().manual_seed(1)
        self.perm = torch.randperm(data.shape[0], generator=self.gen)
        self.pos, self.step_no = 0, 0

    def step(self) -> torch.Tensor:
        b, dev = self.batch, self.device
        if self.pos + b > self.data.shape[0]:
            self.pos = 0
        x0 = self.data[self.perm[self.pos:self.pos + b]].to(dev, non_blocking=True)
        self.pos += b
        t = self.eps + (self.T - self.eps) * torch.rand(b, generator=self.gen, dtype=torch.float64)
        z = torch.randn(x0.shape, generator=self.gen).to(dev, non_blocking=True)
        t = t.to(dev)
        # linear VP: log m = -t^2 (bmax - bmin)/4 - t bmin/2,  s^2 = 1 - m^2
        log_m = -0.25 * t * t * (self.beta_max - self.beta_min) - 0.5 * t * self.beta_min
        m = log_m.exp()
        s = (-torch.expm1(2 * log_m)).sqrt()
        m32, s32 = m.float()[:, None, None, None], s.float()[:, None, None, None]
        x_t = m32 * x0 + s32 * z
        c_in = torch.rsqrt(m32 * m32 * self.data_std ** 2 + s32 * s32)
        inp = c_in * x_t
        if self.cl:
            inp = inp.contiguous(memory_format=torch.channels_last)
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=self.bf16):
            pred = self.fwd(inp, t.float())
        loss = (pred.float() - z).pow(2).mean()
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.params, self.clip)
        for g in self.opt.param_groups:
            g["lr"] = float(self.opt.defaults["lr"]) * min(1.0, (self.step_no + 1) / 100)
        self.opt.step()
        d = min(0.999, (1 + self.step_no) / (10 + self.step_no))
        with torch.no_grad():
            torch._foreach_lerp_(self.ema, self.params, 1 - d)
        self.step_no += 1
        return loss.detach()


def time_steps(fn, n: int, device: torch.device) -> float:
    sync(device)
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    sync(device)
    return (time.perf_counter() - t0) / n


def bench_train(args, device, variant):
    cfg = make_cfg(args.preset, args.batch, device, variant)
    n_data = args.batch * (args.warmup + args.iters * args.rounds + 2)
    data = fake_images(max(n_data, 2 * args.batch))
    with tempfile.TemporaryDirectory() as tmp:
        torch.manual_seed(0)
        tc = to_plain(cfg.train)
        torch.manual_seed(0)
        model = build_model(cfg.model, build_sde(cfg.sde), SHAPE)
        trainer = Trainer(model, data=data, run_dir=tmp, tracker=NullTracker(),
                          options=TrainOptions.from_dict(dict(tc, seed=tc["seed"] or 0)),
                          sampler=to_plain(cfg.sampler))
        bare = BareLoop(cfg, data.train, device, variant)
        n_params = sum(p.numel() for p in bare.net.parameters())
        cpu_bf16 = "bf16" in variant and device.type != "cuda"  # the trainer's amp is CUDA-only
        t0 = time.perf_counter()
        for _ in range(args.warmup):  # includes compilation for the compile variants
            bare.step()
            if not cpu_bf16:
                trainer.train_step()
        sync(device)
        warm_s = time.perf_counter() - t0
        fw, br = [], []
        for _ in range(args.rounds):  # alternate so machine-load drift hits both alike
            br.append(time_steps(bare.step, args.iters, device))
            if not cpu_bf16:
                fw.append(time_steps(trainer.train_step, args.iters, device))
    res = {"variant": variant, "params": n_params, "warmup_s": warm_s,
           "bare_img_s": args.batch / statistics.median(br), "bare_step_s": br}
    if fw:
        res.update(framework_img_s=args.batch / statistics.median(fw), framework_step_s=fw,
                   ratio=statistics.median(b / f for b, f in zip(br, fw)))
    return res


@torch.no_grad()
def bench_sample(args, device, variant):
    cfg = make_cfg(args.preset, args.batch, device, variant)
    sde = build_sde(cfg.sde)
    torch.manual_seed(0)
    model = build_model(cfg.model, sde, SHAPE).to(device).eval()
    if variant.endswith("_cl"):
        model.net = model.net.to(memory_format=torch.channels_last)
    if "compile" in variant:
        model.net.compile()
    ctx = (lambda: torch.autocast(device.type, dtype=torch.bfloat16)) if "bf16" in variant \
        else contextlib.nullcontext
    n = args.sample_batch or args.batch

    def run():
        g = torch.Generator(device=device).manual_seed(0)
        with ctx():
            x, info = sample(sde, model, (n, *SHAPE), sampler="euler_maruyama",
                             steps=args.sample_steps, generator=g, device=device, progress=False)
        return info

    t0 = time.perf_counter()
    info = run()  # warm-up (and compilation)
    sync(device)
    warm_s = time.perf_counter() - t0
    times = [time_steps(run, 1, device) for _ in range(args.rounds)]
    sec = statistics.median(times)
    return {"variant": variant, "sample_batch": n, "steps": args.sample_steps, "nfe": info.nfe,
            "sample_img_s": n / sec, "sample_img_nfe_s": n * info.nfe / sec, "sample_s": times,
            "warmup_s": warm_s}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--preset", default="cpu-small", choices=sorted(PRESETS))
    p.add_argument("--device", default="auto")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--sample-batch", type=int, default=0, help="default: --batch")
    p.add_argument("--iters", type=int, default=5, help="timed steps per round")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--sample-steps", type=int, default=10)
    p.add_argument("--variants", default="plain,bf16,compile")
    p.add_argument("--skip-sampling", action="store_true")
    p.add_argument("--out", default=None, help="JSON output path")
    args = p.parse_args(argv)
    variants = [v for v in args.variants.split(",") if v]
    bad = [v for v in variants if v not in VARIANTS]
    if bad:
        p.error(f"unknown variants {bad}; valid choices: {', '.join(VARIANTS)}")
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available()
                          else ("cpu" if args.device == "auto" else args.device))
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True
    os.environ.setdefault("WANDB_MODE", "disabled")
    head = {"device": device_name(device), "torch": torch.__version__, "preset": args.preset,
            "batch": args.batch, "iters": args.iters, "rounds": args.rounds,
            "command": " ".join([Path(sys.argv[0]).as_posix(), *(argv or sys.argv[1:])]),
            "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS")}
    print(json.dumps(head), flush=True)
    rows = []
    for v in variants:
        row = {"train": None, "sample": None}
        try:
            row["train"] = bench_train(args, device, v)
        except Exception as e:  # e.g. no C++ compiler for inductor: record, go on
            row["train"] = {"variant": v, "error": f"{type(e).__name__}: {str(e)[:300]}"}
        if not args.skip_sampling:
            try:
                row["sample"] = bench_sample(args, device, v)
            except Exception as e:
                row["sample"] = {"variant": v, "error": f"{type(e).__name__}: {str(e)[:300]}"}
        print(json.dumps(row), flush=True)
        rows.append(row)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps({**head, "results": rows}, indent=1))
    fmt = lambda x: "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.2f}"
    print(f"\n| variant | framework train img/s | bare train img/s | ratio | sample img/s "
          f"({args.sample_steps} EM steps) | warm-up s |\n|---|---|---|---|---|---|")
    for r in rows:
        tr, sa = r["train"] or {}, r["sample"] or {}
        print(f"| {tr.get('variant')} | {fmt(tr.get('framework_img_s'))} | {fmt(tr.get('bare_img_s'))} "
              f"| {fmt(tr.get('ratio'))} | {fmt(sa.get('sample_img_s'))} | {fmt(tr.get('warmup_s'))} |"
              + (f" error: {tr.get('error') or sa.get('error')}" if 'error' in tr or 'error' in sa else ""))


if __name__ == "__main__":
    main()
