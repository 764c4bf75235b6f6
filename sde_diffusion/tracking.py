"""Experiment tracking: wandb (offline by default) or nothing; failures never stop training.

``conf/logger/*.yaml`` names a tracker class as ``_target_``; the trainer instantiates it with
``run_dir``, the resolved ``config`` and a ``run_id`` to resume. Rules (each a known pitfall):

- offline unless told otherwise, never a login prompt: ``mode`` defaults to "offline", the
  ``WANDB_MODE`` environment variable wins over it, and "online" without an API key
  (``WANDB_API_KEY`` or a netrc entry) falls back to offline with a warning;
- "online" without network: a TCP probe of the wandb host waits at most ``network_timeout``
  seconds (default 3), then the run logs offline with a warning (no 90 s stall);
- wandb's console banners are off (``quiet=True``); one log line says where the run lives;
- unknown constructor keywords raise ``TypeError`` (nothing is swallowed silently);
- wandb's files go inside the run's (Hydra) output directory;
- one wandb run per Hydra job (``reinit``), grouped by sweep in multirun, ended with
  ``finish(exit_code=...)``; the config is logged as ``OmegaConf.to_container(resolve=True)``;
- any exception inside the tracker becomes one warning and disables the tracker;
- a resumed offline run is a second *fragment*: wandb writes one folder per process
  (``wandb/offline-run-<time>-<id>``, its transaction log append-only and never reopened),
  so a run resumed from a checkpoint has one folder per segment, all with the checkpoint's id.
  ``wandb sync <run_dir>/wandb`` uploads the fragments of one id in start-time order as one
  run; the resume logs which fragment this is (``offline_fragments`` lists them).
"""
from __future__ import annotations

import functools
import logging
import os
import re
import socket
import warnings
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional
from .registry import register

__all__ = ["Tracker", "NullTracker", "WandbTracker", "wandb_reachable", "offline_fragments"]

log = logging.getLogger(__name__)


class Tracker:
    """Interface (and no-op implementation) of an experiment tracker."""

    run_id: str = ""

    def log(self, metrics: Dict[str, float], step: int) -> None:
        """Log scalar metrics at an optimiser step."""

    def log_image(self, key: str, path: str, step: int, caption: Optional[str] = None) -> None:
        """Log an image file (sample grid or scatter plot)."""

    def summary(self, metrics: Dict[str, Any]) -> None:
        """Record final metrics."""

    def finish(self, exit_code: int = 0) -> None:
        """End the run (0 = success)."""


@register("tracker", "sde_diffusion.tracking.NullTracker")
class NullTracker(Tracker):
    """``logger=none``: records nothing."""

    def __init__(self, *, run_dir: Optional[str] = None, run_config: Any = None,
                 run_id: Optional[str] = None, default_group: Optional[str] = None):
        pass


def _has_wandb_key() -> bool:
    if os.environ.get("WANDB_API_KEY"):
        return True
    netrc = Path(os.environ.get("NETRC", Path.home() / ".netrc"))
    try:
        return "api.wandb.ai" in netrc.read_text()
    except OSError:
        return False


def wandb_reachable(timeout: float = 3.0, host: Optional[str] = None) -> bool:
    """Whether a TCP connection to the wandb server opens within ``timeout`` seconds."""
    from urllib.parse import urlparse
    url = urlparse(host or os.environ.get("WANDB_BASE_URL") or "https://api.wandb.ai")
    try:
        with socket.create_connection((url.hostname, url.port or (443 if url.scheme == "https" else 80)),
                                      timeout=timeout):
            return True
    except OSError:
        return False


def offline_fragments(run_dir: str, run_id: str) -> List[Path]:
    """The offline folders of wandb run ``run_id`` under ``<run_dir>/wandb``, oldest first.

    Folder names are ``offline-run-<YYYYmmdd_HHMMSS>-<id>[-<k>]`` (``k`` when two start in the
    same second), so the name order is the start order that ``wandb sync`` uploads them in.
    """
    pattern = re.compile(rf"^offline-run-\d{{8}}_\d{{6}}-{re.escape(str(run_id))}(-(\d+))?$")
    root = Path(run_dir) / "wandb"
    if not root.is_dir():
        return []
    found = [(p.name.split("-")[2], int(m.group(2) or 0), p) for p in root.iterdir()
             if (m := pattern.match(p.name)) and p.is_dir()]
    return [p for _, _, p in sorted(found)]


