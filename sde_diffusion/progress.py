"""Progress of a long job, on a terminal and off it.

    with progress(total=1000, desc="sample") as bar:
        for _ in range(1000):
            ...
            bar.update(1)

On a terminal (stderr is a tty): a tqdm bar. Off it (a log file, a batch job, CI): one line on
stderr every ``every`` seconds (default 30, ``$SDE_DIFFUSION_PROGRESS_EVERY``), plus a final
line when the job took longer than that::

    sample: 400/1000 (40%) 12s elapsed, ETA 18s

with ETA = elapsed * (total - done) / done. ``enabled=False`` (or ``$SDE_DIFFUSION_PROGRESS=0``)
shows nothing; ``enabled=True`` forces tqdm even off a terminal. ``total=None``: counts without
an ETA (adaptive solvers, whose number of steps is not known in advance).
"""
from __future__ import annotations

import math
import os
import sys
import time
from typing import Optional, TextIO

__all__ = ["progress", "Progress", "LineProgress", "format_seconds", "EVERY_ENV", "DISABLE_ENV"]

EVERY_ENV = "SDE_DIFFUSION_PROGRESS_EVERY"
DISABLE_ENV = "SDE_DIFFUSION_PROGRESS"
DEFAULT_EVERY = 30.0


def format_seconds(s: float) -> str:
    """``42s``, ``3m05s``, ``2h07m``."""
    if not math.isfinite(s):
        return "?"
    s = max(0, int(round(s)))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


class Progress:
    """No-op progress (``enabled=False``): the interface every kind shares (``n``: units done)."""

    n = 0

    def update(self, n: int = 1) -> None:
        self.n += n

    def set_postfix(self, **values) -> None:
        """Short values shown after the count (``loss=0.41``)."""

    def close(self) -> None:
        pass

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class LineProgress(Progress):
    """One line ``desc: done/total (pct) elapsed, ETA`` every ``every`` seconds on ``stream``."""

    def __init__(self, total: Optional[int], desc: str, every: float, initial: int = 0,
                 unit: str = "", stream: Optional[TextIO] = None, clock=time.monotonic):
        self.total, self.desc, self.every, self.unit = total, desc, every, unit
        self.done = self.initial = initial
        self.stream = stream if stream is not None else sys.stderr
        self.clock = clock
        self.start = self.last = clock()
        self.printed = False
        self.postfix = ""

    @property
    def n(self) -> int:
        return self.done

    def set_postfix(self, **values) -> None:
        values.pop("refresh", None)
        self.postfix = ", ".join(f"{k}={v}" for k, v in values.items())

    def line(self) -> str:
        elapsed = self.clock() - self.start
        unit = f" {self.unit}" if self.unit else ""
        post = f" [{self.postfix}]" if self.postfix else ""
        if not self.total:
            return f"{self.desc}: {self.done}{unit} {format_seconds(elapsed)} elapsed{post}"
        new = self.done - self.initial
        eta = elapsed * (self.total - self.done) / new if new > 0 else float("inf")
        pct = 100.0 * self.done / self.total
        return (f"{self.desc}: {self.done}/{self.total}{unit} ({pct:.0f}%) "
                f"{format_seconds(elapsed)} elapsed, ETA {format_seconds(eta)}{post}")

    def _emit(self) -> None:
        print(self.line(), file=self.stream, flush=True)
        self.last, self.printed = self.clock(), True

    def update(self, n: int = 1) -> None:
        self.done += n
        if self.clock() - self.last >= self.every:
            self._emit()

    def close(self) -> None:
        if self.printed and self.clock() > self.last:  # the last word on a job that spoke
            self._emit()
        self.printed = False


class _Tqdm(Progress):
    def __init__(self, total, desc, initial, unit, leave):
        from tqdm.auto import tqdm
        self.bar = tqdm(total=total, desc=desc, initial=initial, unit=unit or "it",
                        dynamic_ncols=True, leave=leave)

    def update(self, n: int = 1) -> None:
        self.bar.update(n)

    @property
    def n(self) -> int:
        return self.bar.n

    def set_postfix(self, **values) -> None:
        self.bar.set_postfix(**values)

    def close(self) -> None:
        self.bar.close()


def _on_terminal(stream: Optional[TextIO] = None) -> bool:
    stream = sys.stderr if stream is None else stream
    return bool(getattr(stream, "isatty", None) and stream.isatty())


def progress(total: Optional[int] = None, desc: str = "", enabled: Optional[bool] = None,
             every: Optional[float] = None, initial: int = 0, unit: str = "",
             leave: bool = False) -> Progress:
    """A progress display for a job of ``total`` units (see the module docstring).

    Args:
        total: units of work (steps, batches, jobs); None if unknown.
        desc: a short name printed first (``train``, ``sample``, ``likelihood``, ``job``).
        enabled: True = tqdm bar; False = nothing; None = tqdm on a terminal, else periodic
            lines (nothing when ``$SDE_DIFFUSION_PROGRESS=0``).
        every: seconds between lines off a terminal (default ``$SDE_DIFFUSION_PROGRESS_EVERY``
            or 30).
        initial: units already done (a resumed run).
    """
    if enabled is False or (enabled is None and os.environ.get(DISABLE_ENV) == "0"):
        return Progress()
    if enabled is True or _on_terminal():
        return _Tqdm(total, desc, initial, unit, leave)
    if every is None:
        raw = os.environ.get(EVERY_ENV)
        try:
            every = float(raw) if raw else DEFAULT_EVERY
        except ValueError:
            raise ValueError(f"{EVERY_ENV}={raw!r} is not a number of seconds") from None
    if not math.isfinite(every) or every < 0:
        raise ValueError(f"progress every={every!r}: must be a finite number of seconds >= 0")
    return LineProgress(total, desc, every, initial, unit)
