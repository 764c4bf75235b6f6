"""Rectified flow vs VP with the same network, optimiser, steps and data: sample quality at
5, 10, 20 NFE with the best sampler of each path and the straightness of each path's ODE, scored
on runs of scripts/train.py; the training throughput of FlowMatchingLoss against torchcfm's
ConditionalFlowMatcher; measured orders on flow paths; straightness of the exact fields.

    python scripts/train.py experiment=digits seed=S hydra.run.dir=outputs/runs/digits_vp_sS
    python scripts/train.py experiment=digits_flow seed=S hydra.run.dir=outputs/runs/digits_rf_sS
    OMP_NUM_THREADS=1 python benchmarks/bench_flow.py --score outputs/runs/digits_vp_sS --n 1000 --out ROW.json
    python benchmarks/bench_flow.py --compare ROW*.json --out benchmarks/results/flow_compare_digits.json
    OMP_NUM_THREADS=1 python benchmarks/bench_flow.py --throughput | --orders | --exact-straightness

Scoring protocol (``--score``, the run's EMA weights). For each NFE budget in (5, 10, 20) every
candidate deterministic sampler runs with the most steps whose NFE fits
(``steps_for_nfe``); the best on *tuning* noise (seed 10_000 + the run's seed) against a tuning
reference (digits: the training split; ring: exact samples, seed 998) is then drawn on fresh
noise (the run's seed) and scored against the reporting reference (digits: FD in the 64-d
features of the digits classifier vs the held-out test split; ring: sliced W2 vs as many other
exact samples, seed 999). Floor: the same score of exact data of the same size (training digits / exact
ring samples). Straightness: |x(T) - x(t_end)| / sum |dx| along a 128-step Heun trajectory of the
PF-ODE (1 = a straight line), 128 starts, 128 steps. ``--compare``: mean +- 95 % t-interval over seeds and
the paired difference RF - VP per seed.
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
import time

import torch

from sde_diffusion.analytic import ring_of_gaussians
from sde_diffusion.benchmarking.budget import steps_for_nfe
from sde_diffusion.io import load_model
from sde_diffusion.losses import FlowMatchingLoss
from sde_diffusion.metrics import frechet_distance, sliced_wasserstein
from sde_diffusion.models import MLP, ScoreModel
from sde_diffusion.sdes import RectifiedFlow, VPSDE
from sde_diffusion.solvers import sample

# candidates per path (on rectified flow ddim is flow_euler: the same map on the same grid)
GENERIC = ["ddim", "heun", "dpm_solver2", "dpm_solver3", "unipc", "deis", "ipndm"]
CANDIDATES = {"vp": GENERIC, "rf": GENERIC + ["flow_midpoint"]}
NFES = (5, 10, 20)
REF_NFE = ("unipc", 50)  # one fixed many-step column: how far the few-step samplers are off


class Problem:
    """The data a trained run is scored on: ``tune(x)`` and ``score(x)`` against separate
    references (the sampler is chosen on one, reported on the other) and ``floor(n)``, the score
    of exact data of the same size (mean, sd over draws)."""

    def __init__(self, kind: str):
        self.kind = kind
        if kind == "points":  # the ring of conf/data/ring.yaml, unstandardised
            self.gm = ring_of_gaussians()
            return
        from sde_diffusion.data import digits
        from sde_diffusion.training.quality import train_digits_classifier
        self.data = digits()  # conf/data/digits.yaml: test_fraction 0.2, split seed 0
        self.feat, _, self.accuracy = train_digits_classifier(self.data, seed=0)
        with torch.no_grad():
            self.f_test, self.f_train = self.feat(self.data.test), self.feat(self.data.train)

    def _sw(self, x, seed):
        """SW2 against exact ring samples of x's size (equal sizes: no quantile interpolation)."""
        ref = self.gm.sample(x.shape[0], generator=torch.Generator().manual_seed(seed)).float()
        return sliced_wasserstein(x.float(), ref, generator=torch.Generator().manual_seed(0))

    def _features(self, x):
        with torch.no_grad():
            return self.feat(x.float().clamp(-1, 1).reshape(-1, 1, 8, 8))

    def tune(self, x):
        return (self._sw(x, 998) if self.kind == "points"
                else frechet_distance(self._features(x), self.f_train))

    def score(self, x):
        return (self._sw(x, 999) if self.kind == "points"
                else frechet_distance(self._features(x), self.f_test))

    def floor(self, n, draws=10):
        vals = []
        for d in range(draws):
            g = torch.Generator().manual_seed(5000 + d)
            if self.kind == "points":
                vals.append(self.score(self.gm.sample(n, generator=g)))
            else:
                idx = torch.randperm(self.data.train.shape[0], generator=g)[:n]
                vals.append(frechet_distance(self.f_train[idx], self.f_test))
        m = sum(vals) / draws
        return m, math.sqrt(sum((v - m) ** 2 for v in vals) / (draws - 1))


