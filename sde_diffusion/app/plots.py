"""Figures of the scripts: data beside samples, class grids, inpainting grids (labelled rows and
columns) and the reverse trajectory as a strip and a GIF (frames spaced by noise level, axes with
ticks, each frame titled with t and sigma)."""
from __future__ import annotations

import io
from pathlib import Path
from typing import Callable, Optional, Sequence

import torch

from ..training.plots import (draw_points, image_grid, point_limit, pyplot, save_data_and_samples,
                              save_labelled_grid, show_grid)

__all__ = ["frame_indices", "save_trajectory_strip", "save_trajectory_gif", "save_data_and_samples",
           "save_class_grid", "save_class_points", "save_inpainting_figure"]


def frame_indices(times: Sequence[float], frames: int, sde=None) -> list:
    """Indices of ``frames`` snapshots of a trajectory recorded at ``times`` (T down to eps).

    With an ``sde`` the frames are evenly spaced in log sigma(t), sigma = s(t)/m(t), between the
    first and last recorded times, each the nearest recorded time; otherwise evenly spaced in step
    index. Noise spacing shows the structure forming late in the process."""
    k = len(times)
    if k == 0:
        raise ValueError("empty trajectory")
    if sde is None:
        return torch.linspace(0, k - 1, max(2, frames)).round().long().unique().tolist()
    t = torch.as_tensor(list(times), dtype=torch.float64)
    logs = torch.log(sde.sigma(t).to(torch.float64).clamp_min(1e-30))
    targets = torch.linspace(float(logs[0]), float(logs[-1]), max(2, frames), dtype=torch.float64)
    return sorted({int((logs - v).abs().argmin()) for v in targets})


def _frame_label(times: Sequence[float], j: int, sde, sep: str) -> str:
    sig = f"{sep}σ={float(sde.sigma(torch.tensor(float(times[j])))):.2g}" if sde is not None else ""
    return f"t={times[j]:.3g}{sig}"


def save_trajectory_strip(trajectory: torch.Tensor, times: Sequence[float], path, kind: str,
                          frames: int = 8, to_unit: Optional[Callable] = None, max_rows: int = 8,
                          reference: Optional[torch.Tensor] = None, sde=None) -> Path:
    """``frames`` snapshots of the reverse process (t from T down to eps), each column titled
    with its time (and sigma with an ``sde``, which also spaces the frames by noise level).

    ``trajectory`` is (K, N, *shape) (``SampleInfo.trajectory``). Images: a row per sample (up to
    ``max_rows``, labelled "sample i"), a column per snapshot. Points: a panel per snapshot with
    ticks, the data in grey on the last one; the first (the prior) keeps its own wider scale."""
    path = Path(path)
    times = list(times)
    idx = frame_indices(times, frames, sde)
    labels = [_frame_label(times, j, sde, "\n") for j in idx]
    plt = pyplot()
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "images":
        snaps = trajectory[idx, :max_rows]  # (F, R, C, H, W)
        snaps = to_unit(snaps) if to_unit is not None else snaps.clamp(0, 1)
        rows = snaps.shape[1]
        tiles = snaps.transpose(0, 1).reshape(rows * len(idx), *snaps.shape[2:])
        fig, ax = plt.subplots(figsize=(1.0 + 1.1 * len(idx), 0.8 + 1.0 * rows))
        show_grid(ax, tiles, len(idx), [f"sample {i}" for i in range(rows)], labels)
        ax.set_xlabel("reverse time →", fontsize=8)
        fig.tight_layout()
        fig.savefig(path, dpi=150)
        plt.close(fig)
        return path
    ref = reference.detach().float() if reference is not None else None
    lim = point_limit(ref)
    fig, axes = plt.subplots(1, len(idx), figsize=(2.4 * len(idx), 2.8), squeeze=False)
    for n, (ax, j, lab) in enumerate(zip(axes[0], idx, labels)):
        last = n == len(idx) - 1
        draw_points(ax, trajectory[j], ref if last else None, None if n == 0 else lim,
                    legend=last or n == 0, label="x_t" if not last else "samples")
        ax.set_title(lab, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=150)
    plt.close(fig)
    return path


