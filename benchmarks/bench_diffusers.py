"""A diffusers UNet2DModel on the 8x8 digits, trained by diffusers' own DDPM recipe, then
sampled by diffusers' schedulers and by the project's samplers from the same noise.

    python benchmarks/bench_diffusers.py train  --out benchmarks/results/digits_unet2d
    python benchmarks/bench_diffusers.py compare --model benchmarks/results/digits_unet2d
    python benchmarks/bench_diffusers.py table  --model benchmarks/results/digits_unet2d

``train``: DDPMScheduler(linear betas, 1000 steps).add_noise, eps-MSE loss, AdamW, EMA weights
saved with ``save_pretrained`` (diffusers' layout: unet/ and scheduler/).
``compare``: max |x_ours - x_diffusers| for DDIM and DPM-Solver++(2M) at 10/20/50 steps from the
same x_T.
``cost``: CPU time per network call of diffusers' DDIMPipeline and the project's ``sample`` on
the same model, steps and x_T (interleaved repeats, median of the paired ratios).
``table``: FD / KID / precision-recall against the digits test split at 5/10/20/50 NFE, 95 %
intervals over seeds, the exact-data floor at the same n, and the paired per-sample RMS to a
high-NFE reference from the same x_T (``report`` summarises a partial run).
``bpd``: the model's bits/dim on the test split.
"""
from __future__ import annotations

import argparse
import json
import math
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


# ------------------------------------------------------------------------ side by side
def _load(model_dir):
    from diffusers import DDPMScheduler, UNet2DModel
    from sde_diffusion.models import from_diffusers
    unet = UNet2DModel.from_pretrained(Path(model_dir) / "unet").eval()
    base = DDPMScheduler.from_pretrained(Path(model_dir) / "scheduler").config
    return unet, base, from_diffusers(model_dir)


def diffusers_scheduler(name: str, base, **kw):
    """diffusers' scheduler by row name, from the model's own scheduler config."""
    import diffusers as D
    cls = {"DDIM": D.DDIMScheduler, "DPM++2M": D.DPMSolverMultistepScheduler,
           "UniPC": D.UniPCMultistepScheduler}[name]
    return cls.from_config(base, **kw)


@torch.no_grad()
def diffusers_loop(unet, sched, z, steps):
    sched.set_timesteps(steps)
    x = z.clone()
    for t in sched.timesteps:
        x = sched.step(unet(x, t).sample, t, x).prev_sample
    return x, sched.timesteps


def ours_on_diffusers_grid(model, z, timesteps, sampler, **kw):
    """The project's sampler on diffusers' timesteps: t = (n + 1)/N, then t = 0 (x0)."""
    from sde_diffusion.solvers import sample
    n_train = model.net.num_train_timesteps
    grid = torch.cat([(timesteps.double() + 1) / n_train, torch.zeros(1, dtype=torch.float64)])
    return sample(model.sde, model, x_init=z.clone(), sampler=sampler, grid=grid.tolist(),
                  denoise=False, **kw)


def compare(args) -> None:
    unet, base, model = _load(args.model)
    z = torch.randn(args.n, 1, 8, 8, generator=torch.Generator().manual_seed(args.seed))
    rows = []
    cases = [("DDIM (clip_sample=False)", "DDIM", {"clip_sample": False}, "ddim", {}),
             ("DPM-Solver++(2M), solver_type=heun", "DPM++2M", {"solver_type": "heun"},
              "dpm_solver2", {"min_ratio": 0.0}),
             ("DPM-Solver++(2M), solver_type=midpoint (default)", "DPM++2M", {}, "dpm_solver2",
              {"min_ratio": 0.0})]
    for label, name, kw, ours, okw in cases:
        for steps in (10, 20, 50):
            want, ts = diffusers_loop(unet, diffusers_scheduler(name, base, **kw), z, steps)
            got, info = ours_on_diffusers_grid(model, z, ts, ours, **okw)
            diff = (got - want).abs()
            rows.append({"case": label, "steps": steps, "nfe_ours": info.nfe,
                         "max_abs_diff": float(diff.max()),
                         "rms_diff": float(diff.pow(2).mean().sqrt()),
                         "sample_scale": float(want.abs().max())})
            print(rows[-1], flush=True)
    out = {"model": str(args.model), "n": args.n, "seed": args.seed, "rows": rows,
           "machine": "2-core shared CPU, OMP_NUM_THREADS=1"}
    Path(args.out).write_text(json.dumps(out, indent=2))


