"""A trained model (VP; 8x8 sklearn digits or MNIST-1D) at 5 / 10 / 20 NFE, scored end to end.

From the same x_T (``--n`` samples, seed 1): RMS of each sampler's data estimate against the
PF-ODE map to the data end (DOP853 at rtol = atol = 1e-5 to eps, then the model's Tweedie
step), and the Frechet distance of a classifier's features to the held-out data (digits:
``training.quality.train_digits_classifier``; MNIST-1D: the MLP classifier of
``bench_mnist1d.py``). Every project sampler with its defaults, and the published peers given
(``all``: every configuration of ``benchmarking.peers``; best per NFE reported).

    nice -n 10 env OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/bench_suite_digits.py \\
        <run dir> [--data digits|mnist1d] [--n 200] [--peers all|name,name,...] [--out f.json]
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(__file__))

from bench_suite import PROJECT, Counted, peer_estimate  # noqa: E402
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
    ap.add_argument("--data", default="digits", choices=("digits", "mnist1d"))
    ap.add_argument("--out", default=None, help="also write the rows as JSON here")
    a = ap.parse_args(argv)
    from sde_diffusion.benchmarking.peers import peers_to_run
    from sde_diffusion.metrics import frechet_distance
    from sde_diffusion.io import load_model
    from sde_diffusion.training.quality import train_digits_classifier, train_feature_classifier
    model = load_model(a.run_dir)[0]
    model.eval()
    sde = model.sde
    if a.data == "digits":
        from sde_diffusion.data import digits
        data = digits()
        feat, _, acc = train_digits_classifier(data, seed=0)
    else:
        from sde_diffusion.data import mnist1d
        data = mnist1d()
        feat, _, acc = train_feature_classifier(data, (256, 64), epochs=40, batch_size=128,
                                                noise=0.0)
    test = data.test
    peers = list(peers_to_run(None if a.peers == "all" else [p for p in a.peers.split(",") if p]))
    rows = []

    def fd(x):
        with torch.no_grad():
            return float(frechet_distance(feat(x.float()).detach(), feat(test).detach()))

    shape = (a.n,) + tuple(data.data_shape)
    x_T = sde.prior_sample(shape, generator=torch.Generator().manual_seed(1))
    t0 = time.time()
    c = Counted(model)
    with torch.no_grad():
        ref = data_end_reference(sde, c, x_T, rtol=1e-5, atol=1e-5)
    c_ref = c.n
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
            rows.append({"row": name, "kind": "project", "nfe": k, "rms": end_to_end_rms(x0, ref),
                         "fd": fd(x0)})
            cells.append(f"{rows[-1]['rms']:.3g} / {rows[-1]['fd']:.2f}")
        print(f"| {name} (default) | " + " | ".join(cells) + " |", flush=True)
    for peer in peers:
        cells = []
        for k in nfes:
            x0, _, why = peer_estimate(sde, model, x_T, peer, 1e-3, k)
            if x0 is None:                  # refused by the peer library, or over budget
                print(f"# peer {peer} at {k} NFE: {why}"[:200])
                cells.append("-")
                continue
            if not bool(torch.isfinite(x0).all()):      # a diverged configuration
                rows.append({"row": peer, "kind": "peer", "nfe": k, "rms": float("inf"),
                             "fd": float("inf")})
                cells.append("non-finite")
                continue
            rows.append({"row": peer, "kind": "peer", "nfe": k, "rms": end_to_end_rms(x0, ref),
                         "fd": fd(x0)})
            cells.append(f"{rows[-1]['rms']:.3g} / {rows[-1]['fd']:.2f}")
        print(f"| peer {peer} | " + " | ".join(cells) + " |", flush=True)
    for k in nfes:                                   # the best default against the best peer
        best = {kind: min((r for r in rows if r["kind"] == kind and r["nfe"] == k
                           and r["rms"] == r["rms"]), key=lambda r: r["rms"], default=None)
                for kind in ("project", "peer")}
        if best["project"] and best["peer"]:
            print(f"# {k} NFE: best default {best['project']['row']} {best['project']['rms']:.3g} "
                  f"(FD {best['project']['fd']:.2f}), best peer {best['peer']['row']} "
                  f"{best['peer']['rms']:.3g} (FD {best['peer']['fd']:.2f}): ratio "
                  f"{best['project']['rms'] / best['peer']['rms']:.2f}")
    if a.out:
        import json
        with open(a.out, "w") as fh:
            json.dump({"run": a.run_dir, "data": a.data, "n": a.n, "classifier_accuracy": acc,
                       "reference_fd": fd(ref), "reference_nfe": c_ref, "rows": rows}, fh, indent=1)


if __name__ == "__main__":
    main()
