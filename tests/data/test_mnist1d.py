"""MNIST-1D: generated offline by the mnist1d package, 40-D, 10 classes; its experiment config."""
import random
import socket

import numpy as np
import pytest
import torch

pytest.importorskip("mnist1d")

from sde_diffusion.data import mnist1d  # noqa: E402


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*a, **k):
        raise AssertionError("MNIST-1D tried to reach the network")
    monkeypatch.setattr(socket.socket, "connect", refuse)
    import requests
    monkeypatch.setattr(requests, "get", refuse)


def test_generated_offline_with_the_published_shape(no_network):
    d = mnist1d()
    assert d.train.shape == (4000, 40) and d.test.shape == (1000, 40) and d.data_shape == (40,)
    assert d.kind == "points" and d.train.dtype == torch.float32
    assert sorted(d.train_labels.unique().tolist()) == list(range(10))
    both = torch.cat([d.train, d.test]).double()
    # the generator standardises the whole set: mean 0, std 1 over all 200000 values
    assert abs(float(both.mean())) < 1e-6 and float(both.std()) == pytest.approx(1.0, abs=1e-3)
    # 500 signals per class over train + test
    assert torch.cat([d.train_labels, d.test_labels]).bincount().tolist() == [500] * 10


def test_seeded_and_leaves_global_rng_alone(no_network):
    np.random.seed(123)
    random.seed(7)
    a_np, a_py = np.random.get_state()[1].copy(), random.getstate()
    d1 = mnist1d(n_train=80, n_test=20, seed=1)
    assert np.array_equal(np.random.get_state()[1], a_np) and random.getstate() == a_py
    d2 = mnist1d(n_train=80, n_test=20, seed=1)
    d3 = mnist1d(n_train=80, n_test=20, seed=2)
    assert torch.equal(d1.train, d2.train) and not torch.equal(d1.train, d3.train)
    odd = mnist1d(n_train=8, n_test=4, seed=1)   # generated as 20 signals, the first 12 kept
    assert odd.train.shape == (8, 40) and odd.test.shape == (4, 40)


@pytest.mark.parametrize("kw,err,match", [
    ({"n_train": 0}, ValueError, "n_train must be an integer >= 1"),
    ({"n_test": 10 ** 8}, ValueError, "over the limit"),
    ({"seed": 1.5}, TypeError, "seed must be an integer"),
])
def test_bad_arguments(kw, err, match):
    with pytest.raises(err, match=match):
        mnist1d(**kw)


def test_experiment_config_composes_and_builds():
    from sde_diffusion.configs import compose, instantiate
    cfg = compose(["experiment=mnist1d", "data.n_train=80", "data.n_test=20"])
    data = instantiate(cfg.data)
    assert data.data_shape == (40,) and data.train.shape == (80, 40)
    assert cfg.model.net._target_ == "sde_diffusion.models.MLP"
