"""Likelihood of a trained model: ``python scripts/likelihood.py checkpoint=<run> method=all``.

PF-ODE NLL, continuous ELBO and discrete-chain bound (nats for points, bits/dim for images)
with 95% confidence intervals, written to ``<run dir>/likelihood.json`` and the tracker.
"""
import json
import logging
from pathlib import Path

import hydra
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from sde_diffusion.data import build_data
from sde_diffusion.likelihood import EVAL_METHODS, Quantization, evaluate
from sde_diffusion.training import load_model  # also registers the config schemas
from sde_diffusion.utils import check_choice

log = logging.getLogger("likelihood")


@hydra.main(config_path="../conf", config_name="likelihood", version_base="1.3")
def main(cfg: DictConfig) -> None:
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    check_choice("method", cfg.method, EVAL_METHODS + ("all",))
    check_choice("split", cfg.split, ("test", "train"))
    model, train_cfg = load_model(cfg.checkpoint, use_ema=cfg.use_ema, map_location=cfg.device)
    data = build_data(train_cfg.data)
    x = getattr(data, cfg.split)[: cfg.n_points].to(cfg.device)
    quant = Quantization(data.bits, tuple(data.value_range)) if data.kind == "images" else None
    methods = list(EVAL_METHODS) if cfg.method == "all" else [cfg.method]
    if cfg.method == "all" and getattr(model.sde, "discrete", None) is None:
        methods.remove("discrete_elbo")  # the discrete bound needs a DDPM chain (VP SDE)
    opts = OmegaConf.to_container(cfg, resolve=True)
    results = evaluate(model.sde, model, x, methods, quant, cfg.batch_size, opts["ode"],
                       opts["elbo"], opts["discrete_elbo"], torch.Generator().manual_seed(cfg.seed))
    results.update(checkpoint=str(cfg.checkpoint), split=cfg.split, data=data.name,
                   step=int(train_cfg._meta_.step), sde=repr(model.sde))
    if data.reference is not None:  # exact density of the data: the NLL every method aims at
        results["reference_nll"] = float(-data.reference.log_prob(x).mean())
    (run_dir / "likelihood.json").write_text(json.dumps(results, indent=2))
    tracker = instantiate(cfg.logger, run_dir=str(run_dir), run_config=cfg)
    unit = "bpd" if quant is not None else "nll"
    tracker.summary({f"{m}/{unit}": results[m][unit]["mean"] for m in methods})
    tracker.finish(0)
    for m in methods:
        r = results[m][unit]
        log.info("%-13s %s = %.4f  (95%% CI %.4f .. %.4f, n=%d)", m, unit, r["mean"], *r["ci95"], r["n"])
    log.info("written %s", run_dir / "likelihood.json")


if __name__ == "__main__":
    main()
