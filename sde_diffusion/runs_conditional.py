"""Conditional sampling from a trained run (what ``scripts/sample.py`` does with ``label=``,
``guidance=`` and ``inpaint=true``): every input checked before the first network evaluation.

Class labels, classifier-free guidance (``conditional.cfg_score``; w = ``guidance``)::

    s_w(x, t | c) = (1 + w) s(x, t | c) - w s(x, t)      w = 0: conditional, w = -1: unconditional

``label=all`` draws ``n`` samples of every class, one row per class (labels c = 0..C-1 in order).
NFE is reported as network evaluations per sample path (2 per guided score, batched in one call).

Inpainting of test data: the mask (data shape, 1 = observed) hides a region, y = the observed
values of a test sample, and each test sample gets ``completions`` completions from
  - "replacement" (score_sde's PC inpainting, ``conditional.replacement`` as the solver's
    ``after_step`` hook); the observed values are set to y exactly at the end;
  - "dps" / "pigdm" (``conditional.posterior_score``; DPS with sigma = ``dps_noise`` since the
    mask is noiseless, PiGDM with the test split's per-value variance as its prior variance).
Mask names: ``left``/``right`` hide the first/second half of the values (image columns),
``top``/``bottom`` the upper/lower image rows, ``random`` each value (image pixel) with
probability 1/2 (seeded), ``<file>.pt`` a 0/1 tensor of the data's shape (1 = observed),
read with ``torch.load(weights_only=True)``.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple, Union

import torch

from . import conditional as cond
from .runs import check_finite_samples, draw_samples

__all__ = ["INPAINT_METHODS", "MASKS", "num_classes_of", "parse_labels", "check_guidance",
           "check_inpaint_options", "make_mask", "sample_labels", "inpaint", "save_label_samples",
           "save_inpainting", "conditional_main"]

INPAINT_METHODS = ("replacement", "dps", "pigdm")
MASKS = ("left", "right", "top", "bottom", "random")
Label = Union[int, str, None]


def num_classes_of(model: Any) -> int:
    """Classes of a class-conditional model (its net's ``num_classes``); 0 = unconditional."""
    n = getattr(model, "num_classes", None)
    if n is None:
        n = getattr(getattr(model, "net", None), "num_classes", 0)
    return int(n or 0)


def parse_labels(label: Label, num_classes: int, n: int) -> Optional[torch.Tensor]:
    """The (N,) labels of a request: None -> None (unconditional); an int c -> n times c;
    "all" -> each class 0..C-1 n times, in order (C * n rows). Errors name the value."""
    if label is None:
        return None
    if isinstance(label, bool) or not isinstance(label, (int, str)) or \
            (isinstance(label, str) and label != "all"):
        raise TypeError(f"label must be a class index or 'all', got {label!r}")
    if num_classes <= 0:
        raise ValueError(f"label={label!r} needs a class-conditional model (num_classes > 0); "
                         f"this model is unconditional")
    if label == "all":
        return torch.arange(num_classes).repeat_interleave(n)
    if not 0 <= label < num_classes:
        raise ValueError(f"label={label} is outside the classes 0..{num_classes - 1} of this model")
    return torch.full((n,), int(label), dtype=torch.long)


def check_guidance(guidance: Any, num_classes: int, label: Label) -> Optional[float]:
    """The guidance scale w (finite), or None; refused on an unconditional model or without a label."""
    if guidance is None:
        return None
    if isinstance(guidance, bool) or not isinstance(guidance, (int, float)) or not math.isfinite(guidance):
        raise ValueError(f"guidance must be a finite number (w; 0 = conditional), got {guidance!r}")
    if num_classes <= 0:
        raise ValueError(f"guidance={guidance!r} needs a class-conditional model (num_classes > 0); "
                         f"this model is unconditional")
    if label is None:
        raise ValueError(f"guidance={guidance!r} needs a class: give label=<0..{num_classes - 1}> "
                         f"or label=all")
    return float(guidance)


def check_inpaint_options(method: Any, mask: Any) -> None:
    """The method and the mask name (a file must end in .pt), before anything is loaded."""
    if method not in INPAINT_METHODS:
        raise ValueError(f"inpaint_method={method!r} is not one of {', '.join(map(repr, INPAINT_METHODS))}")
    if not isinstance(mask, str) or not (mask in MASKS or mask.endswith(".pt")):
        raise ValueError(f"mask={mask!r} is not one of {', '.join(map(repr, MASKS))} or a .pt file")


def _half(size: int, first: bool, what: str) -> slice:
    if size < 2:
        raise ValueError(f"mask: cannot hide half of {size} {what}")
    h = size // 2
    return slice(0, h) if first else slice(size - h, size)


def make_mask(spec: str, data_shape: Sequence[int], seed: int = 0) -> torch.Tensor:
    """A float 0/1 mask of ``data_shape`` (1 = observed) from a mask name or a ``.pt`` file."""
    shape = tuple(int(s) for s in data_shape)
    check_inpaint_options("replacement", spec)
    image = len(shape) == 3
    if spec.endswith(".pt"):
        p = Path(spec)
        if not p.is_file():
            raise FileNotFoundError(f"mask file {spec!r} does not exist")
        try:
            m = torch.load(p, map_location="cpu", weights_only=True)
        except Exception as e:  # noqa: BLE001 -- any unreadable file is the same user error
            first = (str(e).strip().splitlines() or [type(e).__name__])[0]
            raise ValueError(f"mask file {spec!r} is not a readable tensor file "
                             f"(torch.load, weights_only=True): {first}") from None
        if not torch.is_tensor(m):
            raise TypeError(f"mask file {spec!r} holds a {type(m).__name__}, not a tensor")
        if image and tuple(m.shape) == shape[1:]:
            m = m.expand(shape)
        if tuple(m.shape) != shape:
            raise ValueError(f"mask file {spec!r} has shape {tuple(m.shape)} but the data have "
                             f"shape {shape}")
        m = m.to(torch.float64)
        if not bool(((m == 0) | (m == 1)).all()):
            raise ValueError(f"mask file {spec!r} must hold only 0 and 1 (1 = observed)")
        if not bool(m.any()) or bool(m.all()):
            raise ValueError(f"mask file {spec!r} observes {'nothing' if not bool(m.any()) else 'everything'}")
        return m.float()
    m = torch.ones(shape)
    if spec == "random":
        g = torch.Generator().manual_seed(int(seed))
        keep = (torch.rand(shape[1:] if image else shape, generator=g) < 0.5).float()
        flat = keep.reshape(-1)
        flat[0], flat[-1] = 1.0, 0.0  # at least one observed and one hidden value
        return m * keep
    if spec in ("left", "right"):
        cols = _half(shape[-1], spec == "left", "columns" if image else "values")
        m[..., cols] = 0.0
        return m
    if not image:
        raise ValueError(f"mask={spec!r} needs image data (C, H, W); the data have shape {shape} "
                         f"(use left, right, random or a .pt file)")
    m[:, _half(shape[1], spec == "top", "rows"), :] = 0.0
    return m


def sample_labels(model, labels: torch.Tensor, data_shape: Sequence[int],
                  sampler: Optional[Mapping[str, Any]] = None, guidance: Optional[float] = None,
                  seed: int = 0, steps: Optional[int] = None, batch_size: int = 4096,
                  progress: Optional[bool] = None) -> Tuple[torch.Tensor, Any, int]:
    """Samples of the given classes (labels (N,)) with guidance w (None or 0: conditional).

    ``model`` is a class-conditional score ``model(x, t, y)`` with ``model.sde`` and
    ``num_classes`` (a ScoreModel, or an exact mixture score). Returns (x (N, *shape), the
    last SampleInfo, network evaluations per sample path)."""
    labels = torch.as_tensor(labels)
    w = 0.0 if guidance is None else float(guidance)
    cond.cfg_score(model, labels, w)  # checks the model, every label and w before sampling
    made = []

    def fns(start: int, m: int):
        made.append(cond.cfg_score(model, labels[start:start + m], w))
        return made[-1], None
    x, info, _ = draw_samples(model, labels.shape[0], data_shape, sampler, seed, steps,
                              batch_size, progress=progress, batch_fns=fns)
    return x, info, made[0].nfe


def inpaint(model, x_test: torch.Tensor, mask: torch.Tensor, method: str = "replacement",
            completions: int = 1, sampler: Optional[Mapping[str, Any]] = None, seed: int = 0,
            steps: Optional[int] = None, batch_size: int = 4096, progress: Optional[bool] = None,
            dps_noise: float = 0.05, scale: float = 1.0, data_var: Optional[float] = None,
            label: Optional[int] = None, guidance: Optional[float] = None) -> Dict[str, Any]:
    """Complete ``x_test`` (n, *shape) observed where ``mask`` is 1, ``completions`` times each.

    Returns {"original" (n, *shape), "masked" (hidden values 0), "mask", "completions"
    (n, completions, *shape), "method", "nfe" (network evaluations per path), "info"}.
    ``data_var``: PiGDM's prior variance per value (default: the variance of each value of
    ``x_test`` about its mean over the samples, averaged over the values);
    ``label``/``guidance``: complete within a class of a class-conditional model."""
    check_inpaint_options(method, "left")
    shape = tuple(x_test.shape[1:])
    if tuple(mask.shape) != shape:
        raise ValueError(f"mask has shape {tuple(mask.shape)} but the data have shape {shape}")
    if isinstance(completions, bool) or not isinstance(completions, int) or completions < 1:
        raise ValueError(f"completions must be an integer >= 1, got {completions!r}")
    n = x_test.shape[0]
    rows = x_test.float().repeat_interleave(completions, 0)
    C = num_classes_of(model)
    lab = parse_labels(label, C, rows.shape[0]) if label is not None else None
    w = check_guidance(guidance, C, label)
    if data_var is not None:
        dvar = float(data_var)
    elif n >= 2:  # the mean per-value variance of the test samples (about each value's mean)
        dvar = float(x_test.double().reshape(n, -1).var(0).mean())
    else:
        dvar = float(getattr(model, "data_std", 1.0)) ** 2
    sde, bases = model.sde, []

    def fns(start: int, m: int):
        meas = cond.LinearMeasurement.inpainting(mask, rows[start:start + m])
        base = model if lab is None else cond.cfg_score(model, lab[start:start + m], w or 0.0)
        bases.append(base)
        if method == "replacement":
            return base, cond.replacement(sde, meas, shape)
        return cond.posterior_score(sde, base, meas, method, scale=scale, data_var=dvar,
                                    dps_noise=dps_noise, data_shape=shape), None
    x, info, _ = draw_samples(model, rows.shape[0], shape, sampler, seed, steps, batch_size,
                              progress=progress, batch_fns=fns)
    if method == "replacement":  # m(0) = 1, s(0) = 0: the projection onto A x = y, exactly
        keep = mask.to(x.dtype)
        x = x * (1 - keep) + rows * keep
    check_finite_samples(x, f"inpainting ({method})")
    nfe = bases[0].nfe if lab is not None else info.nfe  # network evaluations per path
    return {"original": x_test.float(), "masked": x_test.float() * mask, "mask": mask,
            "completions": x.reshape(n, completions, *shape), "method": method, "nfe": nfe,
            "info": info}


def save_label_samples(x: torch.Tensor, labels: torch.Tensor, out: Path, kind: str, to_unit,
                       per_row: int, title: str = "") -> None:
    """samples.pt, labels.pt and samples.png (images: one row per class when ``per_row``)."""
    from .training.plots import _plt, save_image_grid
    torch.save(x, out / "samples.pt")
    torch.save(labels, out / "labels.pt")
    if kind == "images":
        save_image_grid(to_unit(x), out / "samples.png", nrow=per_row)
        return
    plt = _plt()
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    flat = x.reshape(x.shape[0], -1)
    yy = flat[:, 1] if flat.shape[1] > 1 else torch.zeros(flat.shape[0])
    sc = ax.scatter(flat[:, 0], yy, s=2, c=labels.numpy(), cmap="tab10")
    fig.colorbar(sc, ax=ax, label="class")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(out / "samples.png", dpi=120)
    plt.close(fig)


def save_inpainting(res: Mapping[str, Any], out: Path, kind: str, to_unit,
                    extra: Optional[Mapping[str, Any]] = None) -> None:
    """inpaint.pt (original, masked, mask, completions, ...) and inpaint.png: images as rows
    (original | masked, hidden grey | completions); points as three scatter panels."""
    from .training.plots import _plt, image_grid
    torch.save({k: v for k, v in {**res, **(extra or {})}.items() if k != "info"}, out / "inpaint.pt")
    orig, comp, mask = res["original"], res["completions"], res["mask"]
    n, k = comp.shape[:2]
    if kind == "images":
        shown = to_unit(orig) * mask + 0.5 * (1 - mask)
        tiles = torch.cat([to_unit(orig)[:, None], shown[:, None], to_unit(comp)], 1)
        from .training.plots import _save_rgb
        _save_rgb(image_grid(tiles.reshape(n * (k + 2), *orig.shape[1:]), nrow=k + 2), out / "inpaint.png",
                  max(1, 32 // orig.shape[-1]))
        return
    plt = _plt()
    fig, axes = plt.subplots(1, 3, figsize=(12, 4), sharex=True, sharey=True)
    panels = [(orig, "original"), (res["masked"], "masked (hidden values at 0)"),
              (comp.reshape(n * k, -1), f"completions ({res['method']}, {k} each)")]
    for ax, (v, name) in zip(axes, panels):
        v = v.reshape(v.shape[0], -1)
        ax.scatter(v[:, 0], v[:, 1] if v.shape[1] > 1 else torch.zeros(v.shape[0]), s=3)
        ax.set_title(name, fontsize=9)
    fig.tight_layout()
    fig.savefig(out / "inpaint.png", dpi=120)
    plt.close(fig)


def conditional_main(c: Mapping[str, Any], model, run: Mapping[str, Any], meta,
                     sampler: Optional[Mapping[str, Any]], to_unit) -> str:
    """``scripts/sample.py`` with ``label``/``guidance``/``inpaint`` set (``c``: the validated
    plain config, ``run``: ``load_model``'s config). Every request is checked (label range,
    guidance on an unconditional model, mask shape, test data) before the first sample;
    returns the log line."""
    from .runs import build_run_data, output_dir
    shape, C = tuple(meta.data_shape), num_classes_of(model)
    kind = meta.data_kind or ("images" if len(shape) == 3 else "points")
    labels = parse_labels(c.get("label"), C, c["n"])
    w = check_guidance(c.get("guidance"), C, c.get("label"))
    common = dict(sampler=sampler, seed=c["seed"], steps=c["steps"], batch_size=c["batch_size"],
                  progress=c["progress"])
    if not c.get("inpaint"):
        out = output_dir(meta.run_dir, "samples", c.get("out"))
        x, info, nfe = sample_labels(model, labels, shape, guidance=w, **common)
        per_row = c["n"] if c["label"] == "all" else None
        save_label_samples(x, labels, out, kind, to_unit, per_row,
                           title=f"label={c['label']}, w={w or 0:g}, {nfe} NFE")
        return f"{x.shape[0]} samples of label={c['label']} (w={w or 0:g}, {info.sampler}, {nfe} NFE) -> {out}"
    mask = make_mask(c["mask"], shape, c["seed"])
    data = run.get("data")
    if not isinstance(data, Mapping):
        raise ValueError(f"inpainting needs test data, but {c['run']!r} stores no data config")
    bundle = build_run_data(data, shape=shape)
    if c["n"] > bundle.test.shape[0]:
        raise ValueError(f"n={c['n']} exceeds the {bundle.test.shape[0]} test samples of "
                         f"{bundle.name!r}")
    x_test = bundle.test[:c["n"]]
    out = output_dir(meta.run_dir, "samples", c.get("out"))
    res = inpaint(model, x_test, mask, c["inpaint_method"], c["completions"], dps_noise=c["dps_noise"],
                  scale=c["inpaint_scale"], label=c.get("label"), guidance=w, **common)
    extra = {"labels": bundle.test_labels[:c["n"]]} if bundle.test_labels is not None else {}
    save_inpainting(res, out, kind, to_unit, extra)
    return (f"{c['n']} x {c['completions']} completions ({res['method']}, mask={c['mask']}, "
            f"{res['nfe']} NFE) -> {out}")
