"""Parameterisations, ScoreModel and the MLP."""
import itertools

import pytest
import torch

from sde_diffusion.analytic import ring_of_gaussians
from sde_diffusion.models import MLP, PARAMETERIZATIONS, ScoreModel, convert, eps_loss_factor
from sde_diffusion.sdes import SubVPSDE, VESDE, VPSDE

BASE = ("score", "eps", "x0", "v")


@pytest.mark.parametrize("sde", [VPSDE(), SubVPSDE(), VESDE()], ids=repr)
@pytest.mark.parametrize("src,dst", list(itertools.product(BASE, BASE)))
def test_round_trips_exact_float64(sde, src, dst):
    """Every map anchored to the definitions (not only to its inverse): from x0 and eps,
    x_t = m x0 + s eps, score = -eps/s, v = (m eps - s x0)/sqrt(m^2 + s^2), written out here."""
    g = torch.Generator().manual_seed(0)
    x0 = torch.randn(64, 3, generator=g, dtype=torch.float64)
    eps = torch.randn(64, 3, generator=g, dtype=torch.float64)
    t = torch.rand(64, generator=g, dtype=torch.float64) * 0.98 + 0.01
    m, s = (c[:, None] for c in sde.marginal(t))
    x = m * x0 + s * eps
    truth = {"eps": eps, "x0": x0, "score": -eps / s, "v": (m * eps - s * x0) / torch.sqrt(m * m + s * s)}
    there = convert(truth[src], src, dst, x, m[:, 0], s[:, 0])
    torch.testing.assert_close(there, truth[dst], rtol=1e-9, atol=1e-9)
    back = convert(there, dst, src, x, m[:, 0], s[:, 0])
    torch.testing.assert_close(back, truth[src], rtol=1e-9, atol=1e-9)


def test_conversions_agree_with_definitions():
    sde = VESDE(sigma_max=5.0)  # m = 1, s != 1: exercises the normalised v
    g = torch.Generator().manual_seed(1)
    x0, eps = torch.randn(8, 2, generator=g, dtype=torch.float64), torch.randn(8, 2, generator=g, dtype=torch.float64)
    t = torch.full((8,), 0.6, dtype=torch.float64)
    m, s = sde.marginal(t)
    xt = sde.perturb(x0, t, eps)
    r = torch.sqrt(m ** 2 + s ** 2)[:, None]
    v = (m[:, None] * eps - s[:, None] * x0) / r
    torch.testing.assert_close(convert(eps, "eps", "x0", xt, m, s), x0)
    torch.testing.assert_close(convert(eps, "eps", "score", xt, m, s), -eps / s[:, None])
    torch.testing.assert_close(convert(eps, "eps", "v", xt, m, s), v)
    torch.testing.assert_close(convert(v, "v", "eps", xt, m, s), eps)


@pytest.mark.parametrize("kind", BASE)
def test_loss_factor_is_ratio_of_squared_errors(kind):
    """|pred_kind - target_kind|^2 = c(t) |eps_pred - eps|^2 for any error, per sample."""
    sde = VPSDE(schedule="cosine")
    g = torch.Generator().manual_seed(2)
    xt = torch.randn(16, 5, generator=g, dtype=torch.float64)
    eps_true = torch.randn(16, 5, generator=g, dtype=torch.float64)
    eps_pred = eps_true + torch.randn(16, 5, generator=g, dtype=torch.float64)
    t = torch.rand(16, generator=g, dtype=torch.float64) * 0.9 + 0.05
    m, s = sde.marginal(t)
    num = (convert(eps_pred, "eps", kind, xt, m, s) - convert(eps_true, "eps", kind, xt, m, s)).pow(2).sum(1)
    den = (eps_pred - eps_true).pow(2).sum(1)
    torch.testing.assert_close(num / den, eps_loss_factor(kind, m, s), rtol=1e-9, atol=0)


