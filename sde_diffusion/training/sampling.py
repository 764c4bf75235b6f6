"""Drawing samples from a trained model in seeded batches, and the sliced-Wasserstein report of a
points run against its exact-sample floor.

``generate_samples`` is what the trainer's plots and final evaluation and the application layer's
``sample.py`` call: batch b uses a generator seeded ``seed * 1_000_003 + b``, so the same seed and
batch size give the same samples wherever they are drawn.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Callable, Dict, Optional, Sequence, Tuple

import torch

from ..contract import as_steps
from ..data import DataBundle

__all__ = ["sampler_arguments", "generate_samples", "sliced_wasserstein_report", "check_sampler",
           "check_finite_samples", "model_device", "FLOOR_DRAWS"]

#: independent floor draws behind ``sliced_wasserstein_report``'s mean and sd
FLOOR_DRAWS = 5

BatchFns = Callable[[int, int], Tuple[Callable, Optional[Callable]]]


def _plain(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)) or type(obj).__name__ == "ListConfig":
        return [_plain(v) for v in obj]
    return obj


def sampler_arguments(sampler_cfg: Optional[Mapping] = None,
                      steps: Optional[int] = None) -> Tuple[str, int, Dict[str, Any]]:
    """(name, steps, options) from a sampler node ``{name, steps, options, ...}``; defaults to the
    predictor-corrector sampler with 1000 steps when none is given. Extra top-level keys are
    options too."""
    if sampler_cfg is None:
        return "pc", int(steps or 1000), {}
    if not isinstance(sampler_cfg, Mapping):
        raise TypeError(f"sampler config must be a mapping {{name, steps, ...}}, got "
                        f"{type(sampler_cfg).__name__}")
    c = _plain(sampler_cfg)
    name = c.pop("name", "pc")
    n = steps if steps is not None else c.pop("steps", 1000)
    c.pop("steps", None)
    options = dict(c.pop("options", None) or {})
    options.update(c)
    return name, n, options


def check_sampler(name: Any, steps: Any) -> None:
    """``ValueError``/``TypeError`` unless ``name`` is a registered sampler and ``steps`` >= 1."""
    from ..solvers import SAMPLERS
    if name not in SAMPLERS:
        raise ValueError(f"sampler {name!r} is not registered; valid choices: {sorted(SAMPLERS)}")
    if isinstance(steps, bool) or not isinstance(steps, int):
        raise TypeError(f"sampler steps must be an integer, got {steps!r}")
    if steps < 1:
        raise ValueError(f"sampler steps must be >= 1, got {steps!r}")


def check_finite_samples(x: torch.Tensor, what: str) -> None:
    """``FloatingPointError`` naming how many samples hold NaN/inf."""
    bad = ~torch.isfinite(x.reshape(x.shape[0], -1)).all(dim=1)
    if bool(bad.any()):
        raise FloatingPointError(f"{what}: {int(bad.sum())} of {x.shape[0]} samples are not finite "
                                 f"(NaN/inf); the model or the sampler diverged")


def model_device(model: Any) -> torch.device:
    """The device of a module's first parameter (CPU for a parameter-free score function)."""
    params = getattr(model, "parameters", None)
    p = next(iter(params()), None) if callable(params) else None
    return p.device if p is not None else torch.device("cpu")


def generate_samples(model, n: int, data_shape: Sequence[int], sampler_cfg: Optional[Mapping] = None,
                     seed: int = 0, steps: Optional[int] = None, batch_size: int = 4096,
                     return_trajectory: bool = False, device=None, progress: Optional[bool] = False,
                     batch_fns: Optional[BatchFns] = None):
    """``n`` samples of ``model.sde`` in batches: (x on CPU, last SampleInfo, trajectory of the
    first batch or None). The model is put in eval mode for the call.

    ``batch_fns(start, m) -> (score_fn, after_step)`` gives the score (and the solver's
    ``after_step`` hook, or None) for rows ``start .. start + m - 1`` (conditional sampling: per-row
    labels or measurements); default ``(model, None)``. ``FloatingPointError`` names the batch if
    any sample is not finite."""
    from ..solvers import sample
    name, nsteps, options = sampler_arguments(sampler_cfg, steps)
    device = device or model_device(model)
    outs, info, traj = [], None, None
    nb = max(1, math.ceil(n / batch_size))
    was_training = getattr(model, "training", False)
    if hasattr(model, "eval"):
        model.eval()
    try:
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
    finally:
        if hasattr(model, "train"):
            model.train(was_training)
    return torch.cat(outs), info, traj


def sliced_wasserstein_report(samples: torch.Tensor, data: DataBundle, n: int = 2000,
                              seed: int = 0, draws: int = FLOOR_DRAWS) -> Dict[str, float]:
    """Sliced W2 of samples vs held-out data, beside its floor: the same distance between two
    independent true sample sets of the same size, drawn ``draws`` times (fresh draws of
    ``data.reference`` when the data have an exact density, else a random training subset vs the
    test set), each with its own projections.

    Returns ``sw``, ``sw_floor`` (mean of the draws), ``sw_floor_sd`` (their sample sd),
    ``sw_ratio = sw / sw_floor``, ``sw_z = (sw - sw_floor) / sw_floor_sd`` (how many floor sds
    above the floor; |z| < 2: indistinguishable from exact samples at this n), ``sw_n``,
    ``sw_floor_draws``."""
    from ..metrics import sliced_wasserstein
    draws = as_steps(draws, "draws", minimum=2)  # the floor's sd needs two
    n = int(min(n, samples.shape[0], data.test.shape[0]))
    g = torch.Generator().manual_seed(seed + 17)
    if data.reference is not None:
        sw = sliced_wasserstein(samples[:n], data.reference.sample(n, generator=g), seed=seed)
        floors = [sliced_wasserstein(data.reference.sample(n, generator=g),
                                     data.reference.sample(n, generator=g), seed=seed + 1 + k)
                  for k in range(draws)]
    else:
        sw = sliced_wasserstein(samples[:n], data.test[:n], seed=seed)
        floors = [sliced_wasserstein(data.train[torch.randperm(data.train.shape[0], generator=g)[:n]],
                                     data.test[:n], seed=seed + 1 + k) for k in range(draws)]
    f = torch.tensor(floors, dtype=torch.float64)
    mean, sd = float(f.mean()), float(f.std())
    return {"sw": sw, "sw_floor": mean, "sw_floor_sd": sd, "sw_ratio": sw / mean,
            "sw_z": (sw - mean) / sd if sd > 0 else 0.0,
            "sw_n": float(n), "sw_floor_draws": float(draws)}
