"""Config-store registration, ``compose`` and ``to_plain``: Hydra's side of the package.

``register_configs()`` stores every schema of ``configs.schemas`` (and, when present, the
training schemas of ``configs.train`` through its ``register(cs)``) in Hydra's ConfigStore;
it is idempotent and runs when ``sde_diffusion.configs`` is imported. ``compose`` composes a
config of ``conf/`` with Hydra's compose API (tests, notebooks, torchrun launchers);
``to_plain`` resolves a DictConfig into plain dicts and lists for the library.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any, Optional, Sequence, Union

from omegaconf import DictConfig, ListConfig, OmegaConf

from .schemas import GROUP_SCHEMAS, Config, LikelihoodConfig, SampleConfig

__all__ = ["CONF_DIR", "register_configs", "compose", "to_plain", "instantiate"]

#: The repository's ``conf/`` folder (a source checkout; scripts and tests use it).
CONF_DIR = Path(__file__).resolve().parents[2] / "conf"
_REGISTERED = False


def register_configs() -> None:
    """Register every schema in Hydra's ConfigStore (idempotent)."""
    global _REGISTERED
    if _REGISTERED:
        return
    from hydra.core.config_store import ConfigStore
    cs = ConfigStore.instance()
    cs.store(name="base_config", node=Config)
    cs.store(name="base_sample", node=SampleConfig)
    cs.store(name="base_likelihood", node=LikelihoodConfig)
    for group, name, node in GROUP_SCHEMAS:
        cs.store(group=group, name=name, node=node)
    if importlib.util.find_spec(__package__ + ".train") is not None:  # helper schemas of training
        from . import train as _train
        _train.register(cs)
    _REGISTERED = True


def compose(overrides: Sequence[str] = (), config_name: str = "config",
            config_dir: Optional[Union[str, Path]] = None) -> DictConfig:
    """Compose ``<config_dir or conf/>/<config_name>.yaml`` with ``overrides`` (Hydra's
    compose API); composition errors (unknown key, wrong type) are raised as Hydra's."""
    from hydra import compose as _compose, initialize_config_dir
    register_configs()
    if not isinstance(overrides, (list, tuple)) or not all(isinstance(o, str) for o in overrides):
        raise TypeError(f"overrides must be a list of strings, got {overrides!r}")
    path = Path(config_dir or CONF_DIR)
    if not path.is_dir():
        raise FileNotFoundError(f"config folder {str(path)!r} does not exist")
    with initialize_config_dir(config_dir=str(path.resolve()), version_base="1.3"):
        return _compose(config_name=config_name, overrides=list(overrides))


def to_plain(cfg: Any) -> Any:
    """A DictConfig/ListConfig as plain dicts and lists, interpolations resolved; anything else
    unchanged. The library only ever receives such plain values."""
    if isinstance(cfg, (DictConfig, ListConfig)):
        return OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
    return cfg


def instantiate(node: Any, path: str = "", training: bool = True) -> Any:
    """Build a config node through the allow-list (``registry.build``; never Hydra's
    ``instantiate``): the package's classes, plus optimisers, LR schedulers and trackers
    unless ``training=False``. ``path`` names the node in error messages (e.g. "sde")."""
    from ..registry import build
    return build(to_plain(node), training=training, path=path)
