"""Config-store registration, ``compose`` and ``to_plain``: Hydra's side of the package.

``register_configs()`` stores every schema of ``configs.schemas`` (and, when present, the
training schemas of ``configs.train`` through its ``register(cs)``) in Hydra's ConfigStore;
it is idempotent and runs when ``sde_diffusion.configs`` is imported. It first imports the
modules the user names in ``SDE_DIFFUSION_PLUGINS`` (comma-separated), so that the classes
they ``@register`` can be named in ``conf/`` and in the scripts' command lines; a config file
can never name a module to import. ``compose`` composes a
config of ``conf/`` with Hydra's compose API (tests, notebooks, torchrun launchers);
``to_plain`` resolves a DictConfig into plain dicts and lists for the library.
"""
from __future__ import annotations

import importlib
import importlib.util
import os
from pathlib import Path
from typing import Any, Optional, Sequence, Union

from omegaconf import DictConfig, ListConfig, OmegaConf

from .schemas import GROUP_SCHEMAS, Config, LikelihoodConfig, SampleConfig

__all__ = ["CONF_DIR", "PLUGINS_ENV", "import_plugins", "register_configs", "compose", "to_plain",
           "instantiate"]

#: The environment variable naming the user's modules to import (``mypkg.sdes,mypkg.nets``).
PLUGINS_ENV = "SDE_DIFFUSION_PLUGINS"

#: The repository's ``conf/`` folder (a source checkout; scripts and tests use it).
CONF_DIR = Path(__file__).resolve().parents[2] / "conf"
_REGISTERED = False


def import_plugins() -> list:
    """Import the modules named in ``$SDE_DIFFUSION_PLUGINS`` (the user's own registered
    classes); returns their names. A name that is not a dotted module path, or a module that
    does not import, is one clear error naming it."""
    names = [n.strip() for n in os.environ.get(PLUGINS_ENV, "").split(",") if n.strip()]
    for name in names:
        if not all(part.isidentifier() for part in name.split(".")):
            raise ValueError(f"{PLUGINS_ENV}: {name!r} is not a module name (dotted identifiers)")
        try:
            importlib.import_module(name)
        except ImportError as e:
            raise ImportError(f"{PLUGINS_ENV}: cannot import {name!r} ({e})") from None
    return names


def register_configs() -> None:
    """Register every schema in Hydra's ConfigStore (idempotent), after ``import_plugins``."""
    global _REGISTERED
    if _REGISTERED:
        return
    import_plugins()
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
