"""``sample`` checks every argument before the first step: one line naming the bad value.

Each case asserts the exact message and that the score function was never called (no step ran).
"""
import os
import re
import signal

import pytest
import torch

from sde_diffusion.analytic import GaussianMixture
from sde_diffusion.contract import LIMITS
from sde_diffusion.models import ScoreModel
from sde_diffusion.models.mlp import MLP
from sde_diffusion.sdes import VPSDE
from sde_diffusion.solvers import load_grid, optimize_grid, sample

SDE = VPSDE()
GM = GaussianMixture(torch.tensor([[-1.0, 0.0], [1.0, 0.0]]), torch.tensor([0.3, 0.3]),
                     torch.tensor([0.5, 0.5]))


class Spy:
    """The mixture's exact score, counting calls; ``data_shape`` as the mixture's."""

    def __init__(self):
        self.fn, self.calls = GM.score_fn(SDE), 0
        self.data_shape = GM.data_shape

    def __call__(self, x, t):
        self.calls += 1
        return self.fn(x, t)


CASES = [
    (dict(shape=(10, 2.7)), TypeError, "shape[1] must be an integer, got float 2.7"),
    (dict(shape=(10, 2), dtype=torch.complex64), TypeError,
     "dtype must be a real floating dtype (float16, bfloat16, float32, float64), got torch.complex64"),
    (dict(shape=(10, 2), dtype=torch.int64), TypeError,
     "dtype must be a real floating dtype (float16, bfloat16, float32, float64), got torch.int64"),
    (dict(shape=(10, 2), dtype=torch.bool), TypeError,
     "dtype must be a real floating dtype (float16, bfloat16, float32, float64), got torch.bool"),
    (dict(x_init=torch.zeros(10, 3)), ValueError,
     "samples of shape (3,) per item, but the score function's data shape is (2,)"),
    (dict(shape=(10, 2), x_init=torch.zeros(10, 3)), ValueError,
     "shape (10, 2) does not match x_init's shape (10, 3)"),
    (dict(x_init=torch.zeros(10, 2, dtype=torch.int64)), TypeError,
     "x_init.dtype must be a real floating dtype (float16, bfloat16, float32, float64), got torch.int64"),
    (dict(shape=(10, 2), grid=[1.0, 0.5, 0.1], steps=5), ValueError,
     "grid has 3 times but steps=5 needs steps + 1 = 6; pass steps=2 or omit steps"),
    (dict(shape=(10, 2), grid=[[1.0, 0.5], [0.3, 0.1]], steps=None), ValueError,
     "grid must be a 1-D sequence of times, got shape (2, 2)"),
    (dict(shape=(10, 2), denoise="no"), TypeError, "denoise must be true or false, got str 'no'"),
    (dict(shape=(10, 2), return_trajectory="yes"), TypeError,
     "return_trajectory must be true or false, got str 'yes'"),
    (dict(shape=(10, 2), progress="off"), TypeError, "progress must be true or false, got str 'off'"),
    (dict(shape=(10, 2), sampler="dpm_solver2", lower_order_final="no"), TypeError,
     "sampler option lower_order_final must be true or false, got str 'no'"),
    (dict(shape=(10 ** 12, 2)), ValueError,
     "shape=(1000000000000, 2) has 2e+12 elements, over the limit 2.15e+09; raise it with "
     "SDE_DIFFUSION_MAX_ELEMENTS=<n>"),
    (dict(shape=(10, 2), steps=10 ** 8), ValueError,
     "steps must be an integer <= 1000000, got 100000000; raise the limit with "
     "SDE_DIFFUSION_MAX_STEPS=<n>"),
    (dict(shape=(10, 2), noise_dtype=torch.int32), TypeError,
     "noise_dtype must be a real floating dtype (float16, bfloat16, float32, float64), got torch.int32"),
    (dict(shape=(10, 2), callback=5), TypeError, "callback must be callable, got int 5"),
    (dict(shape=(10, 2), t_end="0.1"), TypeError, "t_end must be a number, got str '0.1'"),
]


@pytest.mark.parametrize("kwargs,exc,msg", CASES, ids=[str(i) for i in range(len(CASES))])
def test_bad_argument_is_one_line_before_any_step(kwargs, exc, msg):
    spy = Spy()
    kw = {"sampler": "euler", "steps": 5, **kwargs}
    with pytest.raises(exc, match="^" + re.escape(msg) + "$"):
        sample(SDE, spy, **kw)
    assert spy.calls == 0


