"""Conditional sampling from the command line (issue 16, "Scripts"): ``scripts/sample.py``'s
``label=`` / ``guidance=`` / ``inpaint=true`` paths and the library functions behind them
(``sde_diffusion.app``). No training: tiny randomly initialised class-conditional
networks for the plumbing, the exact mixture score for the numbers."""
from pathlib import Path

import pytest
import torch
import yaml

import sde_diffusion.registry as registry
import sde_diffusion.app.conditional as rc
import sde_diffusion.app.inpainting as rinp
from sde_diffusion.analytic import GaussianMixture
from sde_diffusion.models import MLP, ScoreModel, UNet
from sde_diffusion.sdes import VPSDE
from sde_diffusion.solvers import sample
from sde_diffusion.io import load_model
from sde_diffusion.io import save_checkpoint

from runs_helpers import legacy_config, make_run, run_script

EULER = {"name": "euler", "steps": 4, "options": {}}
SMP = ["sampler=euler", "sampler.steps=3"]
DIGITS = {"_target_": "sde_diffusion.data.digits", "image_size": 8, "channels": 1,
          "test_fraction": 0.2, "seed": 0}


def cond_model(C=3, seed=0):
    torch.manual_seed(seed)
    return ScoreModel(MLP(2, hidden=16, depth=1, time_dim=8, num_classes=C), VPSDE(), "eps")


@pytest.fixture
def cond_run(tmp_path):
    return make_run(tmp_path / "run", model=cond_model())


def image_run(run_dir, C=10):
    """A run of a tiny class-conditional U-Net on 8x8 digits (the digits_cond shape)."""
    torch.manual_seed(0)
    net = UNet(in_channels=1, image_size=8, base_channels=8, channel_mult=[1], num_res_blocks=1,
               attn_resolutions=[], num_groups=4, num_classes=C)
    model = ScoreModel(net, VPSDE(), "eps")
    sd = {k: v.clone() for k, v in model.state_dict().items()}
    cfg = legacy_config()
    cfg["data"] = dict(DIGITS)
    meta = {"format": 1, "data_shape": [1, 8, 8], "data_kind": "images", "data_name": "digits",
            "value_range": [-1.0, 1.0], "bits": 8}
    state = {"model": sd, "ema": sd, "optimizer": {}, "step": 1, "rng": {},
             "data_position": {"epoch": 0, "index": 0}, "tracker_id": "",
             "config": yaml.safe_dump(cfg), "meta": meta, "model_spec": registry.model_spec(model)}
    save_checkpoint(state, Path(run_dir) / "checkpoints", step=1)
    return Path(run_dir)


def _only(folder):
    (out,) = list(Path(folder).iterdir())
    return out


@pytest.fixture
def no_sampling(monkeypatch):
    """Fails the test if any sample is drawn (errors must come before sampling)."""
    calls = []
    import sde_diffusion.app.sampling as rs
    for mod in (rc, rinp, rs):
        monkeypatch.setattr(mod, "generate_samples", lambda *a, **k: calls.append(1))
    yield calls
    assert calls == []


# ------------------------------------------------------------------------- labels, guidance
@pytest.mark.parametrize("w", [0.0, 2.0])
def test_label_path_equals_guidance_written_out_by_hand(w):
    """sample_labels == solvers.sample with (1 + w) s(x|c) - w s(x, null) and the same noise;
    NFE = network evaluations (2 per guided score, 1 at w = 0)."""
    model = cond_model()
    labels = torch.tensor([2, 0, 1, 2, 1])
    x, info, nfe = rc.sample_labels(model, labels, (2,), EULER, guidance=w, seed=3, batch_size=3)
    assert x.shape == (5, 2) and info.nfe == 4 and nfe == (4 if w == 0 else 8)
    ref = []
    for b, (lo, hi) in enumerate([(0, 3), (3, 5)]):
        y = labels[lo:hi]

        def score(xx, t, y=y):
            null = torch.full_like(y, 3)
            return (1 + w) * model(xx, t, y) - w * model(xx, t, null)
        g = torch.Generator().manual_seed(3 * 1_000_003 + b)
        with torch.no_grad():
            ref.append(sample(model.sde, score, (hi - lo, 2), sampler="euler", steps=4, generator=g)[0])
    torch.testing.assert_close(x, torch.cat(ref), rtol=1e-5, atol=1e-5)
    other, _, _ = rc.sample_labels(model, torch.zeros(5, dtype=torch.long), (2,), EULER, guidance=w,
                                   seed=3, batch_size=3)
    assert not torch.allclose(other, x)  # the labels reach the network


