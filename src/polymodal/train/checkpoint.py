"""Lightning plugins for polymodal's checkpoint files (:mod:`polymodal.rundir.codec`).

:class:`SafetensorsCheckpointIO` plugs the format into Lightning
(``Trainer(plugins=[SafetensorsCheckpointIO()])``): the trainer's ``.../last.ckpt`` becomes
``last.safetensors`` + ``last.json``, and ``trainer.fit(model, ckpt_path=".../last.ckpt")``
resumes from them. Use :class:`SafetensorsModelCheckpoint` instead of ``ModelCheckpoint`` for
Lightning's own file lookups (``ckpt_path="last"``, version counters) to see these files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.plugins.io import CheckpointIO

from polymodal.errors import CheckpointError
from polymodal.rundir.codec import (
    checkpoint_files,
    checkpoint_stem,
    load_tree,
    refuse_pickle,
    save_tree,
)

__all__ = ["SafetensorsCheckpointIO", "SafetensorsModelCheckpoint"]


class SafetensorsCheckpointIO(CheckpointIO):
    """Lightning ``CheckpointIO`` writing :func:`save_tree` pairs instead of pickles.

    ``Trainer(plugins=[SafetensorsCheckpointIO()])`` turns every checkpoint the trainer writes,
    ``.../last.ckpt`` say, into ``last.safetensors`` + ``last.json``. Resume with
    ``trainer.fit(model, ckpt_path=P)`` where ``P`` is the path Lightning wrote (``last.ckpt``),
    the stem, or either file. Pass the path Lightning wrote to keep ``ModelCheckpoint`` from
    deleting the checkpoint you resumed from (it compares that exact path).
    """

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: str | Path, storage_options: Any | None = None
    ) -> None:
        """Write ``checkpoint`` as the pair of files of ``checkpoint_stem(path)``."""
        if storage_options is not None:
            raise CheckpointError(
                "storage_options are not supported by SafetensorsCheckpointIO",
                where=str(path),
                fix="call `trainer.save_checkpoint(path)` without storage_options",
            )
        save_tree(checkpoint, checkpoint_stem(path))

    def load_checkpoint(
        self,
        path: str | Path,
        map_location: str | torch.device | None = None,
        weights_only: bool | None = None,
    ) -> dict[str, Any]:
        """Read the pair of ``path``; ``weights_only`` is moot (nothing is ever unpickled).

        A pickled ``.ckpt`` found at ``path`` (from ``TorchCheckpointIO``) is refused with
        :class:`CheckpointError` and a conversion recipe.
        """
        path = Path(path)
        if path.is_file() and path.suffix not in (".json", ".safetensors"):
            refuse_pickle(path)
        return load_tree(checkpoint_stem(path), map_location=map_location)

    def remove_checkpoint(self, path: str | Path) -> None:
        """Delete both files of ``checkpoint_stem(path)`` (missing files are fine)."""
        for file in checkpoint_files(checkpoint_stem(path)):
            file.unlink(missing_ok=True)


class SafetensorsModelCheckpoint(ModelCheckpoint):
    """``ModelCheckpoint`` naming its files ``*.safetensors``, for :class:`SafetensorsCheckpointIO`.

    With the plain callback Lightning names files ``*.ckpt`` that never exist on disk, so its own
    lookups find nothing: ``trainer.fit(ckpt_path="last")`` starts from scratch, and a second run
    in the same folder overwrites ``last`` instead of writing ``last-v1``. With this subclass the
    names are the ``.safetensors`` files, which do exist. ``save_last="link"`` is refused: a link
    to one file would not carry its JSON.
    """

    FILE_EXTENSION = ".safetensors"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.save_last == "link":
            raise CheckpointError(
                "save_last='link' is not supported with safetensors checkpoints",
                fix="use save_last=True",
            )
