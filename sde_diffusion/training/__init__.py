"""Training: the ``Trainer`` loop over objects, ``TrainOptions``, callbacks, EMA and
data-parallel set-up (checkpoints and ``load_model`` live in ``sde_diffusion.io``).

    from sde_diffusion.training import Trainer, TrainOptions
    trainer = Trainer(model, loss, optimizer=partial(torch.optim.AdamW, lr=2e-3), data=loader,
                      options=TrainOptions(steps=3000), run_dir="runs/toy")
    result = trainer.fit()
"""
from .callbacks import (Callback, Checkpointing, EvaluationInterrupted, FinalEvaluation,
                        SamplePlots, SignalHandling)
from ..io.checkpoints import CheckpointError, CheckpointWriteError, UnsafeCheckpointError
from .ema import EMA
from .loop import Trainer
from .options import LossOptions, TrainOptions
from .run_folder import link_latest
from .runtime import NonFiniteLossError, TrainResult, seed_everything, select_device
from .sampling import generate_samples, sampler_arguments, sliced_wasserstein_report
from .schedule import lr_factor

__all__ = ["Trainer", "TrainOptions", "LossOptions", "TrainResult", "EMA", "Callback",
           "Checkpointing", "SignalHandling", "SamplePlots", "FinalEvaluation",
           "EvaluationInterrupted", "NonFiniteLossError", "CheckpointError",
           "CheckpointWriteError", "UnsafeCheckpointError", "link_latest", "lr_factor", "generate_samples",
           "sampler_arguments", "sliced_wasserstein_report", "select_device", "seed_everything"]
