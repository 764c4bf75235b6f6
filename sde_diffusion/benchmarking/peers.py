"""Published few-step samplers as benchmark peers (optional ``bench`` extra: diffusers, k-diffusion).

``PEERS[name](sde, score_fn, x_T, steps, t_end) -> x0``: run a published solver from the prior
sample x_T (at t = sde.T) on our score function, spending at most ``steps`` NFE (score
evaluations on the batch), and return its **data estimate**: the scaled state x~ = x/m at the
peer's last noise level (sigma(t_end), or 0 when its schedule ends with a denoising step).
Every peer is scored end to end, against the exact PF-ODE map from x_T to the data end
(``reference.data_end_reference``): a schedule that starts below sigma(T) (diffusers'
``leading`` spacing) or stops at sigma(t_end) > 0 pays for it in its error.

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
from typing import Callable, Dict, Optional, Sequence

import numpy as np
import torch

__all__ = ["PEERS", "missing_peers_message", "available_peers", "peers_to_run"]

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
    else:
        from ..models.diffusers import diffusers_class
        try:
            diffusers_class("UniPCMultistepScheduler")
        except ImportError as e:                      # installed, but cannot load its classes
            return f"published peers unavailable: {e}"
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


def _m_of(sde, t: float) -> float:
    return float(sde.marginal(torch.tensor([t], dtype=torch.float64))[0][0])


def _kdiff(method: str, spacing: str, to_zero: bool, **kw) -> Callable:
    """k-diffusion ``sample_<method>`` on sigmas from sigma(T) to sigma(t_end) (``karras``,
    rho = 7, or uniform in log sigma), with k-diffusion's usual final 0 appended when
    ``to_zero`` (the last step then lands on the denoiser). The step count is the largest whose
    NFE fits ``steps`` (2 per step for heun / dpm_2, whose last step to 0 is one Euler step)."""
    two = method in ("heun", "dpm_2")

    def run(sde, score_fn, x_T, steps, t_end):
        ks = _kdiffusion_sampling()
        nfe = int(steps)
        n = max(1, (nfe + 1) // 2 if (two and to_zero) else nfe // 2 if two else nfe)
        n_sig = n if to_zero else n + 1          # sigmas before the appended 0
        smin, smax = _sigma_of(sde, t_end), _sigma_of(sde, sde.T)
        u = torch.linspace(0, 1, n_sig, dtype=torch.float64) if n_sig > 1 else \
            torch.zeros(1, dtype=torch.float64)
        if spacing == "karras":
            a, b = smax ** (1 / 7), smin ** (1 / 7)
            sigmas = (a + u * (b - a)) ** 7
        else:  # uniform in log sigma (= half log-SNR)
            sigmas = torch.exp(math.log(smax) + u * (math.log(smin) - math.log(smax)))
        sigmas[0] = smax
        if n_sig > 1:
            sigmas[-1] = smin
        if to_zero:
            sigmas = torch.cat([sigmas, sigmas.new_zeros(1)])
        wrap = _Scaled(sde, score_fn)
        with torch.no_grad():
            xs = getattr(ks, "sample_" + method)(wrap.denoiser, x_T / _m_of(sde, sde.T),
                                                 sigmas.to(x_T.dtype), disable=True, **kw)
        return xs

    return run


def _diffusers(cls_name: str, karras: bool, **cfg) -> Callable:
    """A diffusers multistep scheduler on a 1000-entry alpha_bar table between t_end and T."""
    def run(sde, score_fn, x_T, steps, t_end):
        try:
            import diffusers  # noqa: F401
        except ImportError:
            raise ImportError(f"peer {cls_name} needs diffusers, which is not installed; "
                              f"install: {INSTALL}") from None
        from ..models.diffusers import diffusers_class
        n_train = 1000
        m_T = _m_of(sde, sde.T)
        if m_T < 0.999:  # VP-type: table uniform in t (DDPM's)
            tt = torch.linspace(t_end, sde.T, n_train, dtype=torch.float64)
            sig = sde.sigma(tt).numpy()
        else:
            sig = np.exp(np.linspace(math.log(_sigma_of(sde, t_end)),
                                     math.log(_sigma_of(sde, sde.T)), n_train))
        abar = 1.0 / (1.0 + sig ** 2)
        betas = 1.0 - abar / np.concatenate([[1.0], abar[:-1]])
        sched = diffusers_class(cls_name)(num_train_timesteps=n_train, trained_betas=betas,
                                             use_karras_sigmas=karras, **cfg)
        sched.set_timesteps(int(steps))
        sigmas = sched.sigmas.to(torch.float64).tolist()
        wrap = _Scaled(sde, score_fn)
        # the peer starts where its own schedule starts (below sigma(T) for `leading`
        # spacing) but from the same x_T: the scaled state x_T / m(T)
        xd = x_T / m_T / math.sqrt(1.0 + sigmas[0] ** 2)
        with torch.no_grad():
            for i, ts in enumerate(sched.timesteps):
                t, m, s = wrap.coeffs(sigmas[i])
                x = m * xd * math.sqrt(1.0 + sigmas[i] ** 2)
                eps = -s * wrap.score(x, t)
                xd = sched.step(eps, ts, xd).prev_sample
        return xd * math.sqrt(1.0 + sigmas[-1] ** 2)

    return run


def _peer_table() -> Dict[str, Callable]:
    table: Dict[str, Callable] = {}
    for method in ("euler", "heun", "lms", "dpm_2", "dpmpp_2m", "dpmpp_3m_sde"):
        kw = {"eta": 0.0} if method == "dpmpp_3m_sde" else {}
        for spacing in ("karras", "logsnr"):
            for zero in (True, False):
                name = f"kdiff_{method}_{spacing}" + ("" if zero else "_nozero")
                table[name] = _kdiff(method, "karras" if spacing == "karras" else "log_sigma",
                                     zero, **kw)
    kinds = {"dpmpp": ("DPMSolverMultistepScheduler", (2, 3), {}),
             # UniPC takes any order (diffusers: "solver_order can be any positive integer");
             # 4 and 5 are here because the project's UniPC goes to 5 on short steps
             "unipc": ("UniPCMultistepScheduler", (2, 3, 4, 5), {}),
             "unipc_bh1": ("UniPCMultistepScheduler", (2, 3, 4, 5), {"solver_type": "bh1"}),
             "deis": ("DEISMultistepScheduler", (2, 3), {})}
    for kind, (cls, orders, extra) in kinds.items():
        for order in orders:
            for spacing in ("linspace", "leading", "trailing"):
                for karras in ((False, True) if spacing == "linspace" else (False,)):
                    # DEIS has no final_sigmas_type; UniPC bh1 returns NaN with "zero"
                    finals = ("sigma_min",) if kind in ("deis", "unipc_bh1") else ("sigma_min", "zero")
                    for final in finals:
                        cfg = dict(extra, solver_order=order, timestep_spacing=spacing)
                        if kind != "deis":
                            cfg["final_sigmas_type"] = final
                        name = (f"diffusers_{kind}{order}_{spacing}" + ("_karras" if karras else "")
                                + ("_zero" if final == "zero" else ""))
                        table[name] = _diffusers(cls, karras, **cfg)
    return table


PEERS: Dict[str, Callable] = _peer_table()
"""name -> run(sde, score_fn, x_T, steps, t_end) -> data estimate (N, ...): k-diffusion
``kdiff_<method>_<karras|logsnr>[_nozero]``; diffusers ``diffusers_<dpmpp|unipc|unipc_bh1|deis>
<order>_<linspace|leading|trailing>[_karras][_zero]`` (``_zero``: final_sigmas_type="zero";
Karras sigmas ignore the spacing, so they appear once, as ``linspace_karras``)."""


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


def peers_to_run(names: Optional[Sequence[str]] = None) -> Dict[str, Callable]:
    """The peers a benchmark runs, in ``available_peers``' order: all of them (``names`` None), where
    every peer library must import (ImportError naming what is missing: a best peer over part of
    ``PEERS`` is not the best peer, and benchmark records from ``FRESH10`` to ``FRESH26`` lacked
    k-diffusion's 24 this way), or the ``names``, each of which must be a peer that imports here
    (ValueError)."""
    if names is None:
        msg = missing_peers_message()
        if msg is not None:
            raise ImportError(msg)
        return available_peers()
    have = available_peers()
    unknown = [k for k in names if k not in PEERS]
    absent = [k for k in names if k in PEERS and k not in have]
    if unknown or absent:
        raise ValueError(f"unknown {unknown}, not importable here {absent}; valid: {sorted(PEERS)}")
    return {k: f for k, f in have.items() if k in names}
