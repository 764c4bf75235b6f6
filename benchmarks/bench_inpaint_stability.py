"""Why DPS / PiGDM inpainting diverges on a trained class-conditional digits model, measured.

For each posterior method and Jacobian, runs the CLI's sampler (the run's DDIM, 50 steps) on n
half-masked test digits and records, at every score call: t, m(t), the RMS of the base score, of
the guidance term, of the Tweedie estimate x0_hat, and the guidance term's stiffness along the
observed pixels, lambda = d(guidance)/dx estimated by a finite difference, times the step's
coefficient (the explicit step is unstable where that product exceeds ~2).

    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/bench_inpaint_stability.py --run <digits_cond run>
"""
import argparse
import json

import torch

from sde_diffusion import conditional as cond
from sde_diffusion.app.data import build_run_data
from sde_diffusion.app.inpainting import make_mask
from sde_diffusion.app.models import load_run, run_sampler
from sde_diffusion.solvers import sample


def rms(v):
    return float(v.double().pow(2).mean().sqrt())


def trace(run, method, jacobian, x_test, mask, dps_noise, steps, seed=0):
    model, sde = run.model, run.model.sde
    shape = tuple(x_test.shape[1:])
    dvar = float(x_test.double().reshape(x_test.shape[0], -1).var(0).mean())
    meas = cond.LinearMeasurement.inpainting(mask, x_test)
    post = cond.posterior_score(sde, model, meas, method, data_var=dvar, dps_noise=dps_noise,
                                data_shape=shape, jacobian=jacobian)
    rows = []

    def fn(x, t):
        out = post(x, t)
        base = model(x, t)
        g = out - base
        tt = float(torch.as_tensor(t).reshape(-1)[0])
        m, s = (float(v) for v in sde.marginal(torch.tensor(tt)))
        x0 = (x + s * s * base) / m
        h = 1e-3 * (rms(x) + 1e-12)   # stiffness of the guidance term along a random observed direction
        d = torch.randn_like(x) * mask
        d = d / d.norm() * h
        g2 = post(x + d, t) - model(x + d, t)
        lam = float(((g2 - g) * d).sum() / (d * d).sum())
        rows.append(dict(t=tt, m=m, score=rms(base), guidance=rms(g), x0=rms(x0), lam=lam,
                         finite=bool(torch.isfinite(out).all())))
        return out
    sampler = run_sampler(run, None, None)
    name, opts = sampler["name"], dict(sampler.get("options") or {})
    g = torch.Generator().manual_seed(seed)
    try:
        with torch.no_grad():
            x, info = sample(sde, fn, (x_test.shape[0], *shape), sampler=name,
                             steps=steps or sampler["steps"], generator=g, **opts)
        ok = bool(torch.isfinite(x).all())
        err = rms((x - x_test) * mask) if ok else float("nan")
    except FloatingPointError as e:
        ok, err = False, str(e).split(";")[0]
    return rows, ok, err


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", required=True)
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument("--mask", default="bottom")
    ap.add_argument("--dps-noise", type=float, default=0.05)
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    run = load_run(a.run)
    data = build_run_data(run.config["data"], run_dir=run.folder)
    x_test = data.test[:a.n].float()
    mask = make_mask(a.mask, tuple(x_test.shape[1:]))
    report = {}
    for method in ("dps", "pigdm"):
        for jac in ("network", "gaussian"):
            rows, ok, err = trace(run, method, jac, x_test, mask, a.dps_noise, a.steps)
            report[f"{method}/{jac}"] = dict(ok=ok, observed_rms_error=err, calls=rows)
            print(f"{method:6s} {jac:8s} finite={ok} observed-rms-error={err}")
            print("    t       m      |score|   |guid|    |x0hat|   lambda")
            for r in rows[:8] + rows[-3:]:
                print(f"    {r['t']:.3f}  {r['m']:.4f}  {r['score']:.3g}  {r['guidance']:.3g}  "
                      f"{r['x0']:.3g}  {r['lam']:.3g}")
    if a.out:
        with open(a.out, "w") as fh:
            json.dump(report, fh)


if __name__ == "__main__":
    main()
