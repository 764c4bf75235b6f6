"""Value checks for composed configs, run before any work (the schemas check keys and types).

Each function takes the plain config (``to_plain``) and raises ``ValueError``/``TypeError``
naming the key, the bad value and the valid choices; it returns nothing.
"""
from __future__ import annotations

import dataclasses
import difflib
import math
import numbers
import re
from typing import Any, Mapping, Optional, Sequence

from ..contract import close_match

__all__ = ["validate_config", "check_keys", "check_int", "check_number", "check_choice_of", "check_device", "validate_sampler",
           "validate_sample_config", "validate_likelihood_config"]


def check_keys(cfg: Mapping[str, Any], schema: Any, prefix: str = "") -> None:
    """Refuse keys the schema dataclass does not declare (``+sample.stpes=20`` passes Hydra's
    struct check, since ``+`` appends), suggesting the closest known key."""
    fields = {f.name: f for f in dataclasses.fields(schema)}
    for k, v in cfg.items():
        if k not in fields:
            close = difflib.get_close_matches(str(k), list(fields), n=1)
            hint = f"; did you mean {prefix}{close[0]}?" if close else ""
            raise ValueError(f"unknown config key {prefix}{k}={v!r}{hint} (known: {', '.join(fields)})")
        ftype = fields[k].default_factory if fields[k].default_factory is not dataclasses.MISSING else None
        if ftype is not None and dataclasses.is_dataclass(ftype) and isinstance(v, Mapping):
            check_keys(v, ftype, f"{prefix}{k}.")


def check_int(key: str, v: Any, lo: Optional[int] = None, allow_none: bool = False) -> None:
    """An integer (numpy integers too; not bool), at least ``lo``."""
    if v is None and allow_none:
        return
    if isinstance(v, bool) or not isinstance(v, numbers.Integral):
        raise TypeError(f"{key} must be an integer, got {v!r}")
    if lo is not None and int(v) < lo:
        raise ValueError(f"{key} must be >= {lo}, got {v!r}")


def check_number(key: str, v: Any, lo: Optional[float] = None, positive: bool = False,
                 allow_none: bool = False) -> None:
    """A finite real number (> 0 if ``positive``, >= ``lo``)."""
    if v is None and allow_none:
        return
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        raise TypeError(f"{key} must be a number, got {v!r}")
    if not math.isfinite(v):
        raise ValueError(f"{key} must be finite, got {v!r}")
    if positive and not v > 0:
        raise ValueError(f"{key} must be > 0, got {v!r}")
    if lo is not None and v < lo:
        raise ValueError(f"{key} must be >= {lo}, got {v!r}")


def check_choice_of(key: str, v: Any, choices: Sequence[str]) -> None:
    if v not in choices:
        raise ValueError(f"{key}={v!r} is not one of {', '.join(map(repr, choices))}"
                         f"{close_match(v, choices)}")


def check_device(key: str, v: Any) -> None:
    if not isinstance(v, str) or not re.fullmatch(r"auto|cpu|mps|cuda(:\d+)?", v):
        raise ValueError(f"{key}={v!r} is not a device; valid: 'auto', 'cpu', 'cuda', 'cuda:N', 'mps'")


def _check_finite_tree(key: str, v: Any) -> None:
    if isinstance(v, float) and not math.isfinite(v):
        raise ValueError(f"{key}={v!r} is not finite")
    if isinstance(v, Mapping):
        for k, x in v.items():
            _check_finite_tree(f"{key}.{k}", x)
    elif isinstance(v, (list, tuple)):
        for i, x in enumerate(v):
            _check_finite_tree(f"{key}[{i}]", x)


