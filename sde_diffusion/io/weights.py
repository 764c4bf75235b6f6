"""Turning a stored spec and stored weights into a model, checking sizes before allocating.

``build_model(spec, weights, where)`` takes weights that their reader already found plain
(``weights_file.load_weights`` for model folders, ``checkpoints.load_checkpoint`` for runs:
dense, contiguous, inside their storage) and checks in this order, each step refusing with
one line that names the file and the key:

1. every size the spec sets is within ``contract.LIMITS`` (widths, depth, grid sizes);
2. the network is built on the meta device (no memory) and its state dict is compared with the
   stored tensors: the same keys, every shape equal, a floating weight stored as floating
   (int64 weights would load as silently rounded values); its parameters and buffers in all
   must fit ``LIMITS.max_elements``;
3. the weights are finite;
4. only then is the model built for real and the weights loaded.
"""
from __future__ import annotations

import numbers
from typing import Any, Mapping

import torch

from .. import registry
from ..contract import LIMITS
from ..weights_file import check_finite_state, check_state_fits

__all__ = ["check_spec_sizes", "build_model"]

_WIDTH_KEYS = ("dim", "hidden", "time_dim", "in_channels", "out_channels", "base_channels",
               "image_size", "num_classes", "channel_mult", "attn_resolutions")
_DEPTH_KEYS = ("depth", "num_res_blocks", "num_heads", "num_groups")
_GRID_KEYS = ("grid_size",)


def _bound(value: Any, limit: int, path: str, env: str) -> None:
    vals = value if isinstance(value, (list, tuple)) else [value]
    for v in vals:
        if isinstance(v, numbers.Integral) and not isinstance(v, bool) and v > limit:
            raise ValueError(f"{path}={value!r} is over the limit {limit}; raise it with {env}")


def check_spec_sizes(spec: Any, path: str) -> None:
    """``ValueError`` for a width, depth or grid size in ``spec`` (any nesting) above
    ``LIMITS`` (``max_width``, ``max_depth``, ``max_steps``)."""
    if isinstance(spec, Mapping):
        for k, v in spec.items():
            p = f"{path}.{k}"
            if k in _WIDTH_KEYS:
                _bound(v, LIMITS.max_width, p, LIMITS.env("max_width"))
            elif k in _DEPTH_KEYS:
                _bound(v, LIMITS.max_depth, p, LIMITS.env("max_depth"))
            elif k in _GRID_KEYS:
                _bound(v, LIMITS.max_steps, p, LIMITS.env("max_steps"))
            check_spec_sizes(v, p)
    elif isinstance(spec, (list, tuple)):
        for i, v in enumerate(spec):
            check_spec_sizes(v, f"{path}[{i}]")


def _numel(module: torch.nn.Module) -> int:
    return sum(t.numel() for t in module.parameters()) + sum(t.numel() for t in module.buffers())


def _device(map_location: Any) -> str:
    dev = "cpu" if callable(map_location) or map_location is None else map_location
    if dev == "auto":
        dev = "cuda" if torch.cuda.is_available() else "cpu"
    if torch.device(dev).type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"map_location={str(dev)!r} but CUDA is not available; use 'cpu' or 'auto'")
    return dev


def build_model(spec: Mapping[str, Any], weights: Mapping[str, Any], where: str,
                map_location: Any = "cpu") -> torch.nn.Module:
    """The ScoreModel of ``spec`` with ``weights`` loaded, in eval mode on ``map_location``
    (see the module docstring for the checks, all before the real build)."""
    dev = _device(map_location)
    check_spec_sizes(spec, "model")
    try:
        skeleton = registry.build_score_model(spec, device="meta")
    except registry.RegistryError as e:
        raise registry.RegistryError(f"{where}: {e}") from None
    check_state_fits(skeleton, weights, where)
    if _numel(skeleton) > LIMITS.max_elements:
        raise ValueError(f"{where}: the network has {_numel(skeleton):.3g} parameters and buffers, "
                         f"over the limit {LIMITS.max_elements:.3g}; raise it with "
                         f"{LIMITS.env('max_elements')}")
    check_finite_state(weights, where)
    model = registry.build_score_model(spec)
    model.load_state_dict(dict(weights))
    return model.to(dev).eval()
