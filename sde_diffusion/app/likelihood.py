"""What ``scripts/likelihood.py`` does: PF-ODE NLL, ELBO and discrete bound of a trained model on
its own data (read only inside the run, or from ``data_root=``) or on ``data=<name>`` (refused when
it differs from the run's unless ``allow_data_mismatch``), written to a new folder
``<run>/eval/<timestamp>/likelihood.json`` (or ``out=``) and the tracker.
"""
from __future__ import annotations

import contextlib
import json
import logging
import sys
from typing import Any, Callable, Iterator, Mapping, Optional

import torch

from .data import build_run_data
from .folders import output_dir
from .models import load_run

__all__ = ["likelihood_main", "score_progress"]

log = logging.getLogger("likelihood")


@contextlib.contextmanager
def score_progress(score_fn: Callable, desc: str, enabled: Optional[bool] = None) -> Iterator[Callable]:
    """``score_fn`` wrapped to advance a tqdm bar (unit: score evaluations) on every call, for
    evaluations whose number of calls is not known in advance (adaptive ODE solvers).
    ``enabled=None``: on when stderr is a terminal."""
    from tqdm.auto import tqdm
    show = sys.stderr.isatty() if enabled is None else bool(enabled)
    bar = tqdm(desc=desc, unit="NFE", disable=not show, dynamic_ncols=True)

    def counted(x, t):
        bar.update(1)
        return score_fn(x, t)
    counted.bar = bar  # type: ignore[attr-defined]
    try:
        yield counted
    finally:
        bar.close()


def likelihood_main(c: Mapping[str, Any]) -> None:
    """``scripts/likelihood.py`` on the validated plain config ``c`` (logs the results)."""
    from ..likelihood import EVAL_METHODS, Quantization, evaluate
    from ..registry import build
    from ..io import check_data_identity, data_identity
    run = load_run(c["checkpoint"], use_ema=c["use_ema"], device=c["device"])
    model, meta = run.model, run.meta
    own = c["data"] is None  # the run's stored data config: untrusted, confined, never downloads
    if own and not isinstance(run.config.get("data"), Mapping):
        raise ValueError(f"{c['checkpoint']!r} does not record its data set; name one with data=<name>")
    data = build_run_data(run.config["data"] if own else c["data"], shape=meta.data_shape,
                          trusted=not own, run_dir=run.folder, data_root=c.get("data_root"))
    recorded = meta.data or ({"name": meta.data_name} if meta.data_name else None)
    mismatch = check_data_identity(recorded, data_identity(data.name, data.train), c["allow_data_mismatch"])
    if mismatch:
        log.warning("%s (allow_data_mismatch=true)", mismatch)
    x = getattr(data, c["split"])[: c["n_points"]].to(next(model.parameters()).device)
    quant = Quantization(data.bits, tuple(data.value_range)) if data.kind == "images" else None
    methods = list(EVAL_METHODS) if c["method"] == "all" else [c["method"]]
    if c["method"] == "all" and getattr(model.sde, "discrete", None) is None:
        methods.remove("discrete_elbo")  # the discrete bound needs a DDPM chain (VP SDE)
    out = output_dir(run.folder, "eval", c["out"])
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
