"""Adversarial inputs to the training area, each with its exact outcome (error type + message
naming the value, or the correct behaviour)."""
import math
import os
import stat

import pytest
import torch

from helpers_training import RING, make, points_model
from sde_diffusion import data
from sde_diffusion.io import load_checkpoint, save_checkpoint
from sde_diffusion.training import (CheckpointError, CheckpointWriteError, NonFiniteLossError,
                                    Trainer, TrainOptions, UnsafeCheckpointError)
from sde_diffusion.io import check_savable

# ------------------------------------------------------------------ TrainOptions: one bad value each
BAD_OPTIONS = [
    ({"grad_clip": -1}, ValueError, r"train\.grad_clip must be > 0, got -1"),
    ({"grad_clip": 0}, ValueError, r"train\.grad_clip must be > 0, got 0"),
    ({"warmup_steps": -10}, ValueError, r"train\.warmup_steps must be >= 0, got -10"),
    ({"lr": math.inf}, ValueError, r"train\.lr must be finite, got inf"),
    ({"lr": math.nan}, ValueError, r"train\.lr must be finite, got nan"),
    ({"lr": 0.0}, ValueError, r"train\.lr must be > 0, got 0.0"),
    ({"lr": -1e-3}, ValueError, r"train\.lr must be > 0"),
    ({"lr": "fast"}, TypeError, r"train\.lr must be a number, got 'fast'"),
    ({"betas": [0.9]}, ValueError, r"train\.betas must be two numbers .* got \[0.9\]"),
    ({"betas": [0.9, 0.999, 0.1]}, ValueError, r"train\.betas must be two numbers"),
    ({"betas": [0.9, 1.0]}, ValueError, r"train\.betas\[1\] must be < 1, got 1.0"),
    ({"betas": [-0.1, 0.9]}, ValueError, r"train\.betas\[0\] must be >= 0"),
    ({"betas": 0.9}, ValueError, r"train\.betas must be two numbers"),
    ({"steps": 0}, ValueError, r"train\.steps must be >= 1, got 0"),
    ({"steps": 2.5}, TypeError, r"train\.steps must be an integer, got 2.5"),
    ({"steps": True}, TypeError, r"train\.steps must be an integer, got True"),
    ({"batch_size": -4}, ValueError, r"train\.batch_size must be >= 1, got -4"),
    ({"accumulate": 0}, ValueError, r"train\.accumulate must be >= 1, got 0"),
    ({"checkpoint_every": 0}, ValueError, r"train\.checkpoint_every must be >= 1"),
    ({"keep_checkpoints": 0}, ValueError, r"train\.keep_checkpoints must be >= 1"),
    ({"log_every": -1}, ValueError, r"train\.log_every must be >= 1"),
    ({"ema_decay": 1.0}, ValueError, r"EMA decay must lie in \[0, 1\), got 1.0"),
    ({"ema_decay": -0.5}, ValueError, r"train\.ema_decay must be >= 0, got -0.5"),
    ({"ema_extra": [0.9, 0.9]}, ValueError, r"ema_extra \[0.9, 0.9\] repeats a decay"),
    ({"ema_extra": [0.999]}, ValueError, r"repeats a decay \(primary ema_decay=0.999\)"),
    ({"ema_extra": 0.9}, TypeError, r"train\.ema_extra must be a list of decays, got 0.9"),
    ({"lr_schedule": "exponential"}, ValueError, r"lr_schedule='exponential' is not valid; valid choices: \['constant', 'cosine', 'linear'\]"),
    ({"min_lr_ratio": 1.5}, ValueError, r"train\.min_lr_ratio must be <= 1, got 1.5"),
    ({"eval_sampler": "nope"}, ValueError, r"eval_sampler='nope' is not valid; valid choices: \[.*'euler_maruyama'"),
    ({"eval_steps": 0}, ValueError, r"train\.eval_steps must be >= 1, got 0"),
    ({"fresh_start": "delete"}, ValueError, r"fresh_start='delete' is not valid; valid choices: \['refuse', 'move'\]"),
    ({"resume_ignore": ["weights"]}, ValueError, r"resume_ignore='weights' is not valid; valid choices: \['seed', 'data', 'model'\]"),
    ({"device": "tpu"}, ValueError, r"train\.device='tpu' is not valid"),
    ({"seed": -1}, ValueError, r"train\.seed must be >= 0, got -1"),
    ({"num_threads": -2}, ValueError, r"train\.num_threads must be >= 0, got -2"),
    ({"num_workers": 1.5}, TypeError, r"train\.num_workers must be an integer"),
    ({"max_weight_abs": 0}, ValueError, r"train\.max_weight_abs must be > 0"),
    ({"amp": "yes"}, TypeError, r"train\.amp must be true or false, got 'yes'"),
    ({"progress": 1}, TypeError, r"train\.progress must be true, false or null, got 1"),
    ({"warmup_steps": 50, "steps": 10, "lr_schedule": "cosine"}, ValueError, r"warmup_steps=50 exceeds train\.steps=10"),
    ({"weight_decay": math.inf}, ValueError, r"train\.weight_decay must be finite"),
]