@pytest.mark.parametrize("sampler", ["rk45", "dpm_adaptive"])
def test_an_adaptive_sampler_says_it_does_not_use_a_grid(sampler):
    # it picks its own steps: the grid is not used (a sweep may pass one grid to every sampler), and
    # the call says so instead of ignoring it silently
    x_T = torch.randn(16, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    with pytest.warns(UserWarning, match=f"^sampler '{sampler}' is adaptive .* grid='karras' is not used$"):
        a, _ = sample(SDE, GM.score_fn(SDE), sampler=sampler, x_init=x_T, grid="karras", progress=False)
    b, _ = sample(SDE, GM.score_fn(SDE), sampler=sampler, x_init=x_T, progress=False)
    assert torch.equal(a, b)


def test_x_init_is_compared_with_shape_when_the_network_declares_no_data_shape():
    net = torch.nn.Linear(2, 2)  # would fail inside on x_init of 3 features
    calls = []
    score = lambda x, t: calls.append(1) or net(x)
    assert not hasattr(score, "data_shape")
    with pytest.raises(ValueError, match=r"^shape \(10, 2\) does not match x_init's shape \(10, 3\)$"):
        sample(SDE, score, (10, 2), sampler="euler", steps=3, x_init=torch.zeros(10, 3))
    assert calls == []
    x, _ = sample(SDE, score, (10, 2), sampler="euler", steps=3, x_init=torch.zeros(10, 2))
    assert x.shape == (10, 2) and len(calls) == 3


def test_limit_can_be_raised(monkeypatch):
    monkeypatch.setattr(LIMITS, "max_steps", 10)
    with pytest.raises(ValueError, match="steps must be an integer <= 10"):
        sample(SDE, Spy(), (4, 2), sampler="euler", steps=11)
    x, info = sample(SDE, Spy(), (4, 2), sampler="euler", steps=10)
    assert info.steps == 10


def test_float64_samples_from_a_float32_model():
    """The score runs in the model's dtype (as the likelihood does); the state keeps float64.
    The float64 run agrees with the float32 run from the same start to float32 rounding."""
    torch.manual_seed(0)
    model = ScoreModel(MLP(2, hidden=16, depth=2), SDE)
    x64 = torch.randn(8, 2, dtype=torch.float64)
    a, _ = sample(SDE, model, sampler="heun", steps=10, x_init=x64)
    b, _ = sample(SDE, model, sampler="heun", steps=10, x_init=x64.float())
    assert a.dtype == torch.float64 and b.dtype == torch.float32
    assert torch.allclose(a.float(), b, atol=1e-4, rtol=1e-4)
    c, _ = sample(SDE, model, (8, 2), sampler="heun", steps=3, dtype=torch.float64,
                  generator=torch.Generator().manual_seed(0))
    assert c.dtype == torch.float64 and bool(torch.isfinite(c).all())


# ---------------------------------------------------------------------- optimize_grid / load_grid
def test_optimize_grid_max_evals_zero():
    with pytest.raises(ValueError, match=r"^max_evals must be an integer >= 1, got 0$"):
        optimize_grid(SDE, GM.score_fn(SDE), "euler", 4, torch.randn(8, 2), max_evals=0)


@pytest.fixture
def alarm():
    """Fail instead of hanging: SIGALRM after 10 s."""
    def boom(*_):
        raise TimeoutError("load_grid blocked")
    old = signal.signal(signal.SIGALRM, boom)
    signal.alarm(10)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


def test_load_grid_dev_zero(alarm):
    with pytest.raises(ValueError, match=r"^/dev/zero is not a saved grid \(not a regular file\)$"):
        load_grid("/dev/zero")


def test_load_grid_fifo_does_not_hang(tmp_path, alarm):
    fifo = tmp_path / "g.json"
    os.mkfifo(fifo)
    with pytest.raises(ValueError, match=r"is not a saved grid \(not a regular file\)$"):
        load_grid(fifo)


def test_load_grid_directory(tmp_path):
    with pytest.raises(ValueError, match=r"is not a saved grid \(a directory\)$"):
        load_grid(tmp_path)


def test_load_grid_binary(tmp_path):
    p = tmp_path / "g.json"
    p.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(ValueError, match=r"is not a saved grid \(binary, not UTF-8 text\)$"):
        load_grid(p)


def test_load_grid_huge_file_read_is_bounded(tmp_path, monkeypatch):
    monkeypatch.setattr(LIMITS, "max_text_bytes", 1000)
    p = tmp_path / "g.json"
    p.write_text("[" * 5000)
    with pytest.raises(ValueError, match=r"is not a saved grid \(larger than 1000 bytes; raise "
                                         r"the limit with SDE_DIFFUSION_MAX_TEXT_BYTES=<n>\)$"):
        load_grid(p)


def test_load_grid_deeply_nested_json(tmp_path):
    p = tmp_path / "g.json"
    p.write_text("[" * 200_000 + "]" * 200_000)
    with pytest.raises(ValueError, match=r"is not a saved grid \("):
        load_grid(p)


def test_saved_grid_round_trips_and_save_is_atomic(tmp_path):
    from sde_diffusion.solvers.optimized_grid import OptimizedGrid
    g = OptimizedGrid(name="g", times=[1.0, 0.5, 1e-3], sde=repr(SDE), sampler="euler", steps=2)
    g.save(tmp_path / "g.json")
    assert load_grid(tmp_path / "g.json") == g
    assert [p.name for p in tmp_path.iterdir()] == ["g.json"]  # no temporary file left
    x, info = sample(SDE, GM.score_fn(SDE), (4, 2), sampler="euler", grid=tmp_path / "g.json")
    assert info.times.tolist() == g.times
