"""The trained digits model (VP, 8x8 sklearn digits) at 5 / 10 / 20 NFE, scored end to end.

From the same x_T (``--n`` samples, seed 1): RMS of each sampler's data estimate against the
PF-ODE map to the data end (DOP853 at rtol = atol = 1e-5 to eps, then the model's Tweedie
step), and the Frechet distance of the digits classifier's features (``training.quality.train_digits_classifier``) to the
held-out digits. Every project sampler with its defaults, and the published peers given.

    nice -n 10 env OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/bench_suite_digits.py \\
        <run dir> [--n 200] [--peers name,name,...]
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

import torch

sys.path.insert(0, os.path.dirname(__file__))

from bench_suite import PROJECT, Counted  # noqa: E402
from sde_diffusion.benchmarking.budget import steps_for_nfe  # noqa: E402
from sde_diffusion.benchmarking.reference import (data_end_reference, data_estimate,  # noqa: E402
                                                  end_to_end_rms)
from sde_diffusion.solvers import SAMPLERS, sample  # noqa: E402

PEERS = ("diffusers_unipc2_linspace_zero", "diffusers_unipc3_trailing", "diffusers_dpmpp2_trailing",
         "diffusers_dpmpp3_linspace_karras_zero", "diffusers_deis3_linspace_karras",
         "kdiff_dpmpp_2m_logsnr", "kdiff_dpmpp_2m_logsnr_nozero", "kdiff_lms_logsnr")


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("run_dir")
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--nfes", default="5,10,20")
    ap.add_argument("--peers", default=",".join(PEERS))
    a = ap.parse_args(argv)
    from sde_diffusion.benchmarking.peers import PEERS as TABLE
    from sde_diffusion.data import digits
    from sde_diffusion.metrics import frechet_distance
    from sde_diffusion.io import load_model
    from sde_diffusion.training.quality import train_digits_classifier
    model = load_model(a.run_dir)[0]
    model.eval()
    sde = model.sde
    data = digits()
    feat, _, acc = train_digits_classifier(data, seed=0)
    test = data.test

    def fd(x):
        with torch.no_grad():
            return float(frechet_distance(feat(x.float()).detach(), feat(test).detach()))

    shape = (a.n,) + tuple(data.data_shape)
    x_T = sde.prior_sample(shape, generator=torch.Generator().manual_seed(1))
    t0 = time.time()
    c = Counted(model)
    with torch.no_grad():
        ref = data_end_reference(sde, c, x_T, rtol=1e-5, atol=1e-5)
    nfes = [int(v) for v in a.nfes.split(",")]
    print(f"classifier held-out accuracy {acc:.3f}; {a.n} samples; model {a.run_dir}; reference "
          f"{c.n} NFE, {time.time() - t0:.0f} s, FD {fd(ref):.2f}")
    print("| row | " + " | ".join(f"{k} NFE: RMS / FD" for k in nfes) + " |")
    print("|---|" + "---|" * len(nfes))
    for name in PROJECT:
        if name not in SAMPLERS or SAMPLERS[name].stochastic:
            continue
        cells = []
        for k in nfes:
            steps = steps_for_nfe({"name": name}, k, sde, shape[1:])
            with torch.no_grad():
                x, info = sample(sde, model, sampler=name, steps=steps, x_init=x_T, progress=False)
            x0 = data_estimate(sde, x, info.t_end, info.denoised)
            cells.append(f"{end_to_end_rms(x0, ref):.3g} / {fd(x0):.2f}")
        print(f"| {name} (default) | " + " | ".join(cells) + " |", flush=True)
    for peer in [p for p in a.peers.split(",") if p]:
        cells = []
        for k in nfes:
            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                x0 = TABLE[peer](sde, model, x_T.clone(), k, 1e-3)
            cells.append(f"{end_to_end_rms(x0, ref):.3g} / {fd(x0):.2f}")
        print(f"| peer {peer} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
