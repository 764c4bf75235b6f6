"""The exact probability-flow ODE solution a deterministic sampler is scored against."""
from __future__ import annotations

import hashlib
import warnings
from pathlib import Path
from typing import Any, Mapping, Optional

import torch

from .cells import canonical

__all__ = ["reference_solution"]


def reference_solution(cell: Mapping[str, Any], sde, score_fn, x_init: torch.Tensor,
                       t_end: float, denoised: bool, out_dir: Optional[Path]) -> torch.Tensor:
    """x_ref (N, ...) on CPU: the PF-ODE dx = [f - g^2 score / 2] dt solved from ``x_init`` at
    T down to ``t_end`` by the tight-tolerance ``rk45`` sampler (``cell["reference"]``: method,
    rtol, atol; default DOP853 at 1e-9), plus the Tweedie step when ``denoised``.

    Cached in ``<out_dir>/references/<hash>.pt`` (weights-only tensor) per (problem, sde, seed,
    n, t_end, denoised, reference options), so every deterministic sampler of a sweep shares
    it; a cache file that cannot be read is named in a warning and recomputed."""
    from ..solvers import sample
    ref = dict(cell.get("reference") or {})
    opts = {"rtol": float(ref.get("rtol", 1e-9)), "atol": float(ref.get("atol", 1e-9)),
            "method": str(ref.get("method", "DOP853"))}
    payload = {k: cell.get(k) for k in ("problem", "sde", "seed", "n_samples", "checkpoint",
                                        "use_ema", "device", "dtype")}
    payload.update(t_end=float(t_end), denoised=bool(denoised), ref=opts)
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
    x_ref, _ = sample(sde, score_fn, sampler="rk45", x_init=x_init, t_end=float(t_end),
                      denoise=bool(denoised), progress=False, **opts)
    x_ref = x_ref.detach().cpu()
    if path is not None:
        import os
        import tempfile
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
