"""Label dropout is the trainer's: each label reaches the loss unchanged or, with probability
``TrainOptions.label_dropout``, as the null label ``model.num_classes``; the losses never see p."""
import math

import pytest
import torch
from torch.utils.data import TensorDataset

from sde_diffusion.models import MLP, ScoreModel
from sde_diffusion.sdes import VPSDE
from sde_diffusion.training import Trainer, TrainOptions

N, C = 4000, 3
OPTS = dict(steps=1, batch_size=N, eval_samples=0, n_samples=0, progress=False, seed=0,
            warmup_steps=0, conditional=True)


class RecordingLoss:
    """A per-sample loss that records the labels the trainer hands it."""

    def __init__(self):
        self.seen = []

    def __call__(self, model, x0, generator=None, y=None):
        self.seen.append((y.clone(), x0[:, 0].round().long()))  # x0[:, 0] holds the true label
        return model.native(x0, torch.full((x0.shape[0],), 0.5), y)[1].pow(2).mean(1)


def _step(tmp_path, p, labels, num_classes=C):
    model = ScoreModel(MLP(2, hidden=8, depth=1, num_classes=num_classes), VPSDE(), data_std=1.0)
    loss = RecordingLoss()
    x = torch.stack([labels.float(), torch.randn(N)], 1)  # the loader shuffles: keep y in x
    data = TensorDataset(x, labels)
    trainer = Trainer(model, loss, data=data, run_dir=tmp_path,
                      options=TrainOptions(**OPTS, label_dropout=p))
    trainer.train_step()
    return loss.seen[0], trainer


@pytest.mark.parametrize("p", [0.2, 0.5])
def test_dropped_fraction_and_the_null_label(tmp_path, p):
    """Dropped fraction ~ Binomial(4000, p)/4000: within 4 standard errors (false alarm 6e-5;
    a rate off by 0.05 - or an inverted comparison, 1 - p - is caught with certainty: 8 SE at
    p = 0.2). Dropped labels are exactly C (the null index); kept ones are the data's."""
    seen, labels = _step(tmp_path, p, torch.arange(N) % C)[0]
    dropped = seen != labels
    assert torch.all(seen[dropped] == C)  # the null label is num_classes, nothing else
    frac = float(dropped.double().mean())
    assert abs(frac - p) < 4 * math.sqrt(p * (1 - p) / N), frac


@pytest.mark.parametrize("p", [0.0, 1.0])
def test_no_dropout_keeps_labels_and_full_dropout_drops_all(tmp_path, p):
    seen, labels = _step(tmp_path, p, torch.arange(N) % C)[0]
    assert torch.equal(seen, labels if p == 0 else torch.full_like(labels, C))


def test_dropout_draws_come_from_the_trainers_generator(tmp_path):
    """Same seed, same dropped set; another seed, another set (the draw is the trainer's)."""
    labels = torch.zeros(N, dtype=torch.long)
    a = _step(tmp_path / "a", 0.5, labels)[0][0]
    b = _step(tmp_path / "b", 0.5, labels)[0][0]
    assert torch.equal(a, b)
    model = ScoreModel(MLP(2, hidden=8, depth=1, num_classes=C), VPSDE(), data_std=1.0)
    other = Trainer(model, RecordingLoss(), data=TensorDataset(torch.randn(N, 2), labels),
                    run_dir=tmp_path / "c", options=TrainOptions(**{**OPTS, "seed": 1},
                                                                 label_dropout=0.5))
    assert not torch.equal(other.drop_labels(labels), a)


def test_label_dropout_needs_a_conditional_network(tmp_path):
    model = ScoreModel(MLP(2, hidden=8, depth=1), VPSDE(), data_std=1.0)
    with pytest.raises(ValueError, match=r"train.label_dropout=0.2 needs a class-conditional "
                                         r"network \(num_classes > 0.*MLP has none"):
        Trainer(model, RecordingLoss(), data=TensorDataset(torch.randn(8, 2), torch.zeros(8).long()),
                run_dir=tmp_path, options=TrainOptions(**{**OPTS, "batch_size": 8}, label_dropout=0.2))


def test_label_dropout_needs_conditional_training():
    with pytest.raises(ValueError, match=r"train.label_dropout=0.2 needs train.conditional=true"):
        TrainOptions(label_dropout=0.2)


def test_labels_to_an_unconditional_network_are_refused(tmp_path):
    """train.conditional with an unconditional net: the labels reach the model, which refuses."""
    model = ScoreModel(MLP(2, hidden=8, depth=1), VPSDE(), data_std=1.0)
    trainer = Trainer(model, RecordingLoss(), data=TensorDataset(torch.randn(8, 2), torch.zeros(8).long()),
                      run_dir=tmp_path, options=TrainOptions(**{**OPTS, "batch_size": 8}))
    with pytest.raises(TypeError, match="takes no class labels"):
        trainer.train_step()
