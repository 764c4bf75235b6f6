"""The EMA's warm-up count and the learning-rate schedule's step index, checked against
closed forms written out independently of the package."""
import math
from functools import partial

import pytest
import torch

from helpers_training import RING, points_model
from sde_diffusion.training import Trainer, TrainOptions
from sde_diffusion.training.ema import EMA


def test_ema_warmup_decay_follows_the_update_count():
    """With warm-up, update k (0-based) uses d_k = min(decay, (1 + k) / (10 + k)): after
    theta_k = k (k = 1..5) from 0 the average is the recursion below; counting from 1 instead
    of 0 changes the first decay from 1/10 to 2/11 and the result by > 2 %."""
    lin = torch.nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        lin.weight.fill_(0.0)
    ema = EMA(lin, decay=0.999, warmup=True)
    expected = 0.0
    for k, d in enumerate([1 / 10, 2 / 11, 3 / 12, 4 / 13, 5 / 14]):
        with torch.no_grad():
            lin.weight.fill_(float(k + 1))
        ema.update(lin)
        expected = d * expected + (1 - d) * (k + 1)
    assert ema.num_updates == 5
    assert math.isclose(float(ema.shadow["weight"]), expected, rel_tol=1e-6)
    resumed = EMA(lin, decay=0.999, warmup=True)
    resumed.load_state_dict(ema.state_dict(), num_updates=5)
    assert resumed.current_decay() == pytest.approx(6 / 15)


def test_lr_schedule_is_applied_at_the_optimiser_step_index(tmp_path):
    """SGD on a loss whose gradient is 1 for one parameter: after K steps it moved by
    lr * sum_k f(k). Linear schedule, W = 4 warm-up steps, K = 12, r = 0:
    f(k) = (k + 1)/4 for k < 4, else 1 - (k - 4)/8. Reading f(k + 1) instead moves it by
    lr * (f sum difference) = 0.05 * 0.125 = 6e-3, far above float rounding."""
    model = points_model()
    p = next(model.parameters())

    def loss(m, x0):
        return next(m.parameters()).sum() * torch.ones(x0.shape[0])

    before = p.detach().clone()
    tr = Trainer(model, loss, partial(torch.optim.SGD, lr=0.05), RING, run_dir=tmp_path,
                 options=TrainOptions(steps=12, warmup_steps=4, lr_schedule="linear",
                                      grad_clip=None, eval_samples=0, n_samples=0,
                                      progress=False, checkpoint_every=100))
    tr.fit()
    factors = [(k + 1) / 4 if k < 4 else 1 - (k - 4) / 8 for k in range(12)]
    moved = before - next(tr.model.parameters()).detach()
    torch.testing.assert_close(moved, torch.full_like(moved, 0.05 * sum(factors)), rtol=1e-5, atol=1e-6)
