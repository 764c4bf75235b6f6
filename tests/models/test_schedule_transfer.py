"""Schedule transfer between kernels (VP <-> rectified flow <-> cosine), exact on mixtures."""
import pytest
import torch

from sde_diffusion.analytic import GaussianMixture
from sde_diffusion.models.parameterization import FunctionModel
from sde_diffusion.models.transfer import TransferredModel
from sde_diffusion.sdes import CosineFlow, EDMSDE, RectifiedFlow, VPSDE
from sde_diffusion.solvers import sample


def mixture():
    return GaussianMixture(torch.tensor([[1.0, 2.0], [-2.0, 0.5]]), torch.tensor([0.5, 0.7]))


def exact_model(gm, sde):
    if callable(getattr(sde, "marginal_rates", None)):
        return FunctionModel(gm.velocity_fn(sde), sde, "velocity")
    return FunctionModel(gm.score_fn(sde), sde, "score")


@pytest.mark.parametrize("src,dst", [(VPSDE(), RectifiedFlow()), (RectifiedFlow(), VPSDE()),
                                     (RectifiedFlow(), CosineFlow()), (EDMSDE(), RectifiedFlow()),
                                     (CosineFlow(), VPSDE(schedule="cosine"))], ids=repr)
def test_transferred_exact_model_is_exact_under_the_other_kernel(src, dst):
    """The exact model of kernel A seen through kernel B gives B's exact score, x0 (and velocity
    for a flow path) at times whose sigma lies in A's range."""
    gm = mixture()
    model = TransferredModel(exact_model(gm, src), dst)
    g = torch.Generator().manual_seed(0)
    x = 2 * torch.randn(32, 2, generator=g, dtype=torch.float64)
    for t in (0.05, 0.3, 0.6, 0.9):
        tt = torch.full((32,), t, dtype=torch.float64)
        torch.testing.assert_close(model(x, tt), gm.score(x, dst, t), rtol=1e-6, atol=1e-8)
        torch.testing.assert_close(model.predict(x, tt, "x0"), gm.posterior_mean(x, dst, t),
                                   rtol=1e-6, atol=1e-8)
        if callable(getattr(dst, "marginal_rates", None)):
            torch.testing.assert_close(model.predict(x, tt, "velocity"), gm.velocity(x, dst, t),
                                       rtol=1e-6, atol=1e-8)


def test_sampling_a_flow_model_with_another_paths_solver_is_exact_map():
    """A rectified-flow velocity model sampled on the cosine path's grid by the cosine path's
    solver reaches the same x_0 (the PF-ODE map from N(0, I) at t = 1 is the same map under both
    kernels): flow_midpoint with 400 steps on both, agreement to 1e-5."""
    gm = mixture()
    rf, cos = RectifiedFlow(), CosineFlow()
    x1 = torch.randn(64, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    a, _ = sample(rf, exact_model(gm, rf), sampler="flow_midpoint", steps=400, x_init=x1, t_end=0.0)
    b, _ = sample(cos, TransferredModel(exact_model(gm, rf), cos), sampler="flow_midpoint",
                  steps=400, x_init=x1, t_end=0.0)
    torch.testing.assert_close(a, b, rtol=0, atol=1e-5)


def test_transfer_needs_a_model_with_predict():
    with pytest.raises(TypeError, match="predict"):
        TransferredModel(lambda x, t: x, RectifiedFlow())
