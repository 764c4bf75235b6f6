"""How many CPU threads torch should use, decided once at start-up.

The default is the number of CPUs this process may run on divided by the jobs that a local
launcher runs at the same time:

    cpus    = SLURM_CPUS_PER_TASK if set, else len(os.sched_getaffinity(0)), else os.cpu_count()
    threads = max(1, min(cpus // jobs, cpus - floor(load)))
              jobs = concurrent jobs of a local (joblib) launcher, else 1;
              load = the 1-minute load average at start-up (other processes' busy CPUs)

An explicit ``num_threads`` wins; otherwise a user's ``OMP_NUM_THREADS`` is respected as it is
(it is the standard way to say "this many", and torch reads it too), and so is a
``torch.set_num_threads`` the user called after importing sde_diffusion.

Every entry point (the scripts, ``Trainer``, ``sample``, ``log_likelihood``, the benchmark)
calls ``use_thread_plan()``: the first call in a process decides, applies and logs the plan;
later calls return it. A thread that waits for a busy core slows every step (two torch threads
on a loaded two-core machine ran 8x slower than one), so the automatic count never exceeds the
CPUs that other processes leave free.
"""
from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from typing import Mapping, Optional

import torch

__all__ = ["ThreadPlan", "available_cpus", "resolve_num_threads", "apply_num_threads",
           "use_thread_plan", "current_plan", "LAUNCHER_JOBS_ENV"]

log = logging.getLogger(__name__)
LAUNCHER_JOBS_ENV = "SDE_DIFFUSION_PARALLEL_JOBS"  # set by scripts for a local multirun launcher


@dataclass(frozen=True)
class ThreadPlan:
    """The decision and its reasons (logged at start-up)."""
    threads: int
    cpus: int
    jobs: int
    source: str  # "setting", "OMP_NUM_THREADS", "torch.set_num_threads", "SLURM_CPUS_PER_TASK",
    #              "affinity", "cpu_count"
    load: Optional[float] = None  # load average that lowered the automatic count, if it did

    def describe(self) -> str:
        if self.source in ("setting", "OMP_NUM_THREADS", "torch.set_num_threads"):
            what = "num_threads" if self.source == "setting" else self.source
            return f"torch threads: {self.threads} ({what}; {self.cpus} CPUs available)"
        busy = (f", lowered because the load average {self.load:.1f} leaves only {self.threads} "
                f"CPU(s) free" if self.load is not None else "")
        return (f"torch threads: {self.threads} = {self.cpus} CPUs ({self.source}) // {self.jobs} "
                f"concurrent job(s){busy}")


def _positive_int(value, what: str) -> int:
    if isinstance(value, bool):
        raise TypeError(f"{what} must be a positive integer, got {value!r}")
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a positive integer, got {value!r}") from None
    if n != float(value) or n < 1:
        raise ValueError(f"{what} must be a positive integer, got {value!r}")
    return n


def available_cpus(env: Optional[Mapping[str, str]] = None) -> tuple:
    """(cpus, source): the CPUs this process may use (SLURM allocation, affinity mask, count)."""
    env = os.environ if env is None else env
    slurm = env.get("SLURM_CPUS_PER_TASK")
    if slurm:
        return _positive_int(slurm, "SLURM_CPUS_PER_TASK"), "SLURM_CPUS_PER_TASK"
    if hasattr(os, "sched_getaffinity"):
        try:
            return max(1, len(os.sched_getaffinity(0))), "affinity"
        except OSError:  # pragma: no cover - exotic kernels
            pass
    return max(1, os.cpu_count() or 1), "cpu_count"


