"""Exact log-likelihood through the probability-flow ODE, and bits/dim conventions.

Closed forms used: for Gaussian data N(mu, diag c) under a linear SDE the PF-ODE is affine per
dimension, x_t = m_t mu + sqrt(v_t / v_eps) (x_eps - m_eps mu), v_t = m_t^2 c + s_t^2, so the
model density (prior pi = N(0, s_T^2) pulled back) is log pi(x_T) + 1/2 sum log(v_T / v_eps).
"""
import math

import pytest
import torch

from sde_diffusion.analytic import GaussianMixture, ring_of_gaussians, three_clusters_1d
from sde_diffusion.likelihood import (Quantization, _draw_probes, bits_per_dim,
                                      log_likelihood)
from sde_diffusion.sdes import SubVPSDE, VESDE, VPSDE

SDES = {"vp": lambda: VPSDE(), "subvp": lambda: SubVPSDE(), "ve": lambda: VESDE(sigma_max=20.0)}
MU = torch.tensor([0.5, -1.0], dtype=torch.float64)
STD = torch.tensor([0.7, 0.4], dtype=torch.float64)


def gaussian():
    return GaussianMixture(MU[None], STD[None])


def closed_form_model_logp(sde, x, eps):
    """Model log-density of the exact-score PF-ODE for N(MU, diag STD^2) data, and x_T."""
    c = STD ** 2
    m_e, s_e = sde.marginal(eps)
    m_T, s_T = sde.marginal(sde.T)
    v_e, v_T = m_e ** 2 * c + s_e ** 2, m_T ** 2 * c + s_T ** 2
    xT = m_T * MU + torch.sqrt(v_T / v_e) * (x.double() - m_e * MU)
    return sde.prior_logp(xT) + 0.5 * torch.log(v_T / v_e).sum(), xT


@pytest.mark.parametrize("name", list(SDES))
def test_gaussian_logp_matches_closed_form(name):
    sde = SDES[name]()
    gm = gaussian()
    x = gm.sample(16, torch.Generator().manual_seed(0), dtype=torch.float64)
    res = log_likelihood(sde, gm.score_fn(sde), x)
    expected, xT = closed_form_model_logp(sde, x, sde.eps)
    assert (res.logp - expected).abs().max() < 1e-3 * 2  # 1e-3 nats per dimension, d = 2
    assert torch.allclose(res.z, xT, atol=1e-3)
    assert torch.allclose(res.logp, res.prior_logp + res.delta_logp)
    assert res.nfe > 0 and res.dim == 2 and res.eps == sde.eps


@pytest.mark.parametrize("name", ["vp", "ve"])
def test_mixture_mean_nll_matches_log_prob(name):
    sde = VPSDE() if name == "vp" else VESDE(sigma_max=50.0)
    gm = ring_of_gaussians()
    x = gm.sample(48, torch.Generator().manual_seed(1), dtype=torch.float64)
    res = log_likelihood(sde, gm.score_fn(sde), x)
    # the must-show: mean NLL within 0.01 nats of the data density (prior mismatch included)
    assert abs(float(res.logp.mean() - gm.log_prob(x).mean())) < 0.01
    # per point, after removing the prior mismatch exactly: the ODE maps p_eps to p_T
    corrected = res.logp - res.prior_logp + gm.log_prob(res.z, sde, sde.T)
    assert (corrected - gm.log_prob(x, sde, sde.eps)).abs().max() < 2e-3


@pytest.mark.parametrize("probe", ["rademacher", "gaussian"])
def test_hutchinson_mean_within_three_standard_errors(probe):
    sde = VPSDE()
    gm = ring_of_gaussians()
    x = gm.sample(48, torch.Generator().manual_seed(2), dtype=torch.float64)
    exact = log_likelihood(sde, gm.score_fn(sde), x, method="heun", steps=40)
    hut = log_likelihood(sde, gm.score_fn(sde), x, method="heun", steps=40,
                         divergence="hutchinson", probe=probe, n_probes=4,
                         generator=torch.Generator().manual_seed(3))
    assert torch.equal(hut.z, exact.z)  # same trajectory: the probes do not feed back
    diff = hut.logp - exact.logp
    se = diff.std() / math.sqrt(len(diff))
    assert abs(float(diff.mean())) < 3 * float(se)
    assert float(diff.abs().max()) > 1e-6  # it is an estimate, not the exact value
    # the reported spread over probes agrees in size with the observed error
    assert hut.divergence_se is not None and hut.n_probes == 4
    ratio = float((diff ** 2).mean() / (hut.divergence_se ** 2).mean())
    assert 0.3 < ratio < 3.0