def draw(model, sampler, nfe, n, shape, seed, steps=None):
    """n samples with the most steps whose NFE stays within ``nfe``; (x, NFE used)."""
    steps = steps or steps_for_nfe({"name": sampler}, nfe, model.sde, shape)
    with torch.no_grad():
        x, info = sample(model.sde, model, (n,) + tuple(shape), sampler=sampler, steps=steps,
                         generator=torch.Generator().manual_seed(seed), progress=False)
    return x, int(info.nfe)


def straightness(model, shape, n=128, steps=128):
    """mean over n starts of |x(T) - x(t_end)| / sum |dx| along a Heun trajectory (1 = straight)."""
    with torch.no_grad():
        _, info = sample(model.sde, model, (n,) + tuple(shape), sampler="heun", steps=steps,
                         generator=torch.Generator().manual_seed(123), return_trajectory=True,
                         progress=False)
    tr = info.trajectory.flatten(2)
    length = (tr[1:] - tr[:-1]).norm(dim=2).sum(0)
    return float(((tr[-1] - tr[0]).norm(dim=1) / length).mean())


PROBLEMS = {}


def score_run(run_dir, n, n_tune, n_draws=1):
    """Score one trained run (a scripts/train.py output folder, EMA weights): for each NFE the
    best candidate on tuning noise (seed 10_000 + seed, ``tune`` reference), then that sampler on
    fresh noise (seed = the run's seed, ``score`` reference); ``n_draws`` > 1 repeats the scoring
    on more fresh noise (seeds + 100 k) to measure the sampling noise of one model's score."""
    model, cfg, meta = load_model(run_dir)
    path = "rf" if isinstance(model.sde, RectifiedFlow) else "vp"
    seed, shape = int(cfg.get("seed", 0)), tuple(meta.data_shape)
    if meta.data_kind not in PROBLEMS:
        PROBLEMS[meta.data_kind] = Problem(meta.data_kind)
    prob = PROBLEMS[meta.data_kind]
    coupling = (cfg.get("train") or {}).get("loss", {}).get("coupling", "independent")
    row = {"run": str(run_dir), "path": path, "problem": cfg.get("name"), "seed": seed,
           "unit": "SW" if meta.data_kind == "points" else "FD", "coupling": coupling,
           "step": meta.step, "n": n, "n_tune": n_tune, "sde": type(model.sde).__name__,
           "parameterization": getattr(model, "parameterization", None),
           "floor": prob.floor(n), "straightness": straightness(model, shape)}
    t0 = time.perf_counter()
    for nfe in NFES:
        tune = {c: prob.tune(draw(model, c, nfe, n_tune, shape, 10_000 + seed)[0])
                for c in CANDIDATES[path]}
        best = min(tune, key=tune.get)
        draws = [prob.score(draw(model, best, nfe, n, shape, seed + 100 * k)[0]) for k in range(n_draws)]
        used = draw(model, best, nfe, 1, shape, seed)[1]
        row[f"nfe{nfe}"] = {"sampler": best, "nfe": used, "score": draws[0], "draws": draws,
                            "tuning": tune}
        print(f"{path} seed {seed} NFE {nfe}: {best} ({used}) {row[f'nfe{nfe}']['score']:.4g}", flush=True)
    name, steps = REF_NFE
    x, used = draw(model, name, steps, n, shape, seed, steps=steps)
    row["ref"] = {"sampler": name, "nfe": used, "score": prob.score(x)}
    row["score_s"] = time.perf_counter() - t0
    return row


