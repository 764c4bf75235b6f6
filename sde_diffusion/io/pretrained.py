"""Reusable models: ``save_pretrained(model, dir)`` / ``load_pretrained(dir)`` (diffusers-style).

A model folder holds

    config.json          {"format": 1, "model": <registry.model_spec: sde, net, parameterization>,
                          "meta": {"data_shape": [...], "data": {...}, ...}, "sampler": {...}?}
    model.safetensors    the weights (or model.pt, a weights-only torch state dict, when the
                         ``safetensors`` package is not installed)

Loading rebuilds the model only through ``sde_diffusion.registry`` (allow-listed classes), so a
folder from someone else runs no code; NaN/inf weights and weights that do not fit the config
are refused; only regular files are read, config.json at most ``LIMITS.max_text_bytes``; the
``.pt`` fallback is read with ``weights_only=True``. ``scripts/sample.py run=<dir>`` and
``scripts/likelihood.py checkpoint=<dir>`` take such a folder wherever they take a run.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Tuple, Union

import torch

from .. import registry
from .checkpoints import CheckpointError
from ..weights_file import UnsafeFileError, check_finite_state, load_weights
from .files import read_text, write_error
from .weights import build_model

__all__ = ["save_pretrained", "load_pretrained", "read_pretrained", "is_model_folder",
           "PRETRAINED_FORMAT", "PRETRAINED_CONFIG", "PretrainedWriteError"]

PRETRAINED_FORMAT = 1
PRETRAINED_CONFIG = "config.json"
PathLike = Union[str, Path]


class PretrainedWriteError(OSError):
    """A model folder could not be written (disk full, read-only, ...); nothing was replaced."""


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
    if not isinstance(directory, (str, Path)):
        raise TypeError(f"directory must be a str or Path, got {type(directory).__name__}")
    if str(directory) == "":
        raise ValueError("directory='' is empty; name the model folder to write")
    spec = registry.model_spec(model)
    state = {k: v.detach().to("cpu").contiguous() for k, v in registry.unwrap(model).state_dict().items()}
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
    except BaseException as e:
        why = write_error(e)
        if why is None:
            raise
        raise PretrainedWriteError(f"cannot write model folder {str(out)!r}: {why}; free space or "
                                   f"choose another folder") from None
    finally:
        for t in (tmp, out / (PRETRAINED_CONFIG + ".tmp")):
            if t.exists():
                t.unlink()
    if stale.exists():
        stale.unlink()
    return out


def is_model_folder(path: Path) -> bool:
    return path.is_dir() and (path / PRETRAINED_CONFIG).exists()


def _load_weights_file(folder: Path) -> Dict[str, torch.Tensor]:
    for name in ("model.safetensors", "model.pt"):
        f = folder / name
        if f.exists() or f.is_symlink():
            return load_weights(f, "weights file", error=CheckpointError)
    raise FileNotFoundError(f"model folder {str(folder)!r} has {PRETRAINED_CONFIG} but no "
                            f"model.safetensors or model.pt")


def read_pretrained(folder: Path) -> Tuple[Dict[str, Any], Dict[str, torch.Tensor]]:
    """(config.json as a dict, the stored weights) of a model folder; every target in the
    config checked against the allow-list. Nothing is built."""
    cfg_path = folder / PRETRAINED_CONFIG
    try:
        cfg = json.loads(read_text(cfg_path, "model config"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError, UnsafeFileError) as e:
        raise CheckpointError(f"{str(cfg_path)!r} is unreadable or not JSON ({type(e).__name__}: "
                              f"{str(e).splitlines()[0] if str(e) else ''})") from None
    if not isinstance(cfg, dict) or not isinstance(cfg.get("model"), dict):
        raise CheckpointError(f"{str(cfg_path)!r} lacks a 'model' spec (written by save_pretrained?)")
    try:
        registry.check_spec(cfg, "config.json")
    except registry.RegistryError as e:
        raise registry.RegistryError(f"model folder {str(folder)!r}: {e}") from None
    return cfg, _load_weights_file(folder)


def load_pretrained(directory: PathLike, map_location: Any = "cpu") -> torch.nn.Module:
    """The ScoreModel saved by ``save_pretrained`` (eval mode), built from the allow-list only."""
    d = Path(directory)
    if not (d / PRETRAINED_CONFIG).exists():
        raise FileNotFoundError(f"{str(d)!r} is not a model folder (no {PRETRAINED_CONFIG}); "
                                f"save one with save_pretrained(model, dir)")
    cfg, weights = read_pretrained(d)
    return build_model(cfg["model"], weights, f"model folder {str(d)!r}", map_location)
