"""The allow-list of objects a configuration may build, and the specs that rebuild them.

A *spec* is a plain nested mapping ``{"_target_": "<allowed name>", **kwargs}`` (JSON/YAML
safe; ``_partial_: true`` gives ``functools.partial``, ``_args_: [...]`` positional
arguments). ``build(spec)`` builds one only from the table below, never by importing the name:
an allow-list, not a block-list. Anything else raises ``RegistryError`` (a ``ValueError``)
naming the key path and the target, before anything at all is constructed.

How constructor arguments are recovered: importing this module wraps the ``__init__`` of every
allow-listed class (and every allow-listed factory) so that each construction records its bound
arguments on the new object (``obj.__dict__["_registry_spec_"]``); ``spec_of(obj)`` turns that
record into a spec, recursing into nested allow-listed objects. Why: the classes' files stay
untouched (no per-class ``get_config`` that drifts from ``__init__``), the arguments are
exactly the ones the user passed, whether from Python or from a config, and no attribute
naming convention is assumed (VPSDE keeps its betas inside a schedule object, for instance).
The cost: an object built before this module was imported has no record and ``spec_of``
says so; ``sde_diffusion/__init__.py`` should import this module first thing.

The torch optimisers and LR schedulers are listed separately (``TRAINING_TARGETS``) and only
built with ``build(spec, training=True)``: a checkpoint or model folder never needs them.
"""
from __future__ import annotations

import functools
import inspect
import math
import numbers
from typing import Any, Callable, Dict, Iterable, Mapping, Optional, Tuple

import torch

from . import analytic as _analytic
from . import data as _data
from . import models as _models
from . import tracking as _tracking
from . import sdes as _sdes
from .models import classifier as _classifier
from .models import precond as _precond
from .sdes import linear as _linear
from .sdes import schedules as _schedules

__all__ = ["RegistryError", "MODEL_TARGETS", "TRAINING_TARGETS", "build", "check_spec",
           "spec_of", "model_spec", "build_score_model", "allowed_targets", "is_allowed",
           "kind_of", "lookup"]

_KEY = "_registry_spec_"
_SPECIAL = ("_target_", "_partial_", "_args_", "_convert_", "_recursive_")


class RegistryError(ValueError):
    """A spec names a target outside the allow-list, or an object cannot be written as a spec."""


# ----------------------------------------------------------------------------------- the table
#: kind -> {public name: object}. Only these can be built from a file.
MODEL_TARGETS: Dict[str, Dict[str, Callable]] = {
    "sde": {"sde_diffusion.sdes.VPSDE": _sdes.VPSDE,
            "sde_diffusion.sdes.SubVPSDE": _sdes.SubVPSDE,
            "sde_diffusion.sdes.VESDE": _sdes.VESDE,
            "sde_diffusion.sdes.EDMSDE": _sdes.EDMSDE,
            "sde_diffusion.sdes.LinearSDE": _sdes.LinearSDE,
            "sde_diffusion.sdes.LinearSDE.from_kernel": _sdes.LinearSDE.from_kernel},
    "schedule": {f"sde_diffusion.sdes.linear.{n}": getattr(_linear, n)
                 for n in ("Constant", "Linear", "Geometric", "Scaled", "Sqrt", "Sum", "Power",
                           "vp_drift", "vp_diffusion")},
    # beta(t) objects that VPSDE / SubVPSDE take as ``schedule`` (and LinearSDE via vp_drift)
    "beta_schedule": {f"sde_diffusion.sdes.{n}": getattr(_schedules, n)
                      for n in ("LinearBeta", "CosineBeta")},
    "net": {"sde_diffusion.models.MLP": _models.MLP,
            "sde_diffusion.models.UNet": _models.UNet},
    "precond": {f"sde_diffusion.models.{n}": getattr(_precond, n)
                for n in ("DirectPrecond", "EDMPrecond")},
    "classifier": {"sde_diffusion.models.classifier.NoiseConditionalClassifier":
                   _classifier.NoiseConditionalClassifier},
    "model": {"sde_diffusion.models.ScoreModel": _models.ScoreModel},
    "data": {f"sde_diffusion.data.{n}": getattr(_data, n)
             for n in ("three_clusters", "ring", "checkerboard", "swiss_roll", "two_moons",
                       "pinwheel", "digits", "mnist", "cifar10", "image_folder",
                       "ImageFolderDataset")},
    "mixture": {f"sde_diffusion.analytic.{n}": getattr(_analytic, n)
                for n in ("GaussianMixture", "ring_of_gaussians", "three_clusters_1d",
                          "random_mixture", "random_full_mixture", "suite_mixture")},
}

