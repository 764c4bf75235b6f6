"""How scripts start: ``run_main`` (compose, validate, run; expected failures as one line) and
the torchrun argv handling (every rank runs Hydra in rank 0's output folder).

``run_main(task, config_name)`` composes ``conf/<config_name>.yaml`` with the command-line
overrides and calls ``task(cfg)``. Expected failures -- a bad or missing value, an unknown key,
unreadable YAML, a missing or corrupt run, weights that do not fit, NaN weights or samples, a
read-only or full disk -- print ONE line ``<prog>: error: <message>`` to stderr and exit with
status 2 (bad input) or 1 (failure while running); Ctrl-C exits 130. ``SDE_DEBUG=1`` re-raises
instead, with the traceback. Command lines with Hydra flags (``-m``, ``--cfg``, ``--help`` ...)
go through ``hydra.main`` unchanged, with the same guard around the task.
"""
from __future__ import annotations

import datetime as _dt
import errno
import logging
import os
import sys
from pathlib import Path
from typing import Any, Callable, List, NoReturn, Optional, Sequence

__all__ = ["run_main", "check_arguments", "guarded", "one_line_error", "hydra_ddp_argv",
           "check_run_names", "EXIT_BAD_INPUT", "EXIT_FAILED"]

EXIT_BAD_INPUT, EXIT_FAILED, EXIT_INTERRUPTED = 2, 1, 130


def _expected_types():
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException
    import yaml
    from ..registry import RegistryError
    from ..io.checkpoints import CheckpointError
    bad_input = (HydraException, OmegaConfBaseException, yaml.YAMLError, RegistryError,
                 ValueError, TypeError, FileNotFoundError, NotADirectoryError, IsADirectoryError,
                 CheckpointError, ImportError)
    failed = (FloatingPointError, PermissionError, OSError)
    return bad_input, failed


def one_line_error(e: BaseException) -> str:
    """``Type: message`` on one line (a config error explained by ``configs.errors``; other
    multi-line messages joined with ' | ')."""
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException
    if isinstance(e, (HydraException, OmegaConfBaseException)):
        from .errors import explain
        return f"ConfigError: {explain(e, [], '')}"
    if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EDQUOT):
        what = {errno.ENOSPC: "disk full", errno.EROFS: "read-only file system",
                errno.EACCES: "permission denied", errno.EDQUOT: "disk quota exceeded"}[e.errno]
        return f"{type(e).__name__}: {what}: {e.filename or e}"
    msg = " | ".join(line.strip() for line in str(e).splitlines() if line.strip())
    cause = e.__cause__ or (None if e.__suppress_context__ else e.__context__)
    if cause is not None and str(cause).strip() and str(cause).strip().splitlines()[0] not in msg:
        msg += " | " + str(cause).strip().splitlines()[0]  # Hydra wraps the informative error
    return f"{type(e).__name__}: {msg}" if msg else type(e).__name__


def _tell_thread_plan_the_jobs() -> None:
    """A local (joblib) multirun's concurrent jobs, for the thread plan that the first entry
    point (``sample``, ``log_likelihood``, ``Trainer``) applies after the input is checked."""
    from hydra.core.hydra_config import HydraConfig
    from ..threads import LAUNCHER_JOBS_ENV
    if HydraConfig.initialized():
        launcher = HydraConfig.get().launcher
        if "joblib" in str(launcher.get("_target_", "")):
            os.environ[LAUNCHER_JOBS_ENV] = str(int(launcher.get("n_jobs") or 1))


def guarded(task: Callable[[Any], Any], prog: str) -> Callable[[Any], Any]:
    """``task`` with the expected failures turned into one line on stderr and an exit status."""
    def run(cfg: Any) -> Any:
        if os.environ.get("SDE_DEBUG") == "1":
            _tell_thread_plan_the_jobs()
            return task(cfg)
        bad_input, failed = _expected_types()
        try:
            _tell_thread_plan_the_jobs()
            return task(cfg)
        except KeyboardInterrupt:
            print(f"{prog}: interrupted", file=sys.stderr, flush=True)
            sys.exit(EXIT_INTERRUPTED)
        except failed as e:  # before bad_input: FileNotFoundError is an OSError too
            if isinstance(e, (FileNotFoundError, NotADirectoryError, IsADirectoryError)):
                _die(prog, e, EXIT_BAD_INPUT)
            _die(prog, e, EXIT_FAILED)
        except bad_input as e:
            _die(prog, e, EXIT_BAD_INPUT)
    return run


def _die(prog: str, e: BaseException, code: int) -> NoReturn:
    print(f"{prog}: error: {one_line_error(e)}", file=sys.stderr, flush=True)
    sys.exit(code)


def check_arguments(args: Sequence[str], config_name: str, prog: str,
                    config_dir: Optional[str] = None) -> None:
    """Exit with one line and status 2 when the command line does not compose (a misspelt
    group option, key or value, a word without ``=``); see ``configs.errors``."""
    from .errors import check_command_line
    if os.environ.get("SDE_DEBUG") == "1":
        return check_command_line(args, config_name, config_dir)
    try:
        check_command_line(args, config_name, config_dir)
    except ValueError as e:
        _die(prog, e, EXIT_BAD_INPUT)