def test_rademacher_is_exact_in_one_dimension():
    sde = VPSDE()
    gm = three_clusters_1d()
    x = gm.sample(8, torch.Generator().manual_seed(4), dtype=torch.float64)
    kw = dict(method="heun", steps=20)
    ex = log_likelihood(sde, gm.score_fn(sde), x, **kw)
    hu = log_likelihood(sde, gm.score_fn(sde), x, divergence="hutchinson", n_probes=2,
                        generator=torch.Generator().manual_seed(0), **kw)
    assert torch.allclose(ex.logp, hu.logp, atol=1e-10)


def test_probes_are_fixed_for_the_whole_integration():
    # isotropic Gaussian: d(score)/dx = j(t) I, so v^T J v = j(t) |v|^2 and with a probe held
    # fixed the Hutchinson divergence integral is exactly |v|^2 / d times the exact one.
    sde = VPSDE()
    gm = GaussianMixture(torch.zeros(1, 3), [0.6])
    x = gm.sample(6, torch.Generator().manual_seed(5), dtype=torch.float64)
    kw = dict(method="heun", steps=10)
    ex = log_likelihood(sde, gm.score_fn(sde), x, **kw)
    hu = log_likelihood(sde, gm.score_fn(sde), x, divergence="hutchinson", probe="gaussian",
                        generator=torch.Generator().manual_seed(9), **kw)
    v = _draw_probes(x, 1, "gaussian", torch.Generator().manual_seed(9))[0]
    f_int = 3 * math.log(float(sde.marginal(sde.T)[0] / sde.marginal(sde.eps)[0]))  # d int f dt
    ratio = (hu.delta_logp - f_int) / (ex.delta_logp - f_int)
    assert torch.allclose(ratio, v.pow(2).sum(1) / 3, rtol=1e-8)


def test_heun_second_order_and_on_device_dtype():
    sde = VPSDE()
    gm = gaussian()
    x = gm.sample(8, torch.Generator().manual_seed(6), dtype=torch.float64)
    expected, _ = closed_form_model_logp(sde, x, sde.eps)
    errs = [float((log_likelihood(sde, gm.score_fn(sde), x, method="heun", steps=n).logp
                   - expected).abs().max()) for n in (25, 100)]
    assert errs[1] < errs[0] / 8  # second order: 4x steps -> ~16x smaller error
    r = log_likelihood(sde, gm.score_fn(sde), x.float(), method="heun", steps=50)
    assert r.nfe == 100 and r.logp.dtype == torch.float64 and r.z.dtype == torch.float32


# ------------------------------------------------------------------ bits/dim conventions
def test_quantization_offsets_and_uniform_density():
    q = Quantization()
    assert q.bits_offset == pytest.approx(7.0)
    assert Quantization(value_range=(0.0, 1.0)).bits_offset == pytest.approx(8.0)
    # the uniform density on [-1, 1]^d has exactly 8 bits/dim on 8-bit data
    d = 5
    assert float(q.bpd_from_density(torch.tensor(-d * math.log(2.0)), d)) == pytest.approx(8.0)


