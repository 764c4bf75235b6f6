"""Loading a trained model safely: ``load_model(path) -> LoadedModel(model, config, meta)`` for a
run, a checkpoint or a model folder.

Nothing named by the file is imported or executed: the model is rebuilt from its spec through
``sde_diffusion.registry`` (the allow-list), the weights are read with
``torch.load(weights_only=True)`` (or safetensors), and the whole stored config is checked
against the allow-list first, so a hostile ``_target_`` anywhere in it is refused with the key
and target named. Sizes a file sets (data shape, stored sampler steps, network widths) are
bounded by ``contract.LIMITS`` and the network is compared with the weights on the meta device
before anything is allocated (``io.weights``).

Where the model spec comes from, in order: ``state["model_spec"]`` (``registry.model_spec``),
``state["meta"]["model_spec"]``, or the Hydra config of checkpoints that hold no spec (its
``sde`` and ``model`` nodes; the network's data-shape arguments from ``meta["data_shape"]``).
"""
from __future__ import annotations

import hashlib
import inspect
import json
import math
from pathlib import Path
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, NamedTuple, Optional, Sequence, Tuple, Union

import torch

from .. import registry
from ..contract import LIMITS, as_steps, check_size
from .checkpoints import (CheckpointError, checkpoint_dir, ema_state, latest_checkpoint,
                          load_checkpoint)
from .pretrained import PRETRAINED_CONFIG, is_model_folder, read_pretrained
from .weights import build_model, check_spec_sizes

__all__ = ["load_model", "LoadedModel", "ModelMeta", "resolve_checkpoint", "RunConfig",
           "model_spec_from_state", "data_identity", "check_data_identity", "run_dir_of"]

PathLike = Union[str, Path]


@dataclass(frozen=True)
class ModelMeta:
    """What a loaded model records about itself and its training data."""

    data_shape: Optional[List[int]]   # per-sample shape, e.g. [2] or [1, 8, 8]
    data_kind: Optional[str]          # "points" or "images"
    data_name: Optional[str]
    value_range: Optional[List[float]]
    bits: Optional[int]
    step: Optional[int]               # optimiser steps of the weights
    use_ema: Union[bool, float]
    data: Optional[Dict[str, Any]]    # the training data's identity {name, shape, hash}
    checkpoint: str                   # the file or model folder read
    run_dir: str
    model_spec: Dict[str, Any]


class LoadedModel(NamedTuple):
    """``model, config, meta = load_model(path)``."""

    model: torch.nn.Module
    config: "RunConfig"
    meta: ModelMeta


class RunConfig(dict):
    """A nested dict with attribute access (``cfg.sampler.name``, ``cfg.get("sampler")``)."""

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
        if len(raw) > LIMITS.max_text_bytes:
            raise CheckpointError(f"{where}: its stored config has {len(raw)} characters, over the "
                                  f"limit {LIMITS.max_text_bytes}; raise it with "
                                  f"{LIMITS.env('max_text_bytes')}")
        try:
            if any(isinstance(ev, yaml.AliasEvent) for ev in yaml.parse(raw)):
                # aliases share nodes: a few hundred bytes can stand for 2**100 nodes to walk
                raise CheckpointError(f"{where}: its stored config uses YAML aliases (*name); "
                                      f"a config written by sde_diffusion has none")
            out = yaml.safe_load(raw) if raw.strip() else {}
        except (yaml.YAMLError, RecursionError) as e:
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
def _check_file_sizes(meta: Mapping[str, Any], config: Mapping[str, Any], where: str) -> None:
    """The data shape, the stored data set's size and the stored sampler steps a file sets,
    within ``LIMITS``."""
    shape = meta.get("data_shape")
    if shape is not None:
        try:
            check_size("meta.data_shape", shape)
        except (TypeError, ValueError) as e:
            raise ValueError(f"{where}: {e}") from None
    data = config.get("data")
    if isinstance(data, Mapping):
        check_spec_sizes(data, "data")
        per = math.prod(int(d) for d in shape) if shape is not None else 1
        for key in ("n_train", "n_test", "max_images"):
            n = data.get(key)
            if isinstance(n, int) and not isinstance(n, bool) and n * per > LIMITS.max_elements:
                raise ValueError(f"{where}: data.{key}={n} samples of {per} values exceed the limit "
                                 f"{LIMITS.max_elements:.3g} elements; raise it with "
                                 f"{LIMITS.env('max_elements')}")
    sampler = config.get("sampler")
    if isinstance(sampler, Mapping) and sampler.get("steps") is not None:
        try:
            as_steps(sampler["steps"], "sampler.steps", maximum=LIMITS.max_steps)
        except ValueError as e:
            raise ValueError(f"{where}: {e}") from None