#: Training-only targets (``build(..., training=True)``): optimisers and LR schedulers.
TRAINING_TARGETS: Dict[str, Dict[str, Callable]] = {
    "optimizer": {f"torch.optim.{n}": getattr(torch.optim, n)
                  for n in ("Adam", "AdamW", "SGD", "RMSprop", "Adagrad", "Adamax", "NAdam", "RAdam")},
    "lr_scheduler": {f"torch.optim.lr_scheduler.{n}": getattr(torch.optim.lr_scheduler, n)
                     for n in ("StepLR", "MultiStepLR", "ExponentialLR", "CosineAnnealingLR",
                               "LinearLR", "ConstantLR", "OneCycleLR", "PolynomialLR")},
    "tracker": {"sde_diffusion.tracking.WandbTracker": _tracking.WandbTracker,
                "sde_diffusion.tracking.NullTracker": _tracking.NullTracker},
}


def _aliases(name: str, obj: Callable) -> Iterable[str]:
    """The public name and the defining-module name (``sde_diffusion.sdes.vp.VPSDE``)."""
    yield name
    qual = getattr(obj, "__qualname__", None)
    mod = getattr(obj, "__module__", None)
    if qual and mod:
        yield f"{mod}.{qual}"


def _index(tables: Mapping[str, Mapping[str, Callable]]) -> Dict[str, Tuple[str, str, Callable]]:
    out: Dict[str, Tuple[str, str, Callable]] = {}
    for kind, table in tables.items():
        for name, obj in table.items():
            for alias in _aliases(name, obj):
                out.setdefault(alias, (name, kind, obj))
    return out


_MODEL_INDEX = _index(MODEL_TARGETS)
_TRAIN_INDEX = _index(TRAINING_TARGETS)


def allowed_targets(training: bool = False) -> Tuple[str, ...]:
    """The public names a spec may use as ``_target_``."""
    tables = [MODEL_TARGETS] + ([TRAINING_TARGETS] if training else [])
    return tuple(n for t in tables for table in t.values() for n in table)


def is_allowed(target: Any, training: bool = False) -> bool:
    return isinstance(target, str) and (target in _MODEL_INDEX or (training and target in _TRAIN_INDEX))


# ------------------------------------------------------------------------- argument capture
def _record(obj: Any, name: str, bound: Dict[str, Any]) -> None:
    d = getattr(obj, "__dict__", None)
    if isinstance(d, dict):
        d[_KEY] = (name, bound)


def _bind(fn: Callable, args: tuple, kwargs: dict, skip_first: bool) -> Dict[str, Any]:
    """The call's arguments by parameter name (``*args`` under ``_args_``)."""
    sig = inspect.signature(fn)
    ba = sig.bind(*((None,) + args if skip_first else args), **kwargs)
    ba.apply_defaults()  # a saved spec does not depend on the defaults of a later version
    out: Dict[str, Any] = {}
    params = list(sig.parameters.values())[1 if skip_first else 0:]
    for p in params:
        if p.name not in ba.arguments:
            continue
        v = ba.arguments[p.name]
        if p.kind is p.VAR_POSITIONAL:
            out["_args_"] = list(v)
        elif p.kind is p.VAR_KEYWORD:
            out.update(v)
        else:
            out[p.name] = v
    return out


def _wrap_class(name: str, cls: type) -> None:
    init = cls.__init__
    if getattr(init, "_registry_wrapped_for_", None) is cls:
        return

    @functools.wraps(init)
    def __init__(self, *args, **kwargs):
        init(self, *args, **kwargs)
        if type(self) is cls:  # the outermost allow-listed class records (not a user subclass)
            _record(self, name, _bind(init, args, kwargs, skip_first=True))

    __init__._registry_wrapped_for_ = cls
    cls.__init__ = __init__


def _wrap_factory(name: str, fn: Callable, owner: Any, attr: str, is_classmethod: bool) -> None:
    raw = fn.__func__ if is_classmethod else fn
    if getattr(raw, "_registry_wrapped_", False):
        return

    @functools.wraps(raw)
    def factory(*args, **kwargs):
        out = raw(*args, **kwargs)
        _record(out, name, _bind(raw, args[1:] if is_classmethod else args, kwargs,
                                 skip_first=is_classmethod))
        return out

    factory._registry_wrapped_ = True
    setattr(owner, attr, classmethod(factory) if is_classmethod else factory)


def _install() -> None:
    for tables in (MODEL_TARGETS,):
        for kind, table in tables.items():
            if kind in ("data", "mixture"):  # rebuilt from their spec, never saved from objects
                continue
            for name, obj in list(table.items()):
                if inspect.isclass(obj):
                    _wrap_class(name, obj)
                elif inspect.ismethod(obj):  # a classmethod factory such as LinearSDE.from_kernel
                    owner = obj.__self__
                    _wrap_factory(name, obj, owner, obj.__name__, True)
                    table[name] = getattr(owner, obj.__name__)
                else:
                    mod = inspect.getmodule(obj)
                    _wrap_factory(name, obj, mod, obj.__name__, False)
                    table[name] = getattr(mod, obj.__name__)


