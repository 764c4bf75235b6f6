"""Published few-step samplers as benchmark peers (optional ``bench`` extra: diffusers, k-diffusion).

``PEERS[name](sde, score_fn, x_T, steps, t_end) -> x``: run a published solver from the prior
sample x_T (at t = sde.T) on our score function, spending ``steps`` NFE (score evaluations on
the batch), and return its state at t_end (up to float32 rounding of sigma in the peer's own
tables), so it is scored against the exact PF-ODE map from T to t_end.

Any SDE here is one ODE in the scaled variable x~ = x/m and noise level sigma = s/m:
dx~/dsigma = (x~ - D(x~, sigma))/sigma with the data prediction D = (x + s^2 score(x, t))/m at
x = m x~, t = t(sigma). k-diffusion's samplers run on that directly (``model(x~, sigma) = D``);
diffusers' schedulers run on the VP-scaled x_d = x~/sqrt(1 + sigma^2) with alpha_bar =
1/(1 + sigma^2), an eps-model eps = -s score, and a 1000-entry alpha_bar table between t_end
and T (uniform in t for VP-type SDEs, m(T) < 1; uniform in log sigma otherwise), passed as
``trained_betas``; each model call uses the scheduler's own ``sigmas[i]``.

k-diffusion 0.1.1's package ``__init__`` imports its training stack (scikit-image, kornia,
torchvision, clean-fid, ...); only ``k_diffusion/sampling.py`` is needed, so when the full
import fails that one module is imported with the one helper (``append_dims``) it uses.
"""
from __future__ import annotations

import importlib
import importlib.util
import math
import sys
import types
from typing import Callable, Dict, Optional

import numpy as np
import torch

__all__ = ["PEERS", "missing_peers_message", "available_peers"]

INSTALL = ('pip install -e ".[bench]"   (from the repository root; or: pip install diffusers '
           'k-diffusion)')


def _kdiffusion_sampling():
    try:
        return importlib.import_module("k_diffusion.sampling")
    except ImportError:
        pass
    spec = importlib.util.find_spec("k_diffusion")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("k-diffusion is not installed; " + INSTALL)
    pkg_name = "_sde_diffusion_kdiffusion"
    if pkg_name + ".sampling" in sys.modules:
        return sys.modules[pkg_name + ".sampling"]
    pkg = types.ModuleType(pkg_name)
    pkg.__path__ = list(spec.submodule_search_locations)
    utils = types.ModuleType(pkg_name + ".utils")

    def append_dims(x, target_dims):
        return x[(...,) + (None,) * (target_dims - x.ndim)]

    utils.append_dims = append_dims
    pkg.utils = utils
    sys.modules[pkg_name], sys.modules[pkg_name + ".utils"] = pkg, utils
    path = spec.submodule_search_locations[0] + "/sampling.py"
    mspec = importlib.util.spec_from_file_location(pkg_name + ".sampling", path)
    mod = importlib.util.module_from_spec(mspec)
    sys.modules[pkg_name + ".sampling"] = mod
    mspec.loader.exec_module(mod)
    return mod


def missing_peers_message() -> Optional[str]:
    """None when diffusers and k-diffusion import, else what is missing and how to install."""
    missing = []
    try:
        importlib.import_module("diffusers")
    except ImportError:
        missing.append("diffusers")
    try:
        _kdiffusion_sampling()
    except ImportError:
        missing.append("k-diffusion")
    if not missing:
        return None
    return f"published peers unavailable (missing {', '.join(missing)}); install: {INSTALL}"


class _Scaled:
    """D(x~, sigma) and eps(x_d, sigma) of an SDE + score on the scaled variables (float64)."""

    def __init__(self, sde, score_fn):
        self.sde, self.score_fn = sde, score_fn

    def coeffs(self, sigma: float):
        t = float(self.sde.t_from_sigma(torch.tensor([sigma], dtype=torch.float64))[0])
        m, s = (float(v) for v in self.sde.marginal(torch.tensor([t], dtype=torch.float64)))
        return t, m, s

    def score(self, x, t):
        return self.score_fn(x, torch.full((x.shape[0],), t, dtype=x.dtype, device=x.device))

    def denoiser(self, xs, sigma):
        sg = float(sigma.reshape(-1)[0])
        t, m, s = self.coeffs(sg)
        x = m * xs
        return (x + s * s * self.score(x, t)) / m


def _sigma_of(sde, t: float) -> float:
    return float(sde.sigma(torch.tensor([t], dtype=torch.float64))[0])


