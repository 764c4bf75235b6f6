"""The feature classifier of the sample-quality metrics, on a problem with a known Bayes rate."""
import math
from types import SimpleNamespace

import torch

from sde_diffusion.training.quality import train_feature_classifier


def _two_gaussians(n: int, gen: torch.Generator):
    """Classes 0 / 1 with means -/+ 1.5 e_1 and identity covariance in 8-d: the Bayes rule
    (the sign of x_1) is right with probability Phi(1.5) = 0.9332."""
    y = torch.randint(0, 2, (n,), generator=gen)
    x = torch.randn(n, 8, generator=gen)
    x[:, 0] += 3.0 * y - 1.5
    return x, y


def test_the_classifier_reaches_the_bayes_rate_and_no_further():
    g = torch.Generator().manual_seed(0)
    (xt, yt), (xs, ys) = _two_gaussians(2000, g), _two_gaussians(4000, g)
    data = SimpleNamespace(train=xt, train_labels=yt, test=xs, test_labels=ys)
    feat, head, acc = train_feature_classifier(data, widths=(32, 16), epochs=10, noise=0.0,
                                               num_classes=2, seed=0)
    bayes = 0.5 * (1 + math.erf(1.5 / math.sqrt(2)))
    se = math.sqrt(bayes * (1 - bayes) / 4000)  # 0.0039: the test accuracy's sampling error
    # above: at most 4 SE over the Bayes rate; below: 4 SE plus 0.02 for a finite training set
    assert bayes - 0.02 - 4 * se < acc < bayes + 4 * se, acc
    with torch.no_grad():
        f = feat(xs[:5])
        assert f.shape == (5, 16) and head(f).shape == (5, 2)