@pytest.mark.parametrize("kw,err,match", BAD_OPTIONS, ids=[str(k) for k, _, _ in BAD_OPTIONS])
def test_bad_train_option_is_named(kw, err, match):
    with pytest.raises(err, match=match):
        TrainOptions(**kw)


def test_unknown_train_option_is_named():
    with pytest.raises(ValueError, match=r"unknown train option\(s\) \['stpes'\]; valid: \["):
        TrainOptions.from_dict({"stpes": 20})
    with pytest.raises(TypeError, match="train options must be a dict, got list"):
        TrainOptions.from_dict([1])


def test_options_mutated_after_creation_are_rechecked(tmp_path):
    o = TrainOptions(steps=5)
    o.grad_clip = -1
    with pytest.raises(ValueError, match=r"grad_clip must be > 0, got -1"):
        Trainer(points_model(), data=RING, options=o, run_dir=tmp_path)


# ------------------------------------------------------------------ Trainer arguments
def test_trainer_argument_types(tmp_path):
    with pytest.raises(TypeError, match="model must be a ScoreModel, got Linear"):
        Trainer(torch.nn.Linear(2, 2), data=RING, run_dir=tmp_path)
    with pytest.raises(TypeError, match="options must be TrainOptions, got dict"):
        Trainer(points_model(), data=RING, options={"steps": 3}, run_dir=tmp_path)
    with pytest.raises(ValueError, match="Trainer needs data"):
        Trainer(points_model(), run_dir=tmp_path)


def test_sampler_checked_before_the_first_step(tmp_path):
    with pytest.raises(ValueError, match=r"sampler 'nope' is not registered; valid choices"):
        make(tmp_path, sampler={"name": "nope", "steps": 10})
    with pytest.raises(ValueError, match=r"sampler steps must be >= 1, got 0"):
        make(tmp_path, sampler={"name": "heun", "steps": 0})
    with pytest.raises(TypeError, match=r"sampler steps must be an integer, got '5'"):
        make(tmp_path, sampler={"name": "heun", "steps": "5"})
    assert not (tmp_path / "checkpoints").exists()


def test_optimizer_with_infinite_lr_is_refused(tmp_path):
    from functools import partial
    with pytest.raises(ValueError, match=r"learning rate must lie in \(0, 100\], got inf"):
        Trainer(points_model(), optimizer=partial(torch.optim.SGD, lr=math.inf), data=RING,
                run_dir=tmp_path)


def test_batch_larger_than_the_data(tmp_path):
    with pytest.raises(ValueError, match=r"batch_size=4096 exceeds the 2000 training samples"):
        make(tmp_path, batch_size=4096)


def test_conditional_without_labels_or_y(tmp_path):
    moons = data.two_moons(n_train=200, n_test=10)
    with pytest.raises(ValueError, match=r"conditional=true but data 'two_moons' has no labels"):
        make(tmp_path, data=moons, conditional=True)
    with pytest.raises(TypeError, match=r"conditional=true but the loss takes no `y`"):
        Trainer(points_model(), lambda model, x0, generator=None: x0.sum(1), data=RING,
                options=TrainOptions(conditional=True), run_dir=tmp_path)


def test_different_seed_on_resume_is_refused(tmp_path):
    make(tmp_path, steps=5).fit()
    with pytest.raises(ValueError, match=r"different run \(seed: 0 -> 7\)"):
        make(tmp_path, steps=10, seed=7)


