"""Forward SDEs and the reverse-time SDE / probability-flow ODE derived from any of them."""
from .base import SDE, ProbabilityFlowODE, ReverseSDE, ScoreFn
from .discrete import DiscreteChain
from .ve import VESDE
from .vp import SCHEDULES, SubVPSDE, VPSDE

__all__ = ["SDE", "ReverseSDE", "ProbabilityFlowODE", "ScoreFn", "VPSDE", "SubVPSDE",
           "VESDE", "DiscreteChain", "SCHEDULES"]

try:  # filled in by sdes/linear.py and sdes/edm.py
    from .linear import LinearSDE
    __all__.append("LinearSDE")
except ImportError:  # pragma: no cover - during development only
    pass
try:
    from .edm import EDMSDE
    __all__.append("EDMSDE")
except ImportError:  # pragma: no cover
    pass
