"""Small files that ask for huge allocations: each is refused before it allocates. Prints, per
bomb, the exception's first line and the peak RSS of the refusing process (a fresh interpreter
per bomb; torch's import alone is about 230 MB of it with the CPU build, 510 MB with a CUDA build),
and that peak above the peak after the imports (``above_import_mb``). Peak RSS is ``VmHWM``.

    OMP_NUM_THREADS=1 python tests/file_bombs.py            # one process per bomb (RESULTS table)
    python tests/file_bombs.py --one-process                # all in one (the test's mode)
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

ROOT = next(p for p in Path(__file__).resolve().parents if (p / "sde_diffusion").is_dir())


def _tiny():
    from sde_diffusion.models import MLP, ScoreModel
    from sde_diffusion.sdes import VPSDE
    torch.manual_seed(0)
    return ScoreModel(MLP(2, hidden=8, depth=1, time_dim=8), VPSDE())


def _folder(d: Path, edit=None, weights=None) -> Path:
    from sde_diffusion.io import save_pretrained
    import sde_diffusion.io.pretrained as P
    P_has = P._has_safetensors
    P._has_safetensors = lambda: False  # model.pt: the format whose pickle can carry views
    try:
        save_pretrained(_tiny(), d, sampler={"name": "euler", "steps": 10})
    finally:
        P._has_safetensors = P_has
    if edit is not None:
        cfg = json.loads((d / "config.json").read_text())
        edit(cfg)
        (d / "config.json").write_text(json.dumps(cfg))
    if weights is not None:
        torch.save(weights(torch.load(d / "model.pt", weights_only=True)), d / "model.pt")
    return d


def _set(**kw):
    def edit(cfg):
        for path, v in kw.items():
            node = cfg
            keys = path.split("__")
            for k in keys[:-1]:
                node = node[k]
            node[keys[-1]] = v
    return edit


def _expand(sd):
    k = next(iter(sd))
    return {**sd, k: torch.zeros(1).expand(2 * 10 ** 10)}


def _int64(sd):
    return {k: v.round().to(torch.int64) for k, v in sd.items()}


BOMBS = {
    # name: (what it asks for, builder of the path to load)
    "width 12000 x depth 3 in config.json": ("3.5 GB of layers",
        lambda d: _folder(d, _set(model__net__hidden=12000, model__net__depth=3))),
    "width 10**8 in config.json": ("1e16 weights", lambda d: _folder(d, _set(model__net__hidden=10 ** 8))),
    "4-byte storage expanded to 2e10 elements": ("80 GB in the finiteness check",
        lambda d: _folder(d, weights=_expand)),
    "sampler.steps = 1e9 in a model folder": ("8 GB time grid",
        lambda d: _folder(d, _set(sampler__steps=10 ** 9))),
    "meta.data_shape = [2, 1e6, 1e6]": ("16 TB per sample", lambda d: _folder(d, _set(meta__data_shape=[2, 10 ** 6, 10 ** 6]))),
    "int64 weights": ("weights rounded to integers", lambda d: _folder(d, weights=_int64)),
}


def peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM: since its own exec; ``ru_maxrss`` would also
    count the parent's pages at fork time)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def import_peak_mb() -> float:
    """The peak RSS once torch and ``sde_diffusion.io`` are imported (what no file can change)."""
    import sde_diffusion.io  # noqa: F401
    return peak_rss_mb()


def refuse(name: str, tmp: Path, base: float) -> dict:
    from sde_diffusion.io import load_model
    path = BOMBS[name][1](tmp / name.replace(" ", "_").replace("/", "_"))
    try:
        load_model(path)
        outcome = "LOADED"
    except Exception as e:  # noqa: BLE001 - the outcome is what we report
        outcome = f"{type(e).__name__}: {str(e).splitlines()[0]}"
    peak = peak_rss_mb()
    return {"bomb": name, "outcome": outcome, "peak_rss_mb": peak, "above_import_mb": peak - base}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--one-process", action="store_true")
    ap.add_argument("--bomb")
    args = ap.parse_args()
    base = import_peak_mb()
    with tempfile.TemporaryDirectory() as t:
        if args.bomb:
            print(json.dumps(refuse(args.bomb, Path(t), base)))
            return
        if args.one_process:
            print(json.dumps([refuse(n, Path(t), base) for n in BOMBS]))
            return
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    print("| bomb | asks for | outcome | peak RSS of the refusing process | above the imports |\n"
          "|---|---|---|---|---|")
    for name, (asks, _) in BOMBS.items():
        out = subprocess.run([sys.executable, __file__, "--bomb", name], capture_output=True,
                             text=True, env=env, check=True)
        r = json.loads(out.stdout)
        print(f"| {name} | {asks} | `{r['outcome'][:110]}` | {r['peak_rss_mb']:.0f} MB | "
              f"{r['above_import_mb']:.0f} MB |")


if __name__ == "__main__":
    main()