class _Stub(torch.nn.Module):
    """A network that costs nothing: isolates each loop's own cost per call."""

    def __init__(self, unet):
        super().__init__()
        self.config = unet.config
        self.dtype, self.device = unet.dtype, unet.device  # what a pipeline asks its unet

    def forward(self, x, t):
        from types import SimpleNamespace
        return SimpleNamespace(sample=x * 0.1)


def _timed(fn):
    c0, t0 = time.process_time(), time.perf_counter()
    out = fn()
    return out, time.process_time() - c0, time.perf_counter() - t0


def cost(args) -> None:
    """CPU time per network call of diffusers' ``DDIMPipeline`` and of the project's ``sample``
    (``ddim``, on the pipeline's own timesteps) on the same model, steps and x_T: interleaved
    repeats (the order alternates), the ratio of each paired repeat, its median. Process CPU
    time (OMP_NUM_THREADS=1) is what one run costs whatever else loads the machine; wall time
    is recorded for reference. The same loops around a free stub network give each loop's own
    cost per call."""
    from diffusers import DDIMPipeline
    unet, base, model = _load(args.model)
    torch.set_num_threads(1)
    sched = diffusers_scheduler("DDIM", base, clip_sample=False)
    pipe = DDIMPipeline(unet=unet, scheduler=sched)
    pipe.set_progress_bar_config(disable=True)
    steps, n = args.steps, args.n
    shape = (n, 1, 8, 8)

    def theirs():
        g = torch.Generator().manual_seed(args.seed)
        with torch.no_grad():
            return pipe(batch_size=n, generator=g, num_inference_steps=steps, output_type="pt",
                        eta=0.0).images

    def ours():
        z = torch.randn(shape, generator=torch.Generator().manual_seed(args.seed))
        x, info = ours_on_diffusers_grid(model, z, pipe.scheduler.timesteps, "ddim")
        assert info.nfe == steps, info.nfe
        return (x / 2 + 0.5).clamp(0, 1)

    want, got = theirs(), ours()  # warm-up, and the check that both compute the same images
    agree = float((want - got).abs().max())
    reps = []
    for i in range(args.repeats):
        first, second = (theirs, ours) if i % 2 == 0 else (ours, theirs)
        a, b = _timed(first)[1:], _timed(second)[1:]
        (cd, wd), (co, wo) = (a, b) if i % 2 == 0 else (b, a)
        reps.append({"diffusers_cpu_s": cd, "ours_cpu_s": co, "diffusers_wall_s": wd,
                     "ours_wall_s": wo, "cpu_ratio": co / cd, "wall_ratio": wo / wd})
        print(reps[-1], flush=True)
    med = lambda v: sorted(v)[len(v) // 2]
    # each loop's own cost per call: the same loops around a free network
    real = pipe.unet
    stub = _Stub(real)
    pipe.unet, model.net.unet = stub, stub
    loop_d = med([_timed(theirs)[1] for _ in range(args.repeats)]) / steps
    loop_o = med([_timed(ours)[1] for _ in range(args.repeats)]) / steps
    pipe.unet, model.net.unet = real, real
    out = {"model": str(args.model), "batch": n, "steps": steps, "seed": args.seed,
           "repeats": args.repeats, "max_abs_image_diff": agree,
           "median_cpu_ratio": med([r["cpu_ratio"] for r in reps]),
           "min_cpu_ratio": min(r["cpu_ratio"] for r in reps),
           "max_cpu_ratio": max(r["cpu_ratio"] for r in reps),
           "median_wall_ratio": med([r["wall_ratio"] for r in reps]),
           "diffusers_cpu_s_per_call": med([r["diffusers_cpu_s"] for r in reps]) / steps,
           "ours_cpu_s_per_call": med([r["ours_cpu_s"] for r in reps]) / steps,
           "diffusers_loop_cpu_s_per_call": loop_d, "ours_loop_cpu_s_per_call": loop_o,
           "repeats_detail": reps, "torch_threads": torch.get_num_threads(),
           "machine": "2-core shared CPU, OMP_NUM_THREADS=1"}
    Path(args.out).write_text(json.dumps(out, indent=1))
    print({k: v for k, v in out.items() if k != "repeats_detail"})


# ------------------------------------------------------------------------- solver table
OURS = ("ddim", "dpm_solver2", "unipc", "ipndm")
#: diffusers rows: scheduler class and overrides of the model's own config (none: its defaults)
THEIRS = {"DDIM": ("DDIM", {}), "DPM++2M": ("DPM++2M", {}), "UniPC": ("UniPC", {}),
          "DDIM-noclip": ("DDIM", {"clip_sample": False})}


def _interval(vals):
    """mean and the half-width of a 95 % Student-t interval over seeds."""
    from scipy import stats
    v = torch.tensor(vals, dtype=torch.float64)
    if v.numel() < 2:
        return float(v.mean()), float("nan")
    half = float(stats.t.ppf(0.975, v.numel() - 1) * v.std() / math.sqrt(v.numel()))
    return float(v.mean()), half


def _normal_interval(v: torch.Tensor):
    """mean and 95 % normal half-width of i.i.d. per-sample values (n in the thousands)."""
    v = v.double()
    return float(v.mean()), float(1.96 * v.std() / math.sqrt(v.numel()))


def _per_sample_rms(x, ref):
    """RMS over pixels of the delivered images (clamped to [-1, 1]) against the reference."""
    d = x.clamp(-1, 1) - ref.clamp(-1, 1)
    return d.flatten(1).pow(2).mean(1).sqrt()


def table(args) -> None:
    """FD / KID / PRDC vs the digits test split and the per-sample RMS to a high-NFE reference
    from the same x_T, every row from the same x_T per seed. One record per (row, NFE, seed)
    is written as soon as it is done; a re-run skips the cells already in ``--out``."""
    from sde_diffusion.data import digits
    from sde_diffusion.metrics import sample_quality
    from sde_diffusion.solvers import sample
    from sde_diffusion.training.quality import train_digits_classifier
    unet, base, model = _load(args.model)
    data = digits()
    feat, _, acc = train_digits_classifier(data, epochs=60, seed=0)
    feat.eval()
    ref_split, n = data.test, args.n
    out_path, rms_path = Path(args.out), Path(args.out).with_suffix(".rms.pt")
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    old = json.loads(out_path.read_text()) if out_path.is_file() else {}
    keep = old.get("n") == n and old.get("reference") == [args.ref, args.ref_nfe]
    records = old.get("records", []) if keep else []
    checks = old.get("reference_checks", []) if keep else []
    rms = torch.load(rms_path) if keep and rms_path.is_file() else {}
    done = {(r["row"], r["nfe"], r["seed"]) for r in records}
    fname = f"digits classifier (64-d penultimate, test acc {acc:.3f})"
    q = dict(k=args.k, kid_subsets=50, kid_subset_size=min(n, 300))

    def save():
        out = {"model": str(args.model), "n": n, "k": args.k, "reference": [args.ref, args.ref_nfe],
               "classifier_test_accuracy": acc, "records": records, "reference_checks": checks,
               "machine": "2-core shared CPU, OMP_NUM_THREADS=1"}
        out_path.write_text(json.dumps(out, indent=1))
        torch.save(rms, rms_path)

    def run(label, nfe, seed, z, fn):
        if (label, nfe, seed) in done:
            return
        t0, c0 = time.perf_counter(), time.process_time()
        x = fn(z.clone(), nfe)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        r = _per_sample_rms(x, ref)
        rms[f"{label}|{nfe}|{seed}"] = r.float()
        qual = sample_quality(x.clamp(-1, 1), ref_split, feat, fname, "digits test (359)", [seed], **q)
        records.append({"row": label, "nfe": nfe, "seed": seed, "wall_s": wall, "cpu_s": cpu,
                        "rms_to_reference": float(r.mean()), **qual})
        done.add((label, nfe, seed))
        save()
        print(f"seed {seed} nfe {nfe} {label}: fd {qual['fd']:.2f} rms {float(r.mean()):.4f} "
              f"({wall:.0f}s)", flush=True)

    def ours(name):
        return lambda z, nfe: sample(model.sde, model, x_init=z, sampler=name, steps=nfe,
                                     t_end=0.0)[0]

    def theirs(name):
        cls, kw = THEIRS[name]
        return lambda z, nfe: diffusers_loop(unet, diffusers_scheduler(cls, base, **kw), z, nfe)[0]

    zs, refs = {}, {}
    for seed in args.seeds:  # every seed's x_T and reference first, then the cells NFE by NFE
        pool = max(n, 1000)  # x_T: the first n of `pool` draws, so runs at n <= 1000 nest
        zs[seed] = torch.randn(pool, 1, 8, 8, generator=torch.Generator().manual_seed(1000 + seed))[:n]
        names = (args.ref, args.ref_check) if seed in args.check_seeds else (args.ref,)
        for name in names:
            f, whole = (cache / f"ref_{name}_{args.ref_nfe}_n{m}_s{seed}.pt" for m in (n, pool))
            if not f.is_file() and not whole.is_file():
                with torch.no_grad():
                    torch.save(ours(name)(zs[seed].clone(), args.ref_nfe), f)
            refs[seed, name] = torch.load(f if f.is_file() else whole)[:n]
        if len(names) > 1 and not any(c["seed"] == seed for c in checks):
            d = _per_sample_rms(refs[seed, args.ref_check], refs[seed, args.ref])
            checks.append({"seed": seed, "other": args.ref_check, "rms_mean": float(d.mean()),
                           "rms_max": float(d.max())})
            save()
    for nfe in args.nfe:
        for seed in args.seeds:
            ref = refs[seed, args.ref]
            for name in args.theirs:
                run(f"diffusers {name}", nfe, seed, zs[seed], theirs(name))
            for name in args.ours:
                run(f"sde_diffusion {name}", nfe, seed, zs[seed], ours(name))
    floors = [sample_quality(data.train[k * n:(k + 1) * n], ref_split, feat, fname,
                             "digits test (359)", [], **q)
              for k in range(data.train.shape[0] // n)]  # disjoint chunks: the floor's spread
    out = json.loads(out_path.read_text())
    out["floor_train_vs_test"], out["floor_chunks"] = floors[0], floors
    out_path.write_text(json.dumps(out, indent=1))
    print(report_markdown(out, rms))


def summarize(out, rms):
    """Rows (metric means with 95 % intervals over seeds; RMS to the reference with a 95 %
    interval over all samples) and, per NFE, the paired differences of per-sample RMS."""
    by = {}
    for r in out["records"]:
        by.setdefault((r["row"], r["nfe"]), []).append(r)
    rows = []
    for (row, nfe), rs in sorted(by.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        seeds = sorted(r["seed"] for r in rs)
        e = {"row": row, "nfe": nfe, "seeds": seeds}
        for m in ("fd", "kid", "precision", "recall", "density", "coverage"):
            e[m] = _interval([r[m] for r in rs])
        e["rms"] = _normal_interval(torch.cat([rms[f"{row}|{nfe}|{s}"] for s in seeds]))
        rows.append(e)
    paired = []
    for nfe in sorted({r["nfe"] for r in rows}):
        here = [r for r in rows if r["nfe"] == nfe]
        common = sorted(set.intersection(*(set(r["seeds"]) for r in here)))
        if not common:
            continue
        vec = {r["row"]: torch.cat([rms[f"{r['row']}|{nfe}|{s}"] for s in common]) for r in here}
        best = min(vec, key=lambda k: float(vec[k].mean()))
        for row, v in vec.items():
            d = _normal_interval(v - vec[best])
            paired.append({"nfe": nfe, "row": row, "best": best, "seeds": common,
                           "diff_to_best": d, "separated": row == best or d[0] - d[1] > 0})
    return rows, paired


COUNTERPARTS = (("sde_diffusion ddim", "diffusers DDIM"),
                ("sde_diffusion dpm_solver2", "diffusers DPM++2M"),
                ("sde_diffusion unipc", "diffusers UniPC"))


def counterparts(out, rms):
    """Each project sampler minus its diffusers counterpart at equal NFE: per-sample RMS to the
    reference (paired by x_T, 95 % normal interval) and FD (paired by seed, 95 % t interval)."""
    fd = {(r["row"], r["nfe"], r["seed"]): r["fd"] for r in out["records"]}
    res = []
    for nfe in sorted({r["nfe"] for r in out["records"]}):
        for a, b in COUNTERPARTS:
            seeds = sorted(s for (row, n, s) in fd if row == a and n == nfe and (b, nfe, s) in fd)
            if not seeds:
                continue
            d = torch.cat([rms[f"{a}|{nfe}|{s}"] - rms[f"{b}|{nfe}|{s}"] for s in seeds])
            res.append({"nfe": nfe, "ours": a, "theirs": b, "seeds": seeds,
                        "rms_diff": _normal_interval(d),
                        "fd_diff": _interval([fd[a, nfe, s] - fd[b, nfe, s] for s in seeds])})
    return res


def counterparts_markdown(res) -> str:
    f = lambda v, k=1.0, d=1: f"{k * v[0]:.{d}f} ± {k * v[1]:.{d}f}"
    lines = ["| NFE | project − diffusers | Δ RMS to ref ×10³ (paired by x_T) | Δ FD (paired by seed) |",
             "|---|---|---|---|"]
    for r in res:
        lines.append(f"| {r['nfe']} | {r['ours'].split()[-1]} − {r['theirs'].split()[-1]} "
                     f"| {f(r['rms_diff'], 1e3)} | {f(r['fd_diff'], 1, 2)} |")
    return "\n".join(lines)


def report_markdown(out, rms) -> str:
    rows, paired = summarize(out, rms)
    pd = {(p["nfe"], p["row"]): p for p in paired}
    f = lambda v, d=2: f"{v[0]:.{d}f} ± {v[1]:.{d}f}"
    lines = ["| sampler | NFE | seeds | FD | KID | precision | recall | density | coverage "
             "| RMS to ref ×10³ | paired Δ RMS vs best ×10³ |", "|" + "---|" * 11]
    for r in rows:
        p = pd.get((r["nfe"], r["row"]))
        dv = "–" if p is None else ("best" if p["row"] == p["best"] else
                                    f(tuple(1e3 * v for v in p["diff_to_best"]), 1))
        lines.append(f"| {r['row']} | {r['nfe']} | {len(r['seeds'])} | {f(r['fd'])} | {f(r['kid'], 1)} "
                     f"| {f(r['precision'])} | {f(r['recall'])} | {f(r['density'])} "
                     f"| {f(r['coverage'])} | {f(tuple(1e3 * v for v in r['rms']), 1)} | {dv} |")
    for k, fl in enumerate(out.get("floor_chunks") or [out.get("floor_train_vs_test")]):
        if fl:
            lines.append(f"| exact data (train[{k}n:{k + 1}n] vs test) | – | – | {fl['fd']:.2f} | "
                         f"{fl['kid']:.1f} | {fl['precision']:.2f} | {fl['recall']:.2f} | "
                         f"{fl['density']:.2f} | {fl['coverage']:.2f} | – | – |")
    return "\n".join(lines)


def report(args) -> None:
    out = json.loads(Path(args.out).read_text())
    rms = torch.load(Path(args.out).with_suffix(".rms.pt"))
    rows, paired = summarize(out, rms)
    out["rows"], out["paired"], out["counterparts"] = rows, paired, counterparts(out, rms)
    Path(args.out).write_text(json.dumps(out, indent=1))
    print(report_markdown(out, rms))
    print()
    print(counterparts_markdown(out["counterparts"]))


def bpd(args) -> None:
    """Bits/dim of the digits test split under the diffusers model's PF-ODE (from sde.eps = 1/N)."""
    from sde_diffusion.data import digits
    from sde_diffusion.likelihood import bits_per_dim
    _, _, model = _load(args.model)
    x = digits().test[:args.n]
    t0 = time.perf_counter()
    res = bits_per_dim(model.sde, model, x, generator=torch.Generator().manual_seed(args.seed),
                       method="rk45", divergence="hutchinson", rtol=args.tol, atol=args.tol)
    b = res.bpd.double()
    out = {"model": str(args.model), "bpd_mean": float(b.mean()),
           "bpd_se": float(b.std() / math.sqrt(b.numel())), "n": int(b.numel()),
           "split": "digits test", "eps": model.sde.eps, "seed": args.seed,
           "divergence": "hutchinson, 1 rademacher probe", "method": f"rk45 rtol=atol={args.tol}",
           "dequantization": "uniform, one draw per image", "nfe": getattr(res.likelihood, "nfe", None),
           "wall_s": time.perf_counter() - t0, "machine": "2-core shared CPU, OMP_NUM_THREADS=1"}
    Path(args.out).write_text(json.dumps(out, indent=1))
    print(out)


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
    c = sub.add_parser("compare")
    c.add_argument("--model", default=str(ROOT / "benchmarks/results/digits_unet2d"))
    c.add_argument("--n", type=int, default=256)
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--repeats", type=int, default=5)
    c.add_argument("--out", default=str(ROOT / "benchmarks/results/diffusers_compare.json"))
    b = sub.add_parser("table")
    b.add_argument("--model", default=str(ROOT / "benchmarks/results/digits_unet2d"))
    b.add_argument("--n", type=int, default=500, help="samples per cell (at most 1438)")
    b.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    b.add_argument("--nfe", type=int, nargs="+", default=[5, 10, 20, 50])
    b.add_argument("--k", type=int, default=5)
    b.add_argument("--ours", nargs="+", default=list(OURS))
    b.add_argument("--theirs", nargs="+", default=list(THEIRS), choices=list(THEIRS))
    b.add_argument("--ref", default="dpm_solver3", help="reference sampler (same x_T)")
    b.add_argument("--ref-check", default="unipc", help="second reference: its distance to --ref")
    b.add_argument("--ref-nfe", type=int, default=250)
    b.add_argument("--check-seeds", type=int, nargs="*", default=[0],
                   help="seeds on which --ref-check is also run")
    b.add_argument("--cache", default="/tmp/sde_diffusion_diffusers_table")
    b.add_argument("--out", default=str(ROOT / "benchmarks/results/diffusers_table.json"))
    r = sub.add_parser("report", help="summary of a (partial) table run")
    r.add_argument("--out", default=str(ROOT / "benchmarks/results/diffusers_table.json"))
    o = sub.add_parser("cost")
    o.add_argument("--model", default=str(ROOT / "benchmarks/results/digits_unet2d"))
    o.add_argument("--n", type=int, default=256)
    o.add_argument("--steps", type=int, default=50)
    o.add_argument("--seed", type=int, default=0)
    o.add_argument("--repeats", type=int, default=11)
    o.add_argument("--out", default=str(ROOT / "benchmarks/results/diffusers_cost.json"))
    q = sub.add_parser("bpd")
    q.add_argument("--model", default=str(ROOT / "benchmarks/results/digits_unet2d"))
    q.add_argument("--n", type=int, default=64)
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--tol", type=float, default=1e-4)
    q.add_argument("--out", default=str(ROOT / "benchmarks/results/diffusers_bpd.json"))
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    {"train": train, "compare": compare, "table": table, "bpd": bpd, "report": report,
     "cost": cost}[args.cmd](args)


if __name__ == "__main__":
    main()