def test_read_only_run_folder_gives_one_clear_error(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root ignores permission bits")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        with pytest.raises(CheckpointWriteError, match=r"run folder .*ro' is not writable"):
            make(ro / "run")
    finally:
        ro.chmod(stat.S_IRWXU)


def test_run_folder_that_is_a_file(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(CheckpointWriteError, match=r"run folder .*file' is not writable"):
        make(f)


def test_nan_in_data(tmp_path):
    x = RING.train.clone()
    x[::7] = float("nan")
    with pytest.raises(ValueError, match=r"ring: x contains 572 NaN or inf values"):
        data.TensorData(x, RING.info)

    class Poisoned(torch.utils.data.Dataset):  # a streamed set: found by the loss at step 1
        info = RING.info

        def __len__(self):
            return 200

        def __getitem__(self, i):
            return torch.full((2,), float("nan")) if i % 3 == 0 else torch.zeros(2)

    with pytest.raises(NonFiniteLossError, match=r"non-finite training signal at step 1 \(loss=nan"):
        make(tmp_path, data=Poisoned(), batch_size=20).fit()
    assert not list(tmp_path.glob("checkpoints/*.pt"))


def test_nan_weights_never_reach_a_checkpoint(tmp_path):
    state = {k: {} for k in ("optimizer", "rng", "data_position", "config", "meta")}
    state.update(step=1, model={"w": torch.tensor([1.0, float("nan")])}, ema={"w": torch.ones(2)})
    with pytest.raises(UnsafeCheckpointError, match=r"model\.w holds NaN or inf"):
        save_checkpoint(state, tmp_path, 1, check=True)
    state["model"]["w"] = torch.tensor([1.0, 1e28])
    with pytest.raises(UnsafeCheckpointError, match=r"model\.w has \|w\| = 1e\+28 > max_weight_abs = 1e\+06"):
        check_savable(state)
    state["model"]["w"] = torch.ones(2)
    state["optimizer"] = {"state": {0: {"exp_avg": torch.tensor([math.inf])}}}
    with pytest.raises(UnsafeCheckpointError, match=r"optimizer\.state\.0\.exp_avg holds NaN or inf"):
        check_savable(state)
    assert not list(tmp_path.iterdir())


def test_save_checkpoint_bad_keep_and_missing_keys(tmp_path):
    with pytest.raises(ValueError, match=r"keep must be an integer >= 1, got 0"):
        save_checkpoint({}, tmp_path, 1, keep=0)
    with pytest.raises(ValueError, match=r"checkpoint state lacks \['model'"):
        save_checkpoint({}, tmp_path, 1)


def test_loading_garbage_and_missing_checkpoints(tmp_path):
    (tmp_path / "ckpt_00000001.pt").write_bytes(b"not a zip")
    with pytest.raises(CheckpointError, match=r"corrupt or unreadable"):
        load_checkpoint(tmp_path / "ckpt_00000001.pt")
    with pytest.raises(FileNotFoundError, match=r"does not exist"):
        load_checkpoint(tmp_path / "nope.pt")


# ------------------------------------------------------------------ data
def test_bad_loader_and_data_arguments(tmp_path):
    ds = RING.dataset("train")
    with pytest.raises(ValueError, match=r"batch_size must be a positive integer, got 0"):
        data.make_loader(ds, 0)
    with pytest.raises(ValueError, match=r"num_workers must be a non-negative integer, got -1"):
        data.make_loader(ds, 8, num_workers=-1)
    with pytest.raises(ValueError, match=r"split='valid' is not valid"):
        RING.dataset("valid")
    with pytest.raises(ValueError, match=r"x must be a non-empty tensor"):
        data.TensorData(torch.zeros(0, 2), RING.info)
    with pytest.raises(ValueError, match=r"labels must have shape \(4,\), got \(3,\)"):
        data.TensorData(torch.zeros(4, 2), RING.info, torch.zeros(3, dtype=torch.long))
    with pytest.raises(FileNotFoundError, match=r"data\.path='.*nope' does not exist"):
        data.ImageFolderDataset(str(tmp_path / "nope"))
    with pytest.raises(FileNotFoundError, match=r"found 0 image files"):
        data.ImageFolderDataset(str(tmp_path))
    with pytest.raises(ValueError, match=r"image_size must be a positive integer, got 0"):
        data.ImageFolderDataset(str(tmp_path), image_size=0)
    with pytest.raises(ValueError, match=r"channels must be one of \[1, 3\], got 2"):
        data.ImageFolderDataset(str(tmp_path), channels=2)
    with pytest.raises(ValueError, match=r"test_fraction must lie in \(0, 1\), got 1.0"):
        data.ImageFolderDataset(str(tmp_path), test_fraction=1.0)


def test_custom_dataset_without_info_is_inferred(tmp_path):
    class Bare(torch.utils.data.Dataset):
        def __len__(self):
            return 100

        def __getitem__(self, i):
            return torch.zeros(3)

    t = make(tmp_path, data=Bare(), batch_size=10)
    assert (t.data_info.name, t.data_info.data_shape, t.data_info.kind) == ("Bare", (3,), "points")

    class Ints(Bare):
        def __getitem__(self, i):
            return torch.zeros(3, dtype=torch.long)

    with pytest.raises(TypeError, match=r"a sample of the training data must hold real floating-point "
                                        r"values, got dtype torch.int64"):
        make(tmp_path / "b", data=Ints(), batch_size=10)


# ------------------------------------------------------------------ every argument before the first step
@pytest.mark.parametrize("kw,err,match", [
    (dict(callbacks=[5]), TypeError, r"callbacks\[0\] must be a Callback or a function fn\(trainer\), got 5"),
    (dict(callbacks=5), TypeError, r"callbacks must be a list of Callbacks"),
    (dict(lr_schedule=5), TypeError, r"lr_schedule must be a function step -> factor, got 5"),
    (dict(run_dir=""), ValueError, r"run_dir must name a folder for checkpoints and samples, got ''"),
    (dict(loss="dsm"), TypeError, r"loss must be callable"),
    (dict(optimizer=5), TypeError, r"optimizer must be a factory params -> Optimizer"),
    (dict(tracker=5), TypeError, r"tracker must be a tracking.Tracker or a factory"),
])
def test_trainer_arguments_checked_before_anything(tmp_path, kw, err, match):
    kw = {"run_dir": tmp_path / "r", **kw}
    with pytest.raises(err, match=match):
        Trainer(points_model(), data=RING, options=TrainOptions(steps=2, batch_size=8), **kw)
    assert not (tmp_path / "r").exists()


def test_huge_lr_and_absent_devices_are_named():
    with pytest.raises(ValueError, match=r"train\.lr must be <= 100.0, got 1e\+39"):
        TrainOptions(lr=1e39)
    if not torch.backends.mps.is_available():
        with pytest.raises(ValueError, match=r"train.device='mps' but MPS \(Apple GPU\) is not available"):
            TrainOptions(device="mps")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match=r"train.device='cuda:1' but CUDA is not available"):
            TrainOptions(device="cuda:1")


def test_a_scalar_loss_is_refused_before_any_update(tmp_path):
    def mean_loss(model, x0, generator=None):
        return (model.net(x0, torch.full((x0.shape[0],), 0.5)) ** 2).mean()

    t = make(tmp_path)
    t.loss_fn = mean_loss
    before = {k: v.clone() for k, v in t.model.state_dict().items()}
    with pytest.raises(ValueError, match=r"the loss must return one value per sample, shape \(64,\), "
                                         r"got \(\); return the unreduced loss"):
        t.fit()
    assert t.step == 0 and all(torch.equal(v, t.model.state_dict()[k]) for k, v in before.items())


def test_float64_data_train_a_float32_model(tmp_path):
    t = make(tmp_path, data=RING.train.double(), steps=2, checkpoint_every=1)
    assert t.fit().status == "completed" and next(t.model.parameters()).dtype == torch.float32


def test_unknown_sampler_option_fails_before_training():
    from sde_diffusion.configs import validate_sampler
    with pytest.raises(ValueError, match=r"unknown option sampler.options.bogus=1 of sampler 'pc'; "
                                         r"valid: .*snr"):
        validate_sampler({"name": "pc", "steps": 10, "options": {"bogus": 1}})
    validate_sampler({"name": "pc", "steps": 10, "options": {"snr": 0.1, "denoise": True}})


# ------------------------------------------------------------------ wandb / tracker
def test_tracker_wrong_keyword_fails_loudly(tmp_path):
    from sde_diffusion.tracking import WandbTracker
    with pytest.raises(TypeError, match=r"unexpected keyword argument 'config'"):
        WandbTracker(mode="disabled", run_dir=str(tmp_path), config={})


def test_tracker_run_config_must_be_plain(tmp_path):
    from sde_diffusion.tracking import WandbTracker
    with pytest.warns(RuntimeWarning, match=r"run_config must be a plain dict, got list"):
        t = WandbTracker(mode="offline", run_dir=str(tmp_path), run_config=[1])
    assert not t.active
