"""One rule for a ScoreModel's ``data_std`` (sigma_data) in Python and Hydra: ``None`` means the
training data's std, set by the Trainer from the data it is given and recorded in the spec; a
number wins; until a Trainer resolves it the model computes with 1 (UNRESOLVED_DATA_STD)."""
import pytest
import torch

from sde_diffusion import registry
from sde_diffusion.configs import compose
from sde_diffusion.configs.train import build_trainer
from sde_diffusion.io import load_model
from sde_diffusion.models import MLP, ScoreModel
from sde_diffusion.models.score_model import UNRESOLVED_DATA_STD
from sde_diffusion.sdes import VPSDE
from sde_diffusion.training import Trainer, TrainOptions
from sde_diffusion.data import training_data_std

OPTS = dict(steps=2, batch_size=64, eval_samples=0, n_samples=0, progress=False, seed=0,
            warmup_steps=0, checkpoint_every=2)


def _model(data_std=None, seed=0):
    torch.manual_seed(seed)
    return ScoreModel(MLP(2, hidden=16, depth=1), VPSDE(), data_std=data_std)


def _scores(model, seed=1):
    g = torch.Generator().manual_seed(seed)
    x, t = torch.randn(32, 2, generator=g), 0.05 + 0.9 * torch.rand(32, generator=g)
    with torch.no_grad():
        return model(x, t)


def test_the_trainer_sets_data_std_from_its_data_and_checkpoints_keep_it(tmp_path):
    """x = 3 z + 1 (z standard normal, 2000 x 2): sigma_data = the pooled std of the data given,
    3 within 5 standard errors of a std estimate (3 / sqrt(2 * 4000) each); recorded in the
    spec; the checkpoint reloads with it and gives the same scores."""
    x = 3 * torch.randn(2000, 2, generator=torch.Generator().manual_seed(0)) + 1
    model = _model()
    assert not model.data_std_resolved and model.data_std == UNRESOLVED_DATA_STD
    trainer = Trainer(model, data=x, run_dir=tmp_path, options=TrainOptions(**OPTS))
    want = round(float(x.double().std()), 6)
    assert model.data_std == want and model.data_std_resolved
    assert abs(want - 3.0) < 5 * 3.0 / (2 * x.numel()) ** 0.5
    assert registry.model_spec(model)["data_std"] == want
    assert model.precond.data_std == want  # what the input scaling uses
    trainer.fit()
    loaded = load_model(tmp_path, use_ema=False).model
    assert loaded.data_std == want and loaded.data_std_resolved
    torch.testing.assert_close(_scores(loaded), _scores(trainer.model), rtol=0, atol=0)


def test_an_explicit_data_std_wins(tmp_path):
    model = _model(0.7)
    Trainer(model, data=5 * torch.randn(256, 2), run_dir=tmp_path, options=TrainOptions(**OPTS))
    assert model.data_std == 0.7 and registry.model_spec(model)["data_std"] == 0.7
    with pytest.raises(ValueError, match=r"data_std was given as 0.7; build the model with data_std=None"):
        model.set_data_std(2.0)


def test_python_and_hydra_give_the_same_data_std(tmp_path):
    """``model.data_std: null`` (the Hydra default) and ``ScoreModel(..., data_std=None)`` given
    to a Trainer on the same data set resolve to the same number."""
    cfg = compose(["data=ring", "logger=none", "train.progress=false", "train.steps=1"])
    assert cfg.model.data_std is None
    hydra = build_trainer(cfg, tmp_path / "hydra")
    data = registry.build(dict(cfg.data), path="data")
    python = Trainer(_model(), data=data, run_dir=tmp_path / "python", options=TrainOptions(**OPTS))
    assert hydra.model.data_std == python.model.data_std == training_data_std(data)
    assert hydra.run_config["model"]["data_std"] == hydra.model.data_std
    assert hydra.model.data_std != UNRESOLVED_DATA_STD


def test_an_unresolved_model_computes_with_one_and_saves_exactly(tmp_path):
    """Without a Trainer, data_std=None computes as data_std=1 (same weights, same scores); a
    saved unresolved model reloads unresolved, a resolved one with its number, scores equal."""
    a, b = _model(None), _model(1.0)
    torch.testing.assert_close(_scores(a), _scores(b), rtol=0, atol=0)
    a.save_pretrained(tmp_path / "unresolved")
    back = ScoreModel.from_pretrained(tmp_path / "unresolved")
    assert not back.data_std_resolved and back.data_std == UNRESOLVED_DATA_STD
    torch.testing.assert_close(_scores(back), _scores(a), rtol=0, atol=0)
    a.set_data_std(2.5)
    assert float((_scores(a) - _scores(b)).abs().max()) > 1e-4  # the input scaling moved
    a.save_pretrained(tmp_path / "resolved")
    back = ScoreModel.from_pretrained(tmp_path / "resolved")
    assert back.data_std == 2.5 and back.data_std_resolved
    torch.testing.assert_close(_scores(back), _scores(a), rtol=0, atol=0)


def test_the_hydra_schema_and_the_constructor_share_their_defaults():
    """``model:`` node defaults = ``ScoreModel``'s signature (data_std None in both)."""
    import dataclasses
    import inspect
    from sde_diffusion.configs.schemas import ModelConfig
    sig = inspect.signature(ScoreModel.__init__).parameters
    for f in dataclasses.fields(ModelConfig):
        if f.name != "net":
            assert f.default == sig[f.name].default, f.name
    assert sig["data_std"].default is None


def test_a_resume_on_accepted_other_data_keeps_the_trained_data_std(tmp_path):
    """``resume_ignore=["data"]``: the network keeps the sigma_data it was trained with; without
    it, the other data (and their other std) are refused."""
    x = torch.randn(512, 2, generator=torch.Generator().manual_seed(0))
    Trainer(_model(), data=x, run_dir=tmp_path, options=TrainOptions(**OPTS)).fit()
    first = round(float(x.double().std()), 6)
    with pytest.raises(ValueError, match=r"data.hash: .*model.data_std: "):
        Trainer(_model(), data=3 * x, run_dir=tmp_path, options=TrainOptions(**{**OPTS, "steps": 4}))
    tr = Trainer(_model(), data=3 * x, run_dir=tmp_path,
                 options=TrainOptions(**{**OPTS, "steps": 4}, resume_ignore=["data"]))
    assert tr.step == 2 and tr.model.data_std == first
    assert registry.model_spec(tr.model)["data_std"] == first


def test_data_std_of_data_without_spread_or_with_nan():
    assert training_data_std(torch.zeros(10, 3)) == 1.0
    x = torch.tensor([[1.0], [3.0], [float("nan")]])
    assert training_data_std(x) == pytest.approx(2 ** 0.5, abs=1e-6)  # the finite values
