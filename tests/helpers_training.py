"""Shared tiny set-ups for the training tests (pure Python: no Hydra)."""
from __future__ import annotations

import torch

from sde_diffusion.data import digits, make_loader, ring
from sde_diffusion.models import MLP, ScoreModel, UNet
from sde_diffusion.sdes import VPSDE
from sde_diffusion.tracking import NullTracker
from sde_diffusion.training import Trainer, TrainOptions

RING = ring(n_train=2000, n_test=500)
DIGITS = digits()
TINY = dict(steps=20, batch_size=64, checkpoint_every=5, keep_checkpoints=3, eval_samples=0,
            n_samples=0, log_every=5, progress=False, warmup_steps=3, seed=0, lr=2e-3)


def points_model(hidden: int = 32, seed: int = 0) -> ScoreModel:
    torch.manual_seed(seed)
    return ScoreModel(MLP(2, hidden=hidden, depth=1), VPSDE())


def digits_model(seed: int = 0) -> ScoreModel:
    torch.manual_seed(seed)
    return ScoreModel(UNet(1, 8, base_channels=8, channel_mult=(1, 2), num_res_blocks=1,
                           attn_resolutions=(4,), num_groups=4, dropout=0.2), VPSDE())


def make(run_dir, data=RING, model=None, callbacks=(), tracker=None, sampler=None, **opts):
    o = TrainOptions(**{**TINY, **opts})
    model = model if model is not None else (digits_model() if data is DIGITS else points_model())
    return Trainer(model, data=data, options=o, run_dir=run_dir, callbacks=callbacks,
                   tracker=tracker, sampler=sampler or {"name": "euler_maruyama", "steps": 10})


class RecordingTracker(NullTracker):
    def __init__(self):
        self.logged, self.exit_code, self.summaries = [], None, {}

    def log(self, metrics, step):
        self.logged.append((step, dict(metrics)))

    def summary(self, metrics):
        self.summaries.update(metrics)

    def finish(self, exit_code=0):
        self.exit_code = exit_code


def assert_same_state(a: Trainer, b: Trainer) -> None:
    assert a.step == b.step
    for (k, va), vb in zip(a.model.state_dict().items(), b.model.state_dict().values()):
        assert torch.equal(va, vb), f"parameter {k} differs"
    for d, e in a.emas.items():
        for k, va in e.state_dict().items():
            assert torch.equal(va, b.emas[d].state_dict()[k]), f"EMA {d} {k} differs"
    sa, sb = a.optimizer.state_dict()["state"], b.optimizer.state_dict()["state"]
    for i in sa:
        assert torch.equal(sa[i]["exp_avg_sq"], sb[i]["exp_avg_sq"])


__all__ = ["RING", "DIGITS", "TINY", "points_model", "digits_model", "make", "RecordingTracker",
           "assert_same_state", "make_loader"]