def validate_sampler(node: Any, key: str = "sampler", steps_override: Any = None) -> None:
    """A sampler node ``{name, steps, options}``: a registered name, steps >= 1, finite options."""
    from ..solvers import SAMPLERS
    if node is None:
        return
    if not isinstance(node, Mapping):
        raise TypeError(f"{key} must be a mapping {{name, steps, options}}, got {node!r}")
    name = node.get("name")
    unknown = [k for k in node if k not in ("name", "steps", "options")]
    if unknown:
        raise ValueError(f"unknown key {key}.{unknown[0]}={node[unknown[0]]!r}; a sampler has name, "
                         f"steps and options (sampler options go under {key}.options)")
    if not isinstance(name, str) or name not in SAMPLERS:
        raise ValueError(f"{key}.name={name!r} is not a registered sampler; valid: "
                         f"{', '.join(sorted(SAMPLERS))}{close_match(name, SAMPLERS)}")
    if steps_override is None:
        check_int(f"{key}.steps", node.get("steps", 1000), lo=1)
    opts = node.get("options") or {}
    if not isinstance(opts, Mapping):
        raise TypeError(f"{key}.options must be a mapping, got {opts!r}")
    _check_finite_tree(f"{key}.options", opts)
    valid = sampler_option_names(name)
    for k in opts:
        if k not in valid:
            raise ValueError(f"unknown option {key}.options.{k}={opts[k]!r} of sampler {name!r}; "
                             f"valid: {', '.join(sorted(valid))}{close_match(k, valid)}")


def sampler_option_names(name: str) -> set:
    """Options a sampler node may hold: its constructor's arguments and ``sample``'s keywords
    that a config can set (grid, denoise, t_end, ...)."""
    import inspect
    from ..solvers import get_sampler, sample
    own = set(inspect.signature(get_sampler(name).__init__).parameters) - {"self"}
    fixed = {"sde", "score_fn", "shape", "sampler", "steps", "generator", "x_init", "device",
             "callback", "return_trajectory", "after_step", "sampler_options"}
    return own | (set(inspect.signature(sample).parameters) - fixed)


def check_use_ema(value: Any) -> None:
    """``use_ema``: true (primary EMA), false (raw weights) or an EMA decay in [0, 1)."""
    if isinstance(value, bool):
        return
    if isinstance(value, float) and 0.0 <= value < 1.0:
        return
    raise ValueError(f"use_ema must be true, false or an EMA decay in [0, 1) kept with "
                     f"train.ema_extra, got {value!r}")


def validate_sample_config(cfg: Mapping[str, Any]) -> None:
    """``conf/sample.yaml`` values."""
    from .schemas import SampleConfig
    check_keys(cfg, SampleConfig)
    if not isinstance(cfg.get("run"), str) or not cfg["run"].strip():
        raise ValueError(f"run must name a run folder, checkpoint or model folder, got {cfg.get('run')!r}")
    check_int("n", cfg.get("n"), lo=1)
    check_int("seed", cfg.get("seed"), lo=0)
    check_int("steps", cfg.get("steps"), lo=1, allow_none=True)
    check_int("batch_size", cfg.get("batch_size", 4096), lo=1)
    check_int("trajectory_frames", cfg.get("trajectory_frames", 0), lo=0)
    check_device("device", cfg.get("device", "auto"))
    check_use_ema(cfg.get("use_ema", True))
    validate_sampler(cfg.get("sampler"), "sampler", cfg.get("steps"))
    label = cfg.get("label")
    if label is not None and (isinstance(label, bool) or not isinstance(label, (int, str))
                              or (isinstance(label, str) and label != "all")):
        raise ValueError(f"label must be a class index or 'all', got {label!r}")
    check_number("guidance", cfg.get("guidance"), allow_none=True)
    if not isinstance(cfg.get("inpaint", False), bool):
        raise TypeError(f"inpaint must be true or false, got {cfg.get('inpaint')!r}")
    if cfg.get("inpaint"):
        from ..app.inpainting import check_inpaint_options
        check_inpaint_options(cfg.get("inpaint_method"), cfg.get("mask"), cfg.get("inpaint_jacobian", "gaussian"))
        check_int("completions", cfg.get("completions", 4), lo=1)
        check_number("dps_noise", cfg.get("dps_noise", 0.2), positive=True)
        check_number("inpaint_scale", cfg.get("inpaint_scale", 1.0), lo=0.0)
        if label == "all":
            raise ValueError("label=all draws a class grid; inpainting takes one label (or none)")


