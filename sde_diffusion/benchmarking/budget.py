"""NFE budgets: the largest step count whose score evaluations stay within a budget."""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import torch

from .cells import PEER_PREFIX, _int, sampler_parts

__all__ = ["steps_for_nfe", "nfe_of_steps"]


def nfe_of_steps(sampler: Mapping[str, Any], steps: int, sde=None,
                 data_shape: Sequence[int] = (1,)) -> int:
    """NFE of one ``sample`` call with ``steps`` steps, measured on one sample with a model
    predicting x0 = 0 (cheap: the count depends on the sampler's bookkeeping, not on the model;
    a model, not a plain score, so that samplers starting at m(T) = 0 can run)."""
    from ..models.parameterization import FunctionModel
    from ..sdes import VPSDE
    from ..solvers import sample
    name, ctor, sample_kw = sampler_parts(sampler)
    sde = sde if sde is not None else VPSDE()
    _, info = sample(sde, FunctionModel(lambda x, t: torch.zeros_like(x), sde, "x0"),
                     (1,) + tuple(data_shape), sampler=name, steps=steps, dtype=torch.float64,
                     generator=torch.Generator().manual_seed(0), progress=False,
                     **ctor, **sample_kw)
    return int(info.nfe)


def steps_for_nfe(sampler: Mapping[str, Any], nfe: int, sde=None,
                  data_shape: Sequence[int] = (1,)) -> int:
    """The largest step count (>= 1) with NFE(steps) <= ``nfe``.

    A fixed-step sampler spends NFE(steps) = a * steps + b evaluations (a per step; b e.g. +1
    for a final Tweedie step, -1 for EDM's last Euler step). a and b are measured by two probe
    runs (steps = 2, 3); a = 0 (adaptive samplers: NFE does not follow steps) gives 1. A budget
    below NFE(1) also gives 1 (the cell then reports its true NFE). Peer solvers
    (``peer:<name>``) spend one evaluation per step."""
    nfe = _int("nfe", nfe, 1)
    if str(sampler.get("name", "")).startswith(PEER_PREFIX):
        return nfe
    n2, n3 = (nfe_of_steps(sampler, k, sde, data_shape) for k in (2, 3))
    a, b = n3 - n2, n2 - 2 * (n3 - n2)
    if a <= 0:
        return 1
    return max(1, (nfe - b) // a)
