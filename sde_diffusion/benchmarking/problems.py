"""Reference problems of the solver benchmark: a data shape, held-out data and, for analytic
problems, the exact density (a ``GaussianMixture``, whose exact score under any SDE makes the
sampler the only source of error)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional, Sequence, Tuple

import torch

from .. import analytic as _analytic, data as _data  # noqa: F401  (registers what a problem names)

__all__ = ["Problem", "build_problem", "check_data_shape"]


@dataclass
class Problem:
    """A reference problem.

    Attributes:
        name: label. data_shape: per-sample shape. mixture: the exact data distribution
        (``analytic.GaussianMixture``) or None. data: a ``DataBundle`` (``train``/``test``
        tensors) for problems without an exact density (checkpoint benchmarks), else None.
    """

    name: str
    data_shape: Tuple[int, ...]
    mixture: Any = None
    data: Any = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"a problem needs a non-empty name, got {self.name!r}")
        if self.mixture is None and self.data is None:
            raise ValueError(f"problem {self.name!r} needs a mixture or a data set")
        self.data_shape = tuple(int(d) for d in self.data_shape)

    @property
    def analytic(self) -> bool:
        return self.mixture is not None

    def heldout(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """The comparison set (n, *data_shape) float64: exact samples, or the first n test rows."""
        if self.mixture is not None:
            return self.mixture.sample(n, generator=generator, dtype=torch.float64)
        test = self.data.test
        return test[: min(n, test.shape[0])].to(torch.float64)

    def baseline_pool(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """Exact samples independent of ``heldout`` (random train rows for data sets)."""
        if self.mixture is not None:
            return self.mixture.sample(n, generator=generator, dtype=torch.float64)
        pool = self.data.train
        idx = torch.randperm(pool.shape[0], generator=generator)[: min(n, pool.shape[0])]
        return pool[idx].to(torch.float64)


def build_problem(spec: Mapping[str, Any], build: Callable[[Mapping[str, Any]], Any]) -> Problem:
    """A ``Problem`` from a spec (``conf/problem/*.yaml`` as a plain dict): ``name``, a
    ``mixture`` node (returning a ``GaussianMixture``) and/or a ``data`` node (returning a
    ``DataBundle``), optional ``data_shape`` (checked).

    ``build`` turns a node into its object (the caller's allow-listed builder, e.g.
    ``sde_diffusion.registry.build``); this module never imports or instantiates anything
    named by a spec itself."""
    if not isinstance(spec, Mapping):
        raise TypeError(f"a problem spec must be a mapping, got {type(spec).__name__}")
    name = spec.get("name")
    if not isinstance(name, str) or not name:
        raise ValueError(f"a problem spec needs a 'name', got {dict(spec)!r}")
    mixture = build(spec["mixture"]) if spec.get("mixture") else None
    data = build(spec["data"]) if spec.get("data") else None
    if mixture is None and data is None:
        raise ValueError(f"problem {name!r} needs a 'mixture' or a 'data' node")
    if mixture is not None:
        shape = tuple(mixture.data_shape)
        if data is not None and tuple(data.data_shape) != shape:
            raise ValueError(f"problem {name!r}: mixture data shape {shape} differs from the "
                             f"data set's {tuple(data.data_shape)}")
    else:
        shape = tuple(data.data_shape)
    declared = spec.get("data_shape")
    if declared is not None and tuple(declared) != shape:
        raise ValueError(f"problem {name!r} declares data_shape {tuple(declared)} "
                         f"but its source has {shape}")
    return Problem(name=name, data_shape=shape, mixture=mixture, data=data)


def check_data_shape(source_shape: Optional[Sequence[int]], problem: Problem, what: str) -> None:
    """Refuse a score source whose per-sample data shape differs from the problem's."""
    if source_shape is None:
        raise ValueError(f"{what} does not record its data shape; cannot check it against "
                         f"problem {problem.name!r}")
    src = tuple(int(d) for d in source_shape)
    if src != tuple(problem.data_shape):
        raise ValueError(f"{what} was trained on data of shape {src}, but problem "
                         f"{problem.name!r} has data shape {tuple(problem.data_shape)}; "
                         f"choose the matching problem (or checkpoint)")
