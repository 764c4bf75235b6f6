"""Rectified flow vs VP with the same network, optimiser, steps and data; sample quality at
5, 10, 20 NFE with the best sampler of each path, the straightness of each path's ODE, and the
training throughput of FlowMatchingLoss against torchcfm's ConditionalFlowMatcher.

    OMP_NUM_THREADS=1 python benchmarks/bench_flow.py --problem toy --seeds 3 --steps 3000
    OMP_NUM_THREADS=1 python benchmarks/bench_flow.py --problem digits --seeds 3 --steps 3000
    OMP_NUM_THREADS=1 python benchmarks/bench_flow.py --throughput
    OMP_NUM_THREADS=1 python benchmarks/bench_flow.py --orders

Protocol. Data standardised to unit variance per coordinate. VP: VPSDE, eps-parameterisation,
DSM with the sigma2 weighting. RF: RectifiedFlow, velocity parameterisation, conditional flow
matching. Both: ScoreModel(MLP 128 x 3), AdamW lr 2e-3 (toy) / 1e-3 (digits), batch 256, EMA 0.999,
the same init seed. Samplers per NFE are chosen on *tuning* noise (seed 10_000 + s) and scored
on fresh *reporting* noise (seed s): SW (toy, vs 20k exact ring samples) or FD in a digits
classifier's features (vs the held-out test digits). Intervals: mean +- 1.96 SE over seeds.
Straightness: |x(T) - x(t_end)| / sum |dx| along a 256-step trajectory (1 = a straight line).
"""
from __future__ import annotations

import argparse
import json
import math
import time

import torch

from sde_diffusion.analytic import ring_of_gaussians
from sde_diffusion.losses import DenoisingLoss, FlowMatchingLoss
from sde_diffusion.metrics import frechet_distance, sliced_wasserstein
from sde_diffusion.models import MLP, ScoreModel
from sde_diffusion.sdes import RectifiedFlow, VPSDE
from sde_diffusion.solvers import SAMPLERS, sample

CANDIDATES = {"vp": ["ddim", "dpm_solver2", "dpm_solver3", "unipc", "deis", "heun"],
              "rf": ["flow_euler", "flow_midpoint", "dpm_solver2", "dpm_solver3", "unipc", "deis"]}
NFES = (5, 10, 20)


def make_problem(name: str, seed: int):
    """(train tensor, reference tensor, metric(x) -> float, data_shape)."""
    if name == "toy":
        gm = ring_of_gaussians()
        g = torch.Generator().manual_seed(seed)
        scale = math.sqrt(gm.covariance_trace() / 2)
        train = gm.sample(50_000, generator=g) / scale
        ref = gm.sample(20_000, generator=torch.Generator().manual_seed(999)) / scale
        metric = lambda x: sliced_wasserstein(x, ref, generator=torch.Generator().manual_seed(0))
        return train, metric, (2,)
    from sde_diffusion.data import digits
    from sde_diffusion.training.quality import train_digits_classifier
    data = digits()
    feat, _, _ = train_digits_classifier(data, seed=0)
    mu, sd = data.train.mean(), data.train.std()
    train = ((data.train - mu) / sd).reshape(data.train.shape[0], -1)
    with torch.no_grad():
        f_test = feat(data.test)

    def metric(x):
        img = (x * sd + mu).clamp(-1, 1).reshape((-1,) + tuple(data.train.shape[1:]))
        with torch.no_grad():
            return frechet_distance(feat(img), f_test)
    return train, metric, (train.shape[1],)


def build(path: str, dim: int, seed: int):
    torch.manual_seed(seed)
    net = MLP(dim, hidden=128, depth=3)
    if path == "vp":
        return ScoreModel(net, VPSDE(), "eps"), DenoisingLoss("sigma2", "uniform")
    return ScoreModel(net, RectifiedFlow(), "velocity"), FlowMatchingLoss()


def train(model, loss, data, steps, lr, seed):
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    ema = {k: v.detach().clone() for k, v in model.state_dict().items()}
    g = torch.Generator().manual_seed(seed)
    t0 = time.perf_counter()
    for _ in range(steps):
        idx = torch.randint(0, data.shape[0], (256,), generator=g)
        opt.zero_grad(set_to_none=True)
        loss(model, data[idx], generator=g).mean().backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        with torch.no_grad():
            for k, v in model.state_dict().items():
                ema[k].mul_(0.999).add_(v.detach(), alpha=0.001)
    model.load_state_dict(ema)
    model.eval()
    return time.perf_counter() - t0


