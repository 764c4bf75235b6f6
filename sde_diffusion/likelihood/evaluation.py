"""Data-set evaluation: the NLL of a data set by each method, with confidence intervals.
Summary code only (no maths of its own): it calls ``log_likelihood``, ``bits_per_dim``,
``elbo`` and ``discrete_elbo`` chunk by chunk and summarises, with a progress bar."""
from __future__ import annotations

import math
from typing import Optional

import torch

from ..sdes.base import SDE, ScoreFn
from ..contract import check_choice
from ._common import check_data, flat_dim
from .bounds import discrete_elbo, elbo
from .ode import log_likelihood, progress_bar
from .quantization import Quantization, bits_per_dim

__all__ = ["EVAL_METHODS", "evaluate"]

EVAL_METHODS = ("ode", "elbo", "discrete_elbo")


def _summary(values: torch.Tensor, unit: str) -> dict:
    """Mean and 95% normal confidence interval over data points."""
    v = values.double().cpu()
    n = v.numel()
    half = 1.96 * float(v.std()) / math.sqrt(n) if n > 1 else float("nan")
    mean = float(v.mean())
    return {"mean": mean, "ci95": [mean - half, mean + half], "half_width": half, "n": n,
            "median": float(v.median()), "unit": unit}


def evaluate(sde: SDE, score_fn: ScoreFn, x: torch.Tensor, methods=EVAL_METHODS,
             quantization: Optional[Quantization] = None, batch_size: int = 256,
             ode_options: Optional[dict] = None, elbo_options: Optional[dict] = None,
             discrete_options: Optional[dict] = None,
             generator: Optional[torch.Generator] = None,
             progress: Optional[bool] = None) -> dict:
    """NLL of a data set by each of ``methods``, with 95% confidence intervals over points.

    Reports bits/dim when ``quantization`` is given (images; ODE and continuous bounds on
    dequantised data, the discrete bound with the discretised decoder), else nats per sample
    and per dimension; each bound also gets ``minus_ode``, its paired difference from the ODE
    value on the same points. ``ode_options["divergence"] = "auto"`` picks exact for d <= 16, else
    Hutchinson. Evaluated in chunks of ``batch_size`` points, with a tqdm bar per method
    (points done, ETA; default on at a terminal). Returns a JSON-ready dict.
    """
    methods = [check_choice("method", m, EVAL_METHODS) for m in methods]
    check_data(x)
    d = flat_dim(x)
    ode_options = dict(ode_options or {})
    if ode_options.get("divergence", "auto") == "auto":
        ode_options["divergence"] = "exact" if d <= 16 else "hutchinson"
    elbo_options, discrete_options = dict(elbo_options or {}), dict(discrete_options or {})
    if discrete_options.get("decoder", "auto") == "auto":
        discrete_options["decoder"] = "discretized" if quantization is not None else "gaussian"
    out = {"n_points": int(x.shape[0]), "dim": d, "eps": sde.eps,
           "units": "bits/dim" if quantization is not None else "nats"}
    per_point = {}
    methods = sorted(methods, key=EVAL_METHODS.index)  # the ODE first, for the paired gaps
    for method in methods:
        vals, cost, extra, outliers = [], 0, {}, 0
        bar = progress_bar(x.shape[0], f"NLL ({method})", progress)
        for a in range(0, x.shape[0], batch_size):
            bar.update(min(batch_size, x.shape[0] - a)) if a else None
            xb = x[a:a + batch_size]
            if method == "ode":
                if quantization is not None:
                    r = bits_per_dim(sde, score_fn, xb, quantization=quantization,
                                     generator=generator, **ode_options)
                    vals.append(r.bpd)
                    r = r.likelihood
                else:
                    r = log_likelihood(sde, score_fn, xb, generator=generator, **ode_options)
                    vals.append(-r.logp)
                cost += r.nfe
                # a latent far outside the prior (mean square > 10 prior variances) means the
                # model's ODE trajectory ran away: the mean is then meaningless, see the median
                ms = r.z.double().reshape(r.z.shape[0], -1).pow(2).mean(1) / sde.prior_std() ** 2
                outliers += int((ms > 10).sum())
                extra = {"nfe_per_batch": cost / math.ceil(x.shape[0] / batch_size),
                         "latent_outliers": outliers, **ode_options}
            elif method == "elbo":
                r = elbo(sde, score_fn, xb, quantization=quantization, generator=generator,
                         **elbo_options)
                vals.append(r.bpd if quantization is not None else -r.elbo)
                cost += r.n_score_calls
                extra = {"score_calls": cost, **elbo_options}
            else:
                r = discrete_elbo(sde, score_fn, xb, quantization=quantization,
                                  generator=generator, **discrete_options)
                vals.append(r.bpd if r.bpd is not None else -r.elbo)
                cost += r.n_model_calls
                extra = {"model_calls": cost, **discrete_options}
        bar.update(x.shape[0] - bar.n)
        bar.close()
        v = torch.cat(vals)
        key = "bpd" if quantization is not None else "nll"
        res = {key: _summary(v, out["units"]), "options": extra}
        if quantization is None:
            res["nll_per_dim"] = _summary(v / d, "nats/dim")
        if method != "ode" and "ode" in per_point:  # paired: the data's own spread cancels
            res["minus_ode"] = _summary(v - per_point["ode"], out["units"])
        per_point[method] = v
        out[method] = res
    return out