def test_sample_labels_refuses_bad_labels_and_guidance_before_sampling(no_sampling):
    """sample_labels checks every label and w up front (no sample is drawn)."""
    with pytest.raises(ValueError, match=r"label 3 is outside the classes 0\.\.2"):
        rc.sample_labels(cond_model(), torch.tensor([0, 3]), (2,), EULER)
    with pytest.raises(ValueError, match="guidance scale w must be a finite number, got nan"):
        rc.sample_labels(cond_model(), torch.tensor([0, 1]), (2,), EULER, guidance=float("nan"))
    with pytest.raises(ValueError, match="needs a class-conditional model"):
        rc.sample_labels(cond_model(C=0), torch.tensor([0]), (2,), EULER)


def test_exact_conditional_score_reproduces_each_class():
    """With the exact mixture score and w = 0, label=all's rows are samples of p(x0 | class):
    per-class sample means within 4 standard errors of the component means (batches mix classes)."""
    gm = GaussianMixture(torch.tensor([[-4.0, 0.0], [4.0, 0.0], [0.0, 4.0]]), torch.tensor([0.5, 0.8, 0.6]))
    sde = VPSDE()

    class Exact(torch.nn.Module):
        num_classes = 3

        def __init__(self):
            super().__init__()
            self.sde, self.fn = sde, gm.score_fn(sde)

        def forward(self, x, t, y=None):
            return self.fn(x, t, y)
    n = 400
    labels = rc.parse_labels("all", 3, n)
    x, _, nfe = rc.sample_labels(Exact(), labels, (2,), {"name": "heun", "steps": 60}, guidance=0.0,
                                 seed=1, batch_size=250, progress=False)
    assert nfe == 120
    for c, sd in enumerate([0.5, 0.8, 0.6]):
        xc = x[labels == c].double()
        assert (xc.mean(0) - gm.means[c]).abs().max() < 4 * sd / n ** 0.5, (c, xc.mean(0))
        assert (xc.std(0) - sd).abs().max() < 4 * sd / (2 * n) ** 0.5, (c, xc.std(0))  # SE of a std


def test_label_all_grid_one_row_per_class(tmp_path, monkeypatch):
    """label=all: a grid of 10 rows (labelled "class c") by n = 3 columns, the samples of class c
    in row c, in the order of labels.pt."""
    import sde_diffusion.app.plots as plots
    seen = {}
    real = plots.save_labelled_grid

    def spy(images, path, nrow, row_labels=(), col_labels=(), **kw):
        seen.update(images=images, nrow=nrow, rows=list(row_labels), cols=list(col_labels))
        return real(images, path, nrow, row_labels, col_labels, **kw)
    monkeypatch.setattr(plots, "save_labelled_grid", spy)
    run = image_run(tmp_path / "run", C=10)
    code, err = run_script("sample", [f"run={run}", "label=all", "n=3", "guidance=1.5", *SMP])
    assert code == 0, err
    out = _only(run / "samples")
    assert torch.equal(torch.load(out / "labels.pt"), torch.arange(10).repeat_interleave(3))
    x = torch.load(out / "samples.pt")
    assert x.shape == (30, 1, 8, 8)
    assert seen["nrow"] == 3 and seen["rows"] == [f"class {c}" for c in range(10)]
    assert seen["cols"] == ["0", "1", "2"]
    assert torch.allclose(seen["images"], ((x + 1) / 2).clamp(0, 1))  # row c = class c, in order
    from PIL import Image
    w, h = Image.open(out / "samples.png").size
    assert h > 2 * w  # 10 rows of 3


def test_label_on_points_writes_samples_and_labels(cond_run, caplog):
    caplog.set_level("INFO", logger="sample")
    code, err = run_script("sample", [f"run={cond_run}", "label=1", "guidance=2.0", "n=7", *SMP])
    assert code == 0, err
    out = _only(cond_run / "samples")
    assert torch.load(out / "samples.pt").shape == (7, 2) and (out / "samples.png").is_file()
    assert torch.equal(torch.load(out / "labels.pt"), torch.ones(7, dtype=torch.long))
    assert "(w=2, euler, 6 NFE)" in caplog.text  # euler: 3 steps x 2 network evaluations


