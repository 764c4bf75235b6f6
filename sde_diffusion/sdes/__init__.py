"""Forward SDEs and the reverse-time SDE / probability-flow ODE derived from any of them."""
from .base import SDE, ProbabilityFlowODE, ReverseSDE, ScoreFn
from .discrete import DiscreteChain
from .edm import EDMSDE
from .linear import LinearSDE
from .ve import VESDE
from .schedules import BetaSchedule, CosineBeta, DiscreteBeta, LinearBeta
from .vp import SCHEDULES, BetaSDE, SubVPSDE, VPSDE

__all__ = ["SDE", "ReverseSDE", "ProbabilityFlowODE", "ScoreFn", "VPSDE", "SubVPSDE",
           "VESDE", "LinearSDE", "EDMSDE", "DiscreteChain", "SCHEDULES",
           "BetaSDE", "BetaSchedule", "LinearBeta", "CosineBeta", "DiscreteBeta"]
