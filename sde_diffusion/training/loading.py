"""Loading a trained model safely: ``load_model(path)`` for a run, a checkpoint or a model folder.

Nothing named by the file is imported or executed: the model is rebuilt from its spec through
``sde_diffusion.registry`` (an allow-list of the package's own classes), the weights are read
with ``torch.load(weights_only=True)`` (or safetensors), and the whole stored config is checked
against the allow-list first, so a hostile ``_target_`` anywhere in it is refused with the key
and target named. Weights that are not finite, or that do not fit the rebuilt network, are
refused with a clear error before the model is returned.

Where the model spec comes from, in order: ``state["model_spec"]`` (``registry.model_spec``),
``state["meta"]["model_spec"]``, or the legacy Hydra config of format-1 checkpoints (its ``sde``
and ``model`` nodes; the network's data-shape arguments from ``meta["data_shape"]``).
"""
from __future__ import annotations

import hashlib
import inspect
import json
import math
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple, Union

import torch

from .. import registry
from .checkpoint import (CheckpointError, checkpoint_dir, ema_state, latest_checkpoint,
                         load_checkpoint)

__all__ = ["load_model", "resolve_checkpoint", "RunConfig", "NonFiniteWeightsError",
           "check_finite_state", "check_state_fits", "model_spec_from_state", "data_identity",
           "check_data_identity", "run_dir_of", "PRETRAINED_CONFIG"]

PathLike = Union[str, Path]
PRETRAINED_CONFIG = "config.json"


class NonFiniteWeightsError(ValueError):
    """A checkpoint or model folder holds NaN or infinite weights."""