# ------------------------------------------------------------------------------ inpainting
@pytest.mark.parametrize("mask,observed", [("right", [True, False]), ("left", [False, True])])
def test_replacement_keeps_observed_values_exactly(cond_run, mask, observed):
    code, err = run_script("sample", [f"run={cond_run}", "inpaint=true", f"mask={mask}", "n=5",
                                      "completions=3", "batch_size=4", *SMP])
    assert code == 0, err
    out = _only(cond_run / "samples")
    assert (out / "inpaint.png").is_file()
    r = torch.load(out / "inpaint.pt")
    _, cfg, meta = load_model(cond_run)
    from sde_diffusion.app.data import build_run_data
    test = build_run_data(cfg["data"]).test[:5]
    assert torch.equal(r["original"], test) and r["completions"].shape == (5, 3, 2)
    keep = torch.tensor(observed)
    assert torch.equal(r["mask"], keep.float())
    assert torch.equal(r["completions"][:, :, keep], test[:, None, keep].expand(5, 3, -1))
    assert torch.equal(r["masked"][:, ~keep], torch.zeros(5, 1))
    assert (r["completions"][:, 0, ~keep] != r["completions"][:, 1, ~keep]).all()  # fresh noise


@pytest.mark.parametrize("method", ["dps", "pigdm"])
def test_posterior_methods_complete_images_with_a_top_mask(tmp_path, method):
    run = image_run(tmp_path / "run", C=10)
    code, err = run_script("sample", [f"run={run}", "inpaint=true", "mask=top", f"inpaint_method={method}",
                                      "n=2", "completions=2", "label=3", "guidance=1.0", *SMP])
    assert code == 0, err
    r = torch.load(_only(run / "samples") / "inpaint.pt")
    assert r["completions"].shape == (2, 2, 1, 8, 8) and torch.isfinite(r["completions"]).all()
    assert r["method"] == method and r["nfe"] == 6 and r["labels"].shape == (2,)
    assert torch.equal(r["mask"][0, :4], torch.zeros(4, 8)) and torch.equal(r["mask"][0, 4:], torch.ones(4, 8))


def test_mask_file_and_random_mask(tmp_path, cond_run):
    f = tmp_path / "m.pt"
    torch.save(torch.tensor([0.0, 1.0]), f)
    assert torch.equal(rinp.make_mask(str(f), (2,)), torch.tensor([0.0, 1.0]))
    m = rinp.make_mask("random", (1, 8, 8), seed=4)
    assert torch.equal(m, rinp.make_mask("random", (1, 8, 8), seed=4)) and 0 < m.sum() < 64
    img = rinp.make_mask("random", (3, 4, 4), seed=0)
    assert torch.equal(img[0], img[1]) and torch.equal(img[1], img[2])  # per pixel, not per channel
    code, err = run_script("sample", [f"run={cond_run}", "inpaint=true", f"mask={f}", "n=2", "completions=1", *SMP])
    assert code == 0, err