def _kdiff(method: str, spacing: str, evals_per_step: int) -> Callable:
    def run(sde, score_fn, x_T, steps, t_end):
        ks = _kdiffusion_sampling()
        n = max(1, int(steps) // evals_per_step)
        smin, smax = _sigma_of(sde, t_end), _sigma_of(sde, sde.T)
        u = torch.linspace(0, 1, n + 1, dtype=torch.float64)
        if spacing == "karras":
            a, b = smax ** (1 / 7), smin ** (1 / 7)
            sigmas = (a + u * (b - a)) ** 7
        else:  # uniform in log sigma (= log-SNR)
            sigmas = torch.exp(math.log(smax) + u * (math.log(smin) - math.log(smax)))
        sigmas[0], sigmas[-1] = smax, smin
        wrap = _Scaled(sde, score_fn)
        m_T = float(sde.marginal(torch.tensor([sde.T], dtype=torch.float64))[0][0])
        m_e = float(sde.marginal(torch.tensor([t_end], dtype=torch.float64))[0][0])
        with torch.no_grad():
            xs = getattr(ks, "sample_" + method)(wrap.denoiser, x_T / m_T, sigmas.to(x_T.dtype),
                                                 disable=True)
        return m_e * xs

    return run


def _diffusers(cls_name: str, karras: bool, **cfg) -> Callable:
    def run(sde, score_fn, x_T, steps, t_end):
        try:
            import diffusers
        except ImportError:
            raise ImportError(f"peer {cls_name} needs diffusers, which is not installed; "
                              f"install: {INSTALL}") from None
        n_train = 1000
        m_T = float(sde.marginal(torch.tensor([sde.T], dtype=torch.float64))[0][0])
        if m_T < 0.999:  # VP-type: table uniform in t (DDPM's)
            tt = torch.linspace(t_end, sde.T, n_train, dtype=torch.float64)
            sig = sde.sigma(tt).numpy()
        else:
            sig = np.exp(np.linspace(math.log(_sigma_of(sde, t_end)),
                                     math.log(_sigma_of(sde, sde.T)), n_train))
        abar = 1.0 / (1.0 + sig ** 2)
        betas = 1.0 - abar / np.concatenate([[1.0], abar[:-1]])
        sched = getattr(diffusers, cls_name)(num_train_timesteps=n_train, trained_betas=betas,
                                             use_karras_sigmas=karras, **cfg)
        sched.set_timesteps(int(steps))
        sigmas = sched.sigmas.to(torch.float64).tolist()
        wrap = _Scaled(sde, score_fn)
        xd = x_T / m_T / math.sqrt(1.0 + sigmas[0] ** 2)
        with torch.no_grad():
            for i, ts in enumerate(sched.timesteps):
                t, m, s = wrap.coeffs(sigmas[i])
                x = m * xd * math.sqrt(1.0 + sigmas[i] ** 2)
                eps = -s * wrap.score(x, t)
                xd = sched.step(eps, ts, xd).prev_sample
        _, m_e, _ = wrap.coeffs(sigmas[-1])
        return m_e * xd * math.sqrt(1.0 + sigmas[-1] ** 2)

    return run


PEERS: Dict[str, Callable] = {
    "kdiff_lms_karras": _kdiff("lms", "karras", 1),
    "kdiff_lms_logsnr": _kdiff("lms", "log_sigma", 1),
    "kdiff_dpmpp_2m_karras": _kdiff("dpmpp_2m", "karras", 1),
    "kdiff_dpmpp_2m_logsnr": _kdiff("dpmpp_2m", "log_sigma", 1),
    "kdiff_heun_karras": _kdiff("heun", "karras", 2),
    "kdiff_dpm_2_karras": _kdiff("dpm_2", "karras", 2),
    "diffusers_dpmpp_2m": _diffusers("DPMSolverMultistepScheduler", False, solver_order=2,
                                     final_sigmas_type="sigma_min"),
    "diffusers_dpmpp_2m_karras": _diffusers("DPMSolverMultistepScheduler", True, solver_order=2,
                                            final_sigmas_type="sigma_min"),
    "diffusers_dpmpp_3m": _diffusers("DPMSolverMultistepScheduler", False, solver_order=3,
                                     final_sigmas_type="sigma_min"),
    "diffusers_unipc": _diffusers("UniPCMultistepScheduler", False, solver_order=2,
                                  final_sigmas_type="sigma_min"),
    "diffusers_unipc3": _diffusers("UniPCMultistepScheduler", False, solver_order=3,
                                   final_sigmas_type="sigma_min"),
    "diffusers_unipc_karras": _diffusers("UniPCMultistepScheduler", True, solver_order=2,
                                         final_sigmas_type="sigma_min"),
    "diffusers_deis": _diffusers("DEISMultistepScheduler", False, solver_order=3),
    "diffusers_deis_karras": _diffusers("DEISMultistepScheduler", True, solver_order=3),
}


def available_peers() -> Dict[str, Callable]:
    """The peers whose package imports (empty dict if neither is installed)."""
    out = {}
    try:
        importlib.import_module("diffusers")
        out.update({k: v for k, v in PEERS.items() if k.startswith("diffusers")})
    except ImportError:
        pass
    try:
        _kdiffusion_sampling()
        out.update({k: v for k, v in PEERS.items() if k.startswith("kdiff")})
    except ImportError:
        pass
    return out
