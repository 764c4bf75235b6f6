"""Pictures of samples: scatter/histogram for points, grids for images, reverse-trajectory strips.

All functions write a PNG with matplotlib's Agg backend (no display needed) and return the path.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Optional, Sequence

import torch

__all__ = ["save_points", "save_image_grid", "image_grid", "save_trajectory_strip"]


def _plt():
    import matplotlib
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    return plt


def _draw_points(ax, x: torch.Tensor, ref: Optional[torch.Tensor], lim: Optional[float]) -> None:
    x = x.detach().float().cpu().reshape(x.shape[0], -1)
    if x.shape[1] == 1:
        bins = 100
        if ref is not None:
            ax.hist(ref.reshape(-1).cpu().numpy(), bins=bins, density=True, alpha=0.4, label="data")
        ax.hist(x[:, 0].numpy(), bins=bins, density=True, histtype="step", lw=1.5, label="samples")
        ax.legend(fontsize=7)
    else:
        if ref is not None:
            r = ref.reshape(ref.shape[0], -1).cpu()
            ax.scatter(r[:, 0], r[:, 1], s=1, alpha=0.25, c="tab:gray", label="data")
        ax.scatter(x[:, 0], x[:, 1], s=1, alpha=0.5, c="tab:blue", label="samples")
        if lim is not None:
            ax.set_xlim(-lim, lim)
            ax.set_ylim(-lim, lim)
        ax.set_aspect("equal")


def save_points(samples: torch.Tensor, path, reference: Optional[torch.Tensor] = None,
                title: str = "") -> Path:
    """Scatter plot (2-D, first two coordinates for more) or histogram (1-D) of samples,
    over the reference data in grey."""
    plt = _plt()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ref = reference.detach().float() if reference is not None else None
    lim = None
    if ref is not None and ref[0].numel() > 1:
        lim = float(ref.reshape(ref.shape[0], -1)[:, :2].abs().max()) * 1.15
    _draw_points(ax, samples, ref, lim)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def image_grid(images: torch.Tensor, nrow: Optional[int] = None, pad: int = 1) -> torch.Tensor:
    """(N, C, H, W) values in [0, 1] -> one (C, rows*(H+pad)+pad, nrow*(W+pad)+pad) image."""
    n, c, h, w = images.shape
    nrow = nrow or int(math.ceil(math.sqrt(n)))
    rows = int(math.ceil(n / nrow))
    grid = torch.ones(c, rows * (h + pad) + pad, nrow * (w + pad) + pad)
    for i in range(n):
        r, k = divmod(i, nrow)
        grid[:, pad + r * (h + pad): pad + r * (h + pad) + h,
             pad + k * (w + pad): pad + k * (w + pad) + w] = images[i].float().cpu()
    return grid


def _save_rgb(grid: torch.Tensor, path: Path, scale: int) -> Path:
    from PIL import Image
    arr = (grid.clamp(0, 1) * 255).round().to(torch.uint8)
    arr = arr.repeat(3, 1, 1) if arr.shape[0] == 1 else arr
    img = Image.fromarray(arr.permute(1, 2, 0).contiguous().numpy(), mode="RGB")
    if scale > 1:
        img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)
    return path


def save_image_grid(images: torch.Tensor, path, nrow: Optional[int] = None,
                    scale: Optional[int] = None) -> Path:
    """Save (N, C, H, W) images with values in [0, 1] as one PNG grid (nearest-neighbour
    upscaled so that small images stay visible: 8x8 digits get scale 4)."""
    h = images.shape[-1]
    scale = scale or max(1, 32 // h)
    return _save_rgb(image_grid(images, nrow), Path(path), scale)


def save_trajectory_strip(trajectory: torch.Tensor, times: Sequence[float], path, kind: str,
                          frames: int = 8, to_unit=None, max_rows: int = 8,
                          reference: Optional[torch.Tensor] = None) -> Path:
    """A strip of ``frames`` snapshots of the reverse process (t from T down to eps).

    ``trajectory`` is (K, N, *shape) as returned in ``SampleInfo.trajectory``. Images: one row
    per sample (up to ``max_rows``), one column per snapshot. Points: one panel per snapshot.
    """
    path = Path(path)
    k = trajectory.shape[0]
    idx = torch.linspace(0, k - 1, max(2, frames)).round().long().unique().tolist()
    times = list(times)
    if kind == "images":
        snaps = trajectory[idx, :max_rows]  # (F, R, C, H, W)
        snaps = to_unit(snaps) if to_unit is not None else snaps.clamp(0, 1)
        tiles = snaps.transpose(0, 1).reshape(-1, *snaps.shape[2:])  # row-major: sample, time
        return save_image_grid(tiles, path, nrow=len(idx))
    plt = _plt()
    fig, axes = plt.subplots(1, len(idx), figsize=(2.2 * len(idx), 2.4))
    lim = None
    if reference is not None and reference[0].numel() > 1:
        lim = float(reference.reshape(reference.shape[0], -1)[:, :2].abs().max()) * 1.15
    for ax, j in zip(axes, idx):
        _draw_points(ax, trajectory[j], None, None)
        if lim is not None and j != idx[0] and trajectory[j][0].numel() > 1:
            ax.set_xlim(-lim, lim)  # the prior (first panel) keeps its own, wider scale
            ax.set_ylim(-lim, lim)
        ax.set_title(f"t = {times[j]:.3g}", fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
