"""Adversarial inputs to the maths layer (SDEs, schedules, samplers, likelihood, models, losses):
each asserts the exact outcome (error type and a message naming the value) or correct behaviour."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from sde_diffusion.analytic import ring_of_gaussians
from sde_diffusion.likelihood import Quantization, discrete_elbo, elbo, log_likelihood
from sde_diffusion.losses import DenoisingLoss
from sde_diffusion.models import MLP, ScoreModel, convert
from sde_diffusion.metrics import energy_distance, mmd, sliced_wasserstein
from sde_diffusion.sdes import DiscreteChain, EDMSDE, LinearSDE, SubVPSDE, VESDE, VPSDE
from sde_diffusion.sdes.schedules import Constant, CosineBeta, Geometric, Linear, LinearBeta, Power, Scaled
from sde_diffusion.solvers import sample
from sde_diffusion.solvers.base import NonFiniteSampleError

INF, NAN = float("inf"), float("nan")
GM = ring_of_gaussians()

CONSTRUCTOR_CASES = [  # (factory, error type, message pattern)
    (lambda: VPSDE(beta_max=INF), ValueError, r"beta_max must be positive and finite, got inf"),
    (lambda: VPSDE(beta_min=NAN), ValueError, r"beta_min must be positive and finite, got nan"),
    (lambda: VPSDE(beta_min=0.0), ValueError, r"beta_min must be positive and finite, got 0.0"),
    (lambda: VPSDE(beta_min=5.0, beta_max=1.0), ValueError, r"beta_max must be >= beta_min=5.0, got 1.0"),
    (lambda: VPSDE(T=INF), ValueError, r"T must be positive and finite, got inf"),
    (lambda: VPSDE(T=-1.0), ValueError, r"T must be positive and finite, got -1.0"),
    (lambda: VPSDE(eps=NAN), ValueError, r"eps must be finite, got nan"),
    (lambda: VPSDE(eps=2.0), ValueError, r"eps must lie in \[0, T=1.0\), got 2.0"),
    (lambda: VPSDE(schedule="quadratic"), ValueError, r"'quadratic'.*'linear', 'cosine'"),
    (lambda: VPSDE(schedule=3), TypeError, r"schedule must be a name"),
    (lambda: VPSDE(schedule=LinearBeta(T=2.0)), ValueError, r"defined on \[0, 2.0\].*T is 1.0"),
    (lambda: VPSDE(schedule="cosine", alpha_bar_min=1.5), ValueError, r"alpha_bar_min must lie in \(0, 1\), got 1.5"),
    (lambda: VPSDE(schedule="cosine", cosine_s=INF), ValueError, r"cosine_s must be positive and finite, got inf"),
    (lambda: SubVPSDE(beta_max=INF), ValueError, r"beta_max must be positive and finite, got inf"),
    (lambda: VESDE(sigma_max=INF), ValueError, r"sigma_max must be positive and finite, got inf"),
    (lambda: VESDE(sigma_min=NAN), ValueError, r"sigma_min must be positive and finite, got nan"),
    (lambda: VESDE(sigma_min=2.0, sigma_max=1.0), ValueError, r"sigma_max must exceed sigma_min=2.0, got 1.0"),
    (lambda: VESDE(sigma_max="50"), TypeError, r"sigma_max must be a positive number, got str"),
    (lambda: EDMSDE(sigma_max=INF), ValueError, r"sigma_max must be positive and finite, got inf"),
    (lambda: EDMSDE(sigma_min=-1.0), ValueError, r"sigma_min must be positive and finite, got -1.0"),
    (lambda: VPSDE(beta_max=True), TypeError, r"beta_max must be a positive number, got bool"),
    (lambda: Constant(NAN), ValueError, r"value must be finite, got nan"),
    (lambda: Linear(0.0, INF), ValueError, r"end must be finite, got inf"),
    (lambda: Geometric(0.0, 1.0), ValueError, r"start must be positive and finite, got 0.0"),
    (lambda: Scaled(Constant(1.0), INF), ValueError, r"scale must be finite, got inf"),
    (lambda: Power(NAN), ValueError, r"exponent must be finite, got nan"),
    (lambda: CosineBeta(alpha_bar_min=0.0), ValueError, r"alpha_bar_min must lie in \(0, 1\), got 0.0"),
    (lambda: LinearSDE(f=Constant(0.0), g=Constant(1.0), grid_size=INF), ValueError, r"grid_size must be >= 16, got inf"),
    (lambda: LinearSDE(f=Constant(0.0), g=lambda t: t * INF), ValueError, r"g\(t\) is not finite at t=0"),
    (lambda: LinearSDE(f=Constant(0.0), g=Constant(1.0), T=NAN), ValueError, r"T must be positive and finite, got nan"),
    (lambda: ScoreModel(MLP(2), VPSDE(), "eps", data_std=INF), ValueError, r"data_std must be positive and finite, got inf"),
    (lambda: ScoreModel(MLP(2), VPSDE(), "velocity"), ValueError,
     r"^parameterization 'velocity' needs a flow path \(sdes.RectifiedFlow, CosineFlow, AffinePath\); VPSDE is not one$"),
    (lambda: ScoreModel(MLP(2), VPSDE(), "velocty"), ValueError, r"^unknown parameterization 'velocty'; valid choices: 'score', 'eps', 'x0', 'v', 'velocity', 'edm'; did you mean 'velocity'\?$"),
    (lambda: ScoreModel(3, VPSDE()), TypeError, r"net must be a module"),
    (lambda: ScoreModel(MLP(2), "vp"), TypeError, r"sde must be an SDE"),
    (lambda: Quantization(bits=0), ValueError, r"bits must be a positive integer, got 0"),
    (lambda: Quantization(bits=True), ValueError, r"bits must be a positive integer, got True"),
    (lambda: Quantization(value_range=(0.0, INF)), ValueError, r"value_range must be \(lo, hi\) with hi > lo"),
    (lambda: DenoisingLoss(max_weight=-1.0), ValueError, r"max_weight must be positive and finite, got -1.0"),
    (lambda: DenoisingLoss(p_std=INF), ValueError, r"p_std must be positive and finite, got inf"),
    (lambda: DiscreteChain(torch.tensor([0.1, NAN])), ValueError, r"beta_2 = nan must lie in \(0, 1\)"),
    (lambda: DiscreteChain(torch.tensor([0.1]), T=INF), ValueError, r"T must be positive and finite, got inf"),
    (lambda: VPSDE().discrete(0), ValueError, r"num_steps must be an integer >= 1, got 0"),
    (lambda: VPSDE().discrete(2.5), ValueError, r"num_steps must be an integer >= 1, got 2.5"),
    (lambda: VESDE().discrete(5), ValueError, r"discrete DDPM chain needs a variance-preserving SDE.*VESDE"),
    (lambda: sliced_wasserstein(torch.zeros(4, 2), torch.zeros(4, 3)), ValueError, r"differ in dimension: 2 vs 3"),
    (lambda: sliced_wasserstein(torch.full((4, 2), NAN), torch.zeros(4, 2)), ValueError, r"non-finite"),
    (lambda: sliced_wasserstein(torch.zeros(4, 2), torch.zeros(4, 2), n_projections=0), ValueError,
     r"n_projections must be an integer >= 1, got 0"),
    (lambda: mmd(torch.zeros(1, 2), torch.zeros(4, 2)), ValueError, r"at least 2 samples, got shape \(1, 2\)"),
    (lambda: mmd(torch.randn(4, 2), torch.randn(4, 2), bandwidth=INF), ValueError, r"bandwidth must be positive and finite"),
    (lambda: energy_distance([[0.0]], torch.zeros(4, 1)), TypeError, r"must be tensors"),
]


@pytest.mark.parametrize("factory,err,pattern", CONSTRUCTOR_CASES,
                         ids=[f"ctor{i}" for i in range(len(CONSTRUCTOR_CASES))])
def test_constructors_refuse_bad_values(factory, err, pattern):
    with pytest.raises(err, match=pattern):
        factory()


def _sc(sde):
    return GM.score_fn(sde)


SAMPLE_CASES = [  # (kwargs for sample on VP, error type, pattern)
    # numpy 2 writes np.int64(0), numpy 1 writes 0
    (dict(sampler="euler", steps=np.int64(0)), ValueError, r"steps must be an integer >= 1, got (np.int64\(0\)|0)$"),
    (dict(sampler="euler", steps=float("inf")), ValueError, r"steps must be an integer >= 1, got inf"),
    (dict(sampler="rk45", rtol=INF), ValueError, r"rtol must be positive and finite, got inf"),
    (dict(sampler="rk45", method="LSODA"), ValueError, r"'LSODA'.*'RK45', 'DOP853', 'RK23'"),
    (dict(sampler="pc", predictor_options={"snr": 0.1}), ValueError,
     r"predictor 'reverse_diffusion' got unknown option\(s\) 'snr'; valid options: \(none\)"),
    (dict(sampler="pc", corrector="langevin", corrector_options={"snr": NAN}), ValueError,
     r"snr must be positive and finite, got nan"),
    (dict(sampler="pc", corrector="none", n_steps=3), ValueError, r"n_steps=3 is used by neither"),
    (dict(sampler="pc", predictor="none", corrector="none"), ValueError, r"does nothing"),
    (dict(sampler="ancestral", discrete="yes"), TypeError, r"discrete must be a bool, got 'yes'"),
    (dict(sampler="ancestral", discrete=True, grid="karras"), ValueError, r"fixes its grid"),
    (dict(sampler="edm", S_churn=INF), ValueError, r"S_churn must be a finite number >= 0, got inf"),
    (dict(sampler="dpm_solver2", min_ratio=2.0), ValueError, r"min_ratio must lie in \[0, 1\], got 2.0"),
]


@pytest.mark.parametrize("kwargs,err,pattern", SAMPLE_CASES, ids=[f"sample{i}" for i in range(len(SAMPLE_CASES))])
def test_sample_refuses_bad_options(kwargs, err, pattern):
    sde = VPSDE()
    with pytest.raises(err, match=pattern):
        sample(sde, _sc(sde), (4, 2), **{"steps": 3, **kwargs})


def test_numpy_steps_accepted_and_equal_to_int():
    sde = VPSDE()
    a, ia = sample(sde, _sc(sde), (4, 2), sampler="ddim", steps=np.int64(5), generator=torch.Generator().manual_seed(0))
    b, ib = sample(sde, _sc(sde), (4, 2), sampler="ddim", steps=5, generator=torch.Generator().manual_seed(0))
    assert torch.equal(a, b) and ia.nfe == ib.nfe == 5


@pytest.mark.parametrize("name", ["euler", "heun", "rk45", "ddim", "euler_maruyama", "pc", "edm_heun"])
def test_nan_score_names_the_step(name):
    sde = VPSDE()
    with pytest.raises(NonFiniteSampleError, match=rf"sampler '{name}' produced non-finite values at step 1\b"):
        sample(sde, lambda x, t: x * NAN, (4, 2), sampler=name, steps=4)


def test_one_sampler_object_runs_twice_same_result():
    """No hidden state: the discrete ancestral chain is rebuilt per call (different step counts)."""
    from sde_diffusion.solvers import get_sampler
    sde = VPSDE()
    smp = get_sampler("ancestral")(discrete=True)
    for steps in (5, 9):
        x = torch.zeros(3, 2)
        from sde_diffusion.solvers.base import NoiseSource, SolverContext
        ctx = SolverContext(sde, _sc(sde), smp.make_times(sde, steps, None, None, None),
                            NoiseSource(torch.Generator().manual_seed(0)))
        out = smp.integrate(ctx, x)
        assert ctx.nfe == steps and out.shape == (3, 2)
    assert not any(hasattr(v, "alphas") for v in vars(smp._pred).values())


def test_likelihood_bad_inputs():
    sde = VPSDE()
    x = torch.zeros(3, 2, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"x contains non-finite"):
        log_likelihood(sde, _sc(sde), torch.full((2, 2), NAN))
    with pytest.raises(TypeError, match=r"floating-point tensor, got torch.int64"):
        log_likelihood(sde, _sc(sde), torch.zeros(2, 2, dtype=torch.long))
    with pytest.raises(ValueError, match=r"batch_size must be an integer >= 1, got 0"):
        log_likelihood(sde, _sc(sde), x, batch_size=0)
    with pytest.raises(ValueError, match=r"n_probes must be an integer >= 1, got 0"):
        log_likelihood(sde, _sc(sde), x, divergence="hutchinson", n_probes=0)
    with pytest.raises(ValueError, match=r"eps must lie in \[0, T=1.0\), got 1.0"):
        log_likelihood(sde, _sc(sde), x, eps=1.0)
    with pytest.raises(ValueError, match=r"rtol must be positive and finite, got inf"):
        log_likelihood(sde, _sc(sde), x, rtol=INF)
    with pytest.raises(ValueError, match=r"non-finite values at t="):
        log_likelihood(sde, lambda y, t: y * NAN, x)
    with pytest.raises(ValueError, match=r"SubVPSDE has no discrete chain"):
        discrete_elbo(SubVPSDE(), _sc(SubVPSDE()), x, num_steps=4)
    with pytest.raises(ValueError, match=r"n_samples must be an integer >= 2"):
        elbo(sde, _sc(sde), x, n_samples=1)


def test_likelihood_float64_data_with_float32_model():
    """The README's log_likelihood(sde, model, x.double()) with a float32 model works: the
    score runs in the model's dtype; results are float64 and match the float32-data call."""
    sde = VPSDE()
    torch.manual_seed(0)
    model = ScoreModel(MLP(2, hidden=16, depth=1), sde, "eps")
    x = GM.sample(4, torch.Generator().manual_seed(0))
    r64 = log_likelihood(sde, model, x.double(), method="heun", steps=20)
    r32 = log_likelihood(sde, model, x.float(), method="heun", steps=20)
    assert r64.logp.dtype == torch.float64
    torch.testing.assert_close(r64.logp, r32.logp, rtol=1e-4, atol=1e-3)


