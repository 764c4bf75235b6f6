"""Training from a composed config: the ``train:``-side schemas and the config -> objects glue
of ``scripts/train.py``.

``build_trainer(cfg, run_dir)`` checks the whole config (missing ``???`` values, every
``train.*`` value through ``TrainOptions``, root keys, the evaluation sampler), sets the thread
count, builds the data set, the ScoreModel and the tracker factory through the allow-list
(``registry``), and returns a ready ``Trainer``: bad input fails there, before any step and
before any checkpoint is written. ``run_training(trainer)`` fits it.

``build_model(model, sde, data_shape)`` builds ``ScoreModel(net, sde, ...)`` from the ``model:``
and ``sde:`` nodes; the net's data-dependent arguments come from the data shape
(``net_shape_kwargs``): ``dim`` = values per sample (MLP), ``in_channels`` and ``image_size``
(UNet, square images).
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Sequence, Union

import torch
from omegaconf import DictConfig, OmegaConf

from .. import registry
from ..data import DataBundle
from ..threads import use_thread_plan
from ..training import Trainer, TrainOptions, TrainResult, link_latest
from ..data import training_data_std
from ..training.runtime import progress_enabled, seed_everything
from .schemas import ImageFolderDataConfig
from .store import to_plain
from .validate import validate_config

__all__ = ["ImageFolderStreamConfig", "register", "net_shape_kwargs", "training_data_std",
           "build_model", "build_trainer", "run_training"]

log = logging.getLogger(__name__)


# ------------------------------------------------------------------------------ schemas
@dataclass
class ImageFolderStreamConfig(ImageFolderDataConfig):
    """``data.ImageFolderDataset``: images decoded from disk one at a time (bounded memory);
    the same options as the in-memory ``image_folder`` node."""
    _target_: str = "sde_diffusion.data.ImageFolderDataset"


def register(cs) -> None:
    """Store the training-side schemas in Hydra's ConfigStore ``cs`` (the ``train:`` group is
    ``TrainOptions`` itself: one definition for Hydra and the library)."""
    cs.store(group="train", name="base_train", node=TrainOptions)
    cs.store(group="data", name="base_image_folder_stream", node=ImageFolderStreamConfig)


# ------------------------------------------------------------------------------ model
def net_shape_kwargs(net: Mapping[str, Any], data_shape: Sequence[int]) -> Dict[str, Any]:
    """The network's data-dependent arguments: ``dim`` = prod(shape) (MLP) or ``in_channels``
    = C and ``image_size`` = S for square (C, S, S) images (UNet)."""
    shape = tuple(int(d) for d in data_shape)
    if str(net.get("_target_", "")).endswith("UNet"):
        if len(shape) != 3 or shape[1] != shape[2]:
            raise ValueError(f"model=unet needs square images (C, S, S), the data have shape "
                             f"{shape}; use model=mlp for point data")
        return {"in_channels": shape[0], "image_size": shape[1]}
    return {"dim": math.prod(shape)}


def build_model(model: Any, sde: Any, data_shape: Sequence[int],
                data_std: Optional[float] = None) -> torch.nn.Module:
    """``ScoreModel`` from the ``model:`` node (``net``, ``parameterization``, ``data_std``,
    ``input_scaling``) and the ``sde:`` node, both built from the allow-list only.

    ``data_std`` is used when the node's own is null; with neither, the ScoreModel gets
    ``data_std=None`` (a Trainer sets it from its data). Plain mappings or DictConfigs; errors
    name the key (``model.net``, ``model.sde``)."""
    m, s = to_plain(model), to_plain(sde)
    if not isinstance(m, Mapping) or not isinstance(m.get("net"), Mapping) or "_target_" not in m["net"]:
        raise ValueError(f"the model config needs a 'net' with a '_target_' (see conf/model/), "
                         f"got {m!r}")
    if not isinstance(s, Mapping) or "_target_" not in s:
        raise ValueError(f"the sde config needs a '_target_' (see conf/sde/), got {s!r}")
    std = m.get("data_std")
    std = std if std is not None else data_std
    spec = {"sde": s, "net": {**m["net"], **net_shape_kwargs(m["net"], data_shape)},
            "parameterization": m.get("parameterization", "eps"), "data_std": std,
            "input_scaling": m.get("input_scaling", True)}
    return registry.build_score_model(spec)


# ------------------------------------------------------------------------------ trainer
def _tracker_factory(c: Dict[str, Any], run_dir: Path, data_name: str, group: Optional[str]):
    """``run_id -> Tracker`` from the ``logger:`` node; wandb gets the experiment's name and
    tags (name, data, SDE) unless set, and the sweep as its default group."""
    logger = dict(c["logger"])
    if str(logger.get("_target_", "")).endswith("WandbTracker"):
        logger["name"] = logger.get("name") or f"{c['name']}-{run_dir.name}"
        logger["tags"] = list(dict.fromkeys([*logger.get("tags", []), c["name"], data_name,
                                             c["sde"]["_target_"].rsplit(".", 1)[-1]]))
    make = registry.build({**logger, "_partial_": True}, training=True, path="logger")
    return lambda run_id: make(run_dir=str(run_dir), run_config=c, run_id=run_id,
                               default_group=group)


def build_trainer(cfg: Union[DictConfig, Mapping[str, Any]], run_dir: Union[str, Path], *,
                  n_jobs: int = 1, group: Optional[str] = None) -> Trainer:
    """A ``Trainer`` for the composed root config ``cfg`` (``conf/config.yaml``) in ``run_dir``.

    ``n_jobs``: training processes running at once on this machine (a joblib multirun), which
    divides the default thread count; ``group``: the tracker's default group (a sweep's name).
    ``train.seed: null`` takes the root ``seed``; ``model.data_std: null`` is filled in with the
    training data's std and recorded in the run's config. Raises ``ValueError``/``TypeError``
    (or ``FileNotFoundError``, ``ImportError`` for missing data) before any step."""
    if isinstance(cfg, DictConfig):
        missing = sorted(OmegaConf.missing_keys(cfg))
        if missing:
            raise ValueError(f"the config leaves {missing} unset (???); give them on the command "
                             f"line, e.g. {missing[0]}=...")
    c = to_plain(cfg)
    if not isinstance(c, Mapping):
        raise TypeError(f"cfg must be a composed config (a mapping), got {type(c).__name__}")
    c = dict(c)
    for key in ("train", "sde", "model", "data", "logger"):
        if not isinstance(c.get(key), Mapping):
            raise ValueError(f"the config lacks its {key!r} group (see conf/{key}/), got {c.get(key)!r}")
    train = dict(c["train"])
    if train.get("seed") is None:
        train["seed"] = c.get("seed")
    options = TrainOptions.from_dict(train)  # every train value checked here
    validate_config(c)  # root keys, name, seed, the evaluation sampler
    use_thread_plan(options.num_threads or None, int(n_jobs or 1))
    seed_everything(options.seed or 0, options.deterministic)  # before data and network exist
    data = registry.build(c["data"], path="data")
    info = data.info
    c["model"] = dict(c["model"])
    if c["model"].get("data_std") is None:  # the Trainer's rule, resolved here for the run config
        c["model"]["data_std"] = training_data_std(data)
    model = build_model(c["model"], c["sde"], info.data_shape)
    run_dir = Path(run_dir)
    return Trainer(model, data=data, options=options, run_dir=run_dir, sampler=c.get("sampler"),
                   tracker=_tracker_factory(c, run_dir, info.name, group), run_config=c)


def run_training(trainer: Trainer, link: bool = True) -> TrainResult:
    """``trainer.fit()``; with a progress bar the loss lines go to train.log only, and with
    ``link`` rank 0 points ``<run dir>/../latest`` at this run first."""
    if progress_enabled(trainer.options.progress):
        for h in logging.getLogger().handlers:
            if isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler):
                h.addFilter(lambda r: r.name != "sde_diffusion.training.progress")
    if link and trainer.dist.is_main:
        link_latest(trainer.run_dir)
    result = trainer.fit()
    log.info("%s at step %d; run dir %s; checkpoint %s", result.status, result.step,
             trainer.run_dir, result.checkpoint)
    return result
