"""Published few-step solvers as benchmark rows, scored end to end: from the same x_T at
sigma(T) against the exact PF-ODE map to the data end (``benchmarking.reference``).

Facts checked on the 8-Gaussian ring (exact score, 200 samples, float64): a second-order peer
that integrates the whole range converges to the data-end reference (RMS at 100 NFE ~ 100x
below its 10-NFE error of 0.1-0.3, so < 3e-3); one whose schedule starts below sigma(T)
(diffusers' ``leading`` spacing: first timestep 900 of 1000) does not converge (the range it
skips is never integrated: RMS > 0.3 at 100 NFE); every peer stays within its NFE budget; a
``peer:`` cell's ``ode_rmse`` is the end-to-end RMS of the peer's data estimate."""
import math
import sys

import pytest
import torch

from sde_diffusion.analytic import ring_of_gaussians, three_clusters_1d
from sde_diffusion.benchmarking import Problem, run_cell
from sde_diffusion.benchmarking import peers as peers_mod
from sde_diffusion.benchmarking.reference import data_end_reference, end_to_end_rms
from sde_diffusion.sdes import EDMSDE, VPSDE

INSTALL = 'pip install -e ".[bench]"'
SDES = {"VP": (VPSDE, "sde_diffusion.sdes.VPSDE", 1e-5),
        "EDM": (EDMSDE, "sde_diffusion.sdes.EDMSDE", 0.002)}


def _need(package):
    missing = peers_mod.missing_peers_message() or ""
    if package in missing:
        pytest.skip(f"{package} is not importable; install the peers with {INSTALL}")


def _setup(sde_name, n=200):
    cls, _, t_end = SDES[sde_name]
    sde, gm = cls(), ring_of_gaussians()
    x_T = sde.prior_sample((n, 2), generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    return sde, gm.score_fn(sde), x_T, t_end


@pytest.fixture(scope="module")
def refs():
    out = {}
    for name in SDES:
        sde, score, x_T, t_end = _setup(name)
        out[name] = (sde, score, x_T, t_end, data_end_reference(sde, score, x_T))
    return out


@pytest.mark.parametrize("sde_name", list(SDES))
@pytest.mark.parametrize("peer,package", [("diffusers_dpmpp2_linspace_zero", "diffusers"),
                                          ("kdiff_dpmpp_2m_logsnr", "k-diffusion")])
def test_a_full_range_peer_converges_to_the_data_end(refs, sde_name, peer, package):
    _need(package)
    sde, score, x_T, t_end, ref = refs[sde_name]
    e10 = end_to_end_rms(peers_mod.PEERS[peer](sde, score, x_T.clone(), 10, t_end), ref)
    e100 = end_to_end_rms(peers_mod.PEERS[peer](sde, score, x_T.clone(), 100, t_end), ref)
    assert 0.05 < e10 < 0.5 and e100 < 3e-3, (e10, e100)


@pytest.mark.parametrize("sde_name", list(SDES))
def test_a_peer_that_starts_late_pays_for_the_skipped_range(refs, sde_name):
    _need("diffusers")
    sde, score, x_T, t_end, ref = refs[sde_name]
    late = end_to_end_rms(peers_mod.PEERS["diffusers_dpmpp2_leading"](sde, score, x_T.clone(),
                                                                      100, t_end), ref)
    full = end_to_end_rms(peers_mod.PEERS["diffusers_dpmpp2_trailing"](sde, score, x_T.clone(),
                                                                       100, t_end), ref)
    assert late > 0.3 and full < 0.05, (late, full)


def test_every_peer_stays_within_its_nfe_budget():
    avail = peers_mod.available_peers()
    if not avail:
        pytest.skip(f"no peer package importable; install with {INSTALL}")
    sde, gm = EDMSDE(), three_clusters_1d()
    x_T = sde.prior_sample((8, 1), generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    for name, run in avail.items():
        for nfe in (5, 6):
            calls = [0]

            def score(x, t):
                calls[0] += 1
                return gm.score(x, sde, t)

            x0 = run(sde, score, x_T.clone(), nfe, 0.002)
            assert x0.shape == x_T.shape and bool(torch.isfinite(x0).all()), name
            assert nfe - 1 <= calls[0] <= nfe, (name, nfe, calls[0])


def test_a_peer_cell_scores_the_peers_data_estimate_end_to_end(refs):
    _need("diffusers")
    sde, score, x_T, t_end, ref = refs["EDM"]
    peer = "diffusers_unipc2_linspace_zero"
    direct = end_to_end_rms(peers_mod.PEERS[peer](sde, score, x_T.clone(), 10, t_end), ref)
    cell = {"problem": {"name": "ring8"}, "sde": {"_target_": SDES["EDM"][1]},
            "sampler": {"name": f"peer:{peer}", "options": {"t_end": t_end}}, "nfe": 10,
            "seed": 0, "n_samples": 200, "n_heldout": 2, "metrics": ["ode_rmse"],
            "dtype": "float64", "labels": {"sde": "edm"}}
    rec = run_cell(cell, None, problem=Problem("ring8", (2,), mixture=ring_of_gaussians()),
                   sde=EDMSDE())
    assert rec["status"] == "computed", rec.get("error")
    assert rec["nfe"] == 10
    assert rec["metrics"]["ode_rmse"] == pytest.approx(direct, rel=1e-6)


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
    for peer in ("diffusers_unipc2_linspace", "kdiff_lms_karras"):
        gm = ring_of_gaussians()
        cell = {"problem": {"name": "ring8"}, "sde": {"_target_": SDES["VP"][1]},
                "sampler": {"name": f"peer:{peer}", "options": {"t_end": 1e-3}}, "nfe": 5,
                "seed": 1, "n_samples": 10, "n_heldout": 2, "metrics": ["ode_rmse"],
                "dtype": "float64", "labels": {"sde": "vp"}}
        rec = run_cell(cell, None, problem=Problem("ring8", (2,), mixture=gm), sde=VPSDE())
        assert rec["status"] == "failed"
        assert rec["error"].startswith("ImportError") and INSTALL in rec["error"], rec["error"]
