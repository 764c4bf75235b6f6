"""Networks and the parameterisation wrapper ScoreModel."""
from .mlp import MLP, FourierTimeEmbedding
from .parameterization import PARAMETERIZATIONS, convert, eps_loss_factor, from_eps, to_eps
from .score_model import ScoreModel

__all__ = ["ScoreModel", "MLP", "FourierTimeEmbedding", "PARAMETERIZATIONS", "convert",
           "to_eps", "from_eps", "eps_loss_factor"]

try:  # the U-Net lives in models/unet.py
    from .unet import UNet
    __all__.append("UNet")
except ImportError:  # pragma: no cover - during development only
    pass
