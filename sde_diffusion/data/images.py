"""Image data: scikit-learn's bundled 8x8 digits (offline), MNIST / CIFAR-10 via torchvision,
and a folder of image files.

Conventions for every image set: values are 8-bit integers k in {0, ..., 255} mapped linearly
to [-1, 1] by ``x = k / 127.5 - 1``; the bundle records ``bits=8`` and ``value_range=(-1, 1)`` so
bits/dim can undo the scaling. The digits' original 17 grey levels (0..16) are first put on the
8-bit scale, ``k = round(255 v / 16)``.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Sequence

import torch
import torch.nn.functional as F

from .bundle import DataBundle
from ..registry import register

__all__ = ["digits", "mnist", "cifar10", "image_folder", "uint8_to_unit_range",
           "IMAGE_EXTENSIONS"]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")


def uint8_to_unit_range(k: torch.Tensor) -> torch.Tensor:
    """8-bit integers {0..255} -> float32 in [-1, 1]: x = k / 127.5 - 1."""
    return k.to(torch.float32) / 127.5 - 1.0


def _split(x: torch.Tensor, labels: Optional[torch.Tensor], test_fraction: float, seed: int):
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must lie in (0, 1), got {test_fraction!r}")
    perm = torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(int(seed)))
    n_test = max(1, int(round(test_fraction * x.shape[0])))
    te, tr = perm[:n_test], perm[n_test:]
    if tr.numel() == 0:
        raise ValueError(f"only {x.shape[0]} images: nothing left for training after the test split")
    lab = (labels[tr], labels[te]) if labels is not None else (None, None)
    return x[tr], x[te], lab[0], lab[1]


def _resize(k: torch.Tensor, image_size: int) -> torch.Tensor:
    """Resize uint8 (N, C, H, W) to (N, C, S, S) (bilinear with anti-aliasing), keeping uint8."""
    if k.shape[-1] == image_size and k.shape[-2] == image_size:
        return k
    out = F.interpolate(k.float(), size=(image_size, image_size), mode="bilinear",
                        antialias=True, align_corners=False)
    return out.round().clamp(0, 255).to(torch.uint8)


def _check_image_args(image_size: int, channels: int, allowed_channels: Sequence[int] = (1, 3)):
    if int(image_size) < 1:
        raise ValueError(f"data.image_size must be a positive integer, got {image_size!r}")
    if int(channels) not in allowed_channels:
        raise ValueError(f"data.channels must be one of {list(allowed_channels)}, got {channels!r}")


def _images_bundle(k_train, k_test, name, y_train=None, y_test=None) -> DataBundle:
    x_tr, x_te = uint8_to_unit_range(k_train), uint8_to_unit_range(k_test)
    return DataBundle(x_tr, x_te, tuple(x_tr.shape[1:]), "images", name=name, bits=8,
                      value_range=(-1.0, 1.0), train_labels=y_train, test_labels=y_test)


@register("data", "sde_diffusion.data.digits")
def digits(image_size: int = 8, channels: int = 1, test_fraction: float = 0.2,
           seed: int = 0) -> DataBundle:
    """scikit-learn's 1797 handwritten digits, 8x8, one channel, shipped with sklearn (offline).

    A seeded random split keeps ``test_fraction`` of the images for evaluation; labels kept.
    """
    if int(image_size) != 8 or int(channels) != 1:
        raise ValueError(f"the sklearn digits are 1x8x8 images; set data.image_size=8 and "
                         f"data.channels=1 (got image_size={image_size}, channels={channels}), "
                         f"or use a model built for 8x8 inputs")
    from sklearn.datasets import load_digits
    d = load_digits()
    v = torch.as_tensor(d.images, dtype=torch.float64)  # (N, 8, 8), values 0..16
    k = torch.round(v * 255.0 / 16.0).to(torch.uint8)[:, None]
    labels = torch.as_tensor(d.target, dtype=torch.long)
    k_tr, k_te, y_tr, y_te = _split(k, labels, test_fraction, seed)
    return _images_bundle(k_tr, k_te, "digits", y_tr, y_te)


def _torchvision(name: str, root: str, download: bool):
    try:
        import torchvision  # noqa: F401
        from torchvision import datasets
    except ImportError:
        raise ImportError(
            f"the {name} data set is read through torchvision, which is not installed. Install it "
            f"with `pip install torchvision` (matching your torch build); the first use downloads "
            f"{name} into data.root={root!r}, which needs network access (or copy the files there "
            f"yourself). The offline alternative is experiment=digits.") from None
    cls = getattr(datasets, {"MNIST": "MNIST", "CIFAR-10": "CIFAR10"}[name])
    out = []
    for train in (True, False):
        try:
            out.append(cls(root=os.path.expanduser(root), train=train, download=download))
        except Exception as e:  # network failures, missing files, bad archives
            raise FileNotFoundError(
                f"could not load {name} from data.root={root!r} (download={download}): {e}. "
                f"Downloading needs network access; otherwise place the torchvision {name} files "
                f"under that root or point data.root at them.") from None
    return out


@register("data", "sde_diffusion.data.mnist")
def mnist(root: str = "data", image_size: int = 28, channels: int = 1, download: bool = True) -> DataBundle:
    """MNIST (60000 train / 10000 test, 28x28 grey) via torchvision; resized if image_size != 28."""
    _check_image_args(image_size, channels, (1,))
    tr, te = _torchvision("MNIST", root, download)
    k_tr = _resize(torch.as_tensor(tr.data)[:, None], int(image_size))
    k_te = _resize(torch.as_tensor(te.data)[:, None], int(image_size))
    return _images_bundle(k_tr, k_te, "mnist", torch.as_tensor(tr.targets), torch.as_tensor(te.targets))


@register("data", "sde_diffusion.data.cifar10")
def cifar10(root: str = "data", image_size: int = 32, channels: int = 3, download: bool = True) -> DataBundle:
    """CIFAR-10 (50000 train / 10000 test, 32x32 RGB) via torchvision."""
    _check_image_args(image_size, channels, (3,))
    tr, te = _torchvision("CIFAR-10", root, download)
    k_tr = _resize(torch.as_tensor(tr.data).permute(0, 3, 1, 2).contiguous(), int(image_size))
    k_te = _resize(torch.as_tensor(te.data).permute(0, 3, 1, 2).contiguous(), int(image_size))
    return _images_bundle(k_tr, k_te, "cifar10", torch.as_tensor(tr.targets), torch.as_tensor(te.targets))


@register("data", "sde_diffusion.data.image_folder")
def image_folder(path: str, image_size: int = 32, channels: int = 3, test_fraction: float = 0.1,
                 seed: int = 0, max_images: Optional[int] = None) -> DataBundle:
    """All image files under ``path`` (recursively), centre-cropped to a square and resized to
    ``image_size``, converted to grey (channels=1) or RGB (channels=3)."""
    _check_image_args(image_size, channels)
    root = Path(os.path.expanduser(str(path)))
    if not root.is_dir():
        raise FileNotFoundError(f"image folder data.path={str(path)!r} does not exist or is not a "
                                f"directory; set data.path to a folder of image files")
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS)
    if max_images is not None:
        files = files[: int(max_images)]
    if len(files) < 2:
        raise FileNotFoundError(f"found {len(files)} image files ({', '.join(IMAGE_EXTENSIONS)}) "
                                f"under {str(root)!r}; need at least 2 (one for the test split)")
    from PIL import Image
    mode, imgs = ("L" if int(channels) == 1 else "RGB"), []
    for f in files:
        with Image.open(f) as im:
            im = im.convert(mode)
            w, h = im.size
            s = min(w, h)
            im = im.crop(((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s))
            im = im.resize((int(image_size), int(image_size)), Image.BICUBIC)
            t = torch.frombuffer(bytearray(im.tobytes()), dtype=torch.uint8)
            imgs.append(t.reshape(int(image_size), int(image_size), int(channels)).permute(2, 0, 1))
    k_tr, k_te, _, _ = _split(torch.stack(imgs), None, test_fraction, seed)
    return _images_bundle(k_tr, k_te, root.name or "images")
