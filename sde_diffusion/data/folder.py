"""A folder of image files streamed from disk: one file is decoded per ``__getitem__``.

Files are every image under ``root`` (recursively, sorted by relative path). Labels: the index
of the first-level sub-folder a file lives in (sorted folder names), or none when all files
sit directly in ``root``. A seeded permutation of the files puts ``test_fraction`` of them in
the "test" split. Each image is converted to grey (1 channel) or RGB, centre-cropped to a
square, resized (bicubic) to ``image_size`` and mapped to [-1, 1] by ``x = k / 127.5 - 1``;
the train split lists the files in the same order as ``data.image_folder``'s in-memory tensor.
Memory holds the file list only, so a folder larger than memory trains with bounded memory.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, Dict, List, Optional

import torch
from torch.utils.data import Dataset

from .datasets import DataInfo
from ..registry import register

__all__ = ["ImageFolderDataset"]

_EXT = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")


@register("data", "sde_diffusion.data.ImageFolderDataset")
class ImageFolderDataset(Dataset):
    """Stream ``root``'s images; yields ``x`` (C, S, S) or ``(x, label)`` with sub-folder labels."""

    def __init__(self, path: str, image_size: int = 32, channels: int = 3, split: str = "train",
                 test_fraction: float = 0.1, seed: int = 0, max_images: Optional[int] = None):
        if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 1:
            raise ValueError(f"data.image_size must be a positive integer, got {image_size!r}")
        if channels not in (1, 3):
            raise ValueError(f"data.channels must be one of [1, 3], got {channels!r}")
        if split not in ("train", "test"):
            raise ValueError(f"split={split!r} is not valid; valid choices: ['train', 'test']")
        if not 0.0 < float(test_fraction) < 1.0:
            raise ValueError(f"test_fraction must lie in (0, 1), got {test_fraction!r}")
        root = Path(os.path.expanduser(str(path)))
        if not root.is_dir():
            raise FileNotFoundError(f"image folder data.path={str(path)!r} does not exist or is not "
                                    f"a directory; set data.path to a folder of image files")
        files = sorted(p.relative_to(root) for p in root.rglob("*")
                       if p.suffix.lower() in _EXT and p.is_file())
        if max_images is not None:
            files = files[: int(max_images)]
        if len(files) < 2:
            raise FileNotFoundError(f"found {len(files)} image files ({', '.join(_EXT)}) under "
                                    f"{str(root)!r}; need at least 2 (one for the test split)")
        folders = sorted({f.parts[0] for f in files if len(f.parts) > 1})
        labelled = bool(folders) and all(len(f.parts) > 1 for f in files)
        self.classes: List[str] = folders if labelled else []
        perm = torch.randperm(len(files), generator=torch.Generator().manual_seed(int(seed)))
        n_test = max(1, int(round(float(test_fraction) * len(files))))
        chosen = perm[:n_test] if split == "test" else perm[n_test:]
        if chosen.numel() == 0:
            raise ValueError(f"only {len(files)} images: nothing left for training after the test split")
        self.root, self.files = root, [files[i] for i in chosen.tolist()]  # the bundle's order
        self.image_size, self.channels, self.split = int(image_size), int(channels), split
        index = {c: i for i, c in enumerate(self.classes)}
        self.labels = [index[f.parts[0]] for f in self.files] if labelled else None
        self.info = DataInfo(root.name or "images", "images", (self.channels, self.image_size,
                             self.image_size), (-1.0, 1.0), 8,
                             len(self.classes) if labelled else None)

    def __len__(self) -> int:
        return len(self.files)

    def load(self, i: int) -> torch.Tensor:
        """Image i as float32 (C, S, S) in [-1, 1]."""
        from PIL import Image
        s = self.image_size
        with Image.open(self.root / self.files[i]) as im:
            im = im.convert("L" if self.channels == 1 else "RGB")
            w, h = im.size
            m = min(w, h)
            im = im.crop(((w - m) // 2, (h - m) // 2, (w - m) // 2 + m, (h - m) // 2 + m))
            im = im.resize((s, s), Image.BICUBIC)
            k = torch.frombuffer(bytearray(im.tobytes()), dtype=torch.uint8)
        return k.reshape(s, s, self.channels).permute(2, 0, 1).to(torch.float32) / 127.5 - 1.0

    def __getitem__(self, i: int):
        x = self.load(int(i))
        return x if self.labels is None else (x, torch.tensor(self.labels[int(i)]))

    def identity(self) -> Dict[str, Any]:
        """Name, shape and the sha256 of the split's decoded float32 values in order, streamed
        one image at a time (equal to the hash of ``data.image_folder(...).train``)."""
        h = hashlib.sha256()
        for i in range(len(self)):
            h.update(self.load(i).numpy().tobytes())
        return {"name": self.info.name, "shape": list(self.info.data_shape),
                "hash": h.hexdigest()[:16]}
