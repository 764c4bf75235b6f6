"""Structured-config schemas (dataclasses) for the Hydra configs in ``conf/``.

Every group option in ``conf/`` starts its defaults list with one of these schemas
(``defaults: [base_vp, _self_]``), so a misspelt key or a value of the wrong type fails when
the config is composed, before any work starts. The schemas of SDEs, networks and data sets
are derived from their constructors' signatures (``schema_of``): each default has one source,
the constructor, and ``conf/`` YAML states only what differs from it. Values (ranges, known names) are checked by
``configs.validate`` right after composing. ``configs.store.register_configs`` stores them.
"""
from __future__ import annotations

import collections.abc
import dataclasses
import functools
import inspect
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence

from omegaconf import MISSING

from .. import data, sdes
from ..models import MLP, UNet
from ..training.options import TrainOptions

__all__ = ["Config", "SampleConfig", "SamplerConfig", "LikelihoodConfig", "ModelConfig",
           "ODEOptions", "ELBOOptions", "DiscreteELBOOptions", "GROUP_SCHEMAS", "schema_of"]


# ------------------------------------------------------------------ from signatures
_PLAIN = (int, float, str, bool)


def _omega_type(hint: Any) -> Any:
    """The OmegaConf-checkable form of a parameter's annotation (Any when it has none)."""
    if hint in _PLAIN:
        return hint
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType) and len(args) == 2 and type(None) in args:
        inner = _omega_type(next(a for a in args if a is not type(None)))
        return Optional[inner] if inner is not Any else Any
    if origin in (list, tuple, collections.abc.Sequence) and args and args[0] in _PLAIN:
        return List[args[0]]
    return Any


def schema_of(fn: Any, target: str, exclude: Sequence[str] = (), name: Optional[str] = None,
              abstract_target: bool = False) -> type:
    """A structured-config dataclass with ``_target_`` and one field per parameter of ``fn``
    (a class's ``__init__`` or a factory), typed from its annotations, defaulting to its
    defaults (no default: ``???``). The constructor stays the one source of each default.
    ``exclude``: arguments filled in from the data (``dim``, ``in_channels``, ...)."""
    init = fn.__init__ if inspect.isclass(fn) else fn
    try:
        hints = typing.get_type_hints(init)
    except Exception:  # noqa: BLE001 - an annotation that does not resolve: untyped fields
        hints = {}
    fields = [("_target_", str, field(default=MISSING if abstract_target else target))]
    params = list(inspect.signature(init).parameters.values())[1 if inspect.isclass(fn) else 0:]
    for p in params:
        if p.name in exclude or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        d = p.default
        default = field(default=MISSING) if d is p.empty else \
            field(default_factory=functools.partial(list, d)) if isinstance(d, (list, tuple)) else field(default=d)
        fields.append((p.name, _omega_type(hints.get(p.name, Any)), default))
    return dataclasses.make_dataclass(name or f"{getattr(fn, '__name__', 'Node')}Config", fields)


# ------------------------------------------------------------------ sde/ model/ data/
@dataclass
class ModelConfig:
    """``ScoreModel(net, sde, parameterization, data_std, input_scaling)``.

    ``data_std: null`` means: the training data's standard deviation (computed once and
    stored in the checkpoint's config)."""
    parameterization: str = "eps"
    data_std: Optional[float] = None
    input_scaling: bool = True
    net: Any = MISSING


MLPNetConfig = schema_of(MLP, "sde_diffusion.models.MLP", exclude=("dim",), name="MLPNetConfig")
UNetNetConfig = schema_of(UNet, "sde_diffusion.models.UNet", exclude=("in_channels", "image_size"),
                          name="UNetNetConfig")


@dataclass
class MLPModelConfig(ModelConfig):
    net: Any = field(default_factory=MLPNetConfig)


@dataclass
class UNetModelConfig(ModelConfig):
    net: Any = field(default_factory=UNetNetConfig)


ImageFolderDataConfig = schema_of(data.image_folder, "sde_diffusion.data.image_folder",
                                  name="ImageFolderDataConfig")

_SDES = {"vp": sdes.VPSDE, "subvp": sdes.SubVPSDE, "ve": sdes.VESDE}
_DATA = ("three_clusters", "ring", "checkerboard", "swiss_roll", "two_moons", "pinwheel", "digits",
         "mnist", "cifar10", "mnist1d")


# ------------------------------------------------------------------ logger/
@dataclass
class WandbLoggerConfig:
    """wandb, offline unless ``mode`` says otherwise (the WANDB_MODE env var wins over it);
    banners off (``quiet``); online without network falls back to offline after
    ``network_timeout`` seconds. ``name``/``tags`` default to the experiment's (configs.train)."""
    _target_: str = "sde_diffusion.tracking.WandbTracker"
    project: str = "sde_diffusion"
    entity: Optional[str] = None
    mode: str = "offline"
    group: Optional[str] = None
    tags: List[str] = field(default_factory=list)
    name: Optional[str] = None
    notes: Optional[str] = None
    quiet: bool = True
    network_timeout: float = 3.0


