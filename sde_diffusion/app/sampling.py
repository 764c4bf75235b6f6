"""What ``scripts/sample.py`` does: samples of a trained model, by class, or completions of test
data, written with their pictures into a new folder ``<run>/samples/<timestamp>/`` (or ``out=``).

Outputs: unconditional -- samples.pt, samples.png (data beside samples), trajectory.png and
trajectory.gif (frames spaced by noise level); ``label=`` -- samples.pt, labels.pt, samples.png
(a labelled class grid); ``inpaint=true`` -- inpaint.pt, inpaint.png (a labelled inpainting grid).
Every request is checked (label range, guidance on an unconditional model, mask shape, test data,
paths the run names) before the first sample is drawn.
"""
from __future__ import annotations

import logging
from typing import Any, Callable, Mapping, Optional

import torch

from ..training.plots import save_points
from ..training.sampling import generate_samples
from .conditional import check_guidance, num_classes_of, parse_labels, sample_labels
from .data import build_run_data
from .folders import OutsideRunError, output_dir
from .inpainting import inpaint, make_mask
from .models import LoadedRun, load_run, run_sampler
from . import plots

__all__ = ["sample_main", "sample_run", "conditional_run", "unit_map"]

log = logging.getLogger(__name__)


def unit_map(meta: Any) -> Callable[[torch.Tensor], torch.Tensor]:
    """Data values -> [0, 1] for pictures (the run's value range, default [0, 1])."""
    lo, hi = meta.value_range or (0.0, 1.0)
    return lambda v: ((v - lo) / (hi - lo)).clamp(0, 1)


def _run_data(c: Mapping[str, Any], run: LoadedRun, shape=None):
    data = run.config.get("data")
    if not isinstance(data, Mapping):
        return None
    return build_run_data(data, shape=shape, run_dir=run.folder, data_root=c.get("data_root"))


def _reference(c: Mapping[str, Any], run: LoadedRun):
    """The run's data for the picture beside the samples, or None (logged) where it cannot be read
    from inside the run; sampling does not need it."""
    try:
        return _run_data(c, run)
    except (OutsideRunError, OSError, ImportError) as e:
        log.warning("the picture shows samples only: %s", e)
        return None


def sample_main(c: Mapping[str, Any]) -> str:
    """``scripts/sample.py`` on the validated plain config ``c``; returns the log line."""
    run = load_run(c["run"], use_ema=c["use_ema"], device=c["device"])
    if run.meta.data_shape is None:
        raise ValueError(f"{c['run']!r} does not record its data shape; cannot draw samples")
    sampler = run_sampler(run, c["sampler"], c["steps"])
    if c.get("label") is not None or c.get("guidance") is not None or c.get("inpaint"):
        return conditional_run(c, run, sampler)
    return sample_run(c, run, sampler)


def sample_run(c: Mapping[str, Any], run: LoadedRun, sampler: Optional[Mapping[str, Any]]) -> str:
    """``c["n"]`` unconditional samples, their picture beside the data and, when
    ``c["trajectory_frames"] > 0``, the reverse trajectory as a strip and a GIF."""
    model, meta = run.model, run.meta
    kind = meta.data_kind or "points"
    data = _reference(c, run)
    out = output_dir(run.folder, "samples", c.get("out"))
    frames = int(c.get("trajectory_frames", 0))
    x, info, traj = generate_samples(model, c["n"], meta.data_shape, sampler, seed=c["seed"],
                                     steps=c.get("steps"), batch_size=c.get("batch_size", 4096),
                                     return_trajectory=frames > 0, progress=c.get("progress"))
    torch.save(x, out / "samples.pt")
    to_unit, ref = unit_map(meta), None
    what = f"{info.sampler}, {info.nfe} NFE"
    if kind == "images":
        shown = to_unit(data.test[:64]) if data is not None else None
        plots.save_data_and_samples(to_unit(x), shown, out / "samples.png", title=what)
    else:
        ref = data.test if data is not None else None
        save_points(x, out / "samples.png", reference=ref,
                    title=f"{meta.data_name or 'samples'}, {what}")
    if traj is not None:
        times = info.times.tolist()
        plots.save_trajectory_strip(traj, times, out / "trajectory.png", kind, frames=frames,
                              to_unit=to_unit, reference=ref, sde=model.sde)
        plots.save_trajectory_gif(traj, times, out / "trajectory.gif", kind, frames=max(frames, 24),
                            to_unit=to_unit, reference=ref, sde=model.sde)
    return f"{x.shape[0]} samples ({what}, {info.wall_time:.1f} s) -> {out}"


def conditional_run(c: Mapping[str, Any], run: LoadedRun, sampler: Optional[Mapping[str, Any]]) -> str:
    """``label=`` / ``guidance=`` / ``inpaint=true``: checked, then sampled; the log line."""
    model, meta = run.model, run.meta
    shape, C = tuple(meta.data_shape), num_classes_of(model)
    kind = meta.data_kind or ("images" if len(shape) == 3 else "points")
    to_unit = unit_map(meta)
    labels = parse_labels(c.get("label"), C, c["n"])
    w = check_guidance(c.get("guidance"), C, c.get("label"))
    common = dict(sampler=sampler, seed=c["seed"], steps=c["steps"], batch_size=c["batch_size"],
                  progress=c["progress"])
    if not c.get("inpaint"):
        out = output_dir(run.folder, "samples", c.get("out"))
        x, info, nfe = sample_labels(model, labels, shape, guidance=w, **common)
        torch.save(x, out / "samples.pt")
        torch.save(labels, out / "labels.pt")
        title = f"label={c['label']}, guidance w={w or 0:g}, {info.sampler}, {nfe} NFE"
        if kind == "images":
            plots.save_class_grid(to_unit(x), labels, c["n"] if c["label"] == "all" else None,
                            out / "samples.png", title)
        else:
            plots.save_class_points(x, labels, out / "samples.png", title)
        return f"{x.shape[0]} samples of label={c['label']} (w={w or 0:g}, {info.sampler}, {nfe} NFE) -> {out}"
    mask = make_mask(c["mask"], shape, c["seed"])
    if not isinstance(run.config.get("data"), Mapping):
        raise ValueError(f"inpainting needs test data, but {c['run']!r} stores no data config")
    bundle = _run_data(c, run, shape)
    if c["n"] > bundle.test.shape[0]:
        raise ValueError(f"n={c['n']} exceeds the {bundle.test.shape[0]} test samples of "
                         f"{bundle.name!r}")
    x_test = bundle.test[:c["n"]]
    out = output_dir(run.folder, "samples", c.get("out"))
    res = inpaint(model, x_test, mask, c["inpaint_method"], c["completions"], dps_noise=c["dps_noise"],
                  scale=c["inpaint_scale"], label=c.get("label"), guidance=w,
                  jacobian=c.get("inpaint_jacobian", "gaussian"), **common)
    extra = {"labels": bundle.test_labels[:c["n"]]} if bundle.test_labels is not None else {}
    torch.save({k: v for k, v in {**res, **extra}.items() if k != "info"}, out / "inpaint.pt")
    plots.save_inpainting_figure(res["original"], mask, res["completions"], out / "inpaint.png", kind,
                           to_unit, res["method"], res["masked"])
    return (f"{c['n']} x {c['completions']} completions ({res['method']}, mask={c['mask']}, "
            f"{res['nfe']} NFE) -> {out}")