class RunConfig(dict):
    """A nested dict with attribute access (``cfg._meta_.data_shape``, ``cfg.get("sampler")``)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for k, v in self.items():
            if isinstance(v, Mapping) and not isinstance(v, RunConfig):
                super().__setitem__(k, RunConfig(v))

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = RunConfig(value) if isinstance(value, Mapping) else value


# ------------------------------------------------------------------------------ locating
def _pretrained_dir(p: Path) -> bool:
    return (p / PRETRAINED_CONFIG).is_file()


def resolve_checkpoint(path: PathLike, map_location: Any = "cpu") -> Tuple[Path, Dict[str, Any]]:
    """(checkpoint path, state) for a checkpoint file, a run directory (its newest readable
    checkpoint in ``checkpoints/`` or in the directory itself) or a ``latest`` link to one."""
    if not isinstance(path, (str, Path)) or str(path) == "":
        raise TypeError(f"a run path must be a non-empty str or Path, got {path!r}")
    p = Path(path)
    if p.is_symlink() and not p.exists():
        raise FileNotFoundError(f"{str(p)!r} is a link to {str(p.readlink())!r}, which does not exist")
    if p.is_dir():
        for d in (checkpoint_dir(p), p):
            found, state = latest_checkpoint(d, map_location=map_location)
            if state is not None:
                return found, state
        raise FileNotFoundError(f"no checkpoint (ckpt_*.pt) in {str(p)!r} or its checkpoints/ "
                                f"folder, and no {PRETRAINED_CONFIG} of a saved model")
    if not p.exists():
        raise FileNotFoundError(f"run or checkpoint {str(p)!r} does not exist")
    return p, load_checkpoint(p, map_location=map_location)


def run_dir_of(path: PathLike) -> Path:
    """The run folder a path belongs to (links resolved): the folder of a model folder or run,
    the run of a checkpoint file (``<run>/checkpoints/ckpt_N.pt`` -> ``<run>``)."""
    p = Path(path).resolve()
    if p.is_file():
        p = p.parent
        if p.name == "checkpoints":
            p = p.parent
    return p


# ------------------------------------------------------------------------------ checks
def check_finite_state(state_dict: Mapping[str, Any], where: str) -> None:
    """``NonFiniteWeightsError`` naming the first tensor with a NaN or inf entry."""
    for k, v in state_dict.items():
        if isinstance(v, torch.Tensor) and v.is_floating_point() and not bool(torch.isfinite(v).all()):
            n_bad = int((~torch.isfinite(v)).sum())
            raise NonFiniteWeightsError(f"{where}: weight {k!r} has {n_bad} non-finite (NaN/inf) "
                                        f"values of {v.numel()}; the run diverged, use an earlier "
                                        f"checkpoint")


def check_state_fits(model: torch.nn.Module, state_dict: Mapping[str, Any], where: str) -> None:
    """``ValueError`` naming missing/unexpected keys or the first shape mismatch between the
    stored weights and the network rebuilt from the config."""
    own = model.state_dict()
    missing = [k for k in own if k not in state_dict]
    extra = [k for k in state_dict if k not in own]
    if missing or extra:
        raise ValueError(f"{where}: the weights do not match the network built from its config "
                         f"(missing {missing[:3]}{'...' if len(missing) > 3 else ''}, unexpected "
                         f"{extra[:3]}{'...' if len(extra) > 3 else ''})")
    for k, v in own.items():
        w = state_dict[k]
        if not isinstance(w, torch.Tensor) or tuple(w.shape) != tuple(v.shape):
            got = tuple(w.shape) if isinstance(w, torch.Tensor) else type(w).__name__
            raise ValueError(f"{where}: weight {k!r} has shape {got} but the network built from "
                             f"its config expects {tuple(v.shape)}; the config and weights disagree")


# ------------------------------------------------------------------------------ specs
def _legacy_net_kwargs(net_spec: Mapping[str, Any], data_shape: Sequence[int]) -> Dict[str, Any]:
    """Data-shape arguments a legacy net config left out (``dim``, ``in_channels``, ``image_size``)."""
    fn = registry.lookup(net_spec.get("_target_"))
    if fn is None:
        return {}  # refused by check_spec with the key named
    params = inspect.signature(fn).parameters
    shape = tuple(int(d) for d in data_shape)
    out: Dict[str, Any] = {}
    if "dim" in params and "dim" not in net_spec:
        out["dim"] = int(math.prod(shape))
    if len(shape) == 3:
        if "in_channels" in params and "in_channels" not in net_spec:
            out["in_channels"] = shape[0]
        if "image_size" in params and "image_size" not in net_spec:
            out["image_size"] = shape[1]
    return out


def _parse_config(raw: Any, where: str) -> Dict[str, Any]:
    if isinstance(raw, Mapping):
        return dict(raw)
    if isinstance(raw, str):
        import yaml  # safe_load builds plain dicts/lists/scalars only
        try:
            out = yaml.safe_load(raw) if raw.strip() else {}
        except yaml.YAMLError as e:
            raise CheckpointError(f"{where}: its stored config is not valid YAML ({e.__class__.__name__})") from None
        if out is None:
            return {}
        if not isinstance(out, dict):
            raise CheckpointError(f"{where}: its stored config is a {type(out).__name__}, not a mapping")
        return out
    raise CheckpointError(f"{where}: its stored config is a {type(raw).__name__}, not a mapping")


def model_spec_from_state(state: Mapping[str, Any], config: Mapping[str, Any],
                          where: str) -> Dict[str, Any]:
    """The model spec of a checkpoint (new ``model_spec`` entry, or the legacy config)."""
    meta = state.get("meta") if isinstance(state.get("meta"), Mapping) else {}
    spec = state.get("model_spec") or meta.get("model_spec")
    if spec is not None:
        if isinstance(spec, str):
            spec = json.loads(spec)
        if not isinstance(spec, Mapping):
            raise CheckpointError(f"{where}: model_spec is a {type(spec).__name__}, not a mapping")
        return dict(spec)
    sde, model = config.get("sde"), config.get("model")
    if not isinstance(sde, Mapping) or not isinstance(model, Mapping) or not isinstance(model.get("net"), Mapping):
        raise CheckpointError(f"{where}: no model spec and no sde/model.net config stored; it was "
                              f"not written by sde_diffusion's trainer")
    net = dict(model["net"])
    net.update(_legacy_net_kwargs(net, meta.get("data_shape") or ()))
    rest = {k: v for k, v in model.items() if k != "net"}
    if rest.get("data_std") is None:
        rest["data_std"] = 1.0
    return {"sde": dict(sde), "net": net, **rest}


# ------------------------------------------------------------------------------ load_model
def _load_weights_file(folder: Path) -> Dict[str, torch.Tensor]:
    st, pt = folder / "model.safetensors", folder / "model.pt"
    if st.is_file():
        try:
            from safetensors.torch import load_file
        except ImportError:
            raise ImportError(f"{str(st)!r} needs the 'safetensors' package (pip install safetensors)") from None
        try:
            return load_file(str(st))
        except Exception as e:
            raise CheckpointError(f"{str(st)!r} is corrupt or unreadable ({type(e).__name__})") from None
    if pt.is_file():
        try:
            out = torch.load(pt, map_location="cpu", weights_only=True)
        except Exception as e:
            raise CheckpointError(f"{str(pt)!r} is corrupt or unreadable ({type(e).__name__})") from None
        if not isinstance(out, dict):
            raise CheckpointError(f"{str(pt)!r} holds a {type(out).__name__}, not a state dict")
        return out
    raise FileNotFoundError(f"model folder {str(folder)!r} has {PRETRAINED_CONFIG} but no "
                            f"model.safetensors or model.pt")


def _read_pretrained(folder: Path) -> Tuple[Dict[str, Any], Dict[str, torch.Tensor]]:
    cfg_path = folder / PRETRAINED_CONFIG
    try:
        cfg = json.loads(cfg_path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{str(cfg_path)!r} is unreadable or not JSON ({type(e).__name__}: "
                              f"{str(e).splitlines()[0] if str(e) else ''})") from None
    if not isinstance(cfg, dict) or not isinstance(cfg.get("model"), dict):
        raise CheckpointError(f"{str(cfg_path)!r} lacks a 'model' spec (written by save_pretrained?)")
    return cfg, _load_weights_file(folder)


def _finish(spec: Mapping[str, Any], weights: Mapping[str, Any], where: str,
            map_location: Any) -> torch.nn.Module:
    check_finite_state(weights, where)
    try:
        model = registry.build_score_model(spec)
    except registry.RegistryError as e:
        raise registry.RegistryError(f"{where}: {e}") from None
    check_state_fits(model, weights, where)
    model.load_state_dict(dict(weights))
    dev = "cpu" if callable(map_location) or map_location is None else map_location
    if dev == "auto":
        dev = "cuda" if torch.cuda.is_available() else "cpu"
    if torch.device(dev).type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"map_location={str(dev)!r} but CUDA is not available; use 'cpu' or 'auto'")
    return model.to(dev).eval()


def load_model(path: PathLike, use_ema: Union[bool, float] = True, map_location: Any = "cpu"
               ) -> Tuple[torch.nn.Module, RunConfig]:
    """Rebuild a trained ScoreModel: ``(model, cfg)``.

    Args:
        path: a run directory (its newest readable checkpoint), a checkpoint file, a ``latest``
            link, or a ``save_pretrained`` folder.
        use_ema: the primary EMA weights (True, the default; what sampling and evaluation
            use), the raw ones (False), or the EMA of a given decay kept with
            ``train.ema_extra`` (a float, e.g. 0.99; checkpoints only).
        map_location: where to put the weights ("auto": CUDA when available).
    Returns:
        (ScoreModel in eval mode, the run's stored config as a ``RunConfig`` with an extra
        ``_meta_`` node: data_shape, data_kind, data_name, value_range, bits, step, use_ema,
        data (the training data's identity or None), checkpoint, run_dir, model_spec).
    Raises:
        FileNotFoundError (no such run / no checkpoint), CheckpointError (corrupt, unreadable,
        incomplete), RegistryError (a target outside the allow-list, key and target named),
        NonFiniteWeightsError, ValueError (weights that do not fit the config).
    """
    if not isinstance(use_ema, bool) and not (isinstance(use_ema, float) and 0.0 <= use_ema < 1.0):
        raise TypeError(f"use_ema must be True, False or an EMA decay in [0, 1), got {use_ema!r}")
    p = Path(path) if isinstance(path, (str, Path)) else path
    if isinstance(p, Path) and p.is_dir() and _pretrained_dir(p):
        if not isinstance(use_ema, bool):
            raise ValueError(f"model folder {str(p)!r} holds one set of weights; use_ema="
                             f"{use_ema!r} selects an EMA decay, which only run checkpoints keep")
        cfg, weights = _read_pretrained(p)
        where = f"model folder {str(p)!r}"
        try:
            registry.check_spec(cfg, "config.json")
        except registry.RegistryError as e:
            raise registry.RegistryError(f"{where}: {e}") from None
        meta = dict(cfg.get("meta") or {})
        model = _finish(cfg["model"], weights, where, map_location)
        meta["model_spec"] = cfg["model"]
        config: Dict[str, Any] = {k: v for k, v in cfg.items() if k not in ("model", "meta")}
        ckpt, step = p, meta.get("step")
    else:
        ckpt, state = resolve_checkpoint(p, map_location="cpu")
        where = f"checkpoint {str(ckpt)!r}"
        config = _parse_config(state.get("config") or {}, where)
        try:
            registry.check_spec(config, "", training=True)  # hostile targets anywhere: refuse
        except registry.RegistryError as e:
            raise registry.RegistryError(f"{where}: {e}") from None
        meta = dict(state["meta"]) if isinstance(state.get("meta"), Mapping) else {}
        spec = model_spec_from_state(state, config, where)
        key = "model" if use_ema is False else ("ema" if use_ema is True else f"ema {use_ema}")
        weights = state.get(key) if isinstance(use_ema, bool) else ema_state(state, use_ema)
        if not isinstance(weights, Mapping):
            raise CheckpointError(f"{where}: entry {key!r} is not a state dict")
        model = _finish(spec, weights, f"{where} ({key} weights)", map_location)
        step = state.get("step")
        meta["model_spec"] = spec
    shape = meta.get("data_shape")
    if shape is None and isinstance(meta.get("data"), Mapping):
        shape = meta["data"].get("shape")
    if meta.get("data_kind") is None and shape is not None:  # model folders saved from Python
        meta["data_kind"] = "images" if len(shape) == 3 else "points"
    if meta.get("data_kind") == "images" and "value_range" not in meta:  # early format-1 files
        meta.update(value_range=[-1.0, 1.0], bits=8)
    config["_meta_"] = {
        "data_shape": list(shape) if shape is not None else None,
        "data_kind": meta.get("data_kind"), "data_name": meta.get("data_name"),
        "value_range": meta.get("value_range"), "bits": meta.get("bits"),
        "step": int(step) if step is not None else None, "use_ema": use_ema,
        "data": meta.get("data"), "checkpoint": str(ckpt), "run_dir": str(run_dir_of(ckpt)),
        "model_spec": meta.get("model_spec")}
    return model, RunConfig(config)


# ------------------------------------------------------------------------------ data identity
def data_identity(name: str, train: torch.Tensor) -> Dict[str, Any]:
    """``{"name", "shape" (per sample), "hash"}`` of a training set: sha256 (first 16 hex digits)
    of its float32 values in order. What a run records as ``meta["data"]``."""
    if not isinstance(train, torch.Tensor) or train.ndim < 1:
        raise TypeError(f"train must be a tensor (N, ...), got {type(train).__name__}")
    h = hashlib.sha256()
    flat = train.detach().to("cpu", torch.float32).contiguous()
    for chunk in flat.reshape(flat.shape[0], -1).split(65536):
        h.update(chunk.numpy().tobytes())
    return {"name": str(name), "shape": [int(d) for d in train.shape[1:]], "hash": h.hexdigest()[:16]}


def check_data_identity(recorded: Optional[Mapping[str, Any]], actual: Mapping[str, Any],
                        allow_mismatch: bool = False) -> Optional[str]:
    """Compare a run's recorded training data with the data an evaluation uses.

    Returns None when they agree (or the run records nothing: older checkpoints), the
    difference as a message when ``allow_mismatch``; else raises ``ValueError`` naming both."""
    if not recorded:
        return None
    diffs = [f"{k} {recorded.get(k)!r} vs {actual.get(k)!r}" for k in ("name", "shape", "hash")
             if recorded.get(k) is not None and actual.get(k) is not None
             and (list(recorded[k]) if k == "shape" else recorded[k])
             != (list(actual[k]) if k == "shape" else actual[k])]
    if not diffs:
        return None
    msg = (f"the run was trained on data {recorded.get('name')!r} but the evaluation uses "
           f"{actual.get('name')!r} ({'; '.join(diffs)})")
    if allow_mismatch:
        return msg
    raise ValueError(msg + "; pass allow_data_mismatch=true to evaluate anyway")