def load_model(path: PathLike, use_ema: Union[bool, float] = True, map_location: Any = "cpu"
               ) -> LoadedModel:
    """Rebuild a trained ScoreModel: ``LoadedModel(model, config, meta)``.

    Args:
        path: a run directory (its newest readable checkpoint), a checkpoint file, a ``latest``
            link, or a ``save_pretrained`` folder.
        use_ema: the primary EMA weights (True, the default; what sampling and evaluation
            use), the raw ones (False), or the EMA of a given decay kept with
            ``train.ema_extra`` (a float, e.g. 0.99; checkpoints only).
        map_location: where to put the weights ("auto": CUDA when available).
    Returns:
        model (eval mode), config (the run's stored config, a ``RunConfig``; a model folder's
        ``sampler`` node and other top-level entries), meta (``ModelMeta``).
    Raises:
        FileNotFoundError (no such run / no checkpoint), CheckpointError (corrupt, unreadable,
        incomplete, not a regular file), RegistryError (a target outside the allow-list, key
        and target named), NonFiniteWeightsError, ValueError (weights that do not fit the
        config, sizes over ``LIMITS``).
    """
    if not isinstance(use_ema, bool) and not (isinstance(use_ema, float) and 0.0 <= use_ema < 1.0):
        raise TypeError(f"use_ema must be True, False or an EMA decay in [0, 1), got {use_ema!r}")
    if not isinstance(path, (str, Path)) or str(path) == "":
        raise TypeError(f"a run path must be a non-empty str or Path, got {path!r}")
    p = Path(path)
    if is_model_folder(p):
        if not isinstance(use_ema, bool):
            raise ValueError(f"model folder {str(p)!r} holds one set of weights; use_ema="
                             f"{use_ema!r} selects an EMA decay, which only run checkpoints keep")
        cfg, weights = read_pretrained(p)
        where = f"model folder {str(p)!r}"
        meta = dict(cfg.get("meta") or {})
        config: Dict[str, Any] = {k: v for k, v in cfg.items() if k not in ("model", "meta")}
        _check_file_sizes(meta, config, where)
        spec = cfg["model"]
        model = build_model(spec, weights, where, map_location)
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
        _check_file_sizes(meta, config, where)
        spec = model_spec_from_state(state, config, where)
        key = "model" if use_ema is False else ("ema" if use_ema is True else f"ema {use_ema}")
        weights = state.get(key) if isinstance(use_ema, bool) else ema_state(state, use_ema)
        if not isinstance(weights, Mapping):
            raise CheckpointError(f"{where}: entry {key!r} is not a state dict")
        model = build_model(spec, weights, f"{where} ({key} weights)", map_location)
        step = state.get("step")
    shape = meta.get("data_shape")
    if shape is None and isinstance(meta.get("data"), Mapping):
        shape = meta["data"].get("shape")
        if shape is not None:
            _check_file_sizes({"data_shape": shape}, {}, where)
    kind = meta.get("data_kind")
    if kind is None and shape is not None:  # model folders saved from Python
        kind = "images" if len(shape) == 3 else "points"
    value_range, bits = meta.get("value_range"), meta.get("bits")
    if kind == "images" and value_range is None:  # files that predate the stored range
        value_range, bits = [-1.0, 1.0], 8
    info = ModelMeta(
        data_shape=[int(d) for d in shape] if shape is not None else None, data_kind=kind,
        data_name=meta.get("data_name"), value_range=value_range, bits=bits,
        step=int(step) if step is not None else None, use_ema=use_ema,
        data=meta.get("data"), checkpoint=str(ckpt), run_dir=str(run_dir_of(ckpt)),
        model_spec=dict(spec))
    return LoadedModel(model, RunConfig(config), info)


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
