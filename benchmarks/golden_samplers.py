"""Golden outputs of every registered sampler: a safety net for refactors of the solver core.

Runs every sampler in ``SAMPLERS`` (fixed generators) on VP, VE, EDM, sub-VP and RectifiedFlow,
with an analytic mixture's exact score and with a native-x0 model of the same mixture, at a few
step counts and grids, with denoising on and off, with trajectory + callback + ``after_step``,
per-sample generators and float64. Records each output, the ``SampleInfo`` fields (not the wall
time), the callback stream, or the error type and message of a refusal.

    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/golden_samplers.py save  OUT.pt
    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/golden_samplers.py check OUT.pt

``check`` reruns everything and compares with ``torch.equal`` (bit-identical); it prints every
difference and exits 1 when there is one.
"""
from __future__ import annotations

import argparse
import sys

import torch

from sde_diffusion.analytic import GaussianMixture
from sde_diffusion.models.parameterization import FunctionModel
from sde_diffusion.sdes import EDMSDE, RectifiedFlow, SubVPSDE, VESDE, VPSDE
from sde_diffusion.solvers import SAMPLERS, sample

SDES = {"vp": VPSDE, "ve": VESDE, "edm": EDMSDE, "subvp": SubVPSDE, "flow": RectifiedFlow}
GM = GaussianMixture(torch.tensor([[-1.0, 0.5], [1.0, -0.5], [0.2, 1.2]]),
                     torch.tensor([0.3, 0.5, 0.4]), torch.tensor([0.3, 0.3, 0.4]))
SHAPE = (6, 2)
# options beyond the defaults, each run with the cases "steps7", "hooks" and "t_start"
VARIANTS = [("ancestral", {"discrete": True}), ("ancestral", {"variance": "forward"}),
            ("pc", {"predictor": "ancestral", "corrector": "annealed_langevin"}),
            ("pc", {"predictor": "euler_maruyama", "n_steps": 2, "snr": 0.2, "norm": "sample"}),
            ("unipc", {"variant": "bh1", "order": 3}), ("unipc", {"predictor": "dpm_solver"}),
            ("unipc", {"corrector": False, "lower_order_final": False}),
            ("dpm_solver3", {"lower_order_final": False, "min_ratio": 0.0}),
            ("deis", {"basis": "t", "order": 2}), ("ipndm", {"afs": True, "order": 3}),
            ("ipndm_v", {"order": 2}), ("dpmpp_2m_sde", {"eta": 0.0}),
            ("dpmpp_2m_sde", {"eta": 0.5, "lower_order_final": False}),
            ("edm", {"S_churn": 0.0}), ("edm", {"S_churn": 80.0, "S_tmin": 0.0, "rho": 3.0}),
            ("edm_heun", {"rho": 5.0}), ("dpm_adaptive", {"pair": 12, "rtol": 0.01}),
            ("rk45", {"method": "RK23", "rtol": 1e-3}), ("torchsde", {"method": "srk"}),
            ("flow_euler", {"shift": 3.0}), ("flow_midpoint", {"shift": 0.5}),
            ("flow_sde", {"eta": 0.0}), ("flow_sde", {"eta": 0.4})]


def models(sde):
    return {"score": GM.score_fn(sde),
            "x0": FunctionModel(lambda x, t: GM.posterior_mean(x, sde, t), sde, "x0")}


def cases(stochastic: bool):
    """(label, sample keyword arguments) of one sampler on one SDE and model."""
    out = [(f"steps{n}", {"steps": n}) for n in (1, 2, 7)]
    out += [("uniform_t", {"steps": 5, "grid": "uniform_t"}),
            ("karras", {"steps": 5, "grid": "karras"}),
            ("log_snr_denoise", {"steps": 4, "grid": "log_snr", "denoise": True}),
            ("no_denoise", {"steps": 4, "denoise": False}),
            ("explicit", {"grid": [1.0, 0.6, 0.3, 0.1, 0.01]}),
            ("t_start", {"steps": 4, "t_start": 0.9, "t_end": 0.02}),
            ("hooks", {"steps": 4, "return_trajectory": True, "callback": True,
                       "after_step": lambda x, t, noise: 0.99 * x + 1e-3 * t}),
            ("float64", {"steps": 3, "dtype": torch.float64})]
    if stochastic:
        out.append(("per_sample_gen", {"steps": 3, "generator": "list"}))
    return out


def run_case(sde, model, name, kw):
    kw = dict(kw)
    calls = []
    if kw.pop("callback", False):
        kw["callback"] = lambda d: calls.append(
            (d["i"], d["t"], d["nfe"], d["sampler"], d["x"].clone(),
             None if d["x0"] is None else d["x0"].clone()))
    if kw.get("generator") == "list":
        kw["generator"] = [torch.Generator().manual_seed(100 + j) for j in range(SHAPE[0])]
    else:
        kw.setdefault("generator", torch.Generator().manual_seed(0))
    try:
        x, info = sample(sde, model, SHAPE, sampler=name, progress=False, **kw)
    except Exception as e:  # a refusal is a result too: type and message must stay
        return {"error": f"{type(e).__name__}: {e}"}
    return {"x": x, "nfe": info.nfe, "steps": info.steps, "times": info.times,
            "t_end": info.t_end, "denoised": info.denoised, "trajectory": info.trajectory,
            "options": repr(info.options), "sampler": info.sampler, "calls": calls}


def collect():
    out = {}
    for sname, make in SDES.items():
        sde = make()
        for mname, model in models(sde).items():
            for name in sorted(SAMPLERS):
                if name.startswith("_"):
                    continue
                for label, kw in cases(SAMPLERS[name].stochastic or name in ("pc", "edm", "flow_sde")):
                    out[(sname, mname, name, label)] = run_case(sde, model, name, kw)
            for k, (name, opts) in enumerate(VARIANTS):
                for label, kw in cases(True):
                    if label in ("steps7", "hooks", "t_start"):
                        out[(sname, mname, f"{name}#{k}", label)] = run_case(
                            sde, model, name, {**kw, **opts})
    return out


def same(a, b) -> bool:
    if torch.is_tensor(a) or torch.is_tensor(b):
        return (torch.is_tensor(a) and torch.is_tensor(b) and a.dtype == b.dtype
                and a.shape == b.shape and torch.equal(a, b))
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same(u, v) for u, v in zip(a, b))
    return a == b


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=("save", "check"))
    ap.add_argument("path")
    args = ap.parse_args()
    torch.set_num_threads(1)
    now = collect()
    if args.mode == "save":
        torch.save(now, args.path)
        errors = sum("error" in v for v in now.values())
        print(f"saved {len(now)} cases ({errors} refusals) to {args.path}")
        return 0
    gold = torch.load(args.path, weights_only=False)
    bad = 0
    for key in sorted(set(gold) | set(now)):
        g, n = gold.get(key), now.get(key)
        if g is None or n is None:
            print(f"{key}: {'new' if g is None else 'missing'}")
            bad += 1
            continue
        diff = [f for f in sorted(set(g) | set(n)) if not same(g.get(f), n.get(f))]
        if diff:
            bad += 1
            extra = f" {g.get('error')!r} -> {n.get('error')!r}" if "error" in diff else ""
            print(f"{key}: differs in {', '.join(diff)}{extra}")
    print(f"{len(gold)} golden cases, {bad} differ")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