@dataclass
class NoLoggerConfig:
    _target_: str = "sde_diffusion.tracking.NullTracker"


# ------------------------------------------------------------------ the root
@dataclass
class Config:
    """The root of ``conf/config.yaml``. Group nodes carry their own schemas; ``train:`` is
    ``training.TrainOptions`` itself (the one definition of the trainer's options)."""
    name: str = "default"
    seed: int = 0
    sde: Any = MISSING
    model: Any = MISSING
    data: Any = MISSING
    sampler: Any = None
    logger: Any = MISSING
    train: TrainOptions = field(default_factory=TrainOptions)


@dataclass
class SamplerConfig:
    """``conf/sampler/*.yaml``: ``sample(..., sampler=name, steps=steps, **options)``."""
    name: str = MISSING
    steps: int = 1000
    options: Dict[str, Any] = field(default_factory=dict)


@dataclass
class SampleConfig:
    """``scripts/sample.py``: draw samples from a trained run (``conf/sample.yaml``).

    ``run``: a run folder, a checkpoint file, a ``latest`` link or a ``save_pretrained`` folder.
    Outputs go to ``<run>/samples/<timestamp>/`` unless ``out`` names a folder.
    Conditional (``sde_diffusion.app.sampling``): ``label`` (a class or "all") with
    ``guidance`` w; ``inpaint=true`` completes ``n`` test samples hidden by ``mask``."""
    run: str = MISSING
    n: int = 64
    seed: int = 0
    use_ema: Any = True  # true, false, or an EMA decay kept with train.ema_extra (e.g. 0.99)
    sampler: Any = None
    steps: Optional[int] = None
    batch_size: int = 4096
    out: Optional[str] = None
    data_root: Optional[str] = None  # a folder outside the run its stored data config may read
    trajectory_frames: int = 8
    device: str = "auto"
    progress: Optional[bool] = None
    label: Any = None
    guidance: Optional[float] = None
    inpaint: bool = False
    mask: str = "right"
    inpaint_method: str = "replacement"
    completions: int = 4
    dps_noise: float = 0.2
    inpaint_scale: float = 1.0
    inpaint_jacobian: str = "gaussian"


@dataclass
class ODEOptions:
    method: str = "rk45"
    divergence: str = "auto"
    probe: str = "rademacher"
    n_probes: int = 1
    rtol: float = 1e-5
    atol: float = 1e-5
    steps: int = 100


@dataclass
class ELBOOptions:
    n_samples: int = 64
    t_sampling: str = "uniform"
    control_variate: bool = True


@dataclass
class DiscreteELBOOptions:
    num_steps: int = 1000
    prediction: str = "score"
    variance: str = "beta"
    decoder: str = "auto"
    sampled_steps: Optional[int] = None
    n_samples: int = 1


@dataclass
class LikelihoodConfig:
    """``scripts/likelihood.py`` (``conf/likelihood.yaml``). ``data: null`` evaluates on the
    run's own data set; another data set is refused unless ``allow_data_mismatch``."""
    checkpoint: str = MISSING
    use_ema: Any = True  # true, false, or an EMA decay kept with train.ema_extra (e.g. 0.99)
    method: str = "all"
    split: str = "test"
    n_points: Optional[int] = 1000
    batch_size: int = 256
    seed: int = 0
    device: str = "cpu"
    data: Any = None
    allow_data_mismatch: bool = False
    data_root: Optional[str] = None  # a folder outside the run its stored data config may read
    out: Optional[str] = None
    progress: Optional[bool] = None
    logger: Any = None
    ode: ODEOptions = field(default_factory=ODEOptions)
    elbo: ELBOOptions = field(default_factory=ELBOOptions)
    discrete_elbo: DiscreteELBOOptions = field(default_factory=DiscreteELBOOptions)


#: (group, name, schema) stored by ``configs.store.register_configs``; the sde and data schemas
#: are derived from the constructors (``schema_of``): ``base_<name>``.
GROUP_SCHEMAS = (
    [("sde", f"base_{k}", schema_of(cls, f"sde_diffusion.sdes.{cls.__name__}")) for k, cls in _SDES.items()]
    + [("model", "base_mlp", MLPModelConfig), ("model", "base_unet", UNetModelConfig)]
    + [("data", f"base_{n}", schema_of(getattr(data, n), f"sde_diffusion.data.{n}")) for n in _DATA]
    + [("data", "base_image_folder", ImageFolderDataConfig),
       ("logger", "base_wandb", WandbLoggerConfig), ("logger", "base_none", NoLoggerConfig),
       ("sampler", "base_sampler", SamplerConfig)])