def save_trajectory_gif(trajectory: torch.Tensor, times: Sequence[float], path, kind: str,
                        frames: int = 24, to_unit: Optional[Callable] = None, sde=None,
                        max_images: int = 16, reference: Optional[torch.Tensor] = None,
                        duration_ms: int = 150) -> Path:
    """An animated GIF of the reverse process: ``frames`` snapshots (noise-level spacing with an
    ``sde``), each titled with its time, on fixed axes with ticks; the last frame held 3x."""
    from PIL import Image
    plt = pyplot()
    times = list(times)
    idx = frame_indices(times, frames, sde)
    ref = reference.detach().float() if reference is not None else None
    lim = point_limit(ref, 1.6)
    images = []
    for j in idx:
        fig, ax = plt.subplots(figsize=(3.4, 3.6))
        if kind == "images":
            x = trajectory[j, :max_images]
            x = to_unit(x) if to_unit is not None else x.clamp(0, 1)
            arr = image_grid(x).permute(1, 2, 0).numpy()
            ax.imshow(arr[..., 0] if arr.shape[-1] == 1 else arr, cmap="gray", vmin=0, vmax=1,
                      interpolation="nearest")
            ax.axis("off")
        else:
            draw_points(ax, trajectory[j], None, lim, label="x_t")
        ax.set_title(_frame_label(times, j, sde, ", ").replace("t=", "t = "), fontsize=9)
        fig.tight_layout()
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


def save_class_grid(images: torch.Tensor, labels: torch.Tensor, per_row: Optional[int], path,
                    title: str = "") -> Path:
    """Class-conditional image samples in [0, 1]: one row per class (``per_row`` each, rows
    labelled "class c") or, for one class, a square grid titled with it."""
    n = images.shape[0]
    if per_row is None:
        per_row = int(n ** 0.5 + 0.999)
        return save_labelled_grid(images, path, per_row, title=title)
    classes = [int(c) for c in labels[::per_row].tolist()]
    return save_labelled_grid(images, path, per_row, [f"class {c}" for c in classes],
                              [str(k) for k in range(per_row)], title=title, col_title="sample")


def save_class_points(x: torch.Tensor, labels: torch.Tensor, path, title: str = "") -> Path:
    """Class-conditional points coloured by class, a legend entry per class."""
    plt = pyplot()
    path = Path(path)
    fig, ax = plt.subplots(figsize=(4.8, 4.5))
    flat = x.reshape(x.shape[0], -1)
    yy = flat[:, 1] if flat.shape[1] > 1 else torch.zeros(flat.shape[0])
    cmap = plt.get_cmap("tab10")
    for c in sorted(set(labels.tolist())):
        sel = labels == c
        ax.scatter(flat[sel, 0], yy[sel], s=2, color=cmap(int(c) % 10), label=f"class {c}")
    ax.legend(fontsize=7, markerscale=5, loc="best")
    ax.set_xlabel("x1", fontsize=8)
    ax.set_ylabel("x2" if flat.shape[1] > 1 else "", fontsize=8)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def save_inpainting_figure(original: torch.Tensor, mask: torch.Tensor, completions: torch.Tensor,
                           path, kind: str, to_unit: Callable, method: str,
                           masked: Optional[torch.Tensor] = None) -> Path:
    """Images: a row per test sample, columns "original", "observed" (hidden part grey) and
    "completion 1..k". Points: three scatter panels (original, observed with hidden values at 0,
    completions), axes and legends labelled."""
    n, k = completions.shape[:2]
    if kind == "images":
        shown = to_unit(original) * mask + 0.5 * (1 - mask)
        tiles = torch.cat([to_unit(original)[:, None], shown[:, None], to_unit(completions)], 1)
        return save_labelled_grid(tiles.reshape(n * (k + 2), *original.shape[1:]), path, k + 2,
                                  [f"test {i}" for i in range(n)],
                                  ["original", "observed"] + [f"#{j + 1}" for j in range(k)],
                                  title=f"inpainting ({method}): grey = hidden",
                                  col_title="completions #1..#%d" % k)
    plt = pyplot()
    path = Path(path)
    fig, axes = plt.subplots(1, 3, figsize=(12, 4), sharex=True, sharey=True)
    masked = original * mask if masked is None else masked
    panels = [(original, "original", "tab:gray"), (masked, "observed (hidden values at 0)", "tab:orange"),
              (completions.reshape(n * k, -1), f"completions ({method}, {k} each)", "tab:blue")]
    for ax, (v, name, colour) in zip(axes, panels):
        v = v.reshape(v.shape[0], -1)
        ax.scatter(v[:, 0], v[:, 1] if v.shape[1] > 1 else torch.zeros(v.shape[0]), s=3,
                   color=colour, label=name.split(" (")[0])
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("x1", fontsize=8)
        ax.legend(fontsize=7, markerscale=4, loc="upper right")
    axes[0].set_ylabel("x2", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