@pytest.mark.parametrize("kind", BASE)
def test_score_model_wraps_any_parameterisation(kind):
    """A net that outputs the exact prediction in its parameterisation gives the exact score."""
    sde, gm = VPSDE(), ring_of_gaussians()

    class Exact(torch.nn.Module):
        def forward(self, x, t):
            m, s = sde.marginal(t)
            return convert(gm.score(x, sde, t), "score", kind, x, m, s)

    model = ScoreModel(Exact(), sde, parameterization=kind, input_scaling=False)
    x = torch.randn(10, 2, dtype=torch.float64)
    t = torch.full((10,), 0.4, dtype=torch.float64)
    torch.testing.assert_close(model(x, t), gm.score(x, sde, t))
    torch.testing.assert_close(model.denoise(x, t), gm.posterior_mean(x, sde, t))


def test_score_model_input_scaling_and_shapes():
    sde = VESDE(sigma_max=50.0)
    seen = {}

    class Probe(torch.nn.Module):
        def forward(self, x, t):
            seen["x"] = x
            return torch.zeros_like(x)

    model = ScoreModel(Probe(), sde, "eps")
    x = torch.randn(4, 3, 8, 8) * 50
    model(x, torch.full((4,), 1.0))
    # c_in = 1/sqrt(1 + s^2) brings sigma_max-scale inputs to unit scale
    assert float(seen["x"].std()) < 1.5
    assert model(x, torch.tensor(1.0)).shape == x.shape


def test_mlp_shapes_and_time_embedding_varies():
    net = MLP(dim=6, hidden=32, depth=2)
    out = net(torch.randn(5, 2, 3), torch.rand(5))
    assert out.shape == (5, 2, 3)
    emb = net.embed[0]
    e = emb(torch.tensor([0.0, 0.01, 0.5, 1.0]))
    # PITFALLS: the time embedding must change visibly across [0, 1]
    assert float((e[0] - e[1]).norm()) > 0.1 * float(e[0].norm())
    assert float((e[2] - e[3]).norm()) > 0.5 * float(e[0].norm())


def test_bad_parameterisation_and_shapes():
    with pytest.raises(ValueError, match="'sigma'.*'eps'"):
        ScoreModel(MLP(2), VPSDE(), parameterization="sigma")
    with pytest.raises(ValueError, match="MLP built for 2"):
        MLP(2)(torch.zeros(3, 4), torch.zeros(3))
    with pytest.raises(ValueError, match="activation"):
        MLP(2, activation="swish2")

    class Wrong(torch.nn.Module):
        def forward(self, x, t):
            return x[:, :1]

    with pytest.raises(ValueError, match="network returned shape"):
        ScoreModel(Wrong(), VPSDE())(torch.zeros(3, 2), torch.full((3,), 0.5))
    assert set(BASE) <= set(PARAMETERIZATIONS)


def test_pretrained_delegates_to_the_persistence_layer(monkeypatch, tmp_path):
    """save_pretrained / from_pretrained call sde_diffusion.io's public functions."""
    import sde_diffusion.io as io
    calls = []
    monkeypatch.setattr(io, "save_pretrained", lambda model, d, **kw: calls.append(("save", model, d)))
    monkeypatch.setattr(io, "load_pretrained", lambda d, loc: calls.append(("load", d, loc)) or "loaded")
    model = ScoreModel(MLP(2, hidden=8, depth=1), VPSDE())
    model.save_pretrained(tmp_path)
    assert ScoreModel.from_pretrained(tmp_path) == "loaded"
    assert calls == [("save", model, tmp_path), ("load", tmp_path, "cpu")]


def test_noise_label_in_unit_interval_for_every_sde():
    """The network's time input is t/T (direct parameterisations) on VP (T=1) and EDM (T=80)."""
    from sde_diffusion.sdes import EDMSDE
    seen = []

    class Probe(torch.nn.Module):
        def forward(self, x, label):
            seen.append(label.clone())
            return torch.zeros_like(x)

    for sde in (VPSDE(), EDMSDE()):
        t = torch.tensor([sde.eps, 0.5 * sde.T, sde.T], dtype=torch.float64)
        ScoreModel(Probe(), sde, "eps")(torch.zeros(3, 2, dtype=torch.float64), t)
        torch.testing.assert_close(seen[-1], t / sde.T, rtol=0, atol=0)
