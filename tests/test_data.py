"""Data sources: shapes, seeding, exact properties of the toys, 8-bit image conventions, errors."""
import importlib.util

import pytest
import torch

from sde_diffusion import data
from sde_diffusion.data import DataBundle, build_data

SMALL = dict(n_train=4000, n_test=1000, seed=3)
TOYS = [data.three_clusters, data.ring, data.checkerboard, data.swiss_roll, data.two_moons,
        data.pinwheel]


@pytest.mark.parametrize("fn", TOYS, ids=lambda f: f.__name__)
def test_toys_shapes_seeding_and_split(fn):
    a, b, c = fn(**SMALL), fn(**SMALL), fn(n_train=4000, n_test=1000, seed=4)
    dim = 1 if fn is data.three_clusters else 2
    assert a.kind == "points" and a.data_shape == (dim,)
    assert a.train.shape == (4000, dim) and a.test.shape == (1000, dim)
    assert a.train.dtype == torch.float32
    assert torch.equal(a.train, b.train) and torch.equal(a.test, b.test)  # seeded
    assert not torch.equal(a.train, c.train)  # the seed matters
    assert not torch.equal(a.train[:1000], a.test)  # test split is a fresh draw
    assert float(a.train.abs().max()) < 8.0  # all toys live in roughly [-4, 4]^2


def test_ring_and_clusters_match_their_reference_moments():
    """Second moment of the ring, mean of the three clusters: within 5 standard errors."""
    ring = data.ring(n_train=50_000, n_test=10, seed=0)
    r2 = ring.train.double().pow(2).sum(1)
    expected = 16.0 + 2 * 0.3 ** 2  # E|x|^2 = R^2 + 2 std^2
    assert abs(float(r2.mean()) - expected) < 5 * float(r2.std()) / r2.numel() ** 0.5
    cl = data.three_clusters(n_train=50_000, n_test=10, seed=0)
    mu = float(cl.reference.mean())
    assert abs(mu - 0.7) < 1e-12  # 0.3 (-3) + 0.2 (0.5) + 0.5 (3)
    x = cl.train.double()[:, 0]
    assert abs(float(x.mean()) - mu) < 5 * float(x.std()) / x.numel() ** 0.5
    assert ring.reference is not None and cl.reference is not None


def test_checkerboard_points_lie_on_black_squares():
    x = data.checkerboard(**SMALL).train
    cells = torch.floor(x / 2).long()
    assert bool(((cells[:, 0] + cells[:, 1]) % 2 == 0).all())
    assert float(x.min()) >= -4 and float(x.max()) <= 4


def test_digits_eight_bit_convention_and_split():
    d = data.digits()
    assert d.kind == "images" and d.data_shape == (1, 8, 8) and d.bits == 8
    assert d.value_range == (-1.0, 1.0)
    assert d.train.shape[0] + d.test.shape[0] == 1797 and d.test.shape[0] == 359
    k = (d.train + 1) * 127.5  # back to the 8-bit scale
    assert torch.allclose(k, k.round(), atol=1e-4) and float(k.min()) == 0 and float(k.max()) == 255
    levels = torch.unique(k.round())  # the 17 original grey levels round(255 v / 16)
    assert torch.equal(levels, torch.round(torch.arange(17) * 255 / 16))
    assert torch.equal(d.to_uint8(d.train).float(), k.round())
    assert d.train_labels.shape == (d.train.shape[0],) and set(d.test_labels.tolist()) == set(range(10))
    assert not torch.equal(data.digits(seed=1).test, d.test)  # the split is seeded


def test_digits_wrong_size_says_what_to_change():
    with pytest.raises(ValueError, match="image_size=8"):
        data.digits(image_size=16)


@pytest.mark.skipif(importlib.util.find_spec("torchvision") is not None, reason="torchvision installed")
@pytest.mark.parametrize("fn", [data.mnist, data.cifar10], ids=["mnist", "cifar10"])
def test_torchvision_sets_without_torchvision_give_install_hint(fn):
    with pytest.raises(ImportError, match="pip install torchvision") as e:
        fn(root="/nonexistent")
    assert "network" in str(e.value)


def test_image_folder(tmp_path):
    from PIL import Image
    g = torch.Generator().manual_seed(0)
    for i in range(6):
        arr = (torch.rand(20, 30, 3, generator=g) * 255).to(torch.uint8).numpy()
        Image.fromarray(arr).save(tmp_path / f"im{i}.png")
    (tmp_path / "notes.txt").write_text("not an image")
    b = data.image_folder(str(tmp_path), image_size=16, channels=3, test_fraction=0.34)
    assert b.data_shape == (3, 16, 16) and b.train.shape[0] == 4 and b.test.shape[0] == 2
    assert float(b.train.min()) >= -1 and float(b.train.max()) <= 1
    grey = data.image_folder(str(tmp_path), image_size=8, channels=1)
    assert grey.data_shape == (1, 8, 8)


def test_image_folder_missing_path_says_what_to_set(tmp_path):
    with pytest.raises(FileNotFoundError, match="data.path"):
        data.image_folder(str(tmp_path / "nope"))
    with pytest.raises(FileNotFoundError, match="image files"):
        data.image_folder(str(tmp_path))


def test_build_data_from_config_and_validation():
    b = build_data({"_target_": "sde_diffusion.data.two_moons", "n_train": 100, "n_test": 10})
    assert isinstance(b, DataBundle) and b.train.shape == (100, 2)
    with pytest.raises(ValueError, match="_target_"):
        build_data({"n_train": 3})
    with pytest.raises(ValueError, match="n_train"):
        build_data({"_target_": "sde_diffusion.data.ring", "n_train": 0})
    with pytest.raises(ValueError, match="NaN"):
        DataBundle(torch.tensor([[float("nan")]]), torch.zeros(1, 1), (1,), "points")
    with pytest.raises(ValueError, match="kind"):
        DataBundle(torch.zeros(2, 1), torch.zeros(1, 1), (1,), "voxels")
