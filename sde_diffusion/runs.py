"""Evaluation outputs that keep their lineage: folders inside the run, samples checked finite.

``output_dir(run, "samples")`` is ``<run>/samples/<YYYY-mm-dd_HH-MM-SS>`` (a suffix ``_1``, ``_2``
... if that exists), created; ``draw_samples`` draws ``n`` samples in seeded batches with a tqdm
bar and refuses non-finite results; ``build_run_data`` rebuilds a run's data set from its
stored data config through the allow-list only. ``sample_run`` is what ``scripts/sample.py``
does for an unconditional request: samples, their plot, the reverse trajectory as a strip and
as a GIF (frames spaced by noise level, labelled with t and sigma).
"""
from __future__ import annotations

import contextlib
import datetime as _dt
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, Mapping, Optional, Sequence, Tuple, Union

import torch

from . import registry
from . import data as _data  # noqa: F401  (registers the data sets a run config names)

__all__ = ["output_dir", "draw_samples", "model_device", "check_finite_samples", "build_run_data",
           "sampler_parts", "sampler_node", "score_progress", "sample_run"]


def output_dir(run_dir: Union[str, Path], kind: str, out: Optional[Union[str, Path]] = None) -> Path:
    """``out`` if given, else ``<run_dir>/<kind>/<timestamp>``; created (``OSError`` when the
    run folder is read-only or the disk is full, with the path)."""
    if out is not None:
        path = Path(out)
    else:
        stamp = _dt.datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
        path = Path(run_dir) / kind / stamp
        k = 1
        while path.exists():
            path = Path(run_dir) / kind / f"{stamp}_{k}"
            k += 1
    path.mkdir(parents=True, exist_ok=True)
    return path


def check_finite_samples(x: torch.Tensor, what: str) -> None:
    """``FloatingPointError`` naming how many samples hold NaN/inf."""
    bad = ~torch.isfinite(x.reshape(x.shape[0], -1)).all(dim=1)
    if bool(bad.any()):
        raise FloatingPointError(f"{what}: {int(bad.sum())} of {x.shape[0]} samples are not finite "
                                 f"(NaN/inf); the model or the sampler diverged")


def sampler_parts(node: Optional[Mapping[str, Any]], steps: Optional[int] = None
                  ) -> Tuple[str, int, Dict[str, Any]]:
    """(name, steps, options) of a sampler node ``{name, steps, options}`` (default: pc, 1000)."""
    if node is None:
        return "pc", int(steps or 1000), {}
    c = dict(node)
    name = c.pop("name", "pc")
    n = int(steps if steps is not None else c.pop("steps", 1000))
    c.pop("steps", None)
    options = dict(c.pop("options", None) or {})
    options.update(c)
    return name, n, options


def sampler_node(node: Any) -> Any:
    """A sampler node in the shape of ``conf/sampler`` (``{name, steps, options}``). Runs saved
    before the trainer stored that shape kept the options at the top level; they move under
    ``options`` here. Anything that is not a mapping is returned unchanged (for the validator)."""
    if not isinstance(node, Mapping):
        return node
    extra = {k: v for k, v in node.items() if k not in ("name", "steps", "options")}
    if not extra:
        return dict(node)
    opts = node.get("options") or {}
    if not isinstance(opts, Mapping):
        return dict(node)
    out = {k: node[k] for k in ("name", "steps") if k in node}
    return {**out, "options": {**extra, **opts}}


def model_device(model: Any) -> torch.device:
    """The device of a module's first parameter (CPU for a parameter-free score function)."""
    params = getattr(model, "parameters", None)
    p = next(iter(params()), None) if callable(params) else None
    return p.device if p is not None else torch.device("cpu")


BatchFns = Callable[[int, int], Tuple[Callable, Optional[Callable]]]


def draw_samples(model: torch.nn.Module, n: int, data_shape: Sequence[int],
                 sampler: Optional[Mapping[str, Any]] = None, seed: int = 0,
                 steps: Optional[int] = None, batch_size: int = 4096,
                 return_trajectory: bool = False, progress: Optional[bool] = None,
                 batch_fns: Optional[BatchFns] = None):
    """``n`` samples in batches (generator of batch b seeded ``seed * 1_000_003 + b``, as the
    trainer's ``generate_samples``): (x on CPU, last SampleInfo, trajectory of batch 0 or None).

    ``batch_fns(start, m) -> (score_fn, after_step)`` gives the score (and the solver's
    ``after_step`` hook, or None) for rows ``start .. start + m - 1`` (conditional sampling:
    per-row labels or measurements); default ``(model, None)``. ``model.sde`` is the SDE.
    Raises ``FloatingPointError`` if any sample is not finite."""
    from .solvers import sample
    name, nsteps, options = sampler_parts(sampler, steps)
    device = model_device(model)
    outs, info, traj = [], None, None
    nb = (n + batch_size - 1) // batch_size
    for b, start in enumerate(range(0, n, batch_size)):
        m = min(batch_size, n - start)
        g = torch.Generator(device=device).manual_seed(int(seed) * 1_000_003 + b)
        score_fn, after = batch_fns(start, m) if batch_fns is not None else (model, None)
        with torch.no_grad():
            x, info = sample(model.sde, score_fn, (m, *data_shape), sampler=name, steps=nsteps,
                             generator=g, device=device, progress=progress, after_step=after,
                             return_trajectory=return_trajectory and b == 0, **options)
        check_finite_samples(x, f"sampler {name!r} ({nsteps} steps), batch {b + 1}/{nb}")
        if return_trajectory and b == 0 and info.trajectory is not None:
            traj = info.trajectory.cpu()
        outs.append(x.float().cpu())
    return torch.cat(outs), info, traj