def validate_likelihood_config(cfg: Mapping[str, Any], eval_methods: Sequence[str],
                               ode_methods: Sequence[str] = ("rk45", "heun")) -> None:
    """``conf/likelihood.yaml`` values."""
    from .schemas import LikelihoodConfig
    check_keys(cfg, LikelihoodConfig)
    if not isinstance(cfg.get("checkpoint"), str) or not cfg["checkpoint"].strip():
        raise ValueError(f"checkpoint must name a run folder, checkpoint or model folder, "
                         f"got {cfg.get('checkpoint')!r}")
    check_choice_of("method", cfg.get("method"), tuple(eval_methods) + ("all",))
    check_choice_of("split", cfg.get("split"), ("test", "train"))
    check_int("n_points", cfg.get("n_points"), lo=1, allow_none=True)
    check_int("batch_size", cfg.get("batch_size"), lo=1)
    check_int("seed", cfg.get("seed"), lo=0)
    check_use_ema(cfg.get("use_ema", True))
    check_device("device", cfg.get("device", "cpu"))
    ode = cfg.get("ode") or {}
    check_choice_of("ode.method", ode.get("method"), tuple(ode_methods))
    check_choice_of("ode.divergence", ode.get("divergence"), ("auto", "exact", "hutchinson"))
    check_choice_of("ode.probe", ode.get("probe"), ("rademacher", "gaussian"))
    check_int("ode.n_probes", ode.get("n_probes"), lo=1)
    check_number("ode.rtol", ode.get("rtol"), positive=True)
    check_number("ode.atol", ode.get("atol"), positive=True)
    check_int("ode.steps", ode.get("steps"), lo=1)
    elbo = cfg.get("elbo") or {}
    check_int("elbo.n_samples", elbo.get("n_samples"), lo=1)
    check_choice_of("elbo.t_sampling", elbo.get("t_sampling"), ("uniform", "importance"))
    de = cfg.get("discrete_elbo") or {}
    check_int("discrete_elbo.num_steps", de.get("num_steps"), lo=1)
    check_choice_of("discrete_elbo.prediction", de.get("prediction"), ("score", "x0", "eps"))
    check_choice_of("discrete_elbo.variance", de.get("variance"), ("beta", "beta_tilde"))
    check_choice_of("discrete_elbo.decoder", de.get("decoder"), ("auto", "gaussian", "discretized"))
    check_int("discrete_elbo.sampled_steps", de.get("sampled_steps"), lo=1, allow_none=True)
    check_int("discrete_elbo.n_samples", de.get("n_samples"), lo=1)
    data = cfg.get("data")
    if data is not None and not (isinstance(data, Mapping) and "_target_" in data):
        raise ValueError(f"data must be null (the run's own data) or a data config with a "
                         f"_target_ (data=<name>), got {data!r}")


def validate_config(cfg: Mapping[str, Any]) -> None:
    """The training root (``conf/config.yaml``) beyond its groups: known top-level keys, ``name``,
    ``seed`` and the sampler used for evaluation during and after training (so ``sampler.steps=0``
    fails before the first step, not after the run). The ``train`` group is checked by its owner."""
    from .schemas import Config
    known = {f.name for f in dataclasses.fields(Config)}
    for k, v in cfg.items():
        if k not in known:
            close = difflib.get_close_matches(str(k), sorted(known), n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            raise ValueError(f"unknown config key {k}={v!r}{hint} (known: {', '.join(sorted(known))})")
    if not isinstance(cfg.get("name"), str) or not cfg["name"].strip():
        raise ValueError(f"name must be a non-empty string, got {cfg.get('name')!r}")
    check_int("seed", cfg.get("seed"), lo=0)
    validate_sampler(cfg.get("sampler"), "sampler")
