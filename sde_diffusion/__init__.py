"""sde_diffusion: continuous-time score-based diffusion models (the SDE view) in PyTorch.

Public API: ``sde_diffusion.sdes`` (forward SDEs, reverse SDE, PF-ODE), ``.models``
(ScoreModel, networks), ``.losses`` (denoising score matching), ``.analytic`` (exact
Gaussian-mixture scores), ``.solvers`` (``sample``), ``.conditional`` (guidance, inverse
problems), ``.likelihood``, ``.metrics``, ``.data``, ``.training``, ``.tracking``.

The allow-list (``registry``) is imported first, before any user code can construct an object:
it records every allow-listed object's constructor arguments, so ``save_pretrained`` and
checkpoints can write any model as a spec however its modules were imported. It imports only
the package's own light modules (torch, numpy; no Hydra, sklearn or wandb).
"""
from . import registry  # noqa: F401  (first: records constructor arguments for spec_of)

__version__ = "0.1.0"
