"""Solver benchmark: one cell (problem, SDE, sampler, steps or NFE budget, seed) -> one record;
sweeps with progress and per-cell failure records; a report with the spread over seeds.

Modules (one concept each): ``cells`` (the plain cell description, validation, key),
``problems`` (reference problems), ``quality`` (metrics by name, from ``metrics.METRICS``),
``budget`` (NFE budget -> steps), ``memory`` (peak memory), ``reference`` (exact PF-ODE
solution), ``sources`` (score source, peer adapter), ``records`` (files on disk), ``runner``
(run a cell / a sweep), ``stats`` (CIs over seeds), ``table`` (rows, ranks, Pareto), ``report``
and ``plots``; ``peers`` (optional: published solvers from diffusers / k-diffusion).

The library takes objects and plain dicts; building them from Hydra configs is
``sde_diffusion.configs.benchmark``'s job.
"""
from .budget import nfe_of_steps, steps_for_nfe
from .cells import PEER_PREFIX, cell_key, record_path, validate_cell
from .memory import PeakMemory
from .problems import Problem, build_problem, check_data_shape
from .quality import METRIC_NAMES, quality
from .records import CorruptRecordError, load_records, read_record, scan_records
from .report import build_report
from .runner import run_cell, run_sweep, tracker_payload
from .sources import PEER_INSTALL_HINT
from .stats import estimate, significantly_less
from .table import aggregate, judged

__all__ = ["METRIC_NAMES", "PEER_PREFIX", "PEER_INSTALL_HINT", "Problem", "build_problem",
           "check_data_shape", "cell_key", "record_path", "validate_cell", "steps_for_nfe",
           "nfe_of_steps", "PeakMemory", "quality", "CorruptRecordError", "load_records",
           "read_record", "scan_records", "run_cell", "run_sweep", "tracker_payload",
           "build_report", "estimate", "significantly_less", "aggregate", "judged"]
