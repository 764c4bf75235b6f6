"""sde_diffusion: continuous-time score-based diffusion models (the SDE view) in PyTorch.

Public API: ``sde_diffusion.sdes`` (forward SDEs, reverse SDE, PF-ODE), ``.models``
(ScoreModel, networks), ``.losses`` (denoising score matching), ``.analytic`` (exact
Gaussian-mixture scores), ``.solvers`` (``sample``), ``.conditional`` (guidance, inverse
problems), ``.likelihood``, ``.metrics``, ``.data``, ``.training``, ``.tracking``.
"""

__version__ = "0.1.0"
