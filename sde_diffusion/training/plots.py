"""Pictures of samples: scatter/histogram for points, grids for images, reverse-trajectory strips.

All functions write a PNG with matplotlib's Agg backend (no display needed) and return the path.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Optional, Sequence

import torch

__all__ = ["save_points", "save_image_grid", "image_grid", "save_trajectory_strip",
           "save_trajectory_gif", "frame_indices"]


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


def frame_indices(times: Sequence[float], frames: int, sde=None) -> list:
    """Indices of ``frames`` snapshots of a trajectory recorded at ``times`` (T down to eps).

    With an ``sde`` the frames are evenly spaced in log noise level, log sigma(t) with
    sigma = s(t)/m(t), between the first and last recorded times, each the nearest recorded
    time; otherwise evenly spaced in step index. Noise spacing shows the structure forming
    late in the process instead of frames that all look like noise."""
    k = len(times)
    if k == 0:
        raise ValueError("empty trajectory")
    if sde is None:
        return torch.linspace(0, k - 1, max(2, frames)).round().long().unique().tolist()
    t = torch.as_tensor(list(times), dtype=torch.float64)
    logs = torch.log(sde.sigma(t).to(torch.float64).clamp_min(1e-30))
    targets = torch.linspace(float(logs[0]), float(logs[-1]), max(2, frames), dtype=torch.float64)
    idx = sorted({int((logs - v).abs().argmin()) for v in targets})
    return idx


def save_trajectory_strip(trajectory: torch.Tensor, times: Sequence[float], path, kind: str,
                          frames: int = 8, to_unit=None, max_rows: int = 8,
                          reference: Optional[torch.Tensor] = None, sde=None) -> Path:
    """A strip of ``frames`` snapshots of the reverse process (t from T down to eps), each
    column labelled with its time (and noise level sigma when ``sde`` is given, which also
    spaces the frames by noise level, see ``frame_indices``).

    ``trajectory`` is (K, N, *shape) as returned in ``SampleInfo.trajectory``. Images: one row
    per sample (up to ``max_rows``), one column per snapshot. Points: one panel per snapshot.
    """
    path = Path(path)
    times = list(times)
    idx = frame_indices(times, frames, sde)
    labels = [f"t={times[j]:.3g}" + (f"\nσ={float(sde.sigma(torch.tensor(float(times[j])))):.2g}"
                                      if sde is not None else "") for j in idx]
    plt = _plt()
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "images":
        snaps = trajectory[idx, :max_rows]  # (F, R, C, H, W)
        snaps = to_unit(snaps) if to_unit is not None else snaps.clamp(0, 1)
        fig, axes = plt.subplots(1, len(idx), figsize=(1.3 * len(idx), 1.3 * snaps.shape[1] + 0.5),
                                 squeeze=False)
        for ax, col, lab in zip(axes[0], snaps, labels):
            tile = image_grid(col, nrow=1)  # a column of this snapshot's samples
            arr = tile.permute(1, 2, 0).numpy()
            ax.imshow(arr[..., 0] if arr.shape[-1] == 1 else arr, cmap="gray", vmin=0, vmax=1,
                      interpolation="nearest")
            ax.set_title(lab, fontsize=7)
            ax.axis("off")
        fig.tight_layout()
        fig.savefig(path, dpi=150)
        plt.close(fig)
        return path
    fig, axes = plt.subplots(1, len(idx), figsize=(2.2 * len(idx), 2.5), squeeze=False)
    lim = None
    if reference is not None and reference[0].numel() > 1:
        lim = float(reference.reshape(reference.shape[0], -1)[:, :2].abs().max()) * 1.15
    for ax, j, lab in zip(axes[0], idx, labels):
        _draw_points(ax, trajectory[j], None, None)
        if lim is not None and j != idx[0] and trajectory[j][0].numel() > 1:
            ax.set_xlim(-lim, lim)  # the prior (first panel) keeps its own, wider scale
            ax.set_ylim(-lim, lim)
        ax.set_title(lab, fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(path, dpi=150)
    plt.close(fig)
    return path


def save_trajectory_gif(trajectory: torch.Tensor, times: Sequence[float], path, kind: str,
                        frames: int = 24, to_unit=None, sde=None, max_images: int = 16,
                        reference: Optional[torch.Tensor] = None, duration_ms: int = 150) -> Path:
    """An animated GIF of the reverse process: ``frames`` snapshots (noise-level spacing with
    an ``sde``), each titled with its time, the last frame held three times as long."""
    from PIL import Image
    import io
    plt = _plt()
    times = list(times)
    idx = frame_indices(times, frames, sde)
    images = []
    for j in idx:
        fig, ax = plt.subplots(figsize=(3.2, 3.4))
        if kind == "images":
            x = trajectory[j, :max_images]
            x = to_unit(x) if to_unit is not None else x.clamp(0, 1)
            arr = image_grid(x).permute(1, 2, 0).numpy()
            ax.imshow(arr[..., 0] if arr.shape[-1] == 1 else arr, cmap="gray", vmin=0, vmax=1,
                      interpolation="nearest")
            ax.axis("off")
        else:
            lim = None
            if reference is not None and reference[0].numel() > 1:
                lim = float(reference.reshape(reference.shape[0], -1)[:, :2].abs().max()) * 1.6
            _draw_points(ax, trajectory[j], None, lim)
        sig = f", σ={float(sde.sigma(torch.tensor(float(times[j])))):.2g}" if sde is not None else ""
        ax.set_title(f"t = {times[j]:.3g}{sig}", fontsize=9)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=100)
        plt.close(fig)
        buf.seek(0)
        images.append(Image.open(buf).convert("RGB"))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    durations = [duration_ms] * (len(images) - 1) + [3 * duration_ms]
    images[0].save(path, save_all=True, append_images=images[1:], duration=durations, loop=0)
    return path