_install()
_MODEL_INDEX = _index(MODEL_TARGETS)


# ------------------------------------------------------------------------------- build
def _where(path: str) -> str:
    return path or "<root>"


_KEY_KINDS = {"sde": "sde", "net": "net", "data": "data", "logger": "tracker", "tracker": "tracker",
              "optimizer": "optimizer", "scheduler": "lr_scheduler", "lr_scheduler": "lr_scheduler",
              "mixture": "mixture", "f": "schedule", "g": "schedule", "s": "schedule", "sigma": "schedule",
              "schedule": "beta_schedule", "precond": "precond", "classifier": "classifier"}


def _choices_for(path: str, training: bool) -> str:
    """The allowed names for the key at ``path`` (by its last part), else all of them."""
    last = path.rsplit(".", 1)[-1] if path else ""
    kind = _KEY_KINDS.get(last)
    tables = {**MODEL_TARGETS, **(TRAINING_TARGETS if training else {})}
    if kind in tables:
        return f"for {last!r}: " + ", ".join(tables[kind])
    return ", ".join(allowed_targets(training))


def check_spec(spec: Any, path: str = "", training: bool = False) -> None:
    """Walk the whole spec and refuse any target outside the allow-list, any unknown special
    key and any non-finite number, naming the key path. Builds nothing."""
    if isinstance(spec, Mapping):
        for k in spec:
            if not isinstance(k, str):
                raise RegistryError(f"{_where(path)}: keys must be strings, got {k!r}")
        if "_target_" in spec:
            t = spec["_target_"]
            if not is_allowed(t, training):
                extra = " (optimisers and LR schedulers only in training configs)" \
                    if isinstance(t, str) and t in _TRAIN_INDEX else ""
                raise RegistryError(
                    f"{_where(path)}._target_={t!r} is not an allowed target{extra}; a config may "
                    f"only build the package's own classes: {_choices_for(path, training)}")
        for k, v in spec.items():
            if k.startswith("_") and k.endswith("_") and k not in _SPECIAL:
                raise RegistryError(f"{_where(path)}: unknown special key {k!r}; allowed: {_SPECIAL}")
            if k in ("_partial_", "_recursive_") and not isinstance(v, bool):
                raise RegistryError(f"{_where(path)}.{k} must be true or false, got {v!r}")
            check_spec(v, f"{path}.{k}" if path else k, training)
    elif isinstance(spec, (list, tuple)):
        for i, v in enumerate(spec):
            check_spec(v, f"{path}[{i}]", training)
    elif isinstance(spec, float) and not math.isfinite(spec):
        raise ValueError(f"{_where(path)}={spec!r} is not a finite number")
    elif spec is None or isinstance(spec, (str, bool, numbers.Number)):
        return
    else:
        raise RegistryError(f"{_where(path)}: a spec holds only plain values, mappings and lists, "
                            f"got {type(spec).__name__}")


def _build(spec: Any, path: str, training: bool) -> Any:
    if isinstance(spec, Mapping):
        if "_target_" not in spec:
            return {k: _build(v, f"{path}.{k}" if path else k, training) for k, v in spec.items()}
        target = spec["_target_"]
        name, _kind, fn = _MODEL_INDEX.get(target) or _TRAIN_INDEX[target]
        kwargs = {k: _build(v, f"{path}.{k}" if path else k, training)
                  for k, v in spec.items() if k not in _SPECIAL}
        args = [_build(v, f"{path}._args_[{i}]", training) for i, v in enumerate(spec.get("_args_", []))]
        if spec.get("_partial_", False):
            return functools.partial(fn, *args, **kwargs)
        try:
            return fn(*args, **kwargs)
        except (TypeError, ValueError) as e:
            raise type(e)(f"{_where(path)} ({name}): {e}") from None
    if isinstance(spec, (list, tuple)):
        return [_build(v, f"{path}[{i}]", training) for i, v in enumerate(spec)]
    return spec


def build(spec: Mapping[str, Any], training: bool = False, path: str = "") -> Any:
    """Build ``spec`` (a nested ``_target_`` mapping) from the allow-list only.

    The whole tree is checked first (``check_spec``), so a refused target anywhere means nothing
    was constructed. ``training=True`` also allows ``TRAINING_TARGETS``. Errors raised by a
    constructor are re-raised with the key path and target prefixed.
    """
    if not isinstance(spec, Mapping):
        raise TypeError(f"{_where(path)}: a spec must be a mapping, got {type(spec).__name__}")
    check_spec(spec, path, training)
    return _build(spec, path, training)


