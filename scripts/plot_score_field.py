"""The README's first picture: the tutorial's 1-D three-cluster example under the VP SDE.

Left: the density p_t(x) over (t, x) with the exact score field as arrows (pointing back to
the clusters). Right: p_t and grad log p_t at a few times.
    python scripts/plot_score_field.py [--out docs/score_field_1d.png]
"""
import argparse

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from sde_diffusion.analytic import three_clusters_1d  # noqa: E402
from sde_diffusion.sdes import VPSDE  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="docs/score_field_1d.png")
    args = p.parse_args()
    gm, sde = three_clusters_1d(), VPSDE()
    xs = torch.linspace(-5, 5, 400, dtype=torch.float64)[:, None]
    ts = torch.linspace(sde.eps, 1.0, 200, dtype=torch.float64)
    dens = torch.stack([gm.log_prob(xs, sde, torch.full((400,), float(t))).exp() for t in ts], 1)
    fig, (a, b) = plt.subplots(1, 2, figsize=(12, 4.5))
    a.imshow(dens.numpy(), origin="lower", aspect="auto", cmap="magma",
             extent=[float(ts[0]), float(ts[-1]), -5, 5], vmax=float(dens.quantile(0.995)))
    tq = torch.linspace(0.02, 0.95, 18, dtype=torch.float64)
    xq = torch.linspace(-4.5, 4.5, 19, dtype=torch.float64)
    T, X = torch.meshgrid(tq, xq, indexing="ij")
    S = gm.score(X.reshape(-1, 1), sde, T.reshape(-1)).reshape(T.shape)
    m, s = sde.marginal(T)
    U = (S * s).clamp(-2.0, 2.0)  # s * score = -E[eps | x_t]: bounded across t
    a.quiver(T.numpy(), X.numpy(), torch.zeros_like(U).numpy(), U.numpy(), color="cyan",
             angles="xy", scale_units="xy", scale=4.0, width=0.003)
    a.set(xlabel="t (forward time)", ylabel="x", title="p_t(x) and the score direction, s(t) * score (arrows)")
    for t, c in zip([0.01, 0.1, 0.3, 0.6, 1.0], plt.cm.viridis(torch.linspace(0, 0.9, 5).numpy())):
        tt = torch.full((400,), t, dtype=torch.float64)
        b.plot(xs[:, 0], gm.log_prob(xs, sde, tt).exp(), color=c, label=f"p_t, t={t}")
        b.plot(xs[:, 0], gm.score(xs, sde, tt)[:, 0] / 10, "--", color=c)
    b.axhline(0, color="gray", lw=0.5)
    b.set(xlabel="x", ylim=(-1.0, 1.0), title="densities (solid) and score / 10 (dashed)")
    b.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
