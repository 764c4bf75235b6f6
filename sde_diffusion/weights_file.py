"""Reading a weights file that someone else made: ``load_weights(path, what)``.

One reader for every weights file the package opens (model folders, diffusers UNets, the
Inception feature network). It imports only ``contract``, so ``models/`` can use it without the
persistence package. A file is refused, with one line naming it, unless

- it is a regular file (links followed) of at most ``LIMITS.max_file_bytes``: the type comes
  from ``fstat`` of a descriptor opened non-blocking, so a FIFO or ``/dev/zero`` cannot hang;
- it is a safetensors file (by its ``.safetensors`` name) or a state dict that
  ``torch.load(weights_only=True)`` reads, so no pickled code runs;
- every tensor is dense and contiguous inside its storage (``check_storages``): a 4-byte storage
  expanded with a zero stride to 2e10 elements is refused before anything allocates.

``check_state_fits`` / ``check_finite_state`` then compare the weights with the network they
are for (built on the meta device, so a config cannot make the caller allocate).
"""
from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any, BinaryIO, Dict, Iterator, Mapping, Tuple, Type, Union

import torch

from .contract import LIMITS

__all__ = ["UnsafeFileError", "NonFiniteWeightsError", "open_regular", "load_weights",
           "iter_tensors", "check_storages", "check_state_fits", "check_finite_state"]

PathLike = Union[str, Path]
_KINDS = ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a directory"))


class UnsafeFileError(ValueError):
    """A file that is not a regular file, is too large, or holds tensors that are not plain."""


class NonFiniteWeightsError(ValueError):
    """A checkpoint or model folder holds NaN or infinite weights."""