# ------------------------------------------------------------------------------ spec_of
def _unwrap(obj: Any) -> Any:
    for attr in ("_orig_mod", "module"):  # torch.compile's OptimizedModule, DDP
        inner = getattr(obj, attr, None) if type(obj).__name__ in (
            "OptimizedModule", "DistributedDataParallel", "DataParallel") else None
        if inner is not None:
            return _unwrap(inner)
    return obj


def _plain(v: Any, path: str) -> Any:
    if v is None or isinstance(v, (bool, str)):
        return v
    if isinstance(v, numbers.Integral):
        return int(v)
    if isinstance(v, numbers.Real):
        f = float(v)
        if not math.isfinite(f):
            raise ValueError(f"{path}={f!r} is not finite; such an object cannot be saved")
        return f
    if isinstance(v, (list, tuple)):
        return [_plain(x, f"{path}[{i}]") for i, x in enumerate(v)]
    if isinstance(v, Mapping):
        return {str(k): _plain(x, f"{path}.{k}") for k, x in v.items()}
    if isinstance(v, torch.Tensor) and v.ndim == 0:
        return _plain(v.item(), path)
    return spec_of(v, path)


def spec_of(obj: Any, path: str = "") -> Dict[str, Any]:
    """The spec that ``build`` turns back into an equivalent of ``obj`` (an allow-listed object,
    built from Python or from a config; nested allow-listed arguments become nested specs)."""
    obj = _unwrap(obj)
    rec = getattr(obj, "__dict__", {}).get(_KEY) if hasattr(obj, "__dict__") else None
    if rec is None:
        known = any(obj.__class__ is o for t in MODEL_TARGETS.values() for o in t.values())
        if known:
            raise RegistryError(f"{_where(path)}: this {type(obj).__name__} was constructed before "
                                f"sde_diffusion.registry was imported, so its arguments were not "
                                f"recorded; import sde_diffusion.registry first")
        what = "a function" if callable(obj) and not isinstance(obj, torch.nn.Module) else \
            f"a {type(obj).__module__}.{type(obj).__qualname__}"
        raise RegistryError(f"{_where(path)}: cannot be saved as a config: it is {what}, not one of "
                            f"the allow-listed classes ({', '.join(allowed_targets())})")
    name, bound = rec
    spec: Dict[str, Any] = {"_target_": name}
    for k, v in bound.items():
        spec[k] = _plain(v, f"{path}.{k}" if path else k)
    return spec


# --------------------------------------------------------------------------- score models
def model_spec(score_model: torch.nn.Module) -> Dict[str, Any]:
    """``{"sde": spec, "net": spec, "parameterization": ..., <other ScoreModel arguments>}``."""
    spec = spec_of(score_model)
    if spec["_target_"] != "sde_diffusion.models.ScoreModel":
        raise RegistryError(f"model_spec needs a ScoreModel, got {spec['_target_']}")
    return {k: v for k, v in spec.items() if k != "_target_"}


def build_score_model(spec: Mapping[str, Any]) -> torch.nn.Module:
    """The ScoreModel of ``model_spec(...)``: SDE and network from the allow-list only."""
    if not isinstance(spec, Mapping):
        raise TypeError(f"a model spec must be a mapping, got {type(spec).__name__}")
    missing = [k for k in ("sde", "net") if not isinstance(spec.get(k), Mapping)]
    if missing:
        raise ValueError(f"model spec lacks {missing} (a mapping with a '_target_' each); "
                         f"keys present: {sorted(spec)}")
    check_spec(spec, "model")
    sde = _build(spec["sde"], "model.sde", False)
    if not isinstance(sde, _sdes.SDE):
        raise RegistryError(f"model.sde._target_={spec['sde'].get('_target_')!r} is not an SDE")
    net = _build(spec["net"], "model.net", False)
    if not isinstance(net, torch.nn.Module):
        raise RegistryError(f"model.net._target_={spec['net'].get('_target_')!r} is not a network")
    rest = {k: _build(v, f"model.{k}", False) for k, v in spec.items() if k not in ("sde", "net")}
    try:
        return _models.ScoreModel(net, sde, **rest)
    except (TypeError, ValueError) as e:
        raise type(e)(f"model: {e}") from None


def kind_of(target: Any) -> Optional[str]:
    """The table section ("sde", "net", ...) of an allowed target, else None."""
    hit = (_MODEL_INDEX.get(target) or _TRAIN_INDEX.get(target)) if isinstance(target, str) else None
    return hit[1] if hit else None


def lookup(target: Any) -> Optional[Callable]:
    """The allow-listed object a target names (public or module name), else None."""
    hit = (_MODEL_INDEX.get(target) or _TRAIN_INDEX.get(target)) if isinstance(target, str) else None
    return hit[2] if hit else None
