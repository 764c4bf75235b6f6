"""Inpainting of test data for the scripts: the mask (data shape, 1 = observed) hides a region,
y = the observed values of a test sample, and each test sample gets ``completions`` completions:
  - "replacement" (score_sde's PC inpainting, ``conditional.replacement`` as the solver's
    ``after_step`` hook); the observed values are set to y exactly at the end;
  - "dps" / "pigdm" (``conditional.posterior_score``; DPS with sigma = ``dps_noise`` since the
    mask is noiseless, PiGDM with the test split's per-value variance as its prior variance),
    by default with the Jacobian dx0_hat/dx_t of that Gaussian prior (``jacobian="gaussian"``):
    a trained VP network's own Jacobian carries its error times 1/m(t) (~150 at T), which makes
    the guidance diverge within a few steps near T; DPS's default sigma 0.2 keeps its stiffness
    1/sigma^2 inside a 50-step sampler's stability limit (0.05 diverges). See ``JACOBIANS``.
Mask names: ``left``/``right`` hide the first/second half of the values (image columns),
``top``/``bottom`` the upper/lower image rows, ``random`` each value (image pixel) with
probability 1/2 (seeded), ``<file>.pt`` a 0/1 tensor of the data's shape (1 = observed),
read with ``torch.load(weights_only=True)``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Sequence

import torch

from .. import conditional as cond
from ..contract import as_steps
from ..training.sampling import check_finite_samples, generate_samples
from .conditional import check_guidance, num_classes_of, parse_labels

__all__ = ["INPAINT_METHODS", "MASKS", "check_inpaint_options", "make_mask", "inpaint"]

INPAINT_METHODS = ("replacement", "dps", "pigdm")
JACOBIANS = ("gaussian", "network")
DPS_NOISE = 0.2
MASKS = ("left", "right", "top", "bottom", "random")


def check_inpaint_options(method: Any, mask: Any, jacobian: Any = "gaussian") -> None:
    """The method, the mask name (a file must end in .pt) and the Jacobian, before anything is
    loaded."""
    if jacobian not in JACOBIANS:
        raise ValueError(f"inpaint_jacobian={jacobian!r} is not one of {', '.join(map(repr, JACOBIANS))}")
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


def inpaint(model, x_test: torch.Tensor, mask: torch.Tensor, method: str = "replacement",
            completions: int = 1, sampler: Optional[Mapping[str, Any]] = None, seed: int = 0,
            steps: Optional[int] = None, batch_size: int = 4096, progress: Optional[bool] = None,
            dps_noise: float = DPS_NOISE, scale: float = 1.0, data_var: Optional[float] = None,
            label: Optional[int] = None, guidance: Optional[float] = None,
            jacobian: str = "gaussian") -> Dict[str, Any]:
    """Complete ``x_test`` (n, *shape) observed where ``mask`` is 1, ``completions`` times each.

    Returns {"original" (n, *shape), "masked" (hidden values 0), "mask", "completions"
    (n, completions, *shape), "method", "nfe" (network evaluations per path), "info"}.
    ``data_var``: PiGDM's prior variance per value (default: the variance of each value of
    ``x_test`` about its mean over the samples, averaged over the values);
    ``label``/``guidance``: complete within a class of a class-conditional model."""
    check_inpaint_options(method, "left", jacobian)
    shape = tuple(x_test.shape[1:])
    if tuple(mask.shape) != shape:
        raise ValueError(f"mask has shape {tuple(mask.shape)} but the data have shape {shape}")
    completions = as_steps(completions, "completions")
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
                                    dps_noise=dps_noise, data_shape=shape,
                                    jacobian=jacobian), None
    x, info, _ = generate_samples(model, rows.shape[0], shape, sampler, seed, steps, batch_size,
                                  progress=progress, batch_fns=fns)
    if method == "replacement":  # m(0) = 1, s(0) = 0: the projection onto A x = y, exactly
        keep = mask.to(x.dtype)
        x = x * (1 - keep) + rows * keep
    check_finite_samples(x, f"inpainting ({method})")
    nfe = bases[0].nfe if lab is not None else info.nfe  # network evaluations per path
    return {"original": x_test.float(), "masked": x_test.float() * mask, "mask": mask,
            "completions": x.reshape(n, completions, *shape), "method": method, "nfe": nfe,
            "info": info}