def _kind(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def open_regular(path: PathLike, what: str, limit_name: str = "max_file_bytes") -> BinaryIO:
    """``path`` opened for binary reading, if it is a regular file (links followed) of at most
    ``LIMITS.<limit_name>`` bytes; else ``UnsafeFileError`` naming what it is.
    ``FileNotFoundError`` if it does not exist."""
    p = Path(path)
    limit = getattr(LIMITS, limit_name)
    try:
        fd = os.open(p, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        link = f" (a link to {os.readlink(p)!r}, which does not exist)" if p.is_symlink() else ""
        raise FileNotFoundError(f"{what} {str(p)!r} does not exist{link}") from None
    except IsADirectoryError:
        raise UnsafeFileError(f"{what} {str(p)!r} is a directory, not a file") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            target = f" (a link to {os.path.realpath(p)!r})" if p.is_symlink() else ""
            raise UnsafeFileError(f"{what} {str(p)!r}{target} is {_kind(st.st_mode)}, not a "
                                  f"regular file; refusing to read it")
        if st.st_size > limit:
            raise UnsafeFileError(f"{what} {str(p)!r} has {st.st_size} bytes, over the limit "
                                  f"{limit}; raise it with {LIMITS.env(limit_name)}")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def load_weights(path: PathLike, what: str = "weights file",
                 error: Type[Exception] = ValueError) -> Dict[str, torch.Tensor]:
    """The state dict ``{name: tensor}`` (on the CPU) stored in ``path``: safetensors when the
    name ends in ``.safetensors``, else ``torch.load(weights_only=True)``.

    Raises ``FileNotFoundError`` (missing), ``UnsafeFileError`` (not a regular file, over
    ``LIMITS.max_file_bytes``, a tensor that is not plain) and ``error`` (the caller's class) for
    a file that is corrupt, pickles anything but tensors, or does not hold a dict.
    """
    p = Path(path)
    safetensors = p.suffix == ".safetensors"
    with open_regular(p, what) as fh:
        try:
            if safetensors:  # checked above, then mapped by name (no second copy in memory)
                from safetensors.torch import load_file
                state = load_file(str(p), device="cpu")
            else:
                state = torch.load(fh, map_location="cpu", weights_only=True)
        except ImportError:
            raise ImportError(f"{what} {str(p)!r} needs the 'safetensors' package "
                              f"(pip install safetensors)") from None
        except Exception as e:  # truncated file, disallowed global in the pickle, bad header
            form = "a valid safetensors file" if safetensors else "a weights-only state dict"
            raise error(f"{what} {str(p)!r} is corrupt or unreadable ({type(e).__name__}): not "
                        f"{form}") from None
    if not isinstance(state, dict):
        raise error(f"{what} {str(p)!r} holds a {type(state).__name__}, not a state dict")
    check_storages(state, f"{what} {str(p)!r}")
    return state


# ------------------------------------------------------------------------------- tensors
def iter_tensors(obj: Any, prefix: str = "") -> Iterator[Tuple[str, torch.Tensor]]:
    """(key path, tensor) for every tensor in nested dicts / lists / tuples."""
    if isinstance(obj, torch.Tensor):
        yield prefix, obj
    elif isinstance(obj, Mapping):
        for k, v in obj.items():
            yield from iter_tensors(v, f"{prefix}.{k}" if prefix else str(k))
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            yield from iter_tensors(v, f"{prefix}[{i}]")


def check_storages(obj: Any, where: str) -> None:
    """``UnsafeFileError`` for the first tensor that is not dense and contiguous (expanded with
    a zero stride, or overlapping itself) or that reaches past its storage. Metadata only:
    nothing is allocated."""
    for name, t in iter_tensors(obj):
        if t.numel() <= 1:
            continue
        if not t.is_contiguous():
            zero = any(s == 0 and n > 1 for s, n in zip(t.stride(), t.shape))
            why = "expanded (a zero stride)" if zero else "not contiguous (strides overlap or skip)"
            raise UnsafeFileError(f"{where}: tensor {name!r} of shape {tuple(t.shape)} is {why}; "
                                  f"a saved tensor must be a plain dense array")
        need = (t.storage_offset() + t.numel()) * t.element_size()
        if need > t.untyped_storage().nbytes():
            raise UnsafeFileError(f"{where}: tensor {name!r} reaches past its storage "
                                  f"({need} > {t.untyped_storage().nbytes()} bytes)")


def check_finite_state(state_dict: Mapping[str, Any], where: str) -> None:
    """``NonFiniteWeightsError`` naming the first tensor with a NaN or inf entry."""
    for k, v in state_dict.items():
        if isinstance(v, torch.Tensor) and v.is_floating_point() and not bool(torch.isfinite(v).all()):
            n_bad = int((~torch.isfinite(v)).sum())
            raise NonFiniteWeightsError(f"{where}: weight {k!r} has {n_bad} non-finite (NaN/inf) "
                                        f"values of {v.numel()}; the run diverged, use an earlier "
                                        f"checkpoint")


def check_state_fits(model: torch.nn.Module, state_dict: Mapping[str, Any], where: str) -> None:
    """``ValueError`` naming missing/unexpected keys, the first shape mismatch, or a floating
    weight stored with a non-floating dtype, between the stored weights and ``model`` (which
    may live on the meta device)."""
    own = model.state_dict()
    missing = [k for k in own if k not in state_dict]
    extra = [k for k in state_dict if k not in own]
    if missing or extra:
        raise ValueError(f"{where}: the weights do not match the network built from its config "
                         f"(missing {missing[:3]}{'...' if len(missing) > 3 else ''}, unexpected "
                         f"{extra[:3]}{'...' if len(extra) > 3 else ''})")
    for k, v in own.items():
        w = state_dict[k]
        if not isinstance(w, torch.Tensor) or tuple(w.shape) != tuple(v.shape):
            got = tuple(w.shape) if isinstance(w, torch.Tensor) else type(w).__name__
            raise ValueError(f"{where}: weight {k!r} has shape {got} but the network built from "
                             f"its config expects {tuple(v.shape)}; the config and weights disagree")
        if v.is_floating_point() != w.is_floating_point() or (not v.is_floating_point() and w.dtype != v.dtype):
            raise ValueError(f"{where}: weight {k!r} is stored as {w.dtype} but the network expects "
                             f"{v.dtype}; refusing to convert it")
