"""Solver benchmarking: one cell (score source, SDE, sampler, steps, seed) -> one metrics record;
sweep-directory helpers; the report (markdown table, quality-vs-NFE / quality-vs-time plots with
the Pareto front marked).

A **cell** is a plain dict (``scripts/benchmark.py`` builds it from the Hydra config)::

    {"problem": {"name": "ring8", "mixture": {"_target_": ..., ...}}   # analytic source
                 or {"name": ..., "data": {"_target_": ...}},           # data-only (checkpoint)
     "sde": {"_target_": "sde_diffusion.sdes.VPSDE", ...},
     "sampler": {"name": "heun", "steps": 50, "options": {...}},
     "nfe": None | int,          # NFE budget: overrides sampler.steps (see steps_for_nfe)
     "seed": 0, "n_samples": 2000, "n_heldout": 2000,
     "metrics": [...], "reference": {...}, "checkpoint": None | path,
     "device": "cpu", "dtype": "float32", "labels": {"sde": "vp", ...}}

``run_cell(cell, out_dir)`` writes ``<out_dir>/records/<cell_key(cell)>.json`` atomically (write
to a temporary file, then ``os.replace``) and skips the cell when that file already exists,
so re-running an interrupted sweep completes only the missing cells. The key is a readable
slug plus a hash of the canonical JSON of everything that changes the numbers.

Metrics (``METRIC_NAMES``; each record also stores NFE, wall time and peak memory):

- ``sliced_wasserstein``, ``mmd``, ``energy_distance``: ``sde_diffusion.metrics`` between the
  samples and held-out data (exact samples of an analytic problem, else the data's test split);
- ``nll``: exact mean negative log-likelihood -E log p_0(x) of the samples under the analytic
  mixture (its entropy H(p_0) is the value for exact samples);
- ``mode_tv``: mode-weight total variation 1/2 sum_k |w_hat_k - w_k| with
  w_hat_k = mean_i r_k(x_i), r_k the responsibilities of component k under p_0;
- ``ode_rmse``: for deterministic samplers, sqrt(mean (x - x_ref)^2) against the probability-flow
  ODE solved from the same prior noise by the tight-tolerance adaptive ``rk45`` sampler
  (``reference``: DOP853, rtol = atol = 1e-9 by default) to the sampler's end time
  (followed by the same Tweedie step when the sampler denoises);
- ``frechet``: Frechet distance between Gaussian fits of the flattened samples and held-out
  data (for 8x8 digits: the 64-D pixel space).

Score source: the problem's analytic mixture (its exact score under the cell's SDE), or a
trained ``checkpoint`` (``training.load_model``): its recorded data shape must equal the
problem's and its SDE the cell's ``sde`` target, both checked before any sampling. A sampler
that refuses the SDE, or fails numerically, gives a record with ``error`` set (the cell counts
as done; ``force=True`` recomputes it).

Every record also holds ``baseline``: the same metrics for an independent set of exact samples
(``n_samples`` of them) -- the Monte Carlo floor below which no sampler can be told apart.

Reproducibility: all randomness comes from ``torch.Generator``s seeded from the cell's
``seed`` (prior noise, sampler noise, held-out and baseline sets, metric projections), so the
same cell twice gives identical metric values on CPU (times and memory differ, of course).
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import re
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import torch

from . import metrics as _metrics
from .utils import check_choice

__all__ = ["METRIC_NAMES", "Problem", "build_problem", "build_sde", "cell_key", "record_path",
           "steps_for_nfe", "run_cell", "load_records", "pareto_front", "build_report",
           "PeakMemory", "check_data_shape", "validate_cell", "cell_from_config", "run_from_config"]

METRIC_NAMES: Tuple[str, ...] = ("sliced_wasserstein", "mmd", "energy_distance", "nll",
                                 "mode_tv", "ode_rmse", "frechet")
"""Metrics a cell can compute (``nll``, ``mode_tv`` and ``ode_rmse`` need an analytic problem)."""

_ANALYTIC_ONLY = ("nll", "mode_tv", "ode_rmse")
# sample() keyword arguments that may appear in a sampler config's ``options``
_SAMPLE_KWARGS = ("grid", "denoise", "t_end", "t_start", "noise_dtype", "progress")
RECORD_VERSION = 1


# ----------------------------------------------------------------------------- config helpers
def _plain(obj: Any) -> Any:
    """DictConfig/ListConfig -> plain containers (resolved); anything else unchanged."""
    try:
        from omegaconf import DictConfig, ListConfig, OmegaConf
        if isinstance(obj, (DictConfig, ListConfig)):
            return OmegaConf.to_container(obj, resolve=True)
    except ImportError:  # pragma: no cover
        pass
    return obj


def _instantiate(node: Mapping[str, Any]) -> Any:
    from hydra.utils import instantiate
    return instantiate(dict(node), _convert_="all")


def build_sde(sde_cfg: Mapping[str, Any]):
    """The SDE object from a config node with ``_target_`` (``conf/sde/*.yaml``)."""
    if not isinstance(sde_cfg, Mapping) or "_target_" not in sde_cfg:
        raise ValueError(f"the sde config must be a mapping with a '_target_', got {sde_cfg!r}")
    return _instantiate(sde_cfg)


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


_KEY_FIELDS = ("problem", "sde", "sampler", "nfe", "seed", "n_samples", "n_heldout", "metrics",
               "reference", "checkpoint", "use_ema", "device", "dtype")


def cell_key(cell: Mapping[str, Any]) -> str:
    """File-name key of a cell: ``<problem>__<sde>__<sampler>__<steps|nfe>__s<seed>__<hash>``.

    The hash (12 hex digits of SHA-1) covers every field that changes the numbers, so two
    cells share a key exactly when they would compute the same record."""
    cell = _plain(cell)
    payload = {k: cell.get(k) for k in _KEY_FIELDS}
    payload["version"] = RECORD_VERSION
    digest = hashlib.sha1(_canonical(payload).encode()).hexdigest()[:12]
    labels = cell.get("labels") or {}
    sde_label = labels.get("sde") or str(cell["sde"].get("_target_", "sde")).rsplit(".", 1)[-1]
    budget = f"nfe{cell['nfe']}" if cell.get("nfe") is not None else f"steps{cell['sampler']['steps']}"
    parts = [cell["problem"]["name"], sde_label, cell["sampler"]["name"], budget, f"s{cell['seed']}"]
    slug = "__".join(re.sub(r"[^A-Za-z0-9_.-]+", "-", str(p)) for p in parts)
    return f"{slug}__{digest}"


def record_path(out_dir: os.PathLike, cell: Mapping[str, Any]) -> Path:
    return Path(out_dir) / "records" / f"{cell_key(cell)}.json"


def _atomic_write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that readers never see a partial file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def validate_cell(cell: Mapping[str, Any]) -> Dict[str, Any]:
    """Check a cell's choices before any work: sampler name, metric names, sizes, dtype."""
    from .solvers import SAMPLERS
    cell = dict(_plain(cell))
    for key in ("problem", "sde", "sampler"):
        if not isinstance(cell.get(key), Mapping):
            raise ValueError(f"cell[{key!r}] must be a config mapping, got {cell.get(key)!r}")
    smp = cell["sampler"]
    check_choice("sampler", smp.get("name"), sorted(SAMPLERS))
    metrics = cell.get("metrics") or []
    if isinstance(metrics, str):
        metrics = [metrics]
    for m in metrics:
        check_choice("metric", m, METRIC_NAMES)
    cell["metrics"] = list(metrics)
    for k in ("n_samples", "n_heldout"):
        v = cell.get(k)
        if isinstance(v, bool) or not isinstance(v, int) or v < 2:
            raise ValueError(f"{k} must be an integer >= 2, got {v!r}")
    nfe = cell.get("nfe")
    if nfe is not None and (isinstance(nfe, bool) or not isinstance(nfe, int) or nfe < 1):
        raise ValueError(f"nfe must be null or an integer >= 1, got {nfe!r}")
    check_choice("dtype", cell.get("dtype", "float32"), ("float32", "float64"))
    if not isinstance(cell.get("seed"), int):
        raise ValueError(f"seed must be an integer, got {cell.get('seed')!r}")
    return cell


# ----------------------------------------------------------------------------- problems
@dataclass
class Problem:
    """A reference problem: its data shape, held-out data and (analytic) exact density.

    Attributes:
        name: label. data_shape: per-sample shape. mixture: the exact data distribution
        (``analytic.GaussianMixture``) or None. data: a ``DataBundle`` when held-out data
        come from a data set (checkpoint problems without a mixture), else None.
    """

    name: str
    data_shape: Tuple[int, ...]
    mixture: Any = None
    data: Any = None

    @property
    def analytic(self) -> bool:
        return self.mixture is not None

    def exact_samples(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """n samples of the data distribution (mixture draws, or rows of the data set)."""
        if self.mixture is not None:
            return self.mixture.sample(n, generator=generator, dtype=torch.float64)
        pool = self.data.test if self.data.test.shape[0] >= n else self.data.train
        if pool.shape[0] < n:
            raise ValueError(f"problem {self.name!r} has only {pool.shape[0]} data rows, "
                             f"fewer than the {n} requested")
        idx = torch.randperm(pool.shape[0], generator=generator)[:n]
        return pool[idx].to(torch.float64)

    def heldout(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """The comparison set: exact samples, or the first n rows of the test split."""
        if self.mixture is not None:
            return self.mixture.sample(n, generator=generator, dtype=torch.float64)
        test = self.data.test
        return test[: min(n, test.shape[0])].to(torch.float64)

    def baseline_pool(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """Exact samples independent of ``heldout`` (the train split for data sets)."""
        if self.mixture is not None:
            return self.mixture.sample(n, generator=generator, dtype=torch.float64)
        pool = self.data.train
        idx = torch.randperm(pool.shape[0], generator=generator)[: min(n, pool.shape[0])]
        return pool[idx].to(torch.float64)


def build_problem(problem_cfg: Mapping[str, Any]) -> Problem:
    """A ``Problem`` from ``conf/problem/*.yaml``: ``mixture`` (a ``_target_`` returning a
    ``GaussianMixture``) and/or ``data`` (a ``_target_`` returning a ``DataBundle``)."""
    cfg = dict(_plain(problem_cfg))
    name = cfg.get("name")
    if not name:
        raise ValueError(f"a problem config needs a 'name', got {cfg!r}")
    mixture = _instantiate(cfg["mixture"]) if cfg.get("mixture") else None
    data = _instantiate(cfg["data"]) if cfg.get("data") else None
    if mixture is None and data is None:
        raise ValueError(f"problem {name!r} needs a 'mixture' or a 'data' config")
    if mixture is not None:
        shape = tuple(mixture.data_shape)
        if data is not None and tuple(data.data_shape) != shape:
            raise ValueError(f"problem {name!r}: mixture data shape {shape} differs from the "
                             f"data set's {tuple(data.data_shape)}")
    else:
        shape = tuple(data.data_shape)
    if cfg.get("data_shape") is not None and tuple(cfg["data_shape"]) != shape:
        raise ValueError(f"problem {name!r} declares data_shape {tuple(cfg['data_shape'])} "
                         f"but its source has {shape}")
    return Problem(name=name, data_shape=shape, mixture=mixture, data=data)


def check_data_shape(source_shape: Sequence[int], problem: Problem, what: str) -> None:
    """Refuse a score source whose per-sample data shape differs from the problem's."""
    src = tuple(int(d) for d in source_shape)
    if src != tuple(problem.data_shape):
        raise ValueError(f"{what} was trained on data of shape {src}, but problem "
                         f"{problem.name!r} has data shape {tuple(problem.data_shape)}; "
                         f"choose the matching problem (or checkpoint)")


def _checkpoint_data_shape(model, cfg) -> Optional[Tuple[int, ...]]:
    """The data shape a checkpoint was trained on: from its config's ``data_shape`` entries,
    else by building its data config (cheap for the shipped data sets)."""
    cfg = _plain(cfg) or {}
    for path in (("_meta_", "data_shape"), ("data_shape",), ("data", "data_shape")):
        node: Any = cfg
        for p in path:
            node = node.get(p) if isinstance(node, Mapping) else None
        if node is not None:
            return tuple(int(d) for d in node)
    shape = getattr(model, "data_shape", None)
    if shape is not None:
        return tuple(int(d) for d in shape)
    if isinstance(cfg.get("data"), Mapping) and "_target_" in cfg["data"]:
        return tuple(_instantiate(cfg["data"]).data_shape)
    return None


def _score_source(cell: Mapping[str, Any], problem: Problem, device, dtype):
    """(sde, score_fn, label) for the cell: the analytic mixture's exact score under the
    cell's SDE, or a trained checkpoint (its own SDE; data shape checked first)."""
    ckpt = cell.get("checkpoint")
    if not ckpt:
        if not problem.analytic:
            raise ValueError(f"problem {problem.name!r} has no analytic density: give a "
                             f"checkpoint=<path> as the score source")
        sde = build_sde(cell["sde"])
        return sde, problem.mixture.score_fn(sde), "analytic"
    from .training import load_model
    model, mcfg = load_model(str(ckpt), use_ema=bool(cell.get("use_ema", True)),
                             map_location="cpu")
    shape = _checkpoint_data_shape(model, mcfg)
    if shape is None:
        raise ValueError(f"checkpoint {ckpt!r} does not record its data shape; cannot check "
                         f"it against problem {problem.name!r}")
    check_data_shape(shape, problem, f"checkpoint {ckpt!r}")
    ck_sde = (_plain(mcfg) or {}).get("sde") or {}
    want = (cell.get("sde") or {}).get("_target_")
    if want and ck_sde.get("_target_") and ck_sde["_target_"] != want:
        raise ValueError(f"checkpoint {ckpt!r} was trained with sde {ck_sde['_target_']!r}, "
                         f"the benchmark config asks for {want!r}; set the matching sde "
                         f"(the checkpoint's SDE is always the one sampled)")
    model = model.to(device=device, dtype=dtype).eval()
    return model.sde, model, "checkpoint"


# ----------------------------------------------------------------------------- budget
def _sampler_parts(sampler_cfg: Mapping[str, Any]) -> Tuple[str, Dict[str, Any], Dict[str, Any]]:
    """(name, constructor options, sample() keyword options) of a sampler config node."""
    opts = dict(sampler_cfg.get("options") or {})
    sample_kw = {k: opts.pop(k) for k in list(opts) if k in _SAMPLE_KWARGS}
    return sampler_cfg["name"], opts, sample_kw


def steps_for_nfe(sampler_cfg: Mapping[str, Any], nfe: int, sde=None,
                  data_shape: Sequence[int] = (1,)) -> int:
    """The largest step count whose NFE stays within the budget ``nfe`` (at least 1 step).

    A fixed-step sampler spends NFE(steps) = a * steps + b score evaluations (a = evals per
    step, b = e.g. +1 for a final Tweedie step, -1 for EDM's last Euler step, or a solver's own
    extra evaluation). a and b are *measured* by two probe runs (steps = 2 and 3) on one sample
    with the score -x, so the budget holds whatever the sampler's bookkeeping; if the probe
    cannot run, a = evals_per_step and b = 1 if the sampler denoises. Adaptive samplers ignore
    steps; their NFE is measured in the cell."""
    from .solvers import get_sampler, sample
    from .sdes import VPSDE
    name, ctor, sample_kw = _sampler_parts(sampler_cfg)
    cls = get_sampler(name)
    inst = cls(**ctor)
    try:
        probe = []
        for k in (2, 3):
            _, info = sample(sde if sde is not None else VPSDE(), lambda x, t: -x,
                             (1,) + tuple(data_shape), sampler=name, steps=k, dtype=torch.float64,
                             generator=torch.Generator().manual_seed(0), progress=False,
                             **ctor, **sample_kw)
            probe.append(info.nfe)
        a = probe[1] - probe[0]
        b = probe[0] - 2 * a
    except Exception:   # the budget is then approximate (a refusal is reported by the cell)
        denoise = sample_kw.get("denoise")
        a = max(int(getattr(inst, "evals_per_step", 1)), 1)
        b = int(bool(cls.default_denoise if denoise is None else denoise))
    if a <= 0:          # NFE does not grow with steps (adaptive): steps are irrelevant
        return 1
    return max(1, (int(nfe) - b) // a)


# ----------------------------------------------------------------------------- measurement
class PeakMemory:
    """Peak memory of a block, in bytes above the level at entry.

    CUDA: ``torch.cuda.max_memory_allocated`` (tensors only). CPU: the process's resident set
    size sampled every ``interval`` s by a thread (``/proc/self/statm``; elsewhere the growth
    of ``ru_maxrss``), so it covers torch, numpy and Python allocations alike, to within what
    the allocator returns to the system; short-lived peaks between samples can be missed.
    """

    def __init__(self, device: torch.device, interval: float = 0.002):
        self.device = torch.device(device)
        self.interval = interval
        self.peak = 0

    @staticmethod
    def _rss() -> Optional[int]:
        try:
            with open("/proc/self/statm") as f:
                return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError, IndexError):
            return None

    def __enter__(self) -> "PeakMemory":
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self._start = torch.cuda.memory_allocated(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            return self
        self._start = self._rss()
        if self._start is None:  # no /proc: high-water mark of the process
            import resource
            self._start_maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
            return self
        self._max = self._start
        self._stop = threading.Event()

        def poll():
            while not self._stop.is_set():
                r = self._rss()
                if r is not None and r > self._max:
                    self._max = r
                self._stop.wait(self.interval)

        self._thread = threading.Thread(target=poll, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.peak = int(torch.cuda.max_memory_allocated(self.device) - self._start)
            return
        if self._start is None:
            import resource
            self.peak = max(0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
                            - self._start_maxrss)
            return
        self._stop.set()
        self._thread.join()
        r = self._rss()
        self._max = max(self._max, r or 0)
        self.peak = int(self._max - self._start)


def _quality(metric_names: Sequence[str], x: torch.Tensor, heldout: torch.Tensor,
             problem: Problem, seed: int) -> Dict[str, float]:
    """Distribution metrics of samples x (float64) against held-out data and the exact density."""
    out: Dict[str, float] = {}
    if not bool(torch.isfinite(x).all()):
        return {m: math.nan for m in metric_names if m != "ode_rmse"}
    for m in metric_names:
        if m == "sliced_wasserstein":
            out[m] = _metrics.sliced_wasserstein(x, heldout, seed=seed)
        elif m == "mmd":
            out[m] = _metrics.mmd(x, heldout)
        elif m == "energy_distance":
            out[m] = _metrics.energy_distance(x, heldout)
        elif m == "frechet":
            out[m] = _metrics.frechet_distance(x, heldout)
        elif m == "nll":
            out[m] = _metrics.mean_nll(x, problem.mixture.log_prob)
        elif m == "mode_tv":
            r = problem.mixture.responsibilities(x)              # (N, K)
            w_hat = r.mean(0)
            out[m] = float(0.5 * (w_hat - problem.mixture.weights.to(w_hat)).abs().sum())
    return out


def _reference_solution(cell: Mapping[str, Any], sde, score_fn, x_init: torch.Tensor,
                        t_end: float, denoised: bool, out_dir: Optional[Path]) -> torch.Tensor:
    """The PF-ODE solution from ``x_init`` (float64) to ``t_end`` by the tight-tolerance rk45
    sampler (+ the Tweedie step when ``denoised``); cached on disk per (problem, sde, seed,
    n, t_end, denoised, reference options) so every deterministic sampler of a sweep shares it."""
    from .solvers import sample
    ref = dict(cell.get("reference") or {})
    ref_opts = {"rtol": float(ref.get("rtol", 1e-9)), "atol": float(ref.get("atol", 1e-9)),
                "method": str(ref.get("method", "DOP853"))}
    key_payload = {k: cell.get(k) for k in ("problem", "sde", "seed", "n_samples", "checkpoint",
                                            "use_ema", "device", "dtype")}
    key_payload.update(t_end=float(t_end), denoised=bool(denoised), ref=ref_opts)
    digest = hashlib.sha1(_canonical(key_payload).encode()).hexdigest()[:16]
    path = out_dir / "references" / f"{digest}.pt" if out_dir is not None else None
    if path is not None and path.exists():
        try:
            return torch.load(path, weights_only=True)
        except Exception:  # a corrupt cache file is recomputed
            pass
    x_ref, _ = sample(sde, score_fn, sampler="rk45", x_init=x_init,
                      t_end=float(t_end), denoise=bool(denoised), progress=False, **ref_opts)
    x_ref = x_ref.detach().cpu()
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        os.close(fd)
        torch.save(x_ref, tmp)
        os.replace(tmp, path)
    return x_ref


# ----------------------------------------------------------------------------- one cell
_BASELINE_CACHE: Dict[str, Dict[str, float]] = {}


def run_cell(cell: Mapping[str, Any], out_dir: Optional[os.PathLike] = None, *,
             tracker: Any = None, force: bool = False) -> Dict[str, Any]:
    """Compute one cell's record (or load it when ``out_dir`` already holds it).

    Returns the record dict; ``record["status"]`` is "computed" or "skipped" (loaded). With
    ``out_dir`` the record is written atomically to ``record_path(out_dir, cell)``. ``tracker``
    (a ``sde_diffusion.tracking.Tracker``) receives the metrics via ``log`` and ``summary``.
    """
    from .solvers import get_sampler, sample
    cell = validate_cell(cell)
    out = Path(out_dir) if out_dir is not None else None
    path = record_path(out, cell) if out is not None else None
    if path is not None and path.exists() and not force:
        rec = json.loads(path.read_text())
        rec["status"] = "skipped"
        return rec

    device = torch.device(cell.get("device") or "cpu")
    dtype = getattr(torch, cell.get("dtype", "float32"))
    seed = int(cell["seed"])
    problem = build_problem(cell["problem"])
    metric_names = cell["metrics"]
    if not problem.analytic:
        bad = [m for m in metric_names if m in _ANALYTIC_ONLY]
        if bad:
            raise ValueError(f"metric(s) {', '.join(bad)} need an analytic problem; problem "
                             f"{problem.name!r} has none (valid here: "
                             f"{', '.join(m for m in METRIC_NAMES if m not in _ANALYTIC_ONLY)})")
    sde, score_fn, source = _score_source(cell, problem, device, dtype)   # checks shapes

    name, ctor, sample_kw = _sampler_parts(cell["sampler"])
    cls = get_sampler(name)
    steps = steps_for_nfe(cell["sampler"], cell["nfe"], sde, problem.data_shape) \
        if cell.get("nfe") is not None else int(cell["sampler"]["steps"])

    n = int(cell["n_samples"])
    shape = (n,) + tuple(problem.data_shape)
    # independent streams, all from the cell's seed
    g_prior = torch.Generator().manual_seed(seed)
    g_noise = torch.Generator(device=device).manual_seed(seed + 1)
    g_held = torch.Generator().manual_seed(1_000_003 + seed)
    g_base = torch.Generator().manual_seed(2_000_003 + seed)

    x_init = sde.prior_sample(shape, generator=g_prior, dtype=torch.float64).to(device=device,
                                                                                  dtype=dtype)
    smp = cls(**ctor)
    stochastic = bool(getattr(smp, "stochastic", cls.stochastic))
    error, x, info = None, None, None
    try:
        smp.check_sde(sde)   # a sampler that does not apply to this SDE says why
    except ValueError as e:
        error = f"refused: {e}"
    if error is None:
        with PeakMemory(device) as mem:
            try:
                x, info = sample(sde, score_fn, sampler=name, steps=steps, generator=g_noise,
                                 x_init=x_init, progress=False, **ctor, **sample_kw)
            except (FloatingPointError, RuntimeError, ValueError) as e:
                # numerical failure (e.g. solve_ivp) or a refusal found during setup
                error = f"{type(e).__name__}: {e}"
    rec: Dict[str, Any] = {
        "key": cell_key(cell), "version": RECORD_VERSION, "cell": cell,
        "problem": problem.name, "sde": (cell.get("labels") or {}).get("sde")
        or str(cell["sde"].get("_target_", "")).rsplit(".", 1)[-1],
        "sampler": name, "stochastic": stochastic, "steps": steps,
        "nfe_budget": cell.get("nfe"), "seed": seed, "n_samples": n, "source": source,
        "device": str(device), "torch": torch.__version__,
    }
    if error is not None:  # the sampler refused this SDE: record why, count the cell as done
        rec.update(status="computed", error=error, nfe=None, wall_time=None, peak_mem_mb=None,
                   metrics={}, baseline={})
    else:
        x64 = x.detach().to("cpu", torch.float64)
        heldout = problem.heldout(int(cell["n_heldout"]), g_held)
        q_names = [m for m in metric_names if m != "ode_rmse"]
        t0 = time.perf_counter()
        met = _quality(q_names, x64, heldout, problem, seed)
        if "ode_rmse" in metric_names:
            if stochastic:
                met["ode_rmse"] = None   # not defined for stochastic samplers
            else:
                ref_dtype = torch.float64 if source == "analytic" else dtype
                x_ref = _reference_solution(cell, sde, score_fn, x_init.to(ref_dtype),
                                            info.t_end, info.denoised, out)
                met["ode_rmse"] = float(((x64 - x_ref.to(torch.float64)) ** 2).mean().sqrt())
        bkey = _canonical([cell["problem"], seed, n, cell["n_heldout"], q_names, cell.get("checkpoint")])
        if bkey not in _BASELINE_CACHE:  # the same for every sampler of a sweep
            _BASELINE_CACHE[bkey] = _quality(q_names, problem.baseline_pool(n, g_base), heldout,
                                             problem, seed)
        base = dict(_BASELINE_CACHE[bkey])
        rec.update(status="computed", error=None, nfe=int(info.nfe), wall_time=float(info.wall_time),
                   peak_mem_mb=mem.peak / 2 ** 20, t_end=float(info.t_end),
                   denoised=bool(info.denoised), options=_plain(info.options),
                   nonfinite=int((~torch.isfinite(x64)).any(dim=tuple(range(1, x64.ndim))).sum()),
                   metrics=met, baseline=base, metric_time=time.perf_counter() - t0)
    if out is not None:
        _atomic_write(path, json.dumps(rec, indent=1, sort_keys=True, default=str))
    if tracker is not None:
        flat = {"nfe": rec.get("nfe"), "wall_time": rec.get("wall_time"),
                "peak_mem_mb": rec.get("peak_mem_mb"), "steps": steps}
        flat.update({f"metrics/{k}": v for k, v in rec["metrics"].items()})
        flat.update({f"baseline/{k}": v for k, v in rec["baseline"].items()})
        flat = {k: v for k, v in flat.items() if isinstance(v, (int, float))}
        tracker.log(flat, step=0)
        tracker.summary(flat)
    return rec


# ----------------------------------------------------------------------------- Hydra glue
_CELL_FIELDS = ("problem", "sde", "sampler", "nfe", "seed", "n_samples", "n_heldout", "metrics",
                "reference", "checkpoint", "use_ema", "device", "dtype", "labels")


def cell_from_config(cfg: Any) -> Dict[str, Any]:
    """The cell dict of a composed ``conf/benchmark.yaml`` (resolved, plain containers).

    ``labels`` (``${hydra:runtime.choices...}``) resolve only inside a Hydra job; composed
    with the compose API they are dropped (names then fall back to the config targets)."""
    from omegaconf import DictConfig, OmegaConf
    if isinstance(cfg, DictConfig):
        try:
            labels = OmegaConf.to_container(cfg.labels, resolve=True) if "labels" in cfg else {}
        except Exception:  # no HydraConfig (compose API)
            labels = {}
        cfg = OmegaConf.to_container(OmegaConf.masked_copy(cfg, [k for k in cfg if k != "labels"]),
                                     resolve=True)
        cfg["labels"] = labels
    cfg = _plain(cfg)
    missing = [k for k in ("problem", "sde", "sampler", "seed") if k not in cfg]
    if missing:
        raise ValueError(f"benchmark config lacks {', '.join(missing)}")
    cell = {k: cfg.get(k) for k in _CELL_FIELDS}
    if cell["metrics"] is None:
        cell["metrics"] = list(cell["problem"].get("metrics") or ["sliced_wasserstein"])
    cell["problem"] = {k: v for k, v in cell["problem"].items() if k != "metrics"}
    cell["labels"] = {k: v for k, v in (cell.get("labels") or {}).items() if v is not None}
    return cell


def run_from_config(cfg: Any, job_dir: os.PathLike, out_dir: os.PathLike) -> Dict[str, Any]:
    """One benchmark job: build the cell, open the tracker (``cfg.logger``), run, finish.

    The record goes to ``out_dir`` (the sweep directory shared by all jobs); the tracker's files
    to ``job_dir`` (this job's Hydra output directory)."""
    cell = cell_from_config(cfg)
    validate_cell(cell)
    path = record_path(out_dir, cell)
    force = bool(_plain(cfg).get("force", False))
    if path.exists() and not force:   # finished earlier: no tracker run, no work
        return run_cell(cell, out_dir)
    tracker = None
    logger_cfg = _plain(cfg).get("logger")
    if logger_cfg and logger_cfg.get("_target_"):
        tracker = _instantiate({**logger_cfg, "run_dir": str(job_dir), "config": _plain(cfg),
                                "default_group": f"benchmark-{_plain(cfg).get('name', 'default')}",
                                "name": logger_cfg.get("name") or cell_key(cell).rsplit("__", 1)[0]})
    code = 1
    try:
        rec = run_cell(cell, out_dir, tracker=tracker, force=force)
        code = 0
    finally:
        if tracker is not None:
            tracker.finish(exit_code=code)
    return rec


# ----------------------------------------------------------------------------- sweep dirs
def load_records(sweep_dir: os.PathLike) -> List[Dict[str, Any]]:
    """Every record under ``<sweep_dir>/records`` (or ``sweep_dir`` itself), sorted by key."""
    d = Path(sweep_dir)
    rec_dir = d / "records" if (d / "records").is_dir() else d
    if not rec_dir.is_dir():
        raise FileNotFoundError(f"no sweep directory at {str(d)!r}")
    recs = []
    for p in sorted(rec_dir.glob("*.json")):
        try:
            recs.append(json.loads(p.read_text()))
        except json.JSONDecodeError as e:
            raise ValueError(f"record {str(p)!r} is not valid JSON ({e})") from None
    return recs


def pareto_front(points: Sequence[Tuple[float, float]]) -> List[int]:
    """Indices of the points not dominated under minimisation of both coordinates
    (q dominates p if q <= p in both and q < p in one); non-finite points are never on it."""
    idx = [i for i, (a, b) in enumerate(points) if math.isfinite(a) and math.isfinite(b)]
    idx.sort(key=lambda i: (points[i][0], points[i][1]))
    front, best = [], math.inf
    for i in idx:
        if points[i][1] < best:
            front.append(i)
            best = points[i][1]
    return sorted(front)


def _fmt(v: Any, digits: int = 3) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        if not math.isfinite(v):
            return "nan"
        if v != 0 and (abs(v) < 1e-3 or abs(v) >= 1e4):
            return f"{v:.{digits - 1}e}"
        return f"{v:.{digits}g}" if abs(v) < 1 else f"{v:.{digits + 1}g}"
    return str(v)


def _group_key(r: Mapping[str, Any]) -> Tuple[str, str]:
    return (str(r["problem"]), str(r["sde"]))


def build_report(records: Sequence[Mapping[str, Any]], out_dir: os.PathLike,
                 metrics: Sequence[str] = ("sliced_wasserstein",), tracker: Any = None,
                 plot_prefix: str = "") -> Dict[str, Any]:
    """Markdown tables and quality-vs-NFE / quality-vs-time plots from a sweep's records.

    For each metric in ``metrics`` (the first is the primary one) writes a pivot table
    (sampler x NFE budget, per problem and SDE) and ``<out_dir>/<plot_prefix><metric>_vs_nfe.png``
    and ``..._vs_time.png`` (one panel per (problem, SDE); the Pareto front -- cells no other
    cell beats in both cost and metric -- drawn as a black step line with circled points; the
    exact-sample floor dotted). ``<out_dir>/report.md`` holds the pivots and the full table of
    every cell. Seeds are averaged. Returns the paths, markdown text and rows.
    """
    if isinstance(metrics, str):
        metrics = [metrics]
    metrics = list(metrics)
    if not metrics:
        raise ValueError("give at least one report metric; valid choices: " + ", ".join(METRIC_NAMES))
    for m in metrics:
        check_choice("report metric", m, METRIC_NAMES)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    failed = [r for r in records if r.get("error")]
    ok = [r for r in records if not r.get("error")]
    missing = [m for m in metrics if not any(r["metrics"].get(m) is not None for r in ok)]
    if not ok or missing:
        raise ValueError(f"no record in this sweep has the metric(s) {missing or metrics} "
                         f"({len(records)} records, {len(failed)} failed)")

    # average over seeds: one row per (problem, sde, sampler, steps/budget, options)
    rows: Dict[Tuple, Dict[str, Any]] = {}
    for r in ok:
        opts = _canonical(r["cell"]["sampler"].get("options") or {})
        k = (r["problem"], r["sde"], r["sampler"], r["steps"], r.get("nfe_budget"), opts)
        row = rows.setdefault(k, {"problem": r["problem"], "sde": r["sde"], "sampler": r["sampler"],
                                  "steps": r["steps"], "nfe_budget": r.get("nfe_budget"),
                                  "options": r["cell"]["sampler"].get("options") or {},
                                  "stochastic": r.get("stochastic"), "recs": []})
        row["recs"].append(r)

    def mean(vals):
        vals = [v for v in vals if v is not None]
        return float(sum(vals) / len(vals)) if vals else None

    table = []
    for row in rows.values():
        rs = row.pop("recs")
        names = sorted({m for r in rs for m in r["metrics"]})
        row.update(nfe=mean([r["nfe"] for r in rs]), wall_time=mean([r["wall_time"] for r in rs]),
                   peak_mem_mb=mean([r["peak_mem_mb"] for r in rs]), seeds=len(rs),
                   metrics={m: mean([r["metrics"].get(m) for r in rs]) for m in names},
                   baseline={m: mean([r["baseline"].get(m) for r in rs]) for m in names
                             if m != "ode_rmse"}, pareto={})
        table.append(row)
    table.sort(key=lambda r: (r["problem"], r["sde"], r["sampler"], _canonical(r["options"]),
                              r["nfe"] or 0))

    # a sampler run with several option sets gets labels naming the options that vary
    by_name: Dict[str, List[Dict[str, Any]]] = {}
    for row in table:
        by_name.setdefault(row["sampler"], []).append(row)
    for name, rs in by_name.items():
        keys = sorted({k for r in rs for k in r["options"]})
        vary = [k for k in keys if len({_canonical(r["options"].get(k)) for r in rs}) > 1]
        for r in rs:
            opts = ",".join(f"{k}={r['options'].get(k)}" for k in vary)
            r["label"] = f"{name}[{opts}]" if vary else name

    groups: Dict[Tuple[str, str], List[Dict[str, Any]]] = {}
    for row in table:
        groups.setdefault(_group_key(row), []).append(row)
    for rs in groups.values():
        for m in metrics:
            q = [math.nan if r["metrics"].get(m) is None else r["metrics"][m] for r in rs]
            fronts = {axis: set(pareto_front([(r[axis] if r[axis] is not None else math.nan, v)
                                              for r, v in zip(rs, q)]))
                      for axis in ("nfe", "wall_time")}
            for i, r in enumerate(rs):
                r["pareto"][m] = (i in fronts["nfe"], i in fronts["wall_time"])

    md = _markdown(groups, metrics, failed)
    (out / "report.md").write_text(md)
    plots: Dict[str, Path] = {}
    for m in metrics:
        for axis, tag in (("nfe", "nfe"), ("wall_time", "time")):
            p = out / f"{plot_prefix}{m}_vs_{tag}.png"
            _plot(groups, m, axis, p)
            plots[f"{m}_vs_{tag}"] = p
    if tracker is not None:
        _log_report(tracker, table, metrics, plots)
    return {"markdown": md, "report": out / "report.md", "plots": plots, "rows": table,
            "failed": failed}


def _metric_columns(groups) -> List[str]:
    present = {m for rs in groups.values() for r in rs for m in r["metrics"]}
    return [m for m in METRIC_NAMES if m in present]


_SHORT = {"sliced_wasserstein": "SW2", "mmd": "MMD²", "energy_distance": "energy",
          "nll": "NLL", "mode_tv": "mode TV", "ode_rmse": "ODE RMSE", "frechet": "FD"}


def _markdown(groups, metrics: Sequence[str], failed) -> str:
    lines = []
    cols = _metric_columns(groups)
    for metric in metrics:
        lines.append(f"### {_SHORT[metric]} ({metric}) by sampler and NFE budget\n")
        lines.append("Mean over seeds; `*` = on the Pareto front in (NFE, metric), `†` = in "
                     "(wall time, metric); *exact samples* = the same metric for independent "
                     "exact samples (the Monte Carlo floor).\n")
        for (prob, sde), rs in sorted(groups.items()):
            rs = [r for r in rs if r["metrics"].get(metric) is not None]
            if not rs:
                continue
            by_budget = any(r["nfe_budget"] is not None for r in rs)
            col = (lambda r: r["nfe_budget"]) if by_budget else (lambda r: r["steps"])
            others = [r for r in rs if col(r) is None]
            rs = [r for r in rs if col(r) is not None]
            budgets = sorted({col(r) for r in rs})
            lines.append(f"**{prob} / {sde}** (columns: {'NFE budget' if by_budget else 'steps'})\n")
            lines.append("| sampler | " + " | ".join(str(b) for b in budgets) + " |")
            lines.append("|---|" + "---:|" * len(budgets))
            floor = [r["baseline"].get(metric) for r in rs + others
                     if r["baseline"].get(metric) is not None]
            if floor:
                lines.append("| *exact samples* | " + " | ".join(
                    [_fmt(sum(floor) / len(floor))] * len(budgets)) + " |")
            by_s: Dict[str, Dict[Any, Dict[str, Any]]] = {}
            for r in rs:
                by_s.setdefault(r["label"], {})[col(r)] = r

            def mark(r):
                pn, pt = r["pareto"][metric]
                return _fmt(r["metrics"][metric]) + ("*" if pn else "") + ("†" if pt else "")

            for s in sorted(by_s):
                cells = [mark(by_s[s][b]) if b in by_s[s] else "" for b in budgets]
                lines.append(f"| {s} | " + " | ".join(cells) + " |")
            if others:
                lines.append("\nWithout an NFE budget (adaptive or fixed steps): " + "; ".join(
                    f"{r['label']}: {mark(r)} at NFE {_fmt(r['nfe'])}"
                    for r in sorted(others, key=lambda r: (r["label"], r["nfe"] or 0))))
            lines.append("")
    primary = metrics[0]
    lines.append(f"### All cells (Pareto column: {primary})\n")
    head = ["problem", "sde", "sampler", "steps", "NFE", "time (s)", "mem (MB)"] + \
        [_SHORT[c] for c in cols] + ["Pareto"]
    lines.append("| " + " | ".join(head) + " |")
    lines.append("|" + "---|" * 3 + "---:|" * (len(head) - 4) + "---|")
    for (prob, sde), rs in sorted(groups.items()):
        for r in rs:
            pn, pt = r["pareto"].get(primary, (False, False))
            mark = ("NFE " if pn else "") + ("time" if pt else "")
            vals = [prob, sde, r["label"], str(r["steps"]), _fmt(r["nfe"]),
                    _fmt(r["wall_time"]), _fmt(r["peak_mem_mb"])] + \
                [_fmt(r["metrics"].get(c)) for c in cols] + [mark.strip()]
            lines.append("| " + " | ".join(vals) + " |")
    if failed:
        lines.append("\n### Cells that did not run\n")
        for r in sorted(failed, key=lambda r: (r["problem"], r["sde"], r["sampler"], r["steps"])):
            lines.append(f"- {r['problem']} / {r['sde']} / {r['sampler']} "
                         f"(steps {r['steps']}): {r['error']}")
    return "\n".join(lines) + "\n"


def _plot(groups, metric: str, axis: str, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = sorted(groups)
    ncol = min(3, len(keys))
    nrow = math.ceil(len(keys) / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(5.2 * ncol, 4.0 * nrow), squeeze=False)
    samplers = sorted({r["label"] for rs in groups.values() for r in rs})
    cmap = plt.get_cmap("tab20")
    order = list(range(0, 20, 2)) + list(range(1, 20, 2))   # distinct hues first
    colors = {s: cmap(order[i % 20]) for i, s in enumerate(samplers)}
    markers = "os^vD<>pPhX*8d"
    j_ax = 0 if axis == "nfe" else 1
    for ax, key in zip(axes.flat, keys):
        rs = groups[key]
        for j, s in enumerate(samplers):
            pts = sorted([(r[axis], r["metrics"].get(metric)) for r in rs if r["label"] == s
                          and r[axis] is not None and r["metrics"].get(metric) is not None
                          and math.isfinite(r["metrics"][metric]) and r["metrics"][metric] > 0])
            if pts:
                ax.plot(*zip(*pts), marker=markers[j % len(markers)], ms=4, lw=1,
                        color=colors[s], label=s, linestyle="--" if any(
                            r["stochastic"] for r in rs if r["label"] == s) else "-")
        front = sorted([(r[axis], r["metrics"][metric]) for r in rs
                        if r["pareto"].get(metric, (False, False))[j_ax] and r["metrics"][metric] > 0])
        if front:
            ax.step(*zip(*front), where="post", color="k", lw=1.5, alpha=0.6, zorder=3)
            ax.scatter(*zip(*front), s=70, facecolors="none", edgecolors="k", zorder=4,
                       label="Pareto front")
        floor = [r["baseline"].get(metric) for r in rs if r["baseline"].get(metric)]
        if floor and sum(floor) > 0:
            ax.axhline(sum(floor) / len(floor), color="gray", ls=":", lw=1.2,
                       label="exact samples")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(f"{key[0]} / {key[1]}")
        ax.set_xlabel("NFE" if axis == "nfe" else "wall time (s)")
        ax.set_ylabel(_SHORT[metric])
        ax.grid(True, which="both", alpha=0.2)
    for ax in list(axes.flat)[len(keys):]:
        ax.axis("off")
    handles, labels = [], []
    for ax in axes.flat:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    fig.legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8)
    fig.suptitle(f"{_SHORT[metric]} vs {'NFE' if axis == 'nfe' else 'wall time'} "
                 f"(solid: deterministic, dashed: stochastic)")
    fig.tight_layout()
    fig.savefig(path, dpi=80, bbox_inches="tight")
    plt.close(fig)


def _log_report(tracker, table, metrics: Sequence[str], plots: Mapping[str, Path]) -> None:
    """Log the table (a wandb.Table when the tracker is an active wandb run) and the plots."""
    cols = ["problem", "sde", "sampler", "steps", "nfe", "wall_time", "peak_mem_mb"]
    mnames = sorted({m for r in table for m in r["metrics"]})
    data = [[r[c] for c in cols] + [r["metrics"].get(m) for m in mnames] for r in table]
    if getattr(tracker, "active", False):
        try:
            import wandb
            tracker.log({"benchmark/table": wandb.Table(columns=cols + mnames, data=data)}, step=0)
        except Exception as e:  # tracking never stops the report
            import warnings
            warnings.warn(f"could not log the benchmark table to wandb: {e}", RuntimeWarning)
    for name, p in plots.items():
        tracker.log_image(f"benchmark/{name}", str(p), step=0, caption=name)
    tracker.summary({"benchmark/cells": len(table), "benchmark/metrics": ",".join(metrics)})
