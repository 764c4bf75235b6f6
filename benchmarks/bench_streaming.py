"""Bounded memory of the streamed image folder: peak resident memory of a short training run
on folders of N random 64x64 RGB PNGs, for several N (one fresh process per N).

    OMP_NUM_THREADS=1 python benchmarks/bench_streaming.py --sizes 1000 4000 --steps 30

Prints one JSON line per size: images, decoded size of the data set in MiB (float32), and the
run's peak RSS in MiB (``ru_maxrss``). Bounded memory: the peak stays flat while the decoded
data set grows past it.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

SIZE = 64


def write_folder(root: Path, n: int) -> None:
    import numpy as np
    from PIL import Image
    rng = np.random.default_rng(0)
    for c in range(2):
        (root / f"class{c}").mkdir(parents=True, exist_ok=True)
    for i in range(n):
        arr = rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
        Image.fromarray(arr).save(root / f"class{i % 2}" / f"{i:06d}.png", compress_level=0)


class Flat(torch.nn.Module):
    """An MLP on the flattened image."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x, t):
        return self.net(x.flatten(1), t).view_as(x)


def train(root: str, steps: int, run_dir: str) -> dict:
    """One short run on the streamed folder (MLP on the flattened image; the net is not the point)."""
    from sde_diffusion import registry  # noqa: F401
    from sde_diffusion.data import ImageFolderDataset, make_loader
    from sde_diffusion.models import MLP, ScoreModel
    from sde_diffusion.sdes import VPSDE
    from sde_diffusion.training import Trainer, TrainOptions
    ds = ImageFolderDataset(root, image_size=SIZE, channels=3, test_fraction=0.01)
    model = ScoreModel(MLP(3 * SIZE * SIZE, hidden=32, depth=1), VPSDE())
    model.net = Flat(model.net)
    tr = Trainer(model, data=make_loader(ds, 16, num_workers=0), run_dir=run_dir,
                 options=TrainOptions(steps=steps, batch_size=16, eval_samples=0, n_samples=0,
                                      checkpoint_every=max(1, steps // 2), warmup_steps=0))
    tr.fit()
    return {"images": len(ds), "decoded_mib": len(ds) * 3 * SIZE * SIZE * 4 / 2 ** 20,
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 4000])
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--child", nargs=2, metavar=("ROOT", "RUN_DIR"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(train(args.child[0], args.steps, args.child[1])))
        return
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            root = Path(tmp) / f"imgs{n}"
            write_folder(root, n)
            out = subprocess.run([sys.executable, __file__, "--steps", str(args.steps), "--child",
                                  str(root), str(Path(tmp) / f"run{n}")], capture_output=True,
                                 text=True, env=dict(os.environ, OMP_NUM_THREADS="1"))
            if out.returncode:
                raise SystemExit(out.stderr[-3000:])
            print(out.stdout.strip().splitlines()[-1], flush=True)


if __name__ == "__main__":
    main()