def test_bits_per_dim_matches_exact_bin_masses():
    """Gaussian data at 8 bits in [-1, 1]: the dequantised ODE estimate of bits/dim equals
    -log2 P(k) / d of the model's own bin masses (Jensen gap ~ bin width^2, negligible)."""
    sde = VPSDE()
    mu, std = torch.tensor([0.1, -0.2]), torch.tensor([0.3, 0.25])
    gm = GaussianMixture(mu[None], std[None])
    q = Quantization()
    raw = gm.sample(32, torch.Generator().manual_seed(7), dtype=torch.float64).clamp(-1, 1)
    k = ((raw + 1) * 127.5).round()
    x = k / 127.5 - 1  # on the grid
    res = bits_per_dim(sde, gm.score_fn(sde), x, quantization=q,
                       generator=torch.Generator().manual_seed(8))
    lo = -1 + 2 * k / 256
    hi = -1 + 2 * (k + 1) / 256
    nd = torch.distributions.Normal(mu.double(), std.double())
    log_mass = torch.log(nd.cdf(hi) - nd.cdf(lo)).sum(1)
    exact_bpd = -log_mass / (2 * math.log(2))
    assert abs(float(res.bpd.mean() - exact_bpd.mean())) < 0.01
    assert res.likelihood.dim == 2


# ------------------------------------------------------------------ errors
def test_errors_are_clear():
    sde = VPSDE()
    gm = gaussian()
    x = gm.sample(4, torch.Generator().manual_seed(0), dtype=torch.float64)
    with pytest.raises(ValueError, match="shape"):
        log_likelihood(sde, lambda y, t: y[:, :1], x)
    with pytest.raises(ValueError, match="non-finite"):
        log_likelihood(sde, lambda y, t: y * float("nan"), x)
    with pytest.raises(ValueError, match="non-finite"):
        log_likelihood(sde, lambda y, t: y * float("nan"), x, method="heun", steps=3)
    with pytest.raises(ValueError, match="non-finite"):
        log_likelihood(sde, gm.score_fn(sde), x.clone().fill_(float("inf")))
    with pytest.raises(ValueError, match="steps"):
        log_likelihood(sde, gm.score_fn(sde), x, method="heun", steps=0)
    with pytest.raises(ValueError, match="'rk45', 'heun', 'euler'"):
        log_likelihood(sde, gm.score_fn(sde), x, method="rk4")
    with pytest.raises(ValueError, match="'rademacher', 'gaussian'"):
        log_likelihood(sde, gm.score_fn(sde), x, divergence="hutchinson", probe="sphere")
    with pytest.raises(ValueError, match="rtol"):
        log_likelihood(sde, gm.score_fn(sde), x, rtol=0.0)
    with pytest.raises(ValueError, match="outside the declared value_range"):
        bits_per_dim(sde, gm.score_fn(sde), torch.full((2, 2), 3.0))
    with pytest.raises(ValueError, match="grid"):
        bits_per_dim(sde, gm.score_fn(sde), torch.full((2, 2), 0.1234))


# ------------------------------------------------------------------ dataset evaluation
def test_evaluate_reports_all_methods_with_confidence_intervals():
    from sde_diffusion.likelihood import evaluate
    sde = VPSDE()
    gm = gaussian()
    x = gm.sample(40, torch.Generator().manual_seed(10), dtype=torch.float64)
    out = evaluate(sde, gm.score_fn(sde), x, batch_size=16,
                   elbo_options=dict(n_samples=200), discrete_options=dict(num_steps=100,
                   sampled_steps=50, prediction="score"), generator=torch.Generator().manual_seed(0))
    true_nll = float(-gm.log_prob(x).mean())
    assert out["units"] == "nats" and out["dim"] == 2 and out["n_points"] == 40
    assert out["ode"]["options"]["divergence"] == "exact"  # auto: d <= 16
    assert out["ode"]["options"]["latent_outliers"] == 0
    assert abs(out["ode"]["nll"]["mean"] - true_nll) < 0.01
    for m in ("elbo", "discrete_elbo"):  # bounds: NLL not significantly below the exact one
        r = out[m]["nll"]
        assert r["ci95"][0] < r["mean"] < r["ci95"][1] and r["n"] == 40
        assert r["mean"] > true_nll - 2 * r["half_width"]
        assert out[m]["minus_ode"]["n"] == 40
    assert out["ode"]["nll_per_dim"]["mean"] == pytest.approx(out["ode"]["nll"]["mean"] / 2)
    with pytest.raises(ValueError, match="'ode', 'elbo', 'discrete_elbo'"):
        evaluate(sde, gm.score_fn(sde), x, methods=["flow"])


