"""Structured-config schemas (dataclasses) for the Hydra configs in ``conf/``.

Every group option in ``conf/`` starts its defaults list with one of these schemas
(``defaults: [base_vp, _self_]``), so a misspelt key or a value of the wrong type fails when
the config is composed, before any work starts. Values (ranges, known names) are checked by
``configs.validate`` right after composing. ``configs.store.register_configs`` stores them.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from omegaconf import MISSING

from ..models.mlp import MLP
from ..training.options import TrainOptions


def _default(cls: type, name: str) -> Any:
    """The default of ``cls(...)``'s argument ``name``: one source for Python and Hydra."""
    return inspect.signature(cls.__init__).parameters[name].default

__all__ = ["Config", "SampleConfig", "SamplerConfig", "LikelihoodConfig",
           "ODEOptions", "ELBOOptions", "DiscreteELBOOptions", "GROUP_SCHEMAS"]


# ------------------------------------------------------------------ sde/
@dataclass
class VPConfig:
    _target_: str = "sde_diffusion.sdes.VPSDE"
    beta_min: float = 0.1
    beta_max: float = 20.0
    schedule: str = "linear"
    T: float = 1.0
    eps: float = 1e-5


@dataclass
class SubVPConfig(VPConfig):
    _target_: str = "sde_diffusion.sdes.SubVPSDE"


@dataclass
class VEConfig:
    _target_: str = "sde_diffusion.sdes.VESDE"
    sigma_min: float = 0.01
    sigma_max: float = 50.0
    T: float = 1.0
    eps: float = 1e-5


# ------------------------------------------------------------------ model/
@dataclass
class MLPNetConfig:
    """``models.MLP``; ``dim`` comes from the data; every default is the constructor's."""
    _target_: str = "sde_diffusion.models.MLP"
    hidden: int = _default(MLP, "hidden")
    depth: int = _default(MLP, "depth")
    time_dim: int = _default(MLP, "time_dim")
    fourier_scale: float = _default(MLP, "fourier_scale")
    activation: str = _default(MLP, "activation")
    num_classes: int = _default(MLP, "num_classes")  # > 0: class-conditional (null label C)


@dataclass
class UNetNetConfig:
    """``models.UNet``; ``in_channels`` and ``image_size`` come from the data."""
    _target_: str = "sde_diffusion.models.UNet"
    base_channels: int = 64
    channel_mult: List[int] = field(default_factory=lambda: [1, 2, 2])
    num_res_blocks: int = 2
    attn_resolutions: List[int] = field(default_factory=lambda: [16])
    dropout: float = 0.1
    num_heads: int = 1
    num_groups: int = 32
    time_dim: int = 64
    fourier_scale: float = 16.0
    num_classes: int = 0  # > 0: class-conditional (labels 0..C-1, null label C)


@dataclass
class ModelConfig:
    """``ScoreModel(net, sde, parameterization, data_std, input_scaling)``.

    ``data_std: null`` means: the training data's standard deviation (computed once and
    stored in the checkpoint's config)."""
    parameterization: str = "eps"
    data_std: Optional[float] = None
    input_scaling: bool = True
    net: Any = MISSING


@dataclass
class MLPModelConfig(ModelConfig):
    net: MLPNetConfig = field(default_factory=MLPNetConfig)


@dataclass
class UNetModelConfig(ModelConfig):
    net: UNetNetConfig = field(default_factory=UNetNetConfig)


# ------------------------------------------------------------------ data/
@dataclass
class ToyDataConfig:
    _target_: str = MISSING
    n_train: int = 50_000
    n_test: int = 5_000
    seed: int = 0


@dataclass
class RingDataConfig(ToyDataConfig):
    _target_: str = "sde_diffusion.data.ring"
    n_modes: int = 8
    radius: float = 4.0
    std: float = 0.3


@dataclass
class DigitsDataConfig:
    _target_: str = "sde_diffusion.data.digits"
    image_size: int = 8
    channels: int = 1
    test_fraction: float = 0.2
    seed: int = 0


@dataclass
class TorchvisionDataConfig:
    _target_: str = MISSING
    root: str = "data"
    image_size: int = 28
    channels: int = 1
    download: bool = True


@dataclass
class ImageFolderDataConfig:
    _target_: str = "sde_diffusion.data.image_folder"
    path: str = MISSING
    image_size: int = 32
    channels: int = 3
    test_fraction: float = 0.1
    seed: int = 0
    max_images: Optional[int] = None


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


#: (group, name, schema) stored by ``configs.store.register_configs``.
GROUP_SCHEMAS = [
    ("sde", "base_vp", VPConfig), ("sde", "base_subvp", SubVPConfig), ("sde", "base_ve", VEConfig),
    ("model", "base_mlp", MLPModelConfig), ("model", "base_unet", UNetModelConfig),
    ("data", "base_toy", ToyDataConfig), ("data", "base_ring", RingDataConfig),
    ("data", "base_digits", DigitsDataConfig), ("data", "base_torchvision", TorchvisionDataConfig),
    ("data", "base_image_folder", ImageFolderDataConfig),
    ("logger", "base_wandb", WandbLoggerConfig), ("logger", "base_none", NoLoggerConfig),
    ("sampler", "base_sampler", SamplerConfig),
]
