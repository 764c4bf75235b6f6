"""Reading and writing files that someone else may have made.

- ``open_regular`` / ``read_text``: only regular files are opened (a FIFO would block for ever,
  ``/dev/zero`` never ends); the type is taken from ``fstat`` of the opened descriptor, which
  was opened non-blocking, so neither can hang; sizes are bounded by ``contract.LIMITS``.
- ``check_storages``: a tensor from a file must be dense and contiguous with a storage that
  holds it, so a 4-byte storage expanded (stride 0) to 2e10 elements is refused before any
  operation on it allocates.
- ``disk_full`` / ``write_error``: torch replaces ENOSPC by its own message and keeps the
  ``OSError`` on ``__context__``; the whole chain is searched so a full disk is one clear line.
"""
from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import Any, BinaryIO, Iterator, Mapping, Optional, Tuple, Union

import torch

from ..contract import LIMITS

__all__ = ["UnsafeFileError", "open_regular", "read_text", "check_storages", "iter_tensors",
           "disk_full", "write_error", "inside"]

PathLike = Union[str, Path]
_KINDS = ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a directory"))


class UnsafeFileError(ValueError):
    """A file that is not a regular file, is too large, or holds tensors that are not plain."""


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


def read_text(path: PathLike, what: str) -> str:
    """The UTF-8 text of a regular file of at most ``LIMITS.max_text_bytes``."""
    try:
        with open_regular(path, what, "max_text_bytes") as fh:
            return fh.read(LIMITS.max_text_bytes + 1).decode("utf-8")
    except UnicodeDecodeError:
        raise UnsafeFileError(f"{what} {str(path)!r} is not UTF-8 text") from None


def inside(path: PathLike, root: PathLike) -> bool:
    """Whether ``path`` (links resolved) lies inside ``root`` (links resolved)."""
    try:
        Path(os.path.realpath(path)).relative_to(os.path.realpath(root))
        return True
    except ValueError:
        return False


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


# ------------------------------------------------------------------------------- writing
_FULL = (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))


def _chain(e: Optional[BaseException]) -> Iterator[BaseException]:
    seen = set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        yield e
        e = e.__cause__ or e.__context__


def disk_full(e: BaseException) -> bool:
    """Whether ENOSPC / EDQUOT is anywhere on ``e``'s cause / context chain."""
    return any(isinstance(x, OSError) and x.errno in _FULL for x in _chain(e))


def write_error(e: BaseException) -> Optional[str]:
    """The reason to show for a failed write, or None when ``e`` is not a write failure:
    "no space left on the device" for a full disk anywhere on the chain, the ``strerror``
    of an ``OSError``, the first line of torch's writer error."""
    if disk_full(e):
        return "No space left on device (disk or quota full)"
    for x in _chain(e):
        if isinstance(x, OSError):
            return x.strerror or str(x).splitlines()[0]
    text = str(e).splitlines()[0] if str(e) else ""
    if isinstance(e, RuntimeError) and ("write" in text.lower() or "inline_container" in text):
        return text
    return None
