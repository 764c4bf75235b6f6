"""UniPC (bh2, order 2, corrector on) agrees with diffusers' UniPCMultistepScheduler, run on
the same times from the same x_T with the exact score of a mixture (optional extra: skipped
without diffusers). bh1 differs from it by ~0.06, so a wrong B(h) cannot hide below 1e-5."""
import pytest
import torch

from sde_diffusion.analytic import GaussianMixture
from sde_diffusion.sdes import VPSDE
from sde_diffusion.solvers import sample


def test_unipc_bh2_matches_diffusers():
    diffusers = pytest.importorskip("diffusers")
    import numpy as np

    from sde_diffusion.benchmarking.peers import PEERS
    sde = VPSDE()
    gm = GaussianMixture(torch.tensor([[-1.0, 0.5], [1.0, -0.3]], dtype=torch.float64),
                         torch.tensor([0.3, 0.5], dtype=torch.float64),
                         torch.tensor([0.4, 0.6], dtype=torch.float64))
    sf = gm.score_fn(sde)
    steps, t_end, n_train = 8, 1e-3, 1000
    # the peer's training table (uniform in t); its sigmas give the times of our grid
    sig = sde.sigma(torch.linspace(t_end, sde.T, n_train, dtype=torch.float64)).numpy()
    abar = 1.0 / (1.0 + sig ** 2)
    sched = diffusers.UniPCMultistepScheduler(
        num_train_timesteps=n_train, trained_betas=1.0 - abar / np.concatenate([[1.0], abar[:-1]]),
        solver_order=2, final_sigmas_type="sigma_min")
    sched.set_timesteps(steps)
    times = sde.t_from_sigma(sched.sigmas.to(torch.float64))
    x_T = gm.marginal(sde, sde.T).sample(256, generator=torch.Generator().manual_seed(0)).double()
    ref = PEERS["diffusers_unipc2_linspace"](sde, sf, x_T, steps, t_end)  # a data estimate x/m
    x, _ = sample(sde, sf, sampler="unipc", x_init=x_T, grid=times, order=2, variant="bh2",
                  denoise=False)
    m_end = float(sde.marginal(times[-1:])[0].reshape(-1)[0])
    x, y = x / m_end, None
    assert float((x - ref).abs().max()) < 1e-5
    y, _ = sample(sde, sf, sampler="unipc", x_init=x_T, grid=times, order=2, variant="bh1",
                  denoise=False)
    assert float((y / m_end - ref).abs().max()) > 1e-2   # the comparison can tell the variants apart