def run_main(task: Callable[[Any], Any], config_name: str, argv: Optional[Sequence[str]] = None,
             prog: Optional[str] = None, config_dir: Optional[str] = None,
             hydra_main: bool = False) -> Any:
    """Compose ``config_name`` with ``argv`` (default ``sys.argv[1:]``) and run ``task(cfg)``,
    expected failures (composition included) reported as one line.

    ``hydra_main=True`` (training: Hydra's run folder, logging, launchers) or any Hydra flag in
    argv runs the task under ``hydra.main``; a single run is still composed once beforehand so
    that a bad override is one line, not Hydra's multi-line report."""
    from .store import CONF_DIR, compose, register_configs
    args = list(sys.argv[1:] if argv is None else argv)
    prog = prog or Path(sys.argv[0]).stem or config_name
    register_configs()
    check_arguments(args, config_name, prog, config_dir)
    guarded(check_run_names, prog)(args)
    flags = [a for a in args if a.startswith("-")]
    if hydra_main or flags:
        import hydra
        saved, sys.argv = sys.argv, [sys.argv[0], *args]
        try:
            main = hydra.main(config_path=str(Path(config_dir or CONF_DIR).resolve()),
                              config_name=config_name, version_base="1.3")(guarded(task, prog))
            return main()
        finally:
            sys.argv = saved
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s][%(name)s] %(message)s",
                        datefmt="%H:%M:%S")
    return guarded(lambda a: task(compose(a, config_name, config_dir)), prog)(args)


def check_run_names(args: Sequence[str]) -> None:
    """``name=`` on the command line (each value of a sweep) names a folder inside outputs/."""
    from ..app.folders import check_run_name
    for a in args:
        if a.lstrip("+~").startswith("name="):
            for v in a.split("=", 1)[1].split(","):
                check_run_name(v)


# ------------------------------------------------------------------------ torchrun + Hydra
def _has_override(argv: Sequence[str], key: str) -> bool:
    return any(a.lstrip("+~").startswith(key + "=") for a in argv)


def hydra_ddp_argv(argv: Optional[List[str]] = None, config_dir: Optional[str] = None,
                   config_name: str = "config", job_name: Optional[str] = None) -> List[str]:
    """Rewrite ``sys.argv`` so that every torchrun rank runs Hydra in rank 0's output folder.

    Hydra's default run folder contains ``${now:...}``, which each rank would resolve at its own
    start time. Under torchrun (WORLD_SIZE > 1) this joins the process group, lets rank 0
    compose the config with the same overrides and resolve ``hydra.run.dir`` (``hydra.sweep.dir``
    with ``-m``), broadcasts it and appends ``hydra.run.dir=<that dir>`` on every rank. Ranks > 0
    also get ``hydra.output_subdir=null`` and log to stdout. Unchanged in one process or when the
    user set the folder. Call it before ``@hydra.main`` parses argv.
    """
    from ..training.distributed import broadcast_object, init_distributed
    argv = list(sys.argv if argv is None else argv)
    try:
        world = int(os.environ.get("WORLD_SIZE", "1") or 1)
    except ValueError:
        raise ValueError(f"WORLD_SIZE={os.environ.get('WORLD_SIZE')!r} is not an integer") from None
    if world <= 1:
        return argv
    info = init_distributed()
    if not info.distributed:
        return argv
    prog, args = argv[:1], argv[1:]
    multirun = any(a in ("-m", "--multirun") for a in args)
    key = "hydra.sweep.dir" if multirun else "hydra.run.dir"
    extra: List[str] = []
    if not _has_override(args, key):
        path = None
        if info.is_main:
            path = _resolve_hydra_dir(args, key, config_dir, config_name,
                                      job_name or os.path.splitext(os.path.basename(prog[0] if prog else "app"))[0])
        path = broadcast_object(path, info)
        extra.append(f"{key}={path}")
    if not info.is_main:
        if not _has_override(args, "hydra.output_subdir"):
            extra.append("hydra.output_subdir=null")
        if not _has_override(args, "hydra/job_logging"):
            extra.append("hydra/job_logging=stdout")
    return prog + args + extra


def _resolve_hydra_dir(args: Sequence[str], key: str, config_dir: Optional[str], config_name: str,
                       job_name: str) -> str:
    """Compose (rank 0 only) and resolve ``hydra.run.dir`` / ``hydra.sweep.dir``."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.utils import setup_globals
    from omegaconf import OmegaConf
    from .store import register_configs

    register_configs()
    overrides = [a for a in args if not a.startswith("-")]
    if config_dir is None:
        config_dir = os.path.join(os.getcwd(), "conf")
    setup_globals()  # registers the ${now:} and ${hydra:} resolvers
    with initialize_config_dir(config_dir=os.path.abspath(config_dir), job_name=job_name,
                               version_base="1.3"):
        cfg = compose(config_name, overrides=overrides, return_hydra_config=True)
        stamp = _dt.datetime.now()
        OmegaConf.register_new_resolver("now", lambda pattern: stamp.strftime(pattern), replace=True)
        try:
            path = str(OmegaConf.select(cfg, key))
        finally:
            setup_globals()
    GlobalHydra.instance().clear()
    return path
