"""Data sources: shapes, seeding, exact properties of the toys, 8-bit image conventions, errors."""
import importlib.util

import pytest
import torch

from sde_diffusion import data
from sde_diffusion.data import DataBundle

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


def test_bundle_validation():
    with pytest.raises(ValueError, match="NaN"):
        DataBundle(torch.tensor([[float("nan")]]), torch.zeros(1, 1), (1,), "points")
    with pytest.raises(ValueError, match="kind"):
        DataBundle(torch.zeros(2, 1), torch.zeros(1, 1), (1,), "voxels")
    with pytest.raises(ValueError, match="n_train"):
        data.ring(n_train=0)


# ------------------------------------------------------------------ Datasets and the loader
def test_mixture_points_are_labelled_by_their_component():
    """Ring modes are 3.06 apart with std 0.3: a point's nearest mode is its component except
    with probability ~2e-7 (a 5.1-sigma excursion), so all 3000 labels must match."""
    b = data.ring(n_train=3000, n_test=10, seed=2)
    x, y = b.dataset("train")[:]
    means = b.reference.means.float()
    nearest = torch.cdist(x, means).argmin(1)
    assert torch.equal(nearest, y) and b.info.num_classes == 8
    assert set(y.tolist()) == set(range(8))
    dx, dy = data.digits().dataset("test")[5]
    assert dx.shape == (1, 8, 8) and dy.dtype == torch.long


def test_loader_batches_follow_the_seeded_permutation_and_resume_anywhere():
    b = data.two_moons(n_train=100, n_test=10)
    loader = data.make_loader(b.dataset(), batch_size=16, seed=3)
    batches = list(loader)
    assert len(batches) == 6  # 100 // 16, the tail dropped
    perm = torch.randperm(100, generator=torch.Generator().manual_seed(3 * 1_000_003))
    assert torch.equal(torch.cat(batches), b.train[perm[:96]])
    loader.batch_sampler.set_position(epoch=0, batch=4)
    assert torch.equal(torch.cat(list(loader)), b.train[perm[64:96]])
    loader.batch_sampler.set_position(epoch=1, batch=0)
    perm1 = torch.randperm(100, generator=torch.Generator().manual_seed(3 * 1_000_003 + 1))
    assert torch.equal(next(iter(loader)), b.train[perm1[:16]])
    with pytest.raises(ValueError, match="out of range"):
        loader.batch_sampler.set_position(0, 7)


def test_ddp_shards_unite_to_the_single_process_batch():
    """Step k's indices, united over ranks, are the same for W = 1, 2, 4 (and disjoint)."""
    from sde_diffusion.data import ResumableBatchSampler
    per_world = {}
    for W in (1, 2, 4):
        ranks = [list(ResumableBatchSampler(40, 8, seed=5, rank=r, world_size=W)) for r in range(W)]
        per_world[W] = [sum((ranks[r][k] for r in range(W)), []) for k in range(5)]
        assert all(len(set(step)) == 8 for step in per_world[W])
    assert per_world[1] == per_world[2] == per_world[4]
    with pytest.raises(ValueError, match="not divisible by the 3 processes"):
        ResumableBatchSampler(40, 8, world_size=3)
    with pytest.raises(ValueError, match="exceeds the 40 training samples"):
        ResumableBatchSampler(40, 64)


def _write_images(root, n_per_class, classes=("cat", "dog"), size=(20, 30)):
    from PIL import Image
    g = torch.Generator().manual_seed(0)
    for c in classes:
        (root / c).mkdir(parents=True, exist_ok=True)
        for i in range(n_per_class):
            arr = (torch.rand(*size, 3, generator=g) * 255).to(torch.uint8).numpy()
            Image.fromarray(arr).save(root / c / f"im{i}.png")


def test_image_folder_streams_with_subfolder_labels_and_matches_the_in_memory_set(tmp_path):
    from sde_diffusion.io import data_identity
    _write_images(tmp_path, 5)
    ds = data.ImageFolderDataset(str(tmp_path), image_size=16, channels=3, test_fraction=0.2)
    bundle = data.image_folder(str(tmp_path), image_size=16, channels=3, test_fraction=0.2)
    assert len(ds) == 8 and ds.classes == ["cat", "dog"] and ds.info.num_classes == 2
    xs = torch.stack([ds[i][0] for i in range(len(ds))])
    assert torch.equal(xs, bundle.train)  # same files, same order, same decoding
    labels = [ds[i][1].item() for i in range(len(ds))]
    assert labels == [0 if f.parts[0] == "cat" else 1 for f in ds.files]
    assert ds.identity() == data_identity(tmp_path.name, bundle.train)
    test = data.ImageFolderDataset(str(tmp_path), image_size=16, split="test", test_fraction=0.2)
    assert len(test) == 2 and not set(test.files) & set(ds.files)
    with pytest.raises(ValueError, match="split='val'"):
        data.ImageFolderDataset(str(tmp_path), split="val")


@pytest.mark.slow
def test_streamed_image_folder_trains_with_bounded_memory():
    """Peak RSS of a training run on 300 vs 1500 streamed 64x64 images: the decoded data grow by
    56 MiB, the peak may grow by at most 15 MiB (allocator noise), so the big set is larger than
    the memory the run is allowed beyond the small one (benchmarks/bench_streaming.py)."""
    import json
    import subprocess
    import sys
    from pathlib import Path
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, str(root / "benchmarks/bench_streaming.py"), "--sizes",
                          "300", "1500", "--steps", "10"], capture_output=True, text=True,
                         timeout=900, env={**__import__("os").environ, "PYTHONPATH": str(root)})
    assert out.returncode == 0, out.stderr[-2000:]
    small, big = (json.loads(line) for line in out.stdout.strip().splitlines()[-2:])
    grown = big["decoded_mib"] - small["decoded_mib"]
    assert grown > 50
    assert big["peak_rss_mib"] - small["peak_rss_mib"] < 15, (small, big)