def t_interval(v):
    """(mean, half-width of the 95 % Student-t interval) over seeds."""
    from scipy.stats import t
    m = sum(v) / len(v)
    if len(v) < 2:
        return m, float("nan")
    sd = math.sqrt(sum((x - m) ** 2 for x in v) / (len(v) - 1))
    return m, float(t.ppf(0.975, len(v) - 1)) * sd / math.sqrt(len(v))


def label(row):
    return row["path"] + ("+ot" if row.get("coupling") == "ot" else "")


def value(cell):
    """A seed's score: the mean over its fresh-noise draws (the single score without draws)."""
    return statistics.mean(cell["draws"]) if cell.get("draws") else cell["score"]


def compare(paths):
    """Markdown tables from scored runs (JSON files of --score rows): per path mean +- 95 %
    t-interval over seeds (each seed's score the mean over its draws), then RF - VP paired by seed. Returns the rows and the summary."""
    rows = []
    for p in paths:
        with open(p) as f:
            got = json.load(f)
        rows.extend(got["rows"] if isinstance(got, dict) else got)
    summary = {}
    for unit in sorted({r["unit"] for r in rows}):
        rs = [r for r in rows if r["unit"] == unit]
        n = sorted({r["n"] for r in rs})
        floors = {tuple(r["floor"]) for r in rs}
        print(f"\n{unit} at n = {n}; exact-data floor {sorted(floors)[0][0]:.4g} "
              f"(sd {sorted(floors)[0][1]:.2g} over draws); mean +- 95 % t-interval over seeds\n")
        print(f"| path | seeds | straightness | {unit} @ 5 NFE | @ 10 | @ 20 | {REF_NFE[0]} @ "
              f"{REF_NFE[1]} | samplers chosen (5 / 10 / 20) |")
        print("|---|---|---|---|---|---|---|---|")
        by = {}
        for lab in sorted({label(r) for r in rs}, key=lambda v: (v != "vp", v)):
            by[lab] = {r["seed"]: r for r in rs if label(r) == lab}
            sel = list(by[lab].values())
            cells = {k: t_interval([value(r[k]) for r in sel]) for k in [f"nfe{m}" for m in NFES] + ["ref"]}
            st = t_interval([r["straightness"] for r in sel])
            summary[f"{unit}/{lab}"] = {"seeds": sorted(by[lab]), "straightness": st, **cells}
            chosen = " / ".join(",".join(sorted({r[f"nfe{m}"]["sampler"] for r in sel})) for m in NFES)
            print(f"| {lab.upper()} | {len(sel)} | {st[0]:.3f} +- {st[1]:.2g} | "
                  + " | ".join(f"{m:.4g} +- {h:.2g}" for m, h in cells.values()) + f" | {chosen} |")
            noise = {k: [statistics.stdev(r[k]["draws"]) for r in sel if len(r[k].get("draws", [])) > 1]
                     for k in [f"nfe{m}" for m in NFES]}
            if all(noise.values()):
                summary[f"{unit}/{lab}"]["draw_sd"] = {k: statistics.mean(v) for k, v in noise.items()}
        for lab, v in summary.items():
            if lab.startswith(unit + "/") and "draw_sd" in v:
                print(f"{lab}: sd of one model's score over fresh-noise draws (mean over seeds): "
                      + ", ".join(f"{k} {x:.2g}" for k, x in v["draw_sd"].items()))
        print(f"\npaired by seed, {unit}(other) - {unit}(VP): mean +- 95 % t-interval "
              "(wins = seeds where the other path is lower)\n")
        print("| pair | seeds | @ 5 NFE | @ 10 | @ 20 | straightness |")
        print("|---|---|---|---|---|---|")
        for lab in [v for v in by if v != "vp"]:
            seeds = sorted(set(by[lab]) & set(by.get("vp", {})))
            if not seeds:
                continue
            cells = []
            for k in [f"nfe{m}" for m in NFES]:
                d = [value(by[lab][s][k]) - value(by["vp"][s][k]) for s in seeds]
                m, h = t_interval(d)
                cells.append(f"{m:+.4g} +- {h:.2g} ({sum(v < 0 for v in d)}/{len(d)})")
                summary[f"{unit}/{lab}-vp/{k}"] = (m, h, d)
            d = [by[lab][s]["straightness"] - by["vp"][s]["straightness"] for s in seeds]
            m, h = t_interval(d)
            print(f"| {lab.upper()} - VP | {seeds} | " + " | ".join(cells) + f" | {m:+.3f} +- {h:.2g} |")
    return {"rows": rows, "summary": summary}


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
    """Straightness of the exact PF-ODE paths of the ring under VP and rectified flow: the
    standardised ring (unit variance per coordinate; heun / flow_midpoint, 256 starts, 256 and
    1024 steps) and the ring as trained by experiment=toy2d(_flow) (radius 4; the trained
    fields' measure: heun, 128 starts, 128 steps, and 1024 steps)."""
    from sde_diffusion.analytic import GaussianMixture
    from sde_diffusion.models.parameterization import FunctionModel
    gm0 = ring_of_gaussians()
    sc = math.sqrt(gm0.covariance_trace() / 2)
    res = {}
    for ring, scale, n, plan in (("", sc, 256, ((256, 1024), "flow_midpoint")),
                                 ("raw/", 1.0, 128, ((128, 1024), "heun"))):
        gm = GaussianMixture(gm0.means / scale, torch.full((8,), 0.3 / scale))
        for name, sde in (("vp", VPSDE()), ("rf", RectifiedFlow())):
            model = FunctionModel(gm.velocity_fn(sde), sde, "velocity") if name == "rf" else gm.score_fn(sde)
            sampler = plan[1] if name == "rf" else "heun"
            for steps in plan[0]:
                _, info = sample(sde, model, (n, 2), sampler=sampler, steps=steps, dtype=torch.float64,
                                 generator=torch.Generator().manual_seed(0), return_trajectory=True)
                tr = info.trajectory
                length = (tr[1:] - tr[:-1]).flatten(2).norm(dim=2).sum(0)
                res[f"{ring}{name}/{steps}"] = float(((tr[-1] - tr[0]).norm(dim=1) / length).mean())
    print(json.dumps(res, indent=1))
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--score", nargs="+", default=None, help="run folders of scripts/train.py")
    ap.add_argument("--compare", nargs="+", default=None, help="JSON rows of --score to tabulate")
    ap.add_argument("--n", type=int, default=1000, help="samples scored per NFE")
    ap.add_argument("--n-tune", type=int, default=1000, help="samples per candidate when tuning")
    ap.add_argument("--draws", type=int, default=1, help="fresh-noise repeats of each score")
    ap.add_argument("--throughput", action="store_true")
    ap.add_argument("--orders", action="store_true")
    ap.add_argument("--exact-straightness", action="store_true")
    ap.add_argument("--blocks", type=int, default=7)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    if args.compare:
        res = compare(args.compare)
    elif args.score:
        res = [score_run(d, args.n, args.n_tune, args.draws) for d in args.score]
    else:
        res = (throughput(args) if args.throughput else orders(args) if args.orders
               else exact_straightness(args))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