# ------------------------------------------------------------------ the Hydra script
def test_likelihood_script_end_to_end(tmp_path):
    """Train a tiny toy model for a few steps, then scripts/likelihood.py method=all writes the
    three numbers with confidence intervals to ``out=``."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    import sde_diffusion.registry as registry
    from sde_diffusion.configs import compose, to_plain
    from sde_diffusion.training import Trainer, TrainOptions
    from runs_helpers import subprocess_env
    c = to_plain(compose(["experiment=toy2d", "logger=none", "data.n_train=500", "data.n_test=100",
                          "model.net.hidden=16", "model.net.depth=1", "model.data_std=1.0",
                          "train.steps=10", "train.batch_size=32", "train.checkpoint_every=10",
                          "train.eval_samples=0", "train.log_every=5", "train.progress=false",
                          "train.warmup_steps=2", "train.device=cpu"]))
    data = registry.build(c["data"])   # the objects scripts/train.py builds from the config
    m = c["model"]
    model = registry.build_score_model({
        "sde": c["sde"], "net": {**m["net"], "dim": data.info.data_shape[0]},
        "parameterization": m["parameterization"], "data_std": m["data_std"],
        "input_scaling": m["input_scaling"]})
    opts = TrainOptions.from_dict(dict(c["train"], seed=c["seed"]))
    Trainer(model, data=data, options=opts, run_dir=tmp_path / "train", sampler=c["sampler"],
            run_config=c).fit()
    root = Path(__file__).resolve().parents[2]
    out = tmp_path / "lik"
    cmd = [sys.executable, str(root / "scripts" / "likelihood.py"), f"checkpoint={tmp_path / 'train'}",
           "method=all", "n_points=20", "elbo.n_samples=8", "discrete_elbo.num_steps=20",
           "ode.rtol=1e-3", "ode.atol=1e-3", f"out={out}", f"hydra.run.dir={tmp_path / 'hydra'}"]
    env = subprocess_env()   # the checkout's package on PYTHONPATH
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    res = json.loads((out / "likelihood.json").read_text())
    for m in ("ode", "elbo", "discrete_elbo"):
        r = res[m]["nll"]
        assert r["n"] == 20 and r["ci95"][0] <= r["mean"] <= r["ci95"][1]
    assert res["units"] == "nats" and "reference_nll" in res and res["step"] == 10
    bad = subprocess.run(cmd[:3] + ["method=flow", f"hydra.run.dir={tmp_path / 'bad'}"],
                         capture_output=True, text=True, env=env, timeout=300)
    assert bad.returncode != 0 and "'ode', 'elbo', 'discrete_elbo', 'all'" in bad.stderr


@pytest.mark.cuda
def test_heun_runs_on_cuda_and_matches_cpu():
    sde = VPSDE()
    gm = gaussian()
    x = gm.sample(64, torch.Generator().manual_seed(20), dtype=torch.float64)
    kw = dict(method="heun", steps=50, divergence="hutchinson", n_probes=2)
    cpu = log_likelihood(sde, gm.score_fn(sde), x, generator=torch.Generator().manual_seed(0), **kw)
    gpu = log_likelihood(sde, gm.score_fn(sde), x.cuda(),
                         generator=torch.Generator().manual_seed(0), **kw)
    assert gpu.logp.device.type == "cuda"
    assert torch.allclose(gpu.logp.cpu(), cpu.logp, atol=1e-8)


def test_progress_bar_counts_points(capsys):
    """progress=True: a tqdm bar over data points (here 6 points in chunks of 4) on stderr."""
    from sde_diffusion.analytic import ring_of_gaussians
    from sde_diffusion.sdes import VPSDE
    sde, gm = VPSDE(), ring_of_gaussians()
    x = gm.sample(6, torch.Generator().manual_seed(0), torch.float64)
    log_likelihood(sde, gm.score_fn(sde), x, method="heun", steps=4, batch_size=4, progress=True)
    err = capsys.readouterr().err
    assert "log-likelihood" in err and "6/6" in err
