"""Text files, folders and failed writes of the persistence layer.

- ``read_text``: the UTF-8 text of a regular file (``weights_file.open_regular``: a FIFO or
  ``/dev/zero`` cannot hang it), at most ``LIMITS.max_text_bytes``.
- ``inside``: whether a path, links resolved, stays inside a folder.
- ``disk_full`` / ``write_error``: torch replaces ENOSPC by its own message and keeps the
  ``OSError`` on ``__context__``; the whole chain is searched so a full disk is one clear line.
"""
from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Iterator, Optional, Union

from ..contract import LIMITS
from ..weights_file import UnsafeFileError, open_regular

__all__ = ["read_text", "disk_full", "write_error", "inside"]

PathLike = Union[str, Path]


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