def resolve_num_threads(setting: Optional[int] = None, jobs: Optional[int] = None,
                        env: Optional[Mapping[str, str]] = None,
                        load: Optional[float] = None) -> ThreadPlan:
    """The thread count for this process.

    Args:
        setting: an explicit count (``train.num_threads``); None or 0 = automatic.
        jobs: concurrent jobs of a local launcher; None = ``$SDE_DIFFUSION_PARALLEL_JOBS`` or 1.
            A negative value means "one job per CPU" (joblib's ``n_jobs=-1``).
        env: the environment to read (default ``os.environ``; tests pass a dict).
        load: the 1-minute load average before this process starts working (None: ignored).
            The automatic count never exceeds the CPUs other processes leave free, because a
            thread that waits for a busy core slows every step (two threads on a loaded 2-core
            machine ran 8x slower than one).
    """
    env = os.environ if env is None else env
    cpus, source = available_cpus(env)
    if jobs is None:
        jobs = _positive_int(env[LAUNCHER_JOBS_ENV], LAUNCHER_JOBS_ENV) if env.get(LAUNCHER_JOBS_ENV) else 1
    elif isinstance(jobs, bool) or not isinstance(jobs, int):
        raise TypeError(f"launcher jobs must be an int, got {jobs!r}")
    elif jobs < 0:
        jobs = cpus
    elif jobs == 0:
        raise ValueError("launcher jobs must be >= 1 (or -1 for one per CPU), got 0")
    if setting is not None and setting != 0:
        return ThreadPlan(_positive_int(setting, "num_threads"), cpus, jobs, "setting")
    if env.get("OMP_NUM_THREADS"):
        return ThreadPlan(_positive_int(env["OMP_NUM_THREADS"], "OMP_NUM_THREADS"), cpus, jobs,
                          "OMP_NUM_THREADS")
    threads = max(1, cpus // jobs)
    if load is not None and math.isfinite(load) and load >= 0:
        free = max(1, cpus - math.floor(load))
        if free < threads:
            return ThreadPlan(free, cpus, jobs, source, load)
    return ThreadPlan(threads, cpus, jobs, source)


def apply_num_threads(setting: Optional[int] = None, jobs: Optional[int] = None,
                      env: Optional[Mapping[str, str]] = None,
                      load: Optional[float] = None) -> ThreadPlan:
    """Resolve, ``torch.set_num_threads``, log the decision; a logged warning when oversubscribed.

    Oversubscribed: threads x jobs > CPUs, or the 1-minute load average (``load``; default
    ``os.getloadavg``) already exceeds the CPUs, so every extra thread waits for a core.
    """
    if load is None and hasattr(os, "getloadavg"):
        load = os.getloadavg()[0]
    plan = resolve_num_threads(setting, jobs, env, load)
    torch.set_num_threads(plan.threads)
    log.info("%s", plan.describe())
    if plan.threads * plan.jobs > plan.cpus:
        log.warning("%d threads x %d job(s) > %d CPUs: the machine is oversubscribed and every "
                    "job slows down; lower num_threads", plan.threads, plan.jobs, plan.cpus)
    elif load is not None and load > plan.cpus:
        log.warning("load average %.1f exceeds the %d CPUs this process may use: other processes "
                    "compete for them, expect slower steps", load, plan.cpus)
    return plan


_AT_IMPORT = torch.get_num_threads()  # torch's own count before anyone (user or plan) set it
_plan: Optional[ThreadPlan] = None


def current_plan() -> Optional[ThreadPlan]:
    """The plan applied in this process, or None before the first entry point ran."""
    return _plan


def use_thread_plan(setting: Optional[int] = None, jobs: Optional[int] = None) -> ThreadPlan:
    """The process's thread plan: decided, applied and logged by the first call, returned as it
    is by later ones. An explicit ``setting`` that differs from the applied count re-applies.

    The first automatic decision respects a ``torch.set_num_threads(n)`` the user called after
    importing sde_diffusion (source ``torch.set_num_threads``), then ``OMP_NUM_THREADS``, then
    CPUs // jobs lowered by the load average (``resolve_num_threads``)."""
    global _plan
    explicit = setting is not None and setting != 0
    if _plan is not None and (not explicit or _positive_int(setting, "num_threads") == _plan.threads):
        return _plan
    now = torch.get_num_threads()
    if _plan is None and not explicit and now != _AT_IMPORT and not os.environ.get("OMP_NUM_THREADS"):
        cpus, _ = available_cpus()
        _plan = ThreadPlan(now, cpus, 1, "torch.set_num_threads")
        log.info("%s", _plan.describe())
        return _plan
    _plan = apply_num_threads(setting, jobs)
    return _plan
