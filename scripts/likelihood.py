"""Likelihood of a trained model: ``python scripts/likelihood.py checkpoint=<run | ckpt | latest | model folder>``.

PF-ODE NLL, ELBO and discrete bound with 95% CIs -> ``<run>/eval/<timestamp>/likelihood.json`` (or
``out=``) and the tracker. Data other than the run's own (``data=<name>``) is refused unless
``allow_data_mismatch=true``. Bad input: one line on stderr and a non-zero exit."""
import json
import logging

import torch

from sde_diffusion.configs import run_main, to_plain, validate_likelihood_config
from sde_diffusion.likelihood import EVAL_METHODS, ODE_METHODS, Quantization, evaluate
from sde_diffusion.registry import build
from sde_diffusion.runs import build_run_data, output_dir, score_progress
from sde_diffusion.io import check_data_identity, data_identity, load_model

log = logging.getLogger("likelihood")


def main(cfg) -> None:
    c = to_plain(cfg)
    validate_likelihood_config(c, EVAL_METHODS, ODE_METHODS)
    model, run, meta = load_model(c["checkpoint"], use_ema=c["use_ema"], map_location=c["device"])
    own = c["data"] is None  # the run's stored data config: untrusted, never downloads
    if own and not isinstance(run.get("data"), dict):
        raise ValueError(f"{c['checkpoint']!r} does not record its data set; name one with data=<name>")
    data = build_run_data(run["data"] if own else c["data"], shape=meta.data_shape, trusted=not own)
    recorded = meta.data or ({"name": meta.data_name} if meta.data_name else None)  # older runs: the name
    if mismatch := check_data_identity(recorded, data_identity(data.name, data.train), c["allow_data_mismatch"]):
        log.warning("%s (allow_data_mismatch=true)", mismatch)
    x = getattr(data, c["split"])[: c["n_points"]].to(next(model.parameters()).device)
    quant = Quantization(data.bits, tuple(data.value_range)) if data.kind == "images" else None
    methods = list(EVAL_METHODS) if c["method"] == "all" else [c["method"]]
    if c["method"] == "all" and getattr(model.sde, "discrete", None) is None:
        methods.remove("discrete_elbo")  # the discrete bound needs a DDPM chain (VP SDE)
    out = output_dir(meta.run_dir, "eval", c["out"])
    log.info("evaluating %s on %d points of %s/%s", ", ".join(methods), x.shape[0], data.name, c["split"])
    with score_progress(model, "likelihood", c["progress"]) as score:
        results = evaluate(model.sde, score, x, methods, quant, c["batch_size"], c["ode"], c["elbo"],
                           c["discrete_elbo"], torch.Generator().manual_seed(c["seed"]))
    results.update(checkpoint=meta.checkpoint, split=c["split"], data=data.name, step=meta.step,
                   sde=repr(model.sde), data_mismatch=mismatch)
    if data.reference is not None:  # exact density of the data: the NLL every method aims at
        results["reference_nll"] = float(-data.reference.log_prob(x).mean())
    (out / "likelihood.json").write_text(json.dumps(results, indent=2))
    unit = "bpd" if quant is not None else "nll"
    if c["logger"]:  # allow-listed trackers only
        tracker = build({**c["logger"], "run_dir": str(out), "run_config": c}, training=True, path="logger")
        tracker.summary({f"{m}/{unit}": results[m][unit]["mean"] for m in methods})
        tracker.finish(0)
    for m in methods:
        r = results[m][unit]
        log.info("%-13s %s = %.4f  (95%% CI %.4f .. %.4f, n=%d)", m, unit, r["mean"], *r["ci95"], r["n"])
    log.info("written %s", out / "likelihood.json")


if __name__ == "__main__":
    run_main(main, "likelihood")