def test_likelihood_chunks_equal_one_batch():
    sde = VPSDE()
    x = GM.sample(6, torch.Generator().manual_seed(1), torch.float64)
    a = log_likelihood(sde, _sc(sde), x, method="heun", steps=10)
    b = log_likelihood(sde, _sc(sde), x, method="heun", steps=10, batch_size=4, progress=False)
    torch.testing.assert_close(a.logp, b.logp, rtol=1e-12, atol=1e-12)


class _LabelNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.num_classes = 3
        self.seen = None

    def forward(self, x, t, y):
        self.seen = y.clone()
        return x * 0 + y[:, None].to(x.dtype)


def test_labels_forwarded_and_dropped():
    sde = VPSDE()
    net = _LabelNet()
    model = ScoreModel(net, sde, "eps")
    x = torch.randn(5, 2)
    y = torch.tensor([0, 1, 2, 1, 0])
    model(x, torch.full((5,), 0.5), y)
    assert torch.equal(net.seen, y)
    with pytest.raises(ValueError, match=r"class labels y must have shape \(5,\), got \(4,\)"):
        model(x, torch.full((5,), 0.5), y[:4])
    with pytest.raises(TypeError, match=r"class labels y must be integers, got dtype torch.float32"):
        model(x, torch.full((5,), 0.5), y.float())
    with pytest.raises(TypeError, match=r"network MLP takes no class labels"):
        ScoreModel(MLP(2), sde)(x, torch.full((5,), 0.5), y)
    # the loss hands the labels to the network unchanged (label dropout is the trainer's)
    loss = DenoisingLoss()(model, x, y=y, generator=torch.Generator().manual_seed(0))
    assert torch.equal(net.seen, y) and loss.shape == (5,)


