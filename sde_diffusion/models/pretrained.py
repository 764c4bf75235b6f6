"""Reusable models: ``save_pretrained(model, dir)`` / ``load_pretrained(dir)`` (diffusers-style).

A model folder holds

    config.json          {"format": 1, "model": <registry.model_spec: sde, net, parameterization>,
                          "meta": {"data_shape": [...], "data": {...}, ...}, "sampler": {...}?}
    model.safetensors    the weights (or model.pt, a weights-only torch state dict, when the
                         ``safetensors`` package is not installed)

Loading rebuilds the model only through ``sde_diffusion.registry`` (allow-listed classes), so a
folder from someone else runs no code; NaN/inf weights and weights that do not fit the config
are refused. ``scripts/sample.py run=<dir>`` and ``scripts/likelihood.py checkpoint=<dir>`` take
such a folder wherever they take a run.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Union

import torch

__all__ = ["save_pretrained", "load_pretrained", "PRETRAINED_FORMAT"]

PRETRAINED_FORMAT = 1
PathLike = Union[str, Path]


def _has_safetensors() -> bool:
    try:
        import safetensors.torch  # noqa: F401
    except ImportError:
        return False
    return True


def _infer_shape(net_spec: Mapping[str, Any]) -> Optional[list]:
    """Per-sample data shape from the network's arguments (MLP ``dim``; U-Net channels, size)."""
    if "in_channels" in net_spec and "image_size" in net_spec:
        c, s = int(net_spec["in_channels"]), int(net_spec["image_size"])
        return [c, s, s]
    if "dim" in net_spec:
        return [int(net_spec["dim"])]
    return None


def save_pretrained(model: torch.nn.Module, directory: PathLike,
                    meta: Optional[Mapping[str, Any]] = None,
                    sampler: Optional[Mapping[str, Any]] = None) -> Path:
    """Write ``model`` (a ScoreModel built from allow-listed parts) to ``directory``.

    Args:
        model: the ScoreModel; its current weights are saved (swap in EMA weights first if
            those are wanted).
        directory: created if needed; existing config/weights files are replaced atomically.
        meta: extra JSON-safe facts (``data_shape``, ``data`` identity, ``value_range`` ...);
            ``data_shape`` is inferred from the network when not given.
        sampler: an optional default sampler node ``{name, steps, options}``.
    Returns the folder. Raises ``RegistryError`` if the model holds parts outside the allow-list
    (e.g. a lambda schedule), ``ValueError`` if a weight is not finite.
    """
    from .. import registry
    from ..training.loading import PRETRAINED_CONFIG, check_finite_state
    spec = registry.model_spec(model)
    state = {k: v.detach().to("cpu").contiguous() for k, v in registry._unwrap(model).state_dict().items()}
    check_finite_state(state, "save_pretrained")
    info: Dict[str, Any] = dict(meta or {})
    if info.get("data_shape") is None:
        info["data_shape"] = _infer_shape(spec["net"])
    cfg: Dict[str, Any] = {"format": PRETRAINED_FORMAT, "model": spec, "meta": info}
    if sampler is not None:
        cfg["sampler"] = dict(sampler)
    text = json.dumps(cfg, indent=2, allow_nan=False)
    registry.check_spec(json.loads(text), "config.json")  # what we write must load
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    if _has_safetensors():
        from safetensors.torch import save_file
        name, save = "model.safetensors", lambda p: save_file(state, str(p), metadata={"format": "pt"})
        stale = out / "model.pt"
    else:
        name, save = "model.pt", lambda p: torch.save(state, p)
        stale = out / "model.safetensors"
    tmp = out / (name + ".tmp")
    try:
        save(tmp)
        os.replace(tmp, out / name)
        (out / (PRETRAINED_CONFIG + ".tmp")).write_text(text)
        os.replace(out / (PRETRAINED_CONFIG + ".tmp"), out / PRETRAINED_CONFIG)
    finally:
        for t in (tmp, out / (PRETRAINED_CONFIG + ".tmp")):
            if t.exists():
                t.unlink()
    if stale.exists():
        stale.unlink()
    return out


def load_pretrained(directory: PathLike, map_location: Any = "cpu") -> torch.nn.Module:
    """The ScoreModel saved by ``save_pretrained`` (eval mode), built from the allow-list only."""
    from ..training.loading import PRETRAINED_CONFIG, _finish, _read_pretrained
    from .. import registry
    d = Path(directory)
    if not (d / PRETRAINED_CONFIG).is_file():
        raise FileNotFoundError(f"{str(d)!r} is not a model folder (no {PRETRAINED_CONFIG}); "
                                f"save one with save_pretrained(model, dir)")
    cfg, weights = _read_pretrained(d)
    registry.check_spec(cfg, "config.json")
    return _finish(cfg["model"], weights, f"model folder {str(d)!r}", map_location)
