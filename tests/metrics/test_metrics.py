"""Sample metrics: known values for shifted Gaussians, zero for identical sets."""

import math

import pytest
import torch

from sde_diffusion.metrics import energy_distance, frechet_distance, mean_nll, mmd, sliced_wasserstein


def test_sliced_wasserstein_of_a_shift():
    """For y = x + d, every 1-D projection shifts by theta.d, so SW_2^2 = E(theta.d)^2 = |d|^2/D."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(5000, 4, generator=g, dtype=torch.float64)
    d = torch.tensor([1.0, -2.0, 0.5, 0.0], dtype=torch.float64)
    sw = sliced_wasserstein(x, x + d, n_projections=4000)
    assert sw == pytest.approx(float(d.norm()) / 2, rel=0.05)  # |d| / sqrt(D), D = 4
    assert sliced_wasserstein(x, x) == 0.0
    # unequal sizes go through quantiles
    assert sliced_wasserstein(x[:1000], x + d, n_projections=4000) == pytest.approx(float(d.norm()) / 2, rel=0.1)


def test_mmd_energy_and_frechet():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(1500, 2, generator=g, dtype=torch.float64)
    y = torch.randn(1500, 2, generator=g, dtype=torch.float64)
    z = y + 3.0
    assert abs(mmd(x, y)) < 0.01 and mmd(x, z) > 0.3
    assert abs(energy_distance(x, y)) < 0.02 and energy_distance(x, z) > 1.0
    # Frechet distance between N(0, I) and N(3, I) fits is |3 1|^2 = 18
    assert frechet_distance(x, z) == pytest.approx(18.0, rel=0.05)
    assert frechet_distance(x, y) < 0.05


def test_mean_nll_and_dimension_check():
    x = torch.zeros(10, 2)
    assert mean_nll(x, lambda v: torch.full((v.shape[0],), -1.5)) == 1.5
    with pytest.raises(ValueError, match="dimension"):
        sliced_wasserstein(torch.zeros(3, 2), torch.zeros(3, 3))


# ----------------------------------------------------------------- KID, FD, PRDC on features
from sde_diffusion.metrics import features, kid, precision_recall, sample_quality  # noqa: E402


def _gauss(n, d, seed, shift=0.0):
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) + shift


def test_kid_is_unbiased_and_matches_the_closed_form():
    """Cubic kernel with gamma = 1/d, coef = 1 between N(0, I) and N(mu, I):
    MMD^2 = E k(x,x') + E k(y,y') - 2 E k(x,y). Same law: E KID = 0 exactly (unbiased), so the
    mean over 50 disjoint-ish subsets lies within 4 standard errors of 0; a shift is detected."""
    d = 4
    x, y = _gauss(4000, d, 0), _gauss(4000, d, 1)
    same = kid(x, y, subsets=50, subset_size=400, seed=3)
    se = same.std / math.sqrt(50)
    assert abs(same.mean) < 4 * se + 1e-12 and same.subset_size == 400 and len(same.values) == 50
    # shift mu = (0.5, 0, 0, 0): for independent Gaussians E (x.y/d + 1)^3 has a closed form
    mu = torch.tensor([0.5, 0, 0, 0], dtype=torch.float64)
    z = y + mu
    # E over x,x' ~ N(a, I), N(b, I): u = x.x'/d, E u = a.b/d, E u^2 = (d + a.a + b.b + (a.b)^2)/d^2,
    # E u^3 computed by Monte Carlo with 10^6 pairs is noisy; use the exact polynomial moments:
    def e_k(a, b, n=400_000, seed=9):
        g = torch.Generator().manual_seed(seed)
        xa = torch.randn(n, d, generator=g, dtype=torch.float64) + a
        xb = torch.randn(n, d, generator=g, dtype=torch.float64) + b
        return float(((xa * xb).sum(1) / d + 1).pow(3).mean())
    zero = torch.zeros(d, dtype=torch.float64)
    want = e_k(zero, zero) + e_k(mu, mu, seed=10) - 2 * e_k(zero, mu, seed=11)
    got = kid(x, z, subsets=50, subset_size=1000, seed=0)
    assert got.mean == pytest.approx(want, abs=4 * got.std / math.sqrt(50) + 0.01)
    assert got.mean > 10 * abs(same.mean)


def test_kid_and_fd_equal_torchmetrics():
    tm_kid = pytest.importorskip("torchmetrics.image.kid")
    tm_fid = pytest.importorskip("torchmetrics.image.fid")
    x, y = _gauss(300, 16, 0), _gauss(300, 16, 1, shift=0.3) * 1.2
    # full sets (torchmetrics assumes equal sizes), one subset: the U-statistic does not
    # depend on the permutation
    ours = kid(x, y, subsets=1, subset_size=10 ** 6)
    theirs = float(tm_kid.poly_mmd(x, y, degree=3, gamma=None, coef=1.0))
    assert ours.mean == pytest.approx(theirs, rel=1e-10, abs=1e-12)
    mu1, mu2 = x.mean(0), y.mean(0)
    c1, c2 = torch.cov(x.T), torch.cov(y.T)
    assert frechet_distance(x, y) == pytest.approx(float(tm_fid._compute_fid(mu1, c1, mu2, c2)),
                                                   rel=1e-9)


def test_kid_matches_torchmetrics_module_with_a_custom_feature_network():
    tm = pytest.importorskip("torchmetrics.image.kid")

    class Flat(torch.nn.Module):
        num_features = 8

        def forward(self, v):
            return v.reshape(v.shape[0], -1)

    x, y = _gauss(120, 8, 4), _gauss(120, 8, 5, shift=0.2)
    m = tm.KernelInceptionDistance(feature=Flat(), subsets=1, subset_size=120).double()
    m.update(x, real=True)
    m.update(y, real=False)
    mean, _ = m.compute()
    assert kid(y, x, subsets=1, subset_size=120).mean == pytest.approx(float(mean), rel=1e-10)


def test_prdc_known_values():
    x = _gauss(600, 3, 0)
    same = precision_recall(x, x, k=5)
    assert same["precision"] == same["recall"] == same["coverage"] == 1.0
    assert same["density"] == pytest.approx(6 / 5)   # each ball holds itself and its 5 neighbours
    far = precision_recall(x, x + 100.0, k=5)
    assert far["precision"] == far["recall"] == far["coverage"] == far["density"] == 0.0


def test_prdc_same_distribution_limits():
    """Independent sets from one law: E density = 1 and coverage -> 1 - 2^-k (Naeem et al.);
    at n = 3000 in 2-D the finite-sample bias is below 0.02 (checked against n = 6000)."""
    x, y = _gauss(3000, 2, 1), _gauss(3000, 2, 2)
    r = precision_recall(x, y, k=3)
    assert r["density"] == pytest.approx(1.0, abs=0.05)
    assert r["coverage"] == pytest.approx(1 - 2 ** -3, abs=0.03)
    assert r["precision"] > 0.9 and r["recall"] > 0.9
    half = precision_recall(x, y[:, :1].repeat(1, 2) * 0.3, k=3)  # collapsed fakes: low recall
    assert half["recall"] < 0.3


def test_metric_input_errors():
    with pytest.raises(ValueError, match="k=10 needs more than k points"):
        precision_recall(_gauss(5, 2, 0), _gauss(20, 2, 1), k=10)
    with pytest.raises(ValueError, match="subsets must be an integer >= 1"):
        kid(_gauss(5, 2, 0), _gauss(5, 2, 1), subsets=0)
    with pytest.raises(ValueError, match="dimension"):
        kid(_gauss(5, 2, 0), _gauss(5, 3, 1))


def test_sample_quality_records_provenance_and_floor():
    ref, floor, fake = _gauss(400, 4, 0), _gauss(400, 4, 1), _gauss(200, 4, 2, shift=1.0)
    net = lambda v: v * 2.0
    rep = sample_quality(fake, ref, net, "x2", "test", seeds=[0, 1], floor_data=floor,
                         kid_subsets=10, kid_subset_size=100)
    for key in ("n", "n_reference", "seeds", "feature_network", "reference_split", "fd", "kid",
                "kid_std", "precision", "recall", "density", "coverage", "floor"):
        assert key in rep
    assert rep["n"] == 200 and rep["n_reference"] == 400 and rep["feature_network"] == "x2"
    assert rep["floor"]["fd"] < 0.2 * rep["fd"] and rep["floor"]["kid"] < rep["kid"]
    assert torch.equal(features(net, ref), (ref * 2).double())


# ----------------------------------------------------------------- feature networks
def test_inception_plumbing_with_random_weights(tmp_path):
    """Random-init InceptionV3 saved as a state dict loads through the metric path and gives
    2048-d features of 8x8 one-channel images (architecture plumbing, not the real weights)."""
    from sde_diffusion.metrics import feature_network
    from sde_diffusion.models.inception import InceptionFeatures
    torch.manual_seed(0)
    net = InceptionFeatures()
    state = dict(net.state_dict())
    assert sum(v.numel() for k, v in state.items() if "running" not in k and "num_batches" not in k) \
        == 21_785_568  # torchvision's Inception3 without fc and AuxLogits
    state["fc.weight"] = torch.zeros(1008, 2048)  # pytorch-fid's head: ignored
    path = tmp_path / "inception.pt"
    torch.save(state, path)
    loaded = feature_network("inception", weights=str(path))
    x = torch.rand(2, 1, 8, 8) * 2 - 1
    for k, v in loaded.state_dict().items():
        assert torch.equal(v, net.state_dict()[k]), k
    f = features(loaded, x)
    assert f.shape == (2, 2048) and bool(torch.isfinite(f).all()) and float(f.std()) > 0
    bad = dict(state)
    bad["Mixed_7c.branch_pool.conv.weight"] = torch.zeros(3, 3, 1, 1)
    torch.save(bad, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="Mixed_7c.branch_pool.conv.weight"):
        feature_network("inception", weights=str(tmp_path / "bad.pt"))
    with pytest.raises(ValueError, match="needs weights="):
        feature_network("inception")
    with pytest.raises(ValueError, match="feature network.*'inceptoin'"):
        feature_network("inceptoin")


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")  # torch's note on the hostile file
def test_inception_refuses_a_pickle_with_code(tmp_path):
    import pickle
    from sde_diffusion.models.inception import load_inception

    class Evil:
        def __reduce__(self):
            return (exec, ("raise SystemExit('ran code')",))
    p = tmp_path / "evil.pt"
    p.write_bytes(pickle.dumps({"x": Evil()}))
    with pytest.raises(ValueError, match="not a weights-only state dict"):
        load_inception(p)