# ----------------------------------------------------------------------------- bad inputs
BAD = [
    (["label=3"], r"label=3 is outside the classes 0\.\.2 of this model"),
    (["label=-1"], r"label=-1 is outside the classes 0\.\.2"),
    (["label=cat"], r"label must be a class index or 'all', got 'cat'"),
    (["guidance=2.0"], r"guidance=2\.0 needs a class: give label=<0\.\.2> or label=all"),
    (["label=1", "guidance=nan"], r"guidance must be finite, got nan"),
    (["inpaint=true", "inpaint_method=ddrm"], r"inpaint_method='ddrm' is not one of 'replacement', 'dps', 'pigdm'"),
    (["inpaint=true", "mask=middle"], r"mask='middle' is not one of 'left', 'right', 'top', 'bottom', 'random' or a \.pt file"),
    (["inpaint=true", "mask=top"], r"mask='top' needs image data \(C, H, W\); the data have shape \(2,\)"),
    (["inpaint=true", "mask=MASK3"], r"mask file '.*m3\.pt' has shape \(3,\) but the data have shape \(2,\)"),
    (["inpaint=true", "mask=MASK2"], r"mask file '.*m2\.pt' must hold only 0 and 1"),
    (["inpaint=true", "mask=MISSING"], r"mask file '.*nope\.pt' does not exist"),
    (["inpaint=true", "n=100000"], r"n=100000 exceeds the 64 test samples of 'ring'"),
    (["inpaint=true", "label=all"], r"label=all draws a class grid; inpainting takes one label"),
    (["inpaint=true", "completions=0"], r"completions must be >= 1, got 0"),
    (["label=1", "guidance=inf"], r"guidance must be finite, got inf"),
    (["inpaint=true", "dps_noise=0"], r"dps_noise must be > 0, got 0"),
    (["inpaint=true", "inpaint_scale=-1"], r"inpaint_scale must be >= 0\.0, got -1"),
    (["inpaint=true", "mask=MASKNAN"], r"mask file '.*mnan\.pt' must hold only 0 and 1"),
    (["inpaint=true", "mask=MASKDICT"], r"mask file '.*mdict\.pt' holds a dict, not a tensor"),
    (["inpaint=true", "mask=MASKALL"], r"mask file '.*mall\.pt' observes everything"),
    (["inpaint=true", "mask=MASKTXT"], r"mask file '.*mtxt\.pt' is not a readable tensor file"),
    (["inpaint=true", "inpaint_jacobian=exact"], r"inpaint_jacobian='exact' is not one of 'gaussian', 'network'"),
]


@pytest.mark.parametrize("args,match", BAD)
def test_bad_requests_are_one_line_errors_before_sampling(tmp_path, cond_run, no_sampling, args, match):
    for name, v in {"m3": torch.ones(3), "m2": torch.tensor([2.0, 1.0]), "mdict": {"mask": torch.ones(2)},
                    "mnan": torch.tensor([float("nan"), 1.0]), "mall": torch.ones(2)}.items():
        torch.save(v, tmp_path / f"{name}.pt")
    (tmp_path / "mtxt.pt").write_text("left")
    subst = {k.upper().replace("M", "MASK", 1): str(tmp_path / f"{k}.pt") for k in ("m3", "m2", "mdict", "mnan", "mall", "mtxt")}
    subst["MISSING"] = str(tmp_path / "nope.pt")
    args = [a.split("=")[0] + "=" + subst.get(a.split("=")[1], a.split("=")[1]) for a in args]
    code, err = run_script("sample", [f"run={cond_run}", *args, *SMP])
    assert code == 2 and "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sample: error:"), err
    import re
    assert re.search(match, lines[0]), lines[0]
    assert not (cond_run / "samples").exists()


def test_guidance_or_label_on_an_unconditional_model(tmp_path, no_sampling):
    run = make_run(tmp_path / "run")  # MLP without num_classes
    for arg in ("guidance=2.0", "label=0"):
        code, err = run_script("sample", [f"run={run}", arg, *SMP])
        assert code == 2 and len(err.strip().splitlines()) == 1
        assert f"{arg} needs a class-conditional model (num_classes > 0); this model is unconditional" in err
    assert not (run / "samples").exists()


def test_library_errors_name_the_value():
    with pytest.raises(ValueError, match=r"label=7 is outside the classes 0\.\.2"):
        rc.parse_labels(7, 3, 4)
    with pytest.raises(TypeError, match=r"got True"):
        rc.parse_labels(True, 3, 4)
    with pytest.raises(ValueError, match=r"mask has shape \(3,\) but the data have shape \(2,\)"):
        rinp.inpaint(cond_model(), torch.zeros(2, 2), torch.ones(3))
    with pytest.raises(ValueError, match=r"inpaint_method='nope'"):
        rinp.inpaint(cond_model(), torch.zeros(2, 2), torch.ones(2), method="nope")
    with pytest.raises(ValueError, match=r"cannot hide half of 1 values"):
        rinp.make_mask("left", (1,))


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        import os
        return os.system, (f"touch {self.marker}",)


def test_a_pickled_mask_runs_nothing(tmp_path, cond_run, no_sampling):
    """A mask file is read with weights_only=True: a pickle that would run a shell command is refused."""
    marker = tmp_path / "pwned"
    torch.save(_Evil(marker), tmp_path / "evil.pt")
    code, err = run_script("sample", [f"run={cond_run}", "inpaint=true", f"mask={tmp_path / 'evil.pt'}", *SMP])
    assert code == 2 and "is not a readable tensor file" in err and len(err.strip().splitlines()) == 1
    assert not marker.exists()


