"""The allow-list of objects a file may build, and the specs that rebuild them.

A class or factory joins the list with the decorator at its definition::

    from sde_diffusion.registry import register

    @register("sde")                 # public name: "<module>.<qualname>" unless given
    class MySDE(VPSDE): ...

A *spec* is a plain nested mapping ``{"_target_": "<registered name>", **kwargs}`` (JSON/YAML
safe; ``_partial_: true`` gives ``functools.partial``, ``_args_: [...]`` positional arguments).
``build(spec)`` builds only registered objects, never by importing a name: an allow-list, not a
block-list. Anything else raises ``RegistryError`` (a ``ValueError``) naming the key path and
the target, before anything at all is constructed.

Recording: ``register`` wraps the decorated class's own ``__init__`` (nothing else) so that an
instance whose exact type is that class records its bound arguments, defaults applied;
``spec_of(obj)`` turns the record into a spec, recursing into nested registered objects. An
undecorated subclass records nothing, so it can never be saved as its parent.

Which modules are imported: a file never chooses. Only objects whose module has already been
imported in this process are on the list (the package's own modules are imported by
``sde_diffusion.io`` and ``sde_diffusion.configs``; a user imports the module holding their
own classes before loading). Importing a module a file names would run that module's code.

This module imports no model: torch and ``contract`` only.
"""
from __future__ import annotations

import contextlib
import functools
import inspect
import math
import numbers
from typing import Any, Callable, Dict, Iterable, Mapping, Optional, Tuple

import torch

from .contract import check_choice

__all__ = ["RegistryError", "register", "KINDS", "MODEL_TARGETS", "TRAINING_TARGETS", "build",
           "check_spec", "spec_of", "model_spec", "build_score_model", "allowed_targets",
           "is_allowed", "kind_of", "lookup", "unwrap"]

_KEY = "_registry_spec_"
_SPECIAL = ("_target_", "_partial_", "_args_", "_convert_", "_recursive_")
#: kinds a file may build; objects of the first group are saved from instances (recorded)
_SAVED_KINDS = ("sde", "schedule", "beta_schedule", "net", "precond", "classifier", "model")
KINDS = _SAVED_KINDS + ("data", "mixture")
_TRAINING_KINDS = ("optimizer", "lr_scheduler", "tracker")


class RegistryError(ValueError):
    """A spec names a target outside the allow-list, or an object cannot be written as a spec."""


#: kind -> {public name: object}; filled by ``register`` as modules are imported.
MODEL_TARGETS: Dict[str, Dict[str, Callable]] = {k: {} for k in KINDS}

#: Training-only targets (``build(..., training=True)``): optimisers, LR schedulers, trackers.
TRAINING_TARGETS: Dict[str, Dict[str, Callable]] = {
    "optimizer": {f"torch.optim.{n}": getattr(torch.optim, n)
                  for n in ("Adam", "AdamW", "SGD", "RMSprop", "Adagrad", "Adamax", "NAdam", "RAdam")},
    "lr_scheduler": {f"torch.optim.lr_scheduler.{n}": getattr(torch.optim.lr_scheduler, n)
                     for n in ("StepLR", "MultiStepLR", "ExponentialLR", "CosineAnnealingLR",
                               "LinearLR", "ConstantLR", "OneCycleLR", "PolynomialLR")},
    "tracker": {},
}

# alias (public name or "<module>.<qualname>") -> (public name, kind, object)
_MODEL_INDEX: Dict[str, Tuple[str, str, Callable]] = {}
_TRAIN_INDEX: Dict[str, Tuple[str, str, Callable]] = {}


def _add(kind: str, name: str, obj: Callable, aliases: Iterable[str]) -> None:
    training = kind in _TRAINING_KINDS
    table = (TRAINING_TARGETS if training else MODEL_TARGETS)[kind]
    index = _TRAIN_INDEX if training else _MODEL_INDEX
    for alias in (name, *aliases):
        old = index.get(alias)
        if old is not None and old[2] is not obj and _origin(old[2]) != _origin(obj):
            raise RegistryError(f"register: name {alias!r} is already taken by {_origin(old[2])}; "
                                f"pass another name to register(kind, name)")
    table[name] = obj
    for alias in (name, *aliases):
        index[alias] = (name, kind, obj)


def _origin(obj: Any) -> str:
    fn = obj.__func__ if inspect.ismethod(obj) else obj
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', '?')}"


for _kind in ("optimizer", "lr_scheduler"):
    for _name, _obj in list(TRAINING_TARGETS[_kind].items()):
        _add(_kind, _name, _obj, (_origin(_obj),))