def _guarded(method):
    """Run a tracker method; on any exception warn once, disable the tracker, carry on."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        if self._run is None:
            return None
        try:
            return method(self, *args, **kwargs)
        except Exception as e:  # the tracker must never stop training
            self._fail(f"{method.__name__}: {type(e).__name__}: {e}")
            return None

    return wrapper


@register("tracker", "sde_diffusion.tracking.WandbTracker")
class WandbTracker(Tracker):
    """A wandb run stored under ``<run_dir>/wandb``.

    Args:
        project, entity, group, tags, name, notes: passed to ``wandb.init``; ``group`` defaults
            to ``default_group`` (the trainer passes the Hydra sweep directory in multirun).
        mode: "offline" (default), "online" or "disabled"; the ``WANDB_MODE`` env var wins.
        run_dir: the run's output directory. run_config: the resolved config (a plain dict).
        run_id: an existing run id to resume (from a checkpoint).
        quiet: wandb's console banners off (one log line says where the run lives).
        network_timeout: seconds to wait for the wandb server in "online" mode before
            falling back to offline.
    """

    def __init__(self, project: str = "sde_diffusion", entity: Optional[str] = None,
                 mode: str = "offline", group: Optional[str] = None, tags: Iterable[str] = (),
                 name: Optional[str] = None, notes: Optional[str] = None, *, run_dir: str = ".",
                 run_config: Any = None, run_id: Optional[str] = None,
                 default_group: Optional[str] = None, quiet: bool = True,
                 network_timeout: float = 3.0):
        self._run = None
        self._warned = False
        mode = os.environ.get("WANDB_MODE") or mode
        if mode not in ("offline", "online", "disabled", "dryrun", "run"):
            warnings.warn(f"unknown wandb mode {mode!r}; valid choices: 'offline', 'online', "
                          f"'disabled'. Using 'offline'.", RuntimeWarning, stacklevel=2)
            mode = "offline"
        if mode in ("online", "run") and not _has_wandb_key():
            warnings.warn("wandb mode 'online' but no API key (WANDB_API_KEY or ~/.netrc): "
                          "logging offline instead; `wandb sync` the run later", RuntimeWarning,
                          stacklevel=2)
            mode = "offline"
        if mode in ("online", "run") and not wandb_reachable(network_timeout):
            warnings.warn(f"wandb mode 'online' but the wandb server is unreachable within "
                          f"{network_timeout:g} s: logging offline instead; `wandb sync` the run "
                          f"later", RuntimeWarning, stacklevel=2)
            mode = "offline"
        if quiet:
            os.environ.setdefault("WANDB_SILENT", "true")
            os.environ.setdefault("WANDB_CONSOLE", "off")
        try:
            import wandb
            config = run_config
            if config is not None and not isinstance(config, dict):
                raise TypeError(f"run_config must be a plain dict, got {type(config).__name__}")
            Path(run_dir).mkdir(parents=True, exist_ok=True)
            self._wandb = wandb
            settings = wandb.Settings(silent=bool(quiet), console="off" if quiet else "auto",
                                      init_timeout=max(5.0, 3 * float(network_timeout)))
            self._run = wandb.init(
                project=project, entity=entity, group=group or default_group, tags=list(tags),
                name=name, notes=notes, config=config, dir=str(run_dir), mode=mode,
                id=run_id or None, resume="allow" if run_id else None,
                reinit="finish_previous", job_type="train", settings=settings)
            self.run_id = str(getattr(self._run, "id", "") or "")
            where = getattr(self._run, "url", None) if mode in ("online", "run") else None
            log.info("wandb run %s (%s): %s", self.run_id, mode, where or f"{run_dir}/wandb")
            if run_id and mode in ("offline", "dryrun"):
                k = len(offline_fragments(run_dir, self.run_id))
                log.info("wandb run %s resumed offline: fragment %d (one folder per process); "
                         "`wandb sync %s` uploads its fragments in start order as one run",
                         self.run_id, k, Path(run_dir) / "wandb")
        except Exception as e:
            self._fail(f"init: {type(e).__name__}: {e}")

    def _fail(self, why: str) -> None:
        if not self._warned:
            warnings.warn(f"wandb tracker failed ({why}); training continues without tracking",
                          RuntimeWarning, stacklevel=3)
            self._warned = True
        run, self._run = self._run, None
        if run is not None:
            try:
                run.finish(exit_code=1, quiet=True)
            except Exception:
                pass

    @property
    def active(self) -> bool:
        return self._run is not None

    @_guarded
    def log(self, metrics: Dict[str, float], step: int) -> None:
        self._run.log(dict(metrics), step=int(step))

    @_guarded
    def log_image(self, key: str, path: str, step: int, caption: Optional[str] = None) -> None:
        self._run.log({key: self._wandb.Image(str(path), caption=caption)}, step=int(step))

    @_guarded
    def summary(self, metrics: Dict[str, Any]) -> None:
        for k, v in metrics.items():
            self._run.summary[k] = v

    @_guarded
    def finish(self, exit_code: int = 0) -> None:
        run, self._run = self._run, None
        run.finish(exit_code=int(exit_code))
