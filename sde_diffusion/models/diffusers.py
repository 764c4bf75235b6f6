"""``from_diffusers(path)``: a diffusers ``UNet2DModel`` folder as a ScoreModel on a continuous SDE.

Discrete-time DDPM/DDIM checkpoints (schedulers with a beta table) become a VP SDE whose
``DiscreteBeta`` schedule interpolates the model's own alpha_bar table (DPM-Solver's discrete
noise schedule):

    timestep n in 0..N-1  <->  t_n = (n + 1) / N,   m(t_n)^2 = alpha_bar_n,   s(t_n)^2 = 1 - alpha_bar_n
    score(x, t_n) = -eps_theta(x, n) / s(t_n)        (v / sample predictions converted exactly)

Why this mapping: it puts every training timestep on a node where the continuous marginal is
exactly the one the network was trained on, gives t = 0 the clean data (m = 1, s = 0) and T = 1
the last timestep, and makes ``sde.eps = 1/N`` (timestep 0) the natural end of sampling, where
diffusers' own schedulers take their last model call. Between nodes log m(t) is linear in t and
the network is called at the fractional timestep n = N t - 1 (times within float rounding of a
node are snapped to it, so node calls see exactly the integer timestep diffusers feeds).

Score-SDE VE checkpoints (``ScoreSdeVeScheduler``, NCSN++ with Fourier time features) become a
``VESDE(sigma_min, sigma_max)``; the network is called with sigma(t) = sigma_min (sigma_max /
sigma_min)^t and returns the score, as diffusers' ``ScoreSdeVePipeline`` does.

Loading reads JSON and tensors only: the configs are checked against allow-lists of class names
and keys before anything is built, the weights come from safetensors (or a ``.bin`` through
``torch.load(weights_only=True)``), and pickled networks (NVlabs/EDM ``.pkl``) are refused.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Dict, Optional, Tuple, Union

import torch
from torch import nn

from ..contract import LIMITS, check_choice
from ..weights_file import check_finite_state, check_state_fits, load_weights


def diffusers_class(name: str):
    """``diffusers.<name>``. diffusers loads its classes lazily, so a broken install fails only
    here, with a RuntimeError; the usual cause is a torchvision built for another torch
    ("operator torchvision::nms does not exist"). That becomes an ImportError naming both
    versions and the fix."""
    import diffusers
    try:
        return getattr(diffusers, name)
    except RuntimeError as e:
        from importlib.metadata import PackageNotFoundError, version
        try:
            tv = version("torchvision")
        except PackageNotFoundError:
            tv = "not installed"
        raise ImportError(
            f"diffusers could not load {name} (torch {torch.__version__}, torchvision {tv}): "
            f"{str(e).splitlines()[-1] if str(e) else type(e).__name__}. A torchvision built for "
            f"another torch build causes this: uninstall it (pip uninstall torchvision; neither "
            f"sde_diffusion nor diffusers' models need it) or install the torchvision of your "
            f"torch build (for a CPU torch, from https://download.pytorch.org/whl/cpu)") from None

__all__ = ["from_diffusers", "DiffusersUNet", "DiffusersFormatError", "SCHEDULERS",
           "PREDICTION_TYPES", "BETA_SCHEDULES"]

#: scheduler classes whose config describes a discrete beta table (VP) or the score-SDE VE
VP_SCHEDULERS = ("DDPMScheduler", "DDIMScheduler", "DPMSolverMultistepScheduler",
                 "DPMSolverSinglestepScheduler", "PNDMScheduler", "UniPCMultistepScheduler",
                 "DEISMultistepScheduler", "EulerDiscreteScheduler", "HeunDiscreteScheduler",
                 "LMSDiscreteScheduler", "EulerAncestralDiscreteScheduler")
VE_SCHEDULERS = ("ScoreSdeVeScheduler",)
SCHEDULERS = VP_SCHEDULERS + VE_SCHEDULERS
PIPELINES = ("DDPMPipeline", "DDIMPipeline", "PNDMPipeline", "ScoreSdeVePipeline")
PREDICTION_TYPES = {"epsilon": "eps", "v_prediction": "v", "sample": "x0"}
BETA_SCHEDULES = ("linear", "scaled_linear", "squaredcos_cap_v2")
_WEIGHTS = ("diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.bin")
_PICKLES = (".pkl", ".pickle")
PathLike = Union[str, Path]


class DiffusersFormatError(ValueError):
    """The folder is not a diffusers model this loader accepts (nothing was built or run)."""


class DiffusersUNet(nn.Module):
    """``net(x, label)`` for ScoreModel: the UNet2DModel called at the timestep of label = t/T.

    kind "vp": timestep n = N t - 1 (snapped to the nearest integer within 1e-3); the output is
    the scheduler's prediction (eps / v / x0). kind "ve": timestep sigma(t), output the score.
    """

    def __init__(self, unet: nn.Module, kind: str, num_train_timesteps: int = 1000,
                 sigma_min: float = 0.01, sigma_max: float = 1348.0):
        super().__init__()
        self.unet = unet
        self.kind = check_choice("kind", kind, ("vp", "ve"))
        self.num_train_timesteps = int(num_train_timesteps)
        self.sigma_min, self.sigma_max = float(sigma_min), float(sigma_max)

    def timestep(self, label: torch.Tensor) -> torch.Tensor:
        """The network's time input for label = t / T, shape (N,)."""
        t = label.to(torch.float64)
        if self.kind == "ve":
            return (self.sigma_min * (self.sigma_max / self.sigma_min) ** t).to(label.dtype)
        n = t * self.num_train_timesteps - 1.0
        r = torch.round(n)
        n = torch.where((n - r).abs() < 1e-3, r, n).clamp(min=0.0)
        return n.to(torch.float32)

    def forward(self, x: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        return self.unet(x, self.timestep(label)).sample


# ------------------------------------------------------------------------------ reading
def _read_json(path: Path, what: str) -> Dict[str, Any]:
    if not path.is_file():
        raise DiffusersFormatError(f"{str(path.parent)!r} is not a diffusers model folder: it has "
                                   f"no {path.name} ({what})")
    if path.stat().st_size > LIMITS.max_text_bytes:
        raise DiffusersFormatError(f"{str(path)!r} is {path.stat().st_size} bytes, over the limit "
                                   f"{LIMITS.max_text_bytes} for a config file")
    try:
        cfg = json.loads(path.read_text(), parse_constant=_no_constant)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DiffusersFormatError(f"{str(path)!r} is not valid JSON ({e})") from None
    if not isinstance(cfg, dict):
        raise DiffusersFormatError(f"{str(path)!r} must hold a JSON object, got {type(cfg).__name__}")
    if "_target_" in cfg:
        raise DiffusersFormatError(f"{str(path)!r} has a '_target_' key ({cfg['_target_']!r}): a "
                                   f"diffusers config names its class in '_class_name'; refusing "
                                   f"a config that asks to build something else")
    return cfg


def _no_constant(name: str):
    raise DiffusersFormatError(f"the config holds {name}, which is not a finite number")


def _class_name(cfg: Dict[str, Any], allowed, path: Path) -> str:
    name = cfg.get("_class_name")
    if not isinstance(name, str):
        raise DiffusersFormatError(f"{str(path)!r} has no '_class_name'; a diffusers config names "
                                   f"its class there (one of {', '.join(allowed)})")
    try:
        return check_choice(f"_class_name in {str(path)!r}", name, allowed)
    except ValueError as e:
        raise DiffusersFormatError(str(e)) from None


def _refuse_pickle(path: Path) -> None:
    if path.suffix.lower() in _PICKLES or (path.is_dir() and any(
            p.suffix.lower() in _PICKLES for p in path.iterdir())):
        raise DiffusersFormatError(
            f"{str(path)!r} is (or holds) a pickled network, e.g. NVlabs EDM's .pkl: unpickling "
            f"runs code stored in the file, so it is never loaded here. Convert it once, in an "
            f"environment you trust, to a diffusers folder (UNet2DModel.save_pretrained with "
            f"safetensors) or a plain state dict, then load that")


def _locate(path: Path) -> Tuple[Path, Path]:
    """(unet folder, scheduler config file) of a pipeline folder or a bare UNet folder."""
    index = path / "model_index.json"
    if index.is_file():
        cfg = _read_json(index, "the pipeline index")
        _class_name(cfg, PIPELINES, index)
        for key, allowed in (("unet", ("UNet2DModel",)), ("scheduler", SCHEDULERS)):
            entry = cfg.get(key)
            if not (isinstance(entry, list) and len(entry) == 2 and entry[0] == "diffusers"):
                raise DiffusersFormatError(f"{str(index)!r}: entry {key!r} must be "
                                           f"['diffusers', <class>], got {entry!r}")
            try:
                check_choice(f"{key} class in {str(index)!r}", entry[1], allowed)
            except ValueError as e:
                raise DiffusersFormatError(str(e)) from None
        return path / "unet", path / "scheduler" / "scheduler_config.json"
    if (path / "config.json").is_file():
        for cand in (path / "scheduler_config.json", path.parent / "scheduler" / "scheduler_config.json"):
            if cand.is_file():
                return path, cand
        raise DiffusersFormatError(f"{str(path)!r} holds a network config but no scheduler: put its "
                                   f"scheduler_config.json beside config.json, or give the "
                                   f"pipeline folder (model_index.json, unet/, scheduler/)")
    raise DiffusersFormatError(f"{str(path)!r} is not a diffusers model folder: expected "
                               f"model_index.json with unet/ and scheduler/, or a UNet folder "
                               f"with config.json and scheduler_config.json")


def _unet_config(folder: Path) -> Dict[str, Any]:
    import inspect
    UNet2DModel = diffusers_class("UNet2DModel")
    path = folder / "config.json"
    cfg = _read_json(path, "the network config")
    _class_name(cfg, ("UNet2DModel",), path)
    params = set(inspect.signature(UNet2DModel.__init__).parameters) - {"self"}
    out = {}
    for k, v in cfg.items():
        if k.startswith("_"):
            continue  # _class_name, _diffusers_version, _name_or_path: metadata
        if k not in params:
            raise DiffusersFormatError(f"{str(path)!r}: unknown UNet2DModel key {k!r}")
        out[k] = v
    for k in ("block_out_channels",):
        for c in out.get(k, []) or []:
            if not isinstance(c, int) or isinstance(c, bool) or not 0 < c <= LIMITS.max_width:
                raise DiffusersFormatError(f"{str(path)!r}: {k} entry {c!r} must be an integer in "
                                           f"1..{LIMITS.max_width}")
    for k in ("layers_per_block", "in_channels", "out_channels", "sample_size"):
        v = out.get(k)
        if v is not None and not (isinstance(v, int) and not isinstance(v, bool)
                                  and 0 < v <= LIMITS.max_width):
            raise DiffusersFormatError(f"{str(path)!r}: {k}={v!r} must be an integer in "
                                       f"1..{LIMITS.max_width}")
    return out


def _weights(folder: Path) -> Dict[str, torch.Tensor]:
    for name in _WEIGHTS:
        f = folder / name
        if f.exists() or f.is_symlink():
            return load_weights(f, "diffusers weights file", error=DiffusersFormatError)
    raise DiffusersFormatError(f"{str(folder)!r} has no weights ({' or '.join(_WEIGHTS)})")


# ----------------------------------------------------------------------------- schedules
def _vp_table(cfg: Dict[str, Any], path: Path) -> Tuple[torch.Tensor, str]:
    """(alpha_bar table in float64 as diffusers computes it, parameterization)."""
    pred = cfg.get("prediction_type", "epsilon")
    try:
        check_choice(f"prediction_type in {str(path)!r}", pred, tuple(PREDICTION_TYPES))
        n = cfg.get("num_train_timesteps", 1000)
        if isinstance(n, bool) or not isinstance(n, int) or not 2 <= n <= LIMITS.max_steps:
            raise ValueError(f"num_train_timesteps={n!r} in {str(path)!r} must be an integer in "
                             f"2..{LIMITS.max_steps}")
        if cfg.get("rescale_betas_zero_snr", False):
            raise ValueError(f"{str(path)!r} sets rescale_betas_zero_snr: alpha_bar reaches 0 at the "
                             f"last timestep, where the log-SNR is -inf; no continuous VP on [0, 1] "
                             f"has that endpoint")
        trained = cfg.get("trained_betas")
        if trained is None:
            check_choice(f"beta_schedule in {str(path)!r}", cfg.get("beta_schedule", "linear"),
                         BETA_SCHEDULES)
    except ValueError as e:
        raise DiffusersFormatError(str(e)) from None
    DDPMScheduler = diffusers_class("DDPMScheduler")  # the table exactly as diffusers' schedulers build it
    keys = ("num_train_timesteps", "beta_start", "beta_end", "beta_schedule", "trained_betas")
    sched = DDPMScheduler(**{k: cfg[k] for k in keys if k in cfg})
    return sched.alphas_cumprod.to(torch.float64), PREDICTION_TYPES[pred]


def from_diffusers(path: PathLike, map_location: Any = "cpu") -> nn.Module:
    """A diffusers ``UNet2DModel`` with its scheduler config as a ``ScoreModel`` (eval mode).

    Args:
        path: a pipeline folder (model_index.json, unet/, scheduler/), a UNet folder with
            scheduler_config.json beside its config.json, or a hub id "owner/name" (downloaded
            with huggingface_hub, json and safetensors files only, where there is network).
    Returns ``ScoreModel(DiffusersUNet(unet), sde, parameterization, input_scaling=False)`` with
    ``sde`` a ``VPSDE(schedule=DiscreteBeta(alpha_bar), eps=1/N)`` or a ``VESDE``; the model
    carries ``data_shape`` (C, H, W).
    Raises ``DiffusersFormatError`` (a ValueError) for a folder that is not such a model, an
    unknown class, scheduler, beta schedule or prediction type, a foreign ``_target_``, or a
    pickle -- always before the network is built.
    """
    from ..sdes import VESDE, VPSDE, DiscreteBeta
    from .score_model import ScoreModel
    if not isinstance(path, (str, Path)):
        raise TypeError(f"path must be a folder path or hub id (str), got {type(path).__name__}")
    p = Path(path)
    if not p.exists() and isinstance(path, str) and path.count("/") == 1 and not path.startswith("."):
        from huggingface_hub import snapshot_download  # network: not exercised by the tests
        p = Path(snapshot_download(path, allow_patterns=["*.json", "*.safetensors"]))
    if not p.exists():
        raise FileNotFoundError(f"no such model folder: {str(p)!r}")
    _refuse_pickle(p)
    if not p.is_dir():
        raise DiffusersFormatError(f"{str(p)!r} is a file; give the model folder")
    unet_dir, sched_path = _locate(p)
    _refuse_pickle(unet_dir)
    ucfg = _unet_config(unet_dir)
    scfg = _read_json(sched_path, "the scheduler config")
    sname = _class_name(scfg, SCHEDULERS, sched_path)
    if sname in VE_SCHEDULERS:
        if ucfg.get("time_embedding_type") != "fourier":
            raise DiffusersFormatError(f"{sname} needs a UNet2DModel with Fourier time features "
                                       f"(NCSN++, time_embedding_type='fourier'), got "
                                       f"{ucfg.get('time_embedding_type', 'positional')!r}")
        smin, smax = float(scfg.get("sigma_min", 0.01)), float(scfg.get("sigma_max", 1348.0))
        eps = float(scfg.get("sampling_eps", 1e-5))
        sde = VESDE(sigma_min=smin, sigma_max=smax, eps=eps)
        kind, param, n_train = "ve", "score", 0
    else:
        table, param = _vp_table(scfg, sched_path)
        n_train = table.numel()
        sde = VPSDE(schedule=DiscreteBeta([float(v) for v in table]), eps=1.0 / n_train)
        kind, smin, smax = "vp", 0.01, 1348.0
    state = _weights(unet_dir)
    UNet2DModel = diffusers_class("UNet2DModel")
    with torch.device("meta"):  # shapes first: the file cannot make us allocate a huge network
        shell = UNet2DModel(**ucfg)
    where = f"diffusers model {str(p)!r}"
    check_state_fits(shell, state, where)
    check_finite_state(state, where)
    unet = UNet2DModel(**ucfg)
    unet.load_state_dict(state, strict=True)
    net = DiffusersUNet(unet, kind, n_train or 1000, smin, smax)
    model = ScoreModel(net, sde, parameterization=param, input_scaling=False)
    c, s = int(ucfg.get("in_channels", 3)), ucfg.get("sample_size")
    s = (s, s) if isinstance(s, int) else tuple(s or (0, 0))
    model.data_shape = (c, int(s[0]), int(s[1]))
    return model.to(map_location).eval()