def build_run_data(node: Any, key: str = "data", shape: Optional[Sequence[int]] = None,
                   trusted: bool = False):
    """A data set from a data config (allow-listed data targets only); ``ValueError`` if
    ``shape`` (the model's per-sample shape) is given and differs from the data's. A config
    read from a run (``trusted=False``) never downloads: ``download`` is forced to False."""
    if not isinstance(node, Mapping) or "_target_" not in node:
        raise ValueError(f"{key} must be a data config with a _target_, got {node!r}")
    target = node["_target_"]
    registry.check_spec(node, key)
    if registry.kind_of(target) != "data":
        raise registry.RegistryError(f"{key}._target_={target!r} is not a data set; valid: "
                                     f"{', '.join(registry.MODEL_TARGETS['data'])}")
    if not trusted and node.get("download"):
        node = {**node, "download": False}
    data = registry.build(node, path=key)
    if shape is not None and list(data.data_shape) != list(shape):
        raise ValueError(f"data {data.name!r} has per-sample shape {list(data.data_shape)}, the model "
                         f"was trained on shape {list(shape)}")
    return data


@contextlib.contextmanager
def score_progress(score_fn: Callable, desc: str, enabled: Optional[bool] = None) -> Iterator[Callable]:
    """``score_fn`` wrapped to advance a tqdm bar (unit: score evaluations) on every call, for
    long evaluations whose number of calls is not known in advance (adaptive ODE solvers).
    ``enabled=None``: on when stderr is a terminal."""
    import sys
    from tqdm.auto import tqdm
    show = sys.stderr.isatty() if enabled is None else bool(enabled)
    bar = tqdm(desc=desc, unit="NFE", disable=not show, dynamic_ncols=True)

    def counted(x, t):
        bar.update(1)
        return score_fn(x, t)
    counted.bar = bar  # type: ignore[attr-defined]
    try:
        yield counted
    finally:
        bar.close()


def sample_run(c: Mapping[str, Any], model: torch.nn.Module, run: Mapping[str, Any], meta: Any,
               sampler: Optional[Mapping[str, Any]], to_unit: Callable) -> str:
    """``scripts/sample.py`` without labels or inpainting: ``c["n"]`` samples into
    ``<run>/samples/<timestamp>/`` (or ``c["out"]``): samples.pt, samples.png and, when
    ``c["trajectory_frames"] > 0``, trajectory.png (that many frames) and trajectory.gif, both
    spaced evenly in log sigma(t) of ``model.sde`` and labelled with t and sigma. Returns the
    log line."""
    from .training.plots import (save_image_grid, save_points, save_trajectory_gif,
                                 save_trajectory_strip)
    out = output_dir(meta.run_dir, "samples", c.get("out"))
    frames = int(c.get("trajectory_frames", 0))
    x, info, traj = draw_samples(model, c["n"], meta.data_shape, sampler, seed=c["seed"],
                                 steps=c.get("steps"), batch_size=c.get("batch_size", 4096),
                                 return_trajectory=frames > 0, progress=c.get("progress"))
    torch.save(x, out / "samples.pt")
    kind, ref = meta.data_kind or "points", None
    if kind == "images":
        save_image_grid(to_unit(x), out / "samples.png")
    else:
        data = run.get("data")
        ref = build_run_data(data).test if isinstance(data, Mapping) else None
        save_points(x, out / "samples.png", reference=ref,
                    title=f"{meta.data_name or 'samples'}, {info.sampler}, {info.nfe} NFE")
    if traj is not None:
        times = info.times.tolist()
        save_trajectory_strip(traj, times, out / "trajectory.png", kind, frames=frames,
                              to_unit=to_unit, reference=ref, sde=model.sde)
        save_trajectory_gif(traj, times, out / "trajectory.gif", kind, frames=max(frames, 24),
                            to_unit=to_unit, reference=ref, sde=model.sde)
    return (f"{x.shape[0]} samples ({info.sampler}, {info.nfe} NFE, {info.wall_time:.1f} s) "
            f"-> {out}")