def test_convert_with_float_coefficients_equals_tensor():
    x, p = torch.randn(4, 2, dtype=torch.float64), torch.randn(4, 2, dtype=torch.float64)
    a = convert(p, "v", "score", x, 0.6, 0.8)
    b = convert(p, "v", "score", x, torch.tensor(0.6, dtype=torch.float64), torch.tensor(0.8, dtype=torch.float64))
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    with pytest.raises(ValueError, match=r"unknown parameterization 'noise'"):
        convert(p, "noise", "eps", x, 0.6, 0.8)


def test_capabilities_declared_by_the_sde():
    assert VPSDE().supports("discrete_chain") and not SubVPSDE().supports("discrete_chain")
    assert not VESDE().supports("discrete_chain") and not EDMSDE().supports("discrete_chain")
    vp_lin = LinearSDE(f=Scaled(LinearBeta(), -0.5), g=lambda t: torch.sqrt(LinearBeta()(t)))
    assert vp_lin.supports("discrete_chain")
    assert all(s.supports("finite_log_snr") for s in (VPSDE(), SubVPSDE(), VESDE(), EDMSDE()))
    assert not issubclass(SubVPSDE, VPSDE)


def test_bounds_accept_numpy_integers():
    sde = VPSDE()
    x = GM.sample(3, torch.Generator().manual_seed(0), torch.float64)
    a = discrete_elbo(sde, _sc(sde), x, num_steps=np.int64(5), generator=torch.Generator().manual_seed(1))
    b = discrete_elbo(sde, _sc(sde), x, num_steps=5, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(a.elbo, b.elbo, rtol=0, atol=0)
    e = elbo(sde, _sc(sde), x, n_samples=np.int32(4), generator=torch.Generator().manual_seed(2))
    assert e.n_samples == 4 and e.elbo.shape == (3,)
    with pytest.raises(ValueError, match=r"num_steps must be an integer >= 1, got True"):
        discrete_elbo(sde, _sc(sde), x, num_steps=True)


def test_sampler_refuses_sde_without_finite_log_snr():
    class NoSNR(VPSDE):
        has_finite_log_snr = False

    sde = NoSNR()
    for name in ("ddim", "dpm_solver2", "dpm_solver3"):
        with pytest.raises(ValueError, match=rf"sampler '{name}' needs an SDE with the capability "
                                             r"'finite_log_snr' \(SDE.has_finite_log_snr\); NoSNR"):
            sample(sde, _sc(sde), (4, 2), sampler=name, steps=3)
    x, _ = sample(sde, _sc(sde), (4, 2), sampler="heun", steps=3)  # needs no log-SNR
    assert x.shape == (4, 2)
