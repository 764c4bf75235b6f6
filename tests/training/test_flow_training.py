"""Training flow models from Hydra: sde=rectified_flow / cosine_flow with the velocity
parameterisation and the flow-matching loss, then sampling and likelihood of the trained model."""
import pytest
import torch

from sde_diffusion.configs import compose as compose_config
from sde_diffusion.configs.train import build_trainer
from sde_diffusion.losses import DenoisingLoss, FlowMatchingLoss, make_loss
from sde_diffusion.sdes import CosineFlow, RectifiedFlow
from sde_diffusion.solvers import sample

TINY = ["logger=none", "data.n_train=512", "data.n_test=128", "model.net.hidden=16",
        "model.net.depth=1", "train.steps=6", "train.batch_size=32", "train.log_every=3",
        "train.checkpoint_every=3", "train.eval_samples=64", "sampler.steps=5",
        "train.progress=false"]


@pytest.mark.parametrize("overrides,path,loss", [
    (["experiment=toy2d_flow"], RectifiedFlow, FlowMatchingLoss),
    (["experiment=toy2d_flow", "sde=cosine_flow", "train.loss.coupling=ot"], CosineFlow, FlowMatchingLoss),
    (["experiment=toy2d", "sde=rectified_flow", "model.parameterization=velocity",
      "sampler=flow_sde"], RectifiedFlow, DenoisingLoss),
])
def test_train_flow_models_from_hydra(tmp_path, overrides, path, loss):
    if "train.loss.coupling=ot" in overrides:
        pytest.importorskip("ot", reason="minibatch-OT coupling needs POT (the bench extra)")
    trainer = build_trainer(compose_config(overrides + TINY), tmp_path)
    assert isinstance(trainer.model.sde, path) and trainer.model.parameterization == "velocity"
    assert isinstance(trainer.loss_fn, loss)
    if loss is FlowMatchingLoss:
        assert trainer.loss_fn.coupling == ("ot" if "train.loss.coupling=ot" in overrides else "independent")
    result = trainer.fit()
    assert result.step == 6
    x, info = sample(trainer.model.sde, trainer.model, (16, 2), sampler="flow_euler", steps=4,
                     generator=torch.Generator().manual_seed(0))
    assert torch.isfinite(x).all() and info.times[0] == 1.0


def test_flow_loss_options_are_checked():
    with pytest.raises(ValueError, match="loss.kind"):
        build_trainer(compose_config(["experiment=toy2d_flow", "train.loss.kind=flow"] + TINY), "/tmp/x")
    with pytest.raises(ValueError, match="weighting would be ignored"):
        make_loss("flow_matching", weighting="likelihood")
    with pytest.raises(ValueError, match="needs a flow path"):
        build_trainer(compose_config(["experiment=toy2d", "train.loss.kind=flow_matching"] + TINY),
                      "/tmp/x").train_step()
    with pytest.raises(ValueError, match="'velocity' needs a flow path"):
        build_trainer(compose_config(["experiment=toy2d", "model.parameterization=velocity"] + TINY), "/tmp/x")
