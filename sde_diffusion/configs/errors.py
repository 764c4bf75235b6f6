"""Composition errors as one line: the bad key or value, the valid choices, a close match.

Hydra reports a misspelt option, key or value over several lines (with its search path and a
``+key=`` hint that is wrong for a typo). ``explain(e, overrides, config_name)`` rewrites the
common cases::

    sde=vpp            -> sde=vpp: no option 'vpp' in group sde; valid: edm, ..., vp; did you mean 'vp'?
    train.stepz=3      -> train.stepz=3: unknown key 'stepz' in train; valid keys: ...; did you mean 'steps'?
    train.steps=abc    -> train.steps=abc: Value 'abc' of type 'str' could not be converted to Integer
    sampler.name=eulr  -> (no sampler chosen) choose one with sampler=<name>; ...; did you mean sampler=euler?
    outputs/x          -> 'outputs/x' is not a key=value override; did you mean run=outputs/x?

Internal schemas (``base_*`` in Hydra's config store) are never listed. Anything else keeps its
first line. The scripts print the result as ``<prog>: error: <line>`` and exit with status 2.
"""
from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, List, Optional, Sequence

from ..contract import close_match

__all__ = ["explain", "positional_error", "group_options", "check_command_line", "ConfigError",
           "HYDRA_WORDS"]

#: Words Hydra accepts on the command line without ``=`` (after ``--cfg``, ``--info``).
HYDRA_WORDS = ("job", "hydra", "all", "config", "defaults", "defaults-tree", "plugins",
               "searchpath")
#: Hydra's flags whose value is the next word (``-p hydra.launcher``, ``-cn other``).
_FLAGS_WITH_VALUE = ("-p", "--package", "-c", "--cfg", "-i", "--info", "-cp", "--config-path",
                     "-cn", "--config-name", "-cd", "--config-dir", "--experimental-rerun")


def _overrides(args: Sequence[str]) -> List[str]:
    """The words of ``args`` that are overrides: flags, the values of Hydra's flags and Hydra's
    own words left out."""
    out, skip = [], False
    for a in args:
        if skip and "=" not in a and not a.startswith("-"):
            skip = False
            continue
        skip = a in _FLAGS_WITH_VALUE
        if not a.startswith("-") and a not in HYDRA_WORDS:
            out.append(a)
    return out


def group_options(group: str, config_dir: Optional[str] = None) -> List[str]:
    """The options of a config group: ``conf/<group>/*.yaml`` (internal schemas excluded)."""
    from .store import CONF_DIR
    folder = Path(config_dir or CONF_DIR) / group
    return sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []


def _visible(options: Sequence[str]) -> List[str]:
    return [o for o in options if not str(o).startswith("base_")]


def _value_of(key: str, overrides: Sequence[str]) -> Optional[str]:
    for o in overrides:
        k, eq, v = o.lstrip("+~").partition("=")
        if eq and k == key:
            return v
    return None


def _first_line(e: BaseException) -> str:
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    return lines[0] if lines else type(e).__name__


def positional_error(args: Sequence[str], config_name: str,
                     config_dir: Optional[str] = None) -> Optional[str]:
    """The message for a command-line word that is not ``key=value`` (a forgotten ``run=``):
    the group that has an option of that name, else the config's one required key; None when
    every word is fine."""
    from .store import CONF_DIR
    words = [a for a in _overrides(args) if "=" not in a]
    if not words:
        return None
    hint = ""
    folder = Path(config_dir or CONF_DIR)
    groups = sorted(p.parent.name for p in folder.glob(f"*/{words[0]}.yaml"))
    if groups:
        return (f"{words[0]!r} is not a key=value override; did you mean {groups[0]}={words[0]}? "
                f"(every argument is key=value, e.g. seed=1)")
    try:
        from omegaconf import OmegaConf
        from .store import compose
        required = sorted(OmegaConf.missing_keys(compose([], config_name, config_dir)))
        if len(required) == 1:
            hint = f"; did you mean {required[0]}={words[0]}?"
    except Exception:  # the hint is a courtesy; the error stands without it
        pass
    return (f"{words[0]!r} is not a key=value override{hint} (every argument is key=value, "
            f"e.g. seed=1)")


def _selected(parent: str, overrides: Sequence[str], bad: str, config_name: str,
              config_dir: Optional[str]) -> Any:
    """The node ``parent`` of the config composed without the bad override (None if that
    fails too)."""
    from omegaconf import OmegaConf
    from .store import compose
    try:
        cfg = compose([o for o in overrides if o != bad], config_name, config_dir)
    except Exception:
        return None
    return OmegaConf.select(cfg, parent) if parent else cfg


