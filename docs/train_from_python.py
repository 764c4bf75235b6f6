"""Train the 2-D toy from Python without Hydra, then sample and score it (README example).

    python docs/train_from_python.py            # ~3000 steps, a minute or two on a laptop CPU
    python docs/train_from_python.py 200        # a quick smoke run
"""
import sys
from functools import partial

import torch

from sde_diffusion.data import make_loader, ring
from sde_diffusion.models import MLP, ScoreModel
from sde_diffusion.sdes import VPSDE
from sde_diffusion.solvers import sample
from sde_diffusion.training import Trainer, TrainOptions, sliced_wasserstein_report


def main(steps: int = 3000, run_dir: str = "runs/toy_python", n: int = 4000, nsteps: int = 400) -> dict:
    data = ring(n_train=20_000, n_test=4_000)                      # 8 Gaussians, exact density
    model = ScoreModel(MLP(dim=2, hidden=128, depth=3), VPSDE(), parameterization="eps")
    trainer = Trainer(model, optimizer=partial(torch.optim.AdamW, lr=2e-3),
                      data=make_loader(data.dataset("train"), batch_size=512),
                      options=TrainOptions(steps=steps, warmup_steps=min(200, steps // 4),
                                           eval_samples=0, resume=False, fresh_start="move"),
                      run_dir=run_dir, reference=data)
    trainer.fit()
    with trainer.ema.swapped(model):                              # sample with the EMA weights
        x, info = sample(model.sde, model.eval(), (n, 2), sampler="euler_maruyama", steps=nsteps,
                         generator=torch.Generator().manual_seed(0))
    score = sliced_wasserstein_report(x, data, n=n)
    print(f"{info.nfe} NFE; sliced Wasserstein {score['sw']:.3f}, floor {score['sw_floor']:.3f}")
    return score


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3000)