def draw(model, path, sampler, nfe, n, dim, seed):
    steps = max(1, nfe // SAMPLERS[sampler].evals_per_step)
    g = torch.Generator().manual_seed(seed)
    kw = {}
    if path == "rf" and not sampler.startswith("flow_"):
        kw["t_start"] = 1 - 1e-3  # generic samplers: the core does not yet start at m(T) = 0
    with torch.no_grad():
        x, info = sample(model.sde, model, (n, dim), sampler=sampler, steps=steps, generator=g, **kw)
    return x, info.nfe


def straightness(model, path, dim, n=512):
    sampler = "flow_midpoint" if path == "rf" else "heun"
    g = torch.Generator().manual_seed(123)
    with torch.no_grad():
        _, info = sample(model.sde, model, (n, dim), sampler=sampler, steps=256, generator=g,
                         return_trajectory=True)
    tr = info.trajectory
    length = (tr[1:] - tr[:-1]).flatten(2).norm(dim=2).sum(0)
    chord = (tr[-1] - tr[0]).flatten(1).norm(dim=1)
    return float((chord / length).mean())


def ci(v):
    m = sum(v) / len(v)
    if len(v) < 2:
        return m, float("nan")
    se = math.sqrt(sum((x - m) ** 2 for x in v) / (len(v) - 1) / len(v))
    return m, 1.96 * se


def quality(args):
    out = {"problem": args.problem, "steps": args.steps, "seeds": args.seeds, "runs": []}
    lr = 2e-3 if args.problem == "toy" else 1e-3
    for s in range(args.seed_start, args.seed_start + args.seeds):
        data, metric, shape = make_problem(args.problem, s)
        dim = shape[0]
        for path in ("vp", "rf"):
            model, loss = build(path, dim, s)
            secs = train(model, loss, data, args.steps, lr, s)
            row = {"seed": s, "path": path, "train_s": secs, "straightness": straightness(model, path, dim)}
            for nfe in NFES:
                tune = {c: metric(draw(model, path, c, nfe, args.n, dim, 10_000 + s)[0])
                        for c in CANDIDATES[path]}
                best = min(tune, key=tune.get)
                x, used = draw(model, path, best, nfe, args.n, dim, s)
                row[f"nfe{nfe}"] = {"sampler": best, "nfe": used, "score": metric(x), "tuning": tune}
            out["runs"].append(row)
            print(json.dumps(row), flush=True)
    summary = {}
    for path in ("vp", "rf"):
        rows = [r for r in out["runs"] if r["path"] == path]
        summary[path] = {"straightness": ci([r["straightness"] for r in rows])}
        for nfe in NFES:
            summary[path][f"nfe{nfe}"] = ci([r[f"nfe{nfe}"]["score"] for r in rows])
            summary[path][f"nfe{nfe}_samplers"] = [r[f"nfe{nfe}"]["sampler"] for r in rows]
    out["summary"] = summary
    print(json.dumps(summary, indent=1))
    return out


def throughput(args):
    """Seconds per training step (forward + backward + AdamW) of our FlowMatchingLoss on a
    velocity ScoreModel vs torchcfm's ConditionalFlowMatcher (sigma = 0) calling the same MLP,
    alternating blocks of 50 steps in one process; the ratio is of the medians."""
    from torchcfm.conditional_flow_matching import ConditionalFlowMatcher
    gm = ring_of_gaussians()
    data = gm.sample(50_000, generator=torch.Generator().manual_seed(0))
    data = data / data.std()
    torch.manual_seed(0)
    net_a, net_b = MLP(2, hidden=128, depth=3), MLP(2, hidden=128, depth=3)
    ours, loss = ScoreModel(net_a, RectifiedFlow(), "velocity"), FlowMatchingLoss()
    cfm = ConditionalFlowMatcher(sigma=0.0)
    opt_a, opt_b = torch.optim.AdamW(net_a.parameters(), 1e-3), torch.optim.AdamW(net_b.parameters(), 1e-3)
    g = torch.Generator().manual_seed(1)

    def step_ours(x):
        opt_a.zero_grad(set_to_none=True)
        loss(ours, x, generator=g).mean().backward()
        opt_a.step()

    def step_cfm(x):
        opt_b.zero_grad(set_to_none=True)
        x0 = torch.randn_like(x)
        t, xt, ut = cfm.sample_location_and_conditional_flow(x0, x)
        ((net_b(xt, t) - ut) ** 2).mean().backward()
        opt_b.step()

    times = {"ours": [], "torchcfm": []}
    for block in range(2 * args.blocks):
        name, fn = (("ours", step_ours), ("torchcfm", step_cfm))[block % 2]
        t0 = time.perf_counter()
        for _ in range(50):
            fn(data[torch.randint(0, data.shape[0], (args.batch,), generator=g)])
        times[name].append((time.perf_counter() - t0) / 50)
    med = {k: sorted(v)[len(v) // 2] for k, v in times.items()}
    res = {"batch": args.batch, "ms_per_step": {k: 1e3 * v for k, v in med.items()},
           "ratio_ours_over_torchcfm": med["ours"] / med["torchcfm"], "blocks": times}
    print(json.dumps(res, indent=1))
    return res


def orders(args):
    """Measured order of every deterministic sampler on the analytic 2-mixture of
    tests/solvers/test_flow_samplers.py under rectified flow and cosine: RMS error vs RK45 (1e-11) from
    the same 128 starts at t = 1 - 1e-3 to 1e-2, at 16..128 steps; slope log2(e(n)/e(2n))."""
    from sde_diffusion.analytic import GaussianMixture
    from sde_diffusion.models.parameterization import FunctionModel
    from sde_diffusion.sdes import CosineFlow
    grids = {"euler": "uniform_t", "heun": "uniform_t", "flow_euler": "uniform_t",
             "flow_midpoint": "uniform_t"}
    names = ["euler", "flow_euler", "ddim", "heun", "flow_midpoint", "dpm_solver2", "dpm_solver_2s",
             "edm_heun", "dpm_solver3", "dpm_solver_3s", "unipc", "deis"]
    gm = GaussianMixture(torch.tensor([[1.0, 2.0], [-2.0, 0.5]]), torch.tensor([0.5, 0.7]))
    res = {}
    for path in (RectifiedFlow(), CosineFlow()):
        x = torch.randn(128, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
        kw = dict(x_init=x, t_start=1 - 1e-3, t_end=1e-2)
        ref = sample(path, FunctionModel(gm.velocity_fn(path), path, "velocity"), sampler="rk45",
                     rtol=1e-11, atol=1e-11, **kw)[0]
        for name in names:
            err = [float((sample(path, gm.score_fn(path), sampler=name, steps=n, denoise=False,
                                 grid=grids.get(name, "log_snr"), **kw)[0] - ref).pow(2).mean().sqrt())
                   for n in (16, 32, 64, 128)]
            slopes = [math.log2(err[i] / err[i + 1]) for i in range(3)]
            res[f"{type(path).__name__}/{name}"] = {"grid": grids.get(name, "log_snr"),
                                                     "rms": err, "slopes": slopes}
            print(f"{type(path).__name__:14s} {name:14s} " + " ".join(f"{e:.2e}" for e in err)
                  + "  slopes " + " ".join(f"{v:.2f}" for v in slopes), flush=True)
    return res


def exact_straightness(args):
    """Straightness of the exact PF-ODE paths of the standardised ring (the toy's data) under VP
    (heun) and rectified flow (flow_midpoint), 256 starts, 256 and 1024 steps."""
    from sde_diffusion.analytic import GaussianMixture
    from sde_diffusion.models.parameterization import FunctionModel
    gm0 = ring_of_gaussians()
    sc = math.sqrt(gm0.covariance_trace() / 2)
    gm = GaussianMixture(gm0.means / sc, torch.full((8,), 0.3 / sc))
    res = {}
    for name, sde, model, sampler in (("vp", VPSDE(), None, "heun"), ("rf", RectifiedFlow(), None, "flow_midpoint")):
        model = gm.score_fn(sde) if name == "vp" else FunctionModel(gm.velocity_fn(sde), sde, "velocity")
        for steps in (256, 1024):
            _, info = sample(sde, model, (256, 2), sampler=sampler, steps=steps, dtype=torch.float64,
                             generator=torch.Generator().manual_seed(0), return_trajectory=True)
            tr = info.trajectory
            length = (tr[1:] - tr[:-1]).flatten(2).norm(dim=2).sum(0)
            res[f"{name}/{steps}"] = float(((tr[-1] - tr[0]).norm(dim=1) / length).mean())
    print(json.dumps(res, indent=1))
    return res


def report(paths):
    """Markdown rows from saved quality JSONs (several per problem are merged: one per seed)."""
    by_problem = {}
    for path in paths:
        with open(path) as f:
            res = json.load(f)
        by_problem.setdefault((res["problem"], res["steps"]), []).extend(res["runs"])
    for (problem, steps), runs in by_problem.items():
        unit = "SW" if problem == "toy" else "FD"
        seeds = sorted({r["seed"] for r in runs})
        print(f"\n{problem} (seeds {seeds}, {steps} training steps), {unit}, mean +- 1.96 SE:\n")
        print(f"| path | straightness | {unit} @ 5 NFE | {unit} @ 10 NFE | {unit} @ 20 NFE | samplers chosen (5 / 10 / 20) |")
        print("|---|---|---|---|---|---|")
        for p in ("vp", "rf"):
            rows = [r for r in runs if r["path"] == p]
            cells = []
            for n in NFES:
                m, h = ci([r[f"nfe{n}"]["score"] for r in rows])
                cells.append(f"{m:.3g} +- {h:.2g}")
            chosen = " / ".join(",".join(sorted({r[f"nfe{n}"]["sampler"] for r in rows})) for n in NFES)
            st = ci([r["straightness"] for r in rows])
            print(f"| {p.upper()} | {st[0]:.3f} +- {st[1]:.2g} | " + " | ".join(cells) + f" | {chosen} |")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--problem", choices=("toy", "digits"), default="toy")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--seed-start", type=int, default=0, help="first seed (run seeds in parallel)")
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--n", type=int, default=2000, help="samples per evaluation")
    ap.add_argument("--throughput", action="store_true")
    ap.add_argument("--orders", action="store_true")
    ap.add_argument("--exact-straightness", action="store_true")
    ap.add_argument("--report", nargs="*", default=None, help="saved quality JSONs to tabulate")
    ap.add_argument("--blocks", type=int, default=7)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    if args.report is not None:
        return report(args.report)
    res = (throughput(args) if args.throughput else orders(args) if args.orders
           else exact_straightness(args) if args.exact_straightness else quality(args))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