def explain(e: BaseException, overrides: Sequence[str], config_name: str,
            config_dir: Optional[str] = None) -> str:
    """One line for a composition error ``e`` raised by composing ``overrides``."""
    from hydra.errors import MissingConfigException, OverrideParseException
    from omegaconf.errors import (ConfigAttributeError, ConfigKeyError, MissingMandatoryValue,
                                  ValidationError)
    if isinstance(e, MissingConfigException) and "/" in str(e.missing_cfg_file or ""):
        group, _, name = str(e.missing_cfg_file).rpartition("/")
        options = _visible(e.options or group_options(group, config_dir))
        return (f"{group}={name}: no option {name!r} in group {group}; valid: "
                f"{', '.join(options)}{close_match(name, options)}")
    if isinstance(e, OverrideParseException):
        text = positional_error(overrides, config_name, config_dir)
        return text or f"cannot parse the override: {_first_line(e)} (write key=value)"
    if isinstance(e, MissingMandatoryValue):
        key = getattr(e, "full_key", "") or _first_line(e).rpartition(": ")[2]
        return f"{key} is required: give it on the command line, e.g. {key}=<value>"
    cause = e.__cause__ or e.__context__ or e
    key = str(getattr(cause, "full_key", "") or "")
    if isinstance(cause, ValidationError) and key:
        return f"{key}={_value_of(key, overrides)}: {_first_line(cause)}"
    if isinstance(cause, (ConfigAttributeError, ConfigKeyError)) and key:
        value = _value_of(key, overrides)
        bad = next((o for o in overrides if o.lstrip("+~").partition("=")[0] == key), "")
        parent, _, leaf = key.rpartition(".")
        node = _selected(parent, overrides, bad, config_name, config_dir)
        if node is None and parent and "." not in parent and group_options(parent, config_dir):
            options = group_options(parent, config_dir)
            near = difflib.get_close_matches(str(value), options, n=1)
            hint = f"; did you mean {parent}={near[0]}?" if near else ""
            return (f"{bad}: no {parent} is chosen in this config; choose one with "
                    f"{parent}=<name> (valid: {', '.join(options)}){hint}")
        keys = [str(k) for k in node.keys()] if hasattr(node, "keys") else []
        where = parent or "the config"
        return (f"{bad}: unknown key {leaf!r} in {where}; valid keys: {', '.join(keys)}"
                f"{close_match(leaf, keys)}" if keys else f"{bad}: unknown key {leaf!r} in {where}")
    return _first_line(e)


_LEFT_TO_HYDRA = ("--config-path", "-cp", "--config-name", "-cn", "--config-dir", "-cd",
                  "--help", "-h", "--hydra-help", "--info", "-i", "--version",
                  "--shell-completion", "-sc", "--experimental-rerun", "--resolve")


class ConfigError(ValueError):
    """A command line that does not compose: one line from ``explain``."""


def _sweep_variants(overrides: Sequence[str]) -> List[List[str]]:
    """Single-run override lists that together try every value of a ``key=a,b,c`` sweep once
    (lists ``[..]``, dicts and quoted values are single values)."""
    first, alternatives = [], []
    for i, o in enumerate(overrides):
        k, eq, v = o.partition("=")
        values = v.split(",") if eq and "," in v and v[:1] not in "[{('\"" else [v]
        first.append(f"{k}={values[0]}" if eq else o)
        alternatives += [(i, f"{k}={x}") for x in values[1:]]
    variants = [first]
    for i, alt in alternatives:
        variants.append(first[:i] + [alt] + first[i + 1:])
    return variants


def check_command_line(args: Sequence[str], config_name: str,
                       config_dir: Optional[str] = None) -> None:
    """Compose ``args`` once (each value of a multirun sweep once) and raise ``ConfigError``
    with one line when they do not compose. Hydra's own flags and ``hydra.*`` overrides are
    left to Hydra."""
    import yaml
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException
    from .store import compose
    if any(a.split("=")[0] in _LEFT_TO_HYDRA for a in args):
        return  # another config, help, info, completion, rerun: Hydra's own business
    text = positional_error(args, config_name, config_dir)
    if text:
        raise ConfigError(text)
    plain = [a for a in _overrides(args) if not a.lstrip("+~").startswith("hydra")]
    for overrides in _sweep_variants(plain)[:64]:
        try:
            compose(overrides, config_name, config_dir)
        except (HydraException, OmegaConfBaseException) as e:
            raise ConfigError(explain(e, overrides, config_name, config_dir)) from None
        except yaml.YAMLError as e:
            text = " ".join(ln.strip() for ln in str(e).splitlines() if ln.strip())
            raise ConfigError(f"a config file is not valid YAML: {text}") from None
