"""Your own data in the Trainer (a tensor, TensorDataset, DataLoader), and fresh runs that are
reproducible from the seed alone."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from sde_diffusion.data import as_training_data
from sde_diffusion.models import MLP, ScoreModel
from sde_diffusion.sdes import VPSDE
from sde_diffusion.training import Trainer, TrainOptions

ROOT = Path(__file__).resolve().parents[2]
OPTS = dict(steps=2, batch_size=16, checkpoint_every=2, eval_samples=0, n_samples=0,
            progress=False)


def _model(dim=2):
    torch.manual_seed(0)
    return ScoreModel(MLP(dim, hidden=16, depth=1), VPSDE())


X = torch.randn(64, 2, generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("data", [X, TensorDataset(X), DataLoader(TensorDataset(X), batch_size=16)],
                         ids=["tensor", "TensorDataset", "DataLoader"])
def test_the_trainer_takes_your_own_data(tmp_path, data, caplog):
    with caplog.at_level("INFO", logger="sde_diffusion.training.loop"):
        t = Trainer(_model(), data=data, options=TrainOptions(**OPTS), run_dir=tmp_path / "r")
    assert t.data_info.data_shape == (2,) and t.data_info.kind == "points"
    assert "64 samples of shape (2,) (points)" in caplog.text
    assert t.fit().status == "completed" and t.step == 2


def test_labels_and_images_are_inferred():
    x, y = torch.rand(10, 1, 8, 8), torch.arange(10) % 3
    _, info, bundle = as_training_data(TensorDataset(x, y))
    assert (info.kind, info.data_shape, info.num_classes) == ("images", (1, 8, 8), 3)
    assert torch.equal(bundle.train_labels, y)
    with pytest.raises(TypeError, match=r"labels must be an integer tensor of shape \(10,\)"):
        as_training_data(TensorDataset(x, y.float()))
    with pytest.raises(TypeError, match=r"the training data must hold real floating-point values, "
                                        r"got dtype torch.int64"):
        as_training_data(torch.zeros(4, 2, dtype=torch.long))
    with pytest.raises(ValueError, match=r"shape \(N, \*data_shape\) with N >= 1, got \(5,\)"):
        as_training_data(torch.zeros(5))
    with pytest.raises(TypeError, match=r"data must be a tensor, a TensorDataset, a Dataset"):
        as_training_data([1, 2, 3])


def test_readme_three_lines(tmp_path, monkeypatch):
    """The README's 'your own data' lines, run as written (in a temporary folder)."""
    text = (ROOT / "README.md").read_text()
    start = text.index("<!-- own-data -->")
    block = text[start:].split("```python\n", 1)[1].split("```", 1)[0]
    monkeypatch.chdir(tmp_path)
    x = torch.randn(256, 2)  # the README's x: your data, (N, *shape)
    from sde_diffusion.sdes import VPSDE
    ns = {"x": x, "VPSDE": VPSDE}
    exec(compile(block.replace("steps=2000", "steps=3, eval_samples=0, n_samples=0"), "README", "exec"), ns)
    assert ns["result"].status == "completed"


def _train(run_dir: Path, seed: int):
    args = [sys.executable, str(ROOT / "scripts/train.py"), "experiment=toy2d", "logger=none",
            "data.n_train=256", "data.n_test=64", "model.net.hidden=16", "model.net.depth=1",
            "train.steps=3", "train.batch_size=32", "train.checkpoint_every=3",
            "train.eval_samples=0", "train.n_samples=0", "train.progress=false",
            f"seed={seed}", f"hydra.run.dir={run_dir}"]
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    return subprocess.Popen(args, cwd=run_dir.parent, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)


@pytest.mark.slow  # three interpreter start-ups (~15 s quiet, ~45 s on a loaded 2-core machine)
def test_two_fresh_processes_with_one_seed_end_with_identical_weights(tmp_path):
    """Seeding happens before the data and the network are built, so a fresh run is a function
    of the seed: two processes started at once end bit-identical; another seed differs."""
    runs = {name: tmp_path / name for name in ("a", "b", "c")}
    procs = {n: _train(d, 0 if n != "c" else 1) for n, d in runs.items()}
    for n, p in procs.items():
        assert p.wait(timeout=300) == 0, p.stderr.read()[-3000:]
    w = {n: torch.load(d / "checkpoints" / "ckpt_00000003.pt", weights_only=True)["model"]
         for n, d in runs.items()}
    assert w["a"].keys() == w["b"].keys()
    assert all(torch.equal(w["a"][k], w["b"][k]) for k in w["a"])
    assert any(not torch.equal(w["a"][k], w["c"][k]) for k in w["a"])
