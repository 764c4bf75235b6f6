"""A run's data set, rebuilt from its stored data config through the allow-list, reading only
inside the run folder or a folder the user names on the command line.

A stored config is untrusted: it never downloads (``download`` forced false), and every path it
names (arguments called ``path``, ``root``, ``dir``, ``folder``, ``file`` or ending in ``_path``,
``_root``, ``_dir``) must resolve, links followed, inside the run folder or inside a folder given
on the command line as ``data_root=<folder>``. ``image_folder(path=/usr)`` in a run someone sent
you is refused before anything is listed or decoded.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional, Sequence, Union

from .. import data as _data  # noqa: F401  (registers the data sets a run config names)
from .. import registry
from .folders import OutsideRunError, inside

__all__ = ["build_run_data", "check_data_paths", "path_arguments"]

PathLike = Union[str, Path]
_PATH_NAMES = ("path", "root", "dir", "folder", "file")
_PATH_ENDS = ("_path", "_root", "_dir")


def path_arguments(node: Mapping[str, Any]) -> dict:
    """The arguments of a data config that name files or folders: ``{key: value}``."""
    return {k: v for k, v in node.items() if isinstance(k, str) and not k.startswith("_")
            and (k in _PATH_NAMES or k.endswith(_PATH_ENDS))}


def check_data_paths(node: Mapping[str, Any], key: str, run_dir: Optional[PathLike],
                     allowed: Iterable[PathLike] = ()) -> None:
    """``OutsideRunError`` unless every path argument of ``node`` resolves inside ``run_dir`` or
    one of ``allowed`` (relative paths against the current folder, ``~`` expanded, as the data
    set would read them)."""
    roots = [Path(r) for r in ([run_dir] if run_dir is not None else []) + list(allowed)]
    for k, v in path_arguments(node).items():
        if not isinstance(v, (str, os.PathLike)):
            raise TypeError(f"{key}.{k} must be a path, got {type(v).__name__}")
        target = os.path.expanduser(os.fspath(v))
        if any(inside(r, target) for r in roots):
            continue
        where = f"the run folder {str(run_dir)!r}" if run_dir is not None else "no folder"
        raise OutsideRunError(
            f"{key}.{k}={os.fspath(v)!r} stored in the run points outside {where}; it is not "
            f"read. If you trust it, name the folder on the command line: data_root={target}")


def build_run_data(node: Any, key: str = "data", shape: Optional[Sequence[int]] = None,
                   trusted: bool = False, run_dir: Optional[PathLike] = None,
                   data_root: Optional[PathLike] = None):
    """A data set from a data config (allow-listed data targets only).

    ``trusted=False`` (a config read from a run): no download, and its paths confined to
    ``run_dir`` or ``data_root`` (see the module docstring). ``shape``: the model's per-sample
    shape; ``ValueError`` if the data's differs."""
    if not isinstance(node, Mapping) or "_target_" not in node:
        raise ValueError(f"{key} must be a data config with a _target_, got {node!r}")
    target = node["_target_"]
    registry.check_spec(node, key)
    if registry.kind_of(target) != "data":
        raise registry.RegistryError(f"{key}._target_={target!r} is not a data set; valid: "
                                     f"{', '.join(registry.MODEL_TARGETS['data'])}")
    if not trusted:
        check_data_paths(node, key, run_dir, [data_root] if data_root else [])
        if node.get("download"):
            node = {**node, "download": False}
    data = registry.build(node, path=key)
    if shape is not None and list(data.data_shape) != list(shape):
        raise ValueError(f"data {data.name!r} has per-sample shape {list(data.data_shape)}, the model "
                         f"was trained on shape {list(shape)}")
    return data
