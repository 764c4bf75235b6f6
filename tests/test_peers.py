"""Published few-step solvers as benchmark rows (issue 15): a diffusers and a k-diffusion peer
run through ``sde_diffusion.benchmarking`` as ``peer:<name>`` cells on exact-score mixtures
reproduce the RMS that ``benchmarks/RESULTS.md, "Few-step sampling"`` reports, and without the packages the
benchmark says how to install them.

The cells use fewstep.md's x_T exactly (``prior_sample`` of seed 1, 500 samples, float64) and
its end time (VP: 1e-3 below 25 steps), so the only difference is the reference tolerance
(1e-10 both); fewstep.md's RMS is per sample, sqrt(mean |x - x_ref|^2), the record's
``ode_rmse`` per coordinate, so fewstep = ode_rmse * sqrt(dim). Tolerance 1 %: the figures are
printed to 3 significant digits (rounding <= 0.5 %)."""
import math
import sys

import pytest

from sde_diffusion.analytic import random_mixture, ring_of_gaussians
from sde_diffusion.benchmarking import Problem, run_cell
from sde_diffusion.benchmarking import peers as peers_mod
from sde_diffusion.sdes import EDMSDE, VPSDE

INSTALL = 'pip install -e ".[bench]"'
PROBLEMS = {"ring8": lambda: ring_of_gaussians(), "mix16": lambda: random_mixture(16)}
SDES = {"VP": (VPSDE, "sde_diffusion.sdes.VPSDE", 1e-3),
        "EDM": (EDMSDE, "sde_diffusion.sdes.EDMSDE", 0.002)}


def _cell(problem, sde, peer, nfe, t_end):
    return {"problem": {"name": problem}, "sde": {"_target_": sde},
            "sampler": {"name": f"peer:{peer}", "options": {"t_end": t_end}}, "nfe": nfe,
            "seed": 1, "n_samples": 500, "n_heldout": 2, "metrics": ["ode_rmse"],
            "reference": {"method": "DOP853", "rtol": 1e-10, "atol": 1e-10},
            "dtype": "float64", "labels": {"sde": "vp"}}


def _run(problem, sde_name, peer, nfe):
    gm = PROBLEMS[problem]()
    cls, target, t_end = SDES[sde_name]
    rec = run_cell(_cell(problem, target, peer, nfe, t_end), None,
                   problem=Problem(problem, (gm.dim,), mixture=gm), sde=cls())
    assert rec["status"] == "computed", rec.get("error")
    assert rec["nfe"] == nfe and rec["t_end"] == t_end
    return rec["metrics"]["ode_rmse"] * math.sqrt(gm.dim)


def _need(package):
    missing = peers_mod.missing_peers_message() or ""
    if package in missing:
        pytest.skip(f"{package} is not importable; install the peers with {INSTALL}")


# (problem, SDE, peer, NFE, RMS in fewstep.md section 1)
DIFFUSERS = [("ring8", "VP", "diffusers_deis_karras", 10, 0.123),
             ("mix16", "VP", "diffusers_unipc", 10, 0.648),
             ("ring8", "EDM", "diffusers_deis", 10, 0.078)]
KDIFF = [("ring8", "EDM", "kdiff_lms_karras", 5, 0.487)]


@pytest.mark.parametrize("problem,sde,peer,nfe,reported", DIFFUSERS)
def test_diffusers_peer_cell_matches_fewstep_md(problem, sde, peer, nfe, reported):
    pytest.importorskip("diffusers", reason=f"diffusers missing; install with {INSTALL}")
    assert _run(problem, sde, peer, nfe) == pytest.approx(reported, rel=0.01)


@pytest.mark.parametrize("problem,sde,peer,nfe,reported", KDIFF)
def test_kdiffusion_peer_cell_matches_fewstep_md(problem, sde, peer, nfe, reported):
    # k-diffusion's package __init__ needs its training stack; peers.py imports only its
    # sampling module, so "importable" is what peers.missing_peers_message() says
    _need("k-diffusion")
    assert _run(problem, sde, peer, nfe) == pytest.approx(reported, rel=0.01)


@pytest.fixture
def no_peer_packages(monkeypatch):
    """Make diffusers and k-diffusion unimportable (None in sys.modules blocks an import)."""
    for name in list(sys.modules):
        if name.split(".")[0] in ("diffusers", "k_diffusion", "_sde_diffusion_kdiffusion"):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "diffusers", None)
    monkeypatch.setitem(sys.modules, "k_diffusion", None)


def test_missing_peer_packages_say_how_to_install(no_peer_packages):
    msg = peers_mod.missing_peers_message()
    assert "missing diffusers, k-diffusion" in msg and INSTALL in msg
    assert peers_mod.available_peers() == {}
    for peer in ("diffusers_unipc", "kdiff_lms_karras"):
        gm = ring_of_gaussians()
        rec = run_cell(_cell("ring8", "sde_diffusion.sdes.VPSDE", peer, 5, 1e-3), None,
                       problem=Problem("ring8", (2,), mixture=gm), sde=VPSDE())
        assert rec["status"] == "failed"
        assert rec["error"].startswith("ImportError") and INSTALL in rec["error"], rec["error"]
