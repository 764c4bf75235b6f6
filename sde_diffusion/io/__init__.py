"""Persistence: checkpoints, model folders and ``load_model``; above ``models/``, below the
scripts' application layer.

    from sde_diffusion.io import load_model, save_pretrained, load_pretrained
    model, config, meta = load_model("runs/toy")        # a run, a checkpoint or a model folder
    save_pretrained(model, "runs/toy/model")

What a file may build is the allow-list of ``sde_diffusion.registry``: the package's own
classes (their modules are imported here, so they are registered before any file is read)
and the classes of modules the caller has imported itself. A file never causes an import.
"""
from .. import analytic, data, models, sdes, tracking  # noqa: F401  (register the package's classes)
from ..models import classifier  # noqa: F401
from .checkpoints import (CheckpointError, CheckpointWriteError, UnsafeCheckpointError,
                          check_savable, checkpoint_dir, clean_stale_tmp, ema_state,
                          latest_checkpoint, list_checkpoints, load_checkpoint, move_aside,
                          save_checkpoint)
from .files import disk_full
from .loading import (LoadedModel, ModelMeta, RunConfig, check_data_identity, data_identity,
                      load_model, resolve_checkpoint, run_dir_of)
from .pretrained import PretrainedWriteError, load_pretrained, save_pretrained
from ..weights_file import NonFiniteWeightsError, UnsafeFileError

__all__ = ["load_model", "LoadedModel", "ModelMeta", "RunConfig", "resolve_checkpoint",
           "run_dir_of", "save_pretrained", "load_pretrained", "PretrainedWriteError",
           "save_checkpoint", "load_checkpoint", "latest_checkpoint", "list_checkpoints",
           "checkpoint_dir", "clean_stale_tmp", "move_aside", "ema_state", "check_savable",
           "CheckpointError", "CheckpointWriteError", "UnsafeCheckpointError", "UnsafeFileError",
           "NonFiniteWeightsError", "disk_full", "data_identity", "check_data_identity"]
