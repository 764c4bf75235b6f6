"""Input checks used where a user's input enters the package (``sample``, ``Trainer``, the
loaders, the scripts). Inner code trusts what passed them.

Every check raises ``TypeError`` (wrong kind of value) or ``ValueError`` (right kind, bad value)
with one line that names the argument, the bad value and what is allowed.

Sizes a caller or a file can set are bounded by ``LIMITS`` (``SizeLimits``); raise a limit for
one process with the environment variable named in the error, e.g.
``SDE_DIFFUSION_MAX_ELEMENTS=1e11``.
"""
from __future__ import annotations

import difflib
import math
import numbers
import operator
import os
from dataclasses import dataclass
from typing import Any, Iterable, Optional, Sequence

import torch

__all__ = ["as_int", "as_steps", "check_bool", "check_choice", "check_positive", "check_finite",
           "check_finite_number", "check_score_shape", "check_float_dtype", "close_match",
           "SizeLimits", "LIMITS", "check_size"]


def close_match(value: Any, choices: Iterable[Any]) -> str:
    """``"; did you mean 'x'?"`` for the closest choice to ``value``, or ``""``."""
    close = difflib.get_close_matches(str(value), [str(c) for c in choices], n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def as_int(value: Any, name: str, minimum: Optional[int] = None,
           maximum: Optional[int] = None) -> int:
    """An integer (Python or numpy; not bool, not float) in [minimum, maximum]."""
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    try:
        n = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an integer, got {type(value).__name__} {value!r}") from None
    if minimum is not None and n < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if maximum is not None and n > maximum:
        raise ValueError(f"{name} must be an integer <= {maximum}, got {value!r}")
    return int(n)


def as_steps(steps: Any, name: str = "steps", minimum: int = 1,
             maximum: Optional[int] = None) -> int:
    """A count: an integer >= ``minimum`` (and <= ``maximum`` when given); ``ValueError`` for
    any bad value, wrong types included, as the samplers have always raised. Step counts pass
    ``maximum=LIMITS.max_steps``."""
    try:
        return as_int(steps, name, minimum, maximum)
    except TypeError:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {steps!r}") from None
    except ValueError:
        if maximum is not None and isinstance(steps, numbers.Integral) and int(steps) > maximum:
            raise ValueError(f"{name} must be an integer <= {maximum}, got {steps!r}; raise the "
                             f"limit with {LIMITS.env('max_steps')}") from None
        raise ValueError(f"{name} must be an integer >= {minimum}, got {steps!r}") from None


def check_bool(name: str, value: Any) -> bool:
    """A real boolean (``True``/``False``, numpy bool); strings such as ``"no"`` are refused."""
    if isinstance(value, bool) or type(value).__name__ == "bool_":
        return bool(value)
    raise TypeError(f"{name} must be true or false, got {type(value).__name__} {value!r}")


def check_choice(name: str, value: Any, choices: Iterable[str]) -> str:
    """Raise ``ValueError`` naming the bad value, the valid choices and a close match."""
    choices = tuple(choices)
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"unknown {name} {value!r}; valid choices: {', '.join(map(repr, choices))}"
                         f"{close_match(value, choices)}")
    return value


def check_finite_number(name: str, value: Any) -> float:
    """A finite real number (Python/numpy scalar or one-element tensor; not bool) as a float;
    TypeError for other types, ValueError (naming the value) for NaN/inf."""
    if isinstance(value, bool) or not (isinstance(value, numbers.Real)
                                       or (torch.is_tensor(value) and value.numel() == 1)):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} {value!r}")
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return v


def check_positive(name: str, value: Any) -> Any:
    """A finite number > 0 (ValueError naming the value otherwise, e.g. NaN, inf, 0)."""
    if isinstance(value, bool) or not (isinstance(value, numbers.Real)
                                       or (torch.is_tensor(value) and value.numel() == 1)):
        raise TypeError(f"{name} must be a positive number, got {type(value).__name__} {value!r}")
    if not (math.isfinite(float(value)) and value > 0):
        raise ValueError(f"{name} must be positive and finite, got {value!r}")
    return value


def check_finite(name: str, x: torch.Tensor) -> torch.Tensor:
    """Raise ``ValueError`` if ``x`` holds NaN or inf (one host sync: use at API boundaries)."""
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} contains non-finite values (NaN or inf)")
    return x


def check_score_shape(score: Any, x: torch.Tensor) -> torch.Tensor:
    """A score function must return a tensor of exactly x's shape."""
    if not torch.is_tensor(score) or score.shape != x.shape:
        got = tuple(score.shape) if torch.is_tensor(score) else type(score).__name__
        raise ValueError(f"score function returned shape {got}, expected x's shape {tuple(x.shape)}")
    return score


_FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def check_float_dtype(name: str, dtype: Any) -> torch.dtype:
    """A real floating dtype (not complex, int or bool)."""
    if not isinstance(dtype, torch.dtype) or dtype not in _FLOAT_DTYPES:
        raise TypeError(f"{name} must be a real floating dtype (float16, bfloat16, float32, "
                        f"float64), got {dtype!r}")
    return dtype


@dataclass
class SizeLimits:
    """Upper bounds on sizes that an argument or a file can set. Defaults fit a 24 GiB machine;
    each can be raised with ``SDE_DIFFUSION_<NAME>`` in the environment (e.g.
    ``SDE_DIFFUSION_MAX_ELEMENTS``) or by assigning ``LIMITS.<name>``."""

    max_elements: int = 2 ** 31        # elements of one tensor the package allocates (8 GiB f32)
    max_steps: int = 1_000_000         # solver steps / NFE budget of one call
    max_width: int = 16_384            # a network's hidden width / channels
    max_depth: int = 256               # a network's number of layers / blocks
    max_file_bytes: int = 2 ** 34      # one weights file (16 GiB)
    max_text_bytes: int = 2 ** 24      # one JSON/YAML/text file the package reads (16 MiB)

    def __post_init__(self) -> None:
        for name in self.__dataclass_fields__:
            raw = os.environ.get(self.env(name).split("=")[0])
            if raw:
                try:
                    setattr(self, name, int(float(raw)))
                except ValueError:
                    raise ValueError(f"{self.env(name).split('=')[0]}={raw!r} is not a number") from None

    @staticmethod
    def env(name: str) -> str:
        return f"SDE_DIFFUSION_{name.upper()}=<n>"


LIMITS = SizeLimits()


def check_size(name: str, shape: Sequence[Any], limit: Optional[int] = None) -> tuple:
    """A shape of positive integers whose product is at most ``LIMITS.max_elements``."""
    if isinstance(shape, (str, bytes)) or not isinstance(shape, Sequence):
        raise TypeError(f"{name} must be a sequence of integers, got {shape!r}")
    dims = tuple(as_int(d, f"{name}[{i}]", 1) for i, d in enumerate(shape))
    limit = LIMITS.max_elements if limit is None else limit
    if math.prod(dims) > limit:
        raise ValueError(f"{name}={dims} has {math.prod(dims):.3g} elements, over the limit "
                         f"{limit:.3g}; raise it with {LIMITS.env('max_elements')}")
    return dims