# ------------------------------------------------------------------------- argument capture
def _record(obj: Any, name: str, bound: Dict[str, Any]) -> None:
    d = getattr(obj, "__dict__", None)
    if isinstance(d, dict):
        d[_KEY] = (name, bound)


def update_recorded(obj: Any, **changes: Any) -> None:
    """Replace recorded constructor arguments of ``obj`` (a value the object resolves after
    construction, e.g. a ScoreModel's ``data_std`` from the training data). No-op for an
    object that records nothing; an argument it never took raises ``ValueError``."""
    rec = getattr(obj, "__dict__", {}).get(_KEY)
    if rec is None:
        return
    name, bound = rec
    unknown = sorted(set(changes) - set(bound))
    if unknown:
        raise ValueError(f"{name} records no argument(s) {unknown}; recorded: {sorted(bound)}")
    obj.__dict__[_KEY] = (name, {**bound, **changes})


def _bind(fn: Callable, args: tuple, kwargs: dict, skip_first: bool) -> Dict[str, Any]:
    """The call's arguments by parameter name (``*args`` under ``_args_``), defaults applied
    (a saved spec does not depend on the defaults of a later version)."""
    sig = inspect.signature(fn)
    ba = sig.bind(*((None,) + args if skip_first else args), **kwargs)
    ba.apply_defaults()
    out: Dict[str, Any] = {}
    for p in list(sig.parameters.values())[1 if skip_first else 0:]:
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


def _recording_class(cls: type, name: str) -> type:
    init = cls.__init__

    @functools.wraps(init)
    def __init__(self, *args, **kwargs):
        init(self, *args, **kwargs)
        if type(self) is cls:  # the exact class records; a subclass records only if registered
            _record(self, name, _bind(init, args, kwargs, skip_first=True))

    cls.__init__ = __init__
    return cls


def _recording_function(fn: Callable, name: str, skip_first: bool) -> Callable:
    @functools.wraps(fn)
    def factory(*args, **kwargs):
        out = fn(*args, **kwargs)
        _record(out, name, _bind(fn, args[1:] if skip_first else args, kwargs, skip_first))
        return out
    return factory


class _RegisteredClassMethod(classmethod):
    """A registered classmethod factory; joins the list once its class exists."""

    def __init__(self, func: Callable, kind: str, name: Optional[str]):
        self._kind, self._name = kind, name
        super().__init__(func)

    def __set_name__(self, owner: type, attr: str) -> None:
        module_name = f"{owner.__module__}.{owner.__qualname__}.{attr}"
        public = self._name or module_name
        func = self.__func__
        if self._kind in _SAVED_KINDS:
            func = _recording_function(func, public, True)
        setattr(owner, attr, classmethod(func))
        _add(self._kind, public, getattr(owner, attr), (module_name,))


def register(kind: str, name: Optional[str] = None) -> Callable[[Any], Any]:
    """Decorator: put a class, function or classmethod on the allow-list under ``kind``.

    ``name`` is the public ``_target_`` (default ``"<module>.<qualname>"``; the module path
    is always accepted as an alias). Classes of the saved kinds (sde, schedule, beta_schedule,
    net, precond, classifier, model) record their constructor arguments for ``spec_of``;
    factories record them on the object they return. Returns the object (or a wrapper with
    the same signature)."""
    check_choice("register kind", kind, KINDS + _TRAINING_KINDS)
    if name is not None and (not isinstance(name, str) or not name):
        raise TypeError(f"register name must be a non-empty string, got {name!r}")
    saved = kind in _SAVED_KINDS

    def deco(obj: Any) -> Any:
        if isinstance(obj, classmethod):  # @register above @classmethod
            return _RegisteredClassMethod(obj.__func__, kind, name)
        if not callable(obj):
            raise TypeError(f"register: {obj!r} is not a class or function")
        public = name or f"{obj.__module__}.{obj.__qualname__}"
        if saved:
            obj = _recording_class(obj, public) if inspect.isclass(obj) \
                else _recording_function(obj, public, False)
        _add(kind, public, obj, (f"{obj.__module__}.{obj.__qualname__}",))
        return obj
    return deco


def allowed_targets(training: bool = False) -> Tuple[str, ...]:
    """The public names a spec may use as ``_target_``."""
    tables = [MODEL_TARGETS] + ([TRAINING_TARGETS] if training else [])
    return tuple(n for t in tables for table in t.values() for n in table)


