"""End-to-end scoring: the exact probability-flow ODE map from x_T at T to the data end, and a
sampler's output read as a data estimate.

Every method, project or peer, starts from the same x_T at sigma(T) and is scored against

    x_0^ref = lim_{sigma -> 0} x(sigma) / m  (the PF-ODE's data end),

computed as the tight-tolerance ``rk45`` solution from T down to ``sde.eps`` followed by the
exact Tweedie step D(x, eps) = E[x_0 | x_eps]. Along the ODE, x/m = x_0^ref + sigma eps_hat +
O(sigma^2) and D = x/m - sigma eps_hat, so the Tweedie step removes the first-order term: the
reference is off by O(sigma(eps)^2) (VP: sigma(1e-5) = 1e-3, EDM: 2e-3 -> ~1e-6).

A sampler's output x at t_end is read as the data estimate x/m(t_end) (its own denoised output
as is): a method that stops early keeps its sigma(t_end) eps_hat of noise, one that starts late
(diffusers' ``leading`` spacing) pays for the range it skipped.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any, Dict, Iterable, Mapping, Optional

import torch

from .cells import canonical

__all__ = ["reference_solution", "data_end_reference", "data_estimate", "end_to_end_rms",
           "end_to_end_errors", "REFERENCE_DEFAULTS"]

REFERENCE_DEFAULTS = {"method": "DOP853", "rtol": 1e-9, "atol": 1e-9}


def data_estimate(sde, x: torch.Tensor, t_end: float, denoised: bool) -> torch.Tensor:
    """x / m(t_end) (the scaled state x~, the data estimate of an undenoised end point), or x
    itself when the sampler already returned a data prediction."""
    if denoised:
        return x
    m = float(sde.marginal(torch.tensor([float(t_end)], dtype=torch.float64))[0].reshape(-1)[0])
    return x / m


def data_end_reference(sde, score_fn, x_T: torch.Tensor, *, method: str = "DOP853",
                       rtol: float = 1e-9, atol: float = 1e-9) -> torch.Tensor:
    """x_0^ref (N, ...): the PF-ODE from x_T (at T) to ``sde.eps`` by ``rk45`` (``method``,
    ``rtol``, ``atol``), then the Tweedie step at eps (see the module docstring)."""
    from ..solvers import sample
    x, _ = sample(sde, score_fn, sampler="rk45", x_init=x_T, t_end=float(sde.eps), denoise=True,
                  progress=False, method=method, rtol=float(rtol), atol=float(atol))
    return x


def end_to_end_rms(x0: torch.Tensor, x0_ref: torch.Tensor) -> float:
    """sqrt(mean (x0 - x0_ref)^2) over samples and coordinates (float64)."""
    d = x0.detach().to("cpu", torch.float64) - x0_ref.detach().to("cpu", torch.float64)
    return float(d.pow(2).mean().sqrt())


def end_to_end_errors(sde, score_fn, x_T: torch.Tensor, sampler: str, steps: Iterable[int],
                      ref: Optional[torch.Tensor] = None, **options) -> Dict[int, float]:
    """{n: end-to-end RMS of ``sampler`` (with ``options``) at n steps}, every n from the same
    x_T, against ``ref`` (``data_end_reference`` of x_T when not given): error against NFE."""
    from ..solvers import sample
    ref = data_end_reference(sde, score_fn, x_T) if ref is None else ref
    out = {}
    for n in steps:
        x, info = sample(sde, score_fn, sampler=sampler, steps=n, x_init=x_T, progress=False,
                         **options)
        out[n] = end_to_end_rms(data_estimate(sde, x, info.t_end, info.denoised), ref)
    return out


def reference_solution(cell: Mapping[str, Any], sde, score_fn, x_init: torch.Tensor,
                       out_dir: Optional[Path]) -> torch.Tensor:
    """``data_end_reference`` of the cell's x_T on CPU, with ``cell["reference"]`` options.

    Cached in ``<out_dir>/references/<hash>.pt`` (weights-only tensor) per (problem, sde, seed,
    n, reference options), so every sampler of a sweep shares it; a cache file that cannot be
    read is named in a warning and recomputed."""
    ref = dict(cell.get("reference") or {})
    opts = {"rtol": float(ref.get("rtol", REFERENCE_DEFAULTS["rtol"])),
            "atol": float(ref.get("atol", REFERENCE_DEFAULTS["atol"])),
            "method": str(ref.get("method", REFERENCE_DEFAULTS["method"]))}
    payload = {k: cell.get(k) for k in ("problem", "sde", "seed", "n_samples", "checkpoint",
                                        "use_ema", "device", "dtype")}
    payload.update(target="data_end", ref=opts)
    digest = hashlib.sha1(canonical(payload).encode()).hexdigest()[:16]
    path = Path(out_dir) / "references" / f"{digest}.pt" if out_dir is not None else None
    if path is not None and path.exists():
        try:
            x_ref = torch.load(path, weights_only=True)
            if torch.is_tensor(x_ref) and tuple(x_ref.shape) == tuple(x_init.shape):
                return x_ref
            warnings.warn(f"reference cache {str(path)!r} has the wrong content; recomputing it",
                          RuntimeWarning, stacklevel=2)
        except Exception as e:
            warnings.warn(f"reference cache {str(path)!r} is unreadable ({type(e).__name__}: "
                          f"{e}); recomputing it", RuntimeWarning, stacklevel=2)
    x_ref = data_end_reference(sde, score_fn, x_init, **opts).detach().cpu()
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        os.close(fd)
        try:
            torch.save(x_ref, tmp)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    return x_ref
