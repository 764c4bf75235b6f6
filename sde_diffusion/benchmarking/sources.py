"""Score sources of a cell (the exact score of an analytic problem, or a trained checkpoint)
and the adapter that runs a published peer solver (``peers.PEERS``) as a benchmark row."""
from __future__ import annotations

import importlib
import time
from typing import Any, Dict, Mapping, Optional, Tuple

import torch

from ..solvers.grids import default_t_end
from .problems import Problem, check_data_shape

__all__ = ["score_source", "run_peer", "PEER_INSTALL_HINT", "DIFFUSERS_PREFIX"]

PEER_INSTALL_HINT = 'pip install -e ".[bench]"   (diffusers and k-diffusion)'


def _get(node: Any, *path: str) -> Any:
    for p in path:
        node = node.get(p) if isinstance(node, Mapping) else None
    return node


def _checkpoint_shape(model, cfg) -> Optional[Tuple[int, ...]]:
    """The data shape a checkpoint was trained on: its config's ``_meta_.data_shape`` (what
    ``training.load_model`` records), else the model's ``data_shape`` attribute."""
    for path in (("_meta_", "data_shape"), ("data_shape",), ("data", "data_shape")):
        node = _get(cfg, *path)
        if node is not None:
            return tuple(int(d) for d in node)
    shape = getattr(model, "data_shape", None)
    return tuple(int(d) for d in shape) if shape is not None else None


def score_source(cell: Mapping[str, Any], problem: Problem, sde: Any, device, dtype):
    """(sde, score_fn, "analytic" | "checkpoint" | "diffusers") for the cell.

    Analytic: the mixture's exact score under ``sde``. Checkpoint: ``training.load_model``
    (the only loader; it builds nothing outside the package's allow-list); its data shape must
    equal the problem's and its SDE class the cell's ``sde`` spec, both checked before any
    sampling; the checkpoint's own SDE is the one sampled. A ``checkpoint`` of the form
    ``diffusers:<folder or hub id>`` (what the script's ``source=diffusers:<folder>`` sets)
    loads a diffusers model instead (``models.from_diffusers``)."""
    ckpt = cell.get("checkpoint")
    if isinstance(ckpt, str) and ckpt.startswith(DIFFUSERS_PREFIX):
        return _diffusers_source(ckpt[len(DIFFUSERS_PREFIX):], problem, device, dtype)
    if not ckpt:
        if not problem.analytic:
            raise ValueError(f"problem {problem.name!r} has no analytic density: give a "
                             f"checkpoint=<path> as the score source")
        if sde is None:
            raise ValueError("an analytic cell needs the SDE object (sde=...)")
        return sde, problem.mixture.score_fn(sde), "analytic"
    from ..io import load_model
    model, mcfg, meta = load_model(str(ckpt), use_ema=bool(cell.get("use_ema", True)),
                                   map_location="cpu")
    shape = tuple(meta.data_shape) if meta.data_shape is not None else _checkpoint_shape(model, mcfg)
    check_data_shape(shape, problem, f"checkpoint {str(ckpt)!r}")
    have, want = _get(mcfg, "sde", "_target_"), (cell.get("sde") or {}).get("_target_")
    if want and have and str(have) != str(want):
        raise ValueError(f"checkpoint {str(ckpt)!r} was trained with sde {str(have)!r}, the "
                         f"benchmark asks for {want!r}; set the matching sde (the "
                         f"checkpoint's SDE is always the one sampled)")
    model = model.to(device=device, dtype=dtype).eval()
    return model.sde, model, "checkpoint"


DIFFUSERS_PREFIX = "diffusers:"


def _diffusers_source(path: str, problem: Problem, device, dtype):
    """A diffusers model folder (``source=diffusers:<folder or hub id>``) through
    ``models.from_diffusers``; its own SDE (discrete-table VP or VE) is the one sampled."""
    try:
        import diffusers  # noqa: F401
    except ImportError:
        raise ValueError(f"source=diffusers:... needs the diffusers package; install it with "
                         f"{PEER_INSTALL_HINT}") from None
    from ..models import from_diffusers
    model = from_diffusers(path)
    check_data_shape(tuple(model.data_shape), problem, f"diffusers model {path!r}")
    model = model.to(device=device, dtype=dtype).eval()
    return model.sde, model, "diffusers"


def _peers():
    try:  # through sys.modules (not the package attribute), so a stand-in module is honoured
        peers = importlib.import_module(f"{__package__}.peers")
    except ImportError as e:
        raise ValueError(f"peer solvers are not available ({e}); install them with "
                         f"{PEER_INSTALL_HINT}") from None
    return peers


def run_peer(name: str, sde, score_fn, x_init: torch.Tensor, steps: int,
             sample_kw: Dict[str, Any]):
    """Run published solver ``peers.PEERS[name](sde, score_fn, x_T, steps, t_end) -> x0`` (a
    data estimate) from the same x_T; NFE is counted by wrapping the score. Returns the
    runner's sample tuple (x0, nfe, wall, t_end, denoised=False, options, stochastic=False)."""
    peers = _peers()
    table = getattr(peers, "PEERS", {})
    if name not in table:
        hint = ""
        if hasattr(peers, "missing_peers_message"):
            hint = " " + str(peers.missing_peers_message() or "")
        raise ValueError(f"unknown peer solver {name!r}; available: "
                         f"{', '.join(sorted(table)) or '(none)'}.{hint}".rstrip())
    bad = sorted(set(sample_kw) - {"t_end"})
    if bad:
        raise ValueError(f"peer solver {name!r} takes only the option t_end, got "
                         f"{', '.join(bad)}")
    # the same end time a project sampler would use at this step count (grids.default_t_end)
    t_end = float(sample_kw["t_end"]) if "t_end" in sample_kw else default_t_end(sde, int(steps))
    calls = [0]

    def counted(x, t):
        calls[0] += 1
        return score_fn(x, t)

    start = time.perf_counter()
    with torch.no_grad():
        x = table[name](sde, counted, x_init.clone(), int(steps), t_end)
    if not torch.is_tensor(x) or tuple(x.shape) != tuple(x_init.shape):
        raise ValueError(f"peer solver {name!r} returned "
                         f"{tuple(x.shape) if torch.is_tensor(x) else type(x).__name__}, "
                         f"expected a tensor of shape {tuple(x_init.shape)}")
    return (x, calls[0], time.perf_counter() - start, t_end, False, {"t_end": t_end}, False)
