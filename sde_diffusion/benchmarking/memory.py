"""Peak memory of a block of code (CUDA allocator peak, or the CPU process's resident set)."""
from __future__ import annotations

import os
import threading
from typing import Optional

import torch

__all__ = ["PeakMemory"]


class PeakMemory:
    """Peak memory of a block, in bytes above the level at entry.

    CUDA: ``torch.cuda.max_memory_allocated`` (tensors only). CPU: the process's resident set
    size: on Linux the kernel's high-water mark ``VmHWM``, reset at entry through
    ``/proc/self/clear_refs`` (exact, even for peaks shorter than any sampling interval or
    while a loaded machine starves the sampling thread), together with samples every
    ``interval`` s by a thread (``/proc/self/statm``; the only source where the reset is
    refused); elsewhere the growth of ``ru_maxrss``. It covers torch, numpy and Python
    allocations alike, to within what the allocator returns to the system.
    """

    def __init__(self, device: torch.device, interval: float = 0.002):
        self.device = torch.device(device)
        self.interval = interval
        self.peak = 0

    @staticmethod
    def _reset_hwm() -> bool:
        """Reset the process's peak resident set (Linux >= 4.0); False where refused."""
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
            return True
        except OSError:
            return False

    @staticmethod
    def _hwm() -> Optional[int]:
        """``VmHWM`` of ``/proc/self/status`` in bytes, or None."""
        try:
            with open("/proc/self/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1]) * 1024
        except (OSError, ValueError, IndexError):
            return None
        return None

    @staticmethod
    def _rss() -> Optional[int]:
        try:
            with open("/proc/self/statm") as f:
                return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError, IndexError):
            return None

    def __enter__(self) -> "PeakMemory":
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self._start = torch.cuda.memory_allocated(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            return self
        self._start = self._rss()
        if self._start is None:  # no /proc: high-water mark of the process
            import resource
            self._start_maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
            return self
        self._max = self._start
        self._hwm_reset = self._reset_hwm()
        self._stop = threading.Event()

        def poll():
            while not self._stop.is_set():
                r = self._rss()
                if r is not None and r > self._max:
                    self._max = r
                self._stop.wait(self.interval)

        self._thread = threading.Thread(target=poll, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.peak = int(torch.cuda.max_memory_allocated(self.device) - self._start)
            return
        if self._start is None:
            import resource
            self.peak = max(0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
                            - self._start_maxrss)
            return
        self._stop.set()
        self._thread.join()
        r = self._rss()
        self._max = max(self._max, r or 0)
        if self._hwm_reset:
            self._max = max(self._max, self._hwm() or 0)
        self.peak = int(self._max - self._start)