def is_allowed(target: Any, training: bool = False) -> bool:
    return isinstance(target, str) and (target in _MODEL_INDEX or (training and target in _TRAIN_INDEX))


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
    """Walk the whole spec (mappings, lists, tuples, special keys) and refuse any target outside
    the allow-list, any unknown special key and any non-finite number, naming the key path.
    Builds nothing."""
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
                    f"only build registered classes: {_choices_for(path, training)}")
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
def unwrap(obj: Any) -> Any:
    """The module inside torch.compile's OptimizedModule, DDP or DataParallel."""
    for attr in ("_orig_mod", "module"):
        inner = getattr(obj, attr, None) if type(obj).__name__ in (
            "OptimizedModule", "DistributedDataParallel", "DataParallel") else None
        if inner is not None:
            return unwrap(inner)
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
    """The spec that ``build`` turns back into an equivalent of ``obj`` (an instance of a
    registered class, or the result of a registered factory; nested registered arguments
    become nested specs)."""
    obj = unwrap(obj)
    rec = getattr(obj, "__dict__", {}).get(_KEY) if hasattr(obj, "__dict__") else None
    if rec is None:
        what = "a function" if callable(obj) and not isinstance(obj, torch.nn.Module) else \
            f"a {type(obj).__module__}.{type(obj).__qualname__}"
        raise RegistryError(f"{_where(path)}: cannot be saved as a config: it is {what}, not one of "
                            f"the allow-listed classes (a class joins them with @register(kind) "
                            f"at its definition): {', '.join(allowed_targets())}")
    name, bound = rec
    spec: Dict[str, Any] = {"_target_": name}
    for k, v in bound.items():
        spec[k] = _plain(v, f"{path}.{k}" if path else k)
    return spec


# --------------------------------------------------------------------------- score models
_SCORE_MODEL = "sde_diffusion.models.ScoreModel"


def model_spec(score_model: torch.nn.Module) -> Dict[str, Any]:
    """``{"sde": spec, "net": spec, "parameterization": ..., <other ScoreModel arguments>}``."""
    spec = spec_of(score_model)
    if kind_of(spec["_target_"]) != "model":
        raise RegistryError(f"model_spec needs a ScoreModel, got {spec['_target_']}")
    return {k: v for k, v in spec.items() if k != "_target_"}


def _check_kind(spec: Mapping[str, Any], key: str, kind: str, what: str) -> None:
    target = spec[key].get("_target_")
    if kind_of(target) != kind:
        raise RegistryError(f"model.{key}._target_={target!r} is not {what}")


def build_score_model(spec: Mapping[str, Any], device: Any = None) -> torch.nn.Module:
    """The ScoreModel of ``model_spec(...)``: SDE and network from the allow-list only (their
    kinds checked before anything is built). ``device="meta"`` builds the network without
    allocating any weight (a loader compares its shapes with a file before building it)."""
    if not isinstance(spec, Mapping):
        raise TypeError(f"a model spec must be a mapping, got {type(spec).__name__}")
    missing = [k for k in ("sde", "net") if not isinstance(spec.get(k), Mapping)]
    if missing:
        raise ValueError(f"model spec lacks {missing} (a mapping with a '_target_' each); "
                         f"keys present: {sorted(spec)}")
    check_spec(spec, "model")
    _check_kind(spec, "sde", "sde", "an SDE")
    _check_kind(spec, "net", "net", "a network")
    cls = lookup(_SCORE_MODEL)
    if cls is None:
        raise RegistryError(f"{_SCORE_MODEL} is not registered; import sde_diffusion.models first")
    sde = _build(spec["sde"], "model.sde", False)
    with torch.device(device) if device is not None else contextlib.nullcontext():
        net = _build(spec["net"], "model.net", False)
    rest = {k: _build(v, f"model.{k}", False) for k, v in spec.items() if k not in ("sde", "net")}
    try:
        return cls(net, sde, **rest)
    except (TypeError, ValueError) as e:
        raise type(e)(f"model: {e}") from None


def kind_of(target: Any) -> Optional[str]:
    """The kind ("sde", "net", ...) of a registered target, else None."""
    hit = (_MODEL_INDEX.get(target) or _TRAIN_INDEX.get(target)) if isinstance(target, str) else None
    return hit[1] if hit else None


def lookup(target: Any) -> Optional[Callable]:
    """The registered object a target names (public or module name), else None."""
    hit = (_MODEL_INDEX.get(target) or _TRAIN_INDEX.get(target)) if isinstance(target, str) else None
    return hit[2] if hit else None