def test_model_folder_of_a_conditional_net_samples_by_label(tmp_path):
    """save_pretrained keeps num_classes; a model folder takes label= like a run (no data needed)."""
    from sde_diffusion.io import save_pretrained
    d = save_pretrained(cond_model(C=4), tmp_path / "m")
    code, err = run_script("sample", [f"run={d}", "label=3", "n=5", *SMP])
    assert code == 0, err
    out = _only(d / "samples")
    assert torch.equal(torch.load(out / "labels.pt"), torch.full((5,), 3))
    code, err = run_script("sample", [f"run={d}", "label=4", "n=5", *SMP])
    assert code == 2 and "label=4 is outside the classes 0..3 of this model" in err
    code, err = run_script("sample", [f"run={d}", "inpaint=true", "n=2", *SMP])
    assert code == 2 and "inpainting needs test data" in err and "stores no data config" in err


@pytest.mark.parametrize("method", ["replacement", "dps", "pigdm"])
def test_inpainting_with_the_exact_score_of_independent_coordinates(method):
    """Prior N(mu, 0.5^2 I) in 2-D: the hidden coordinate is independent of the observed one, so
    its completions must be N(mu_1, 0.5^2) whatever the method (mean and std within 4 standard
    errors); the observed coordinate stays y (exactly for replacement, to discretisation error for
    PiGDM, within DPS's sigma). (DPS with sigma = 0.05 diverges under heun, 40 steps: stiff.)"""
    mu, sd = torch.tensor([1.0, -2.0]), 0.5
    gm = GaussianMixture(mu[None], torch.tensor([sd]))
    sde = VPSDE()

    class Exact(torch.nn.Module):
        num_classes = 0

        def __init__(self):
            super().__init__()
            self.sde, self.fn = sde, gm.score_fn(sde)

        def forward(self, x, t, y=None):
            return self.fn(x, t)
    x_test = gm.sample(25, generator=torch.Generator().manual_seed(0)).float()
    res = rinp.inpaint(Exact(), x_test, rinp.make_mask("right", (2,)), method, completions=24, dps_noise=0.05,
                     sampler={"name": "euler_maruyama", "steps": 200}, seed=2, batch_size=200, progress=False)
    hidden, seen = res["completions"][..., 1].double(), res["completions"][..., 0]
    n = hidden.numel()
    assert abs(float(hidden.mean()) - float(mu[1])) < 4 * sd / n ** 0.5, float(hidden.mean())
    assert abs(float(hidden.std()) - sd) < 4 * sd / (2 * n) ** 0.5, float(hidden.std())
    rms = float(((seen - x_test[:, None, 0]) ** 2).mean().sqrt())
    if method == "replacement":
        assert torch.equal(seen, x_test[:, None, 0].expand(25, 24))
    elif method == "pigdm":  # exact for a single isotropic Gaussian (data_var from the test set)
        assert rms < 0.01, rms
    else:  # DPS's likelihood has sigma = dps_noise: the observed value scatters by about sigma
        assert rms < 2 * 0.05, rms


@pytest.mark.parametrize("args,jacobian,noise", [([], "gaussian", 0.2),
                                                 (["inpaint_jacobian=network", "dps_noise=0.1"], "network", 0.1)])
def test_cli_posterior_defaults_gaussian_jacobian_and_dps_noise(tmp_path, cond_run, monkeypatch, args,
                                                                 jacobian, noise):
    """inpaint_method=dps without options uses the Gaussian Jacobian and sigma 0.2 (stable on a
    trained digits model, see tests/conditional/test_inpainting_stability.py); both can be chosen."""
    import sde_diffusion.conditional as conditional
    seen = {}
    real = conditional.posterior_score

    def spy(*a, **k):
        seen.update(k)
        return real(*a, **{**k, "scale": 0.0})  # the options are what is tested, not this random net
    monkeypatch.setattr(conditional, "posterior_score", spy)
    code, err = run_script("sample", [f"run={cond_run}", "inpaint=true", "inpaint_method=dps", "n=2",
                                      "completions=1", *SMP, *args])
    assert code == 0, err
    assert seen["jacobian"] == jacobian and seen["dps_noise"] == noise
