"""Networks and the parameterisation wrapper ScoreModel."""
from .diffusers import DiffusersFormatError, DiffusersUNet, from_diffusers
from .edm import (EDMCoefficients, edm_coefficients, edm_loss_weight, edm_to_x0,
                  x0_to_edm)
from .mlp import MLP, FourierTimeEmbedding
from .parameterization import PARAMETERIZATIONS, convert, eps_loss_factor, from_eps, to_eps, tweedie
from .precond import PRECONDS, DirectPrecond, EDMPrecond, Precond, make_precond
from .score_model import ScoreModel
from .unet import UNet

__all__ = ["ScoreModel", "MLP", "FourierTimeEmbedding", "PARAMETERIZATIONS", "convert",
           "to_eps", "from_eps", "eps_loss_factor", "EDMCoefficients", "edm_coefficients",
           "edm_loss_weight", "edm_to_x0", "x0_to_edm", "UNet", "tweedie", "Precond",
           "DirectPrecond", "EDMPrecond", "PRECONDS", "make_precond", "from_diffusers",
           "DiffusersUNet", "DiffusersFormatError"]
