"""Drawing samples from a trained model for plots and evaluation, and the sliced-Wasserstein
report of a points run."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Dict, Optional, Sequence, Tuple

import torch

from ..data import DataBundle

__all__ = ["sampler_arguments", "generate_samples", "sliced_wasserstein_report", "check_sampler"]


def _plain(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)) or type(obj).__name__ == "ListConfig":
        return [_plain(v) for v in obj]
    return obj


def sampler_arguments(sampler_cfg: Optional[Mapping] = None,
                      steps: Optional[int] = None) -> Tuple[str, int, Dict[str, Any]]:
    """(name, steps, options) from a sampler node ``{name, steps, options, ...}``; defaults to the
    predictor-corrector sampler with 1000 steps when none is given."""
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
    options.update(c)  # any extra top-level keys are sampler options too
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


def generate_samples(model, n: int, data_shape: Sequence[int], sampler_cfg: Optional[Mapping] = None,
                     seed: int = 0, steps: Optional[int] = None, batch_size: int = 4096,
                     return_trajectory: bool = False, device=None):
    """Draw ``n`` samples with ``solvers.sample`` in batches; returns (x on CPU, last SampleInfo,
    trajectory of the first batch or None). Seeded: one generator per batch from ``seed``."""
    from ..solvers import sample
    name, nsteps, options = sampler_arguments(sampler_cfg, steps)
    device = device or next(model.parameters()).device
    outs, info, traj = [], None, None
    was_training = model.training
    model.eval()
    try:
        for b, start in enumerate(range(0, n, batch_size)):
            m = min(batch_size, n - start)
            g = torch.Generator(device=device).manual_seed(int(seed) * 1_000_003 + b)
            x, info = sample(model.sde, model, (m, *data_shape), sampler=name, steps=nsteps,
                             generator=g, device=device, progress=False,
                             return_trajectory=return_trajectory and b == 0, **options)
            if return_trajectory and b == 0:
                traj = info.trajectory.cpu() if info.trajectory is not None else None
            outs.append(x.float().cpu())
    finally:
        model.train(was_training)
    return torch.cat(outs), info, traj


def sliced_wasserstein_report(samples: torch.Tensor, data: DataBundle, n: int = 2000,
                              seed: int = 0) -> Dict[str, float]:
    """Sliced W2 of samples vs held-out data, and the floor: the same distance between two
    independent true sample sets of the same size (fresh draws of ``data.reference`` when the
    data have an exact density, else a training subset vs the test set)."""
    from ..metrics import sliced_wasserstein
    n = int(min(n, samples.shape[0], data.test.shape[0]))
    g = torch.Generator().manual_seed(seed + 17)
    if data.reference is not None:
        true_a = data.reference.sample(n, generator=g)
        true_b = data.reference.sample(n, generator=g)
        true_c = data.reference.sample(n, generator=g)
        sw = sliced_wasserstein(samples[:n], true_a, seed=seed)
        floor = 0.5 * (sliced_wasserstein(true_b, true_c, seed=seed)
                       + sliced_wasserstein(true_a, true_b, seed=seed + 1))
    else:
        idx = torch.randperm(data.train.shape[0], generator=g)[:n]
        sw = sliced_wasserstein(samples[:n], data.test[:n], seed=seed)
        floor = sliced_wasserstein(data.train[idx], data.test[:n], seed=seed)
    return {"sw": sw, "sw_floor": floor, "sw_ratio": sw / floor, "sw_n": float(n)}
