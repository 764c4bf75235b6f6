"""Pictures of samples: scatter/histogram for points (data and samples in a legend), grids for
images (plain, or with row and column labels).

All functions write a PNG with matplotlib's Agg backend (no display needed) and return the path.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Optional, Sequence

import torch

__all__ = ["save_points", "save_image_grid", "image_grid", "save_labelled_grid", "draw_points",
           "pyplot", "point_limit", "save_data_and_samples", "show_grid"]


def pyplot():
    """matplotlib.pyplot on the Agg backend."""
    import matplotlib
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    return plt


def point_limit(ref: Optional[torch.Tensor], margin: float = 1.15) -> Optional[float]:
    """Half-width of a square view holding the first two coordinates of ``ref`` (None for 1-D)."""
    if ref is None or ref[0].numel() < 2:
        return None
    return float(ref.reshape(ref.shape[0], -1)[:, :2].abs().max()) * margin


def draw_points(ax, x: torch.Tensor, ref: Optional[torch.Tensor] = None, lim: Optional[float] = None,
                label: str = "samples", legend: bool = True) -> None:
    """Samples over the data (grey) on ``ax``: a histogram for 1-D values, else a scatter of the
    first two coordinates; axes labelled x1 (, x2), a legend naming data and samples."""
    x = x.detach().float().cpu().reshape(x.shape[0], -1)
    if x.shape[1] == 1:
        bins = 100
        if ref is not None:
            ax.hist(ref.reshape(-1).cpu().numpy(), bins=bins, density=True, alpha=0.4, label="data")
        ax.hist(x[:, 0].numpy(), bins=bins, density=True, histtype="step", lw=1.5, label=label)
        ax.set_xlabel("x", fontsize=8)
        ax.set_ylabel("density", fontsize=8)
    else:
        if ref is not None:
            r = ref.reshape(ref.shape[0], -1).cpu()
            ax.scatter(r[:, 0], r[:, 1], s=1, alpha=0.25, c="tab:gray", label="data")
        ax.scatter(x[:, 0], x[:, 1], s=1, alpha=0.5, c="tab:blue", label=label)
        if lim is not None:
            ax.set_xlim(-lim, lim)
            ax.set_ylim(-lim, lim)
        ax.set_aspect("equal")
        ax.set_xlabel("x1", fontsize=8)
        ax.set_ylabel("x2", fontsize=8)
    ax.tick_params(labelsize=7)
    if legend:
        ax.legend(fontsize=7, markerscale=6, loc="upper right")


def save_points(samples: torch.Tensor, path, reference: Optional[torch.Tensor] = None,
                title: str = "") -> Path:
    """Scatter plot (2-D, first two coordinates for more) or histogram (1-D) of samples,
    over the reference data in grey, with a legend."""
    plt = pyplot()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ref = reference.detach().float() if reference is not None else None
    draw_points(ax, samples, ref, point_limit(ref))
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


def save_rgb(grid: torch.Tensor, path: Path, scale: int) -> Path:
    """A (C, H, W) image in [0, 1] as an RGB PNG, nearest-neighbour upscaled by ``scale``."""
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
    return save_rgb(image_grid(images, nrow), Path(path), scale)


def show_grid(ax, images: torch.Tensor, nrow: int, row_labels: Sequence[str] = (),
              col_labels: Sequence[str] = (), pad: int = 1) -> None:
    """``images`` (N, C, H, W) in [0, 1] as one grid of ``nrow`` per row on ``ax``, rows and
    columns labelled at their centres (no other ticks)."""
    h, w = images.shape[-2:]
    arr = image_grid(images, nrow, pad).permute(1, 2, 0).numpy()
    ax.imshow(arr[..., 0] if arr.shape[-1] == 1 else arr, cmap="gray", vmin=0, vmax=1,
              interpolation="nearest")
    ax.set_yticks([pad + r * (h + pad) + (h - 1) / 2 for r in range(len(row_labels))])
    ax.set_yticklabels(list(row_labels), fontsize=8)
    ax.set_xticks([pad + k * (w + pad) + (w - 1) / 2 for k in range(len(col_labels))])
    ax.set_xticklabels(list(col_labels), fontsize=8, rotation=0)
    ax.xaxis.set_ticks_position("top")
    ax.tick_params(length=0)
    for side in ax.spines.values():
        side.set_visible(False)


def save_labelled_grid(images: torch.Tensor, path, nrow: int, row_labels: Sequence[str] = (),
                       col_labels: Sequence[str] = (), title: str = "", row_title: str = "",
                       col_title: str = "") -> Path:
    """(N, C, H, W) images in [0, 1], ``nrow`` per row, with a label per row (left) and per
    column (top), axis titles and a figure title: class grids, inpainting grids."""
    plt = pyplot()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = int(math.ceil(images.shape[0] / nrow))
    h, w = images.shape[-2:]
    cell = 0.32 * max(1.0, 16 / max(h, w)) * max(h, w) / 8
    fig, ax = plt.subplots(figsize=(1.6 + cell * nrow, 1.0 + cell * rows))
    show_grid(ax, images, nrow, row_labels, col_labels)
    ax.set_ylabel(row_title, fontsize=9)
    if col_title:
        ax.set_xlabel(col_title, fontsize=9)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def save_data_and_samples(samples: torch.Tensor, data: Optional[torch.Tensor], path,
                          title: str = "", max_images: int = 64) -> Path:
    """Images in [0, 1]: the data (test split) and the samples side by side, each panel titled."""
    plt = pyplot()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    panels = ([("data (test split)", data[:max_images])] if data is not None else []) + \
        [(f"samples ({title})" if title else "samples", samples[:max_images])]
    fig, axes = plt.subplots(1, len(panels), figsize=(3.6 * len(panels), 3.9), squeeze=False)
    for ax, (name, imgs) in zip(axes[0], panels):
        nrow = int(imgs.shape[0] ** 0.5 + 0.999)
        show_grid(ax, imgs, nrow)
        ax.set_title(name, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
