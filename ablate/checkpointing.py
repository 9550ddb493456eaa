"""Resumable checkpoints every N steps, consistent with the metric history, written atomically.

Lightning's ModelCheckpoint saves step-triggered checkpoints before that step's validation, so a
run resumed from one never re-records that evaluation; and it writes in place, so a kill during
the write leaves a truncated file. Here a checkpoint due at an evaluation step is saved after the
evaluation, and every file is written under a temporary name and renamed. Only the newest is kept.
"""

from __future__ import annotations

import os
from pathlib import Path

import lightning.pytorch as pl


class StepCheckpoint(pl.Callback):
    def __init__(self, dirpath: Path, every: int, eval_every: int):
        self.dirpath, self.every, self.eval_every = Path(dirpath), every, eval_every
        self._pending = False  # a save is due once the evaluation of this step has run

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        step = trainer.global_step
        if not (self._pending or (self.every and step % self.every == 0)):
            return
        if self.eval_every and step % self.eval_every == 0:
            self._pending = True  # Lightning validates right after this hook
            return
        self._save(trainer)

    def on_validation_end(self, trainer, pl_module):
        if self._pending and not trainer.sanity_checking:
            self._save(trainer)

    def _save(self, trainer) -> None:
        self._pending = False
        final = self.dirpath / f"step{trainer.global_step}.ckpt"
        tmp = final.with_name(final.name + ".tmp")
        trainer.save_checkpoint(tmp, weights_only=False)  # full state to resume; rank 0 writes
        if trainer.is_global_zero:
            os.replace(tmp, final)
            for old in self.dirpath.glob("step*.ckpt"):
                if old != final:
                    old.unlink()
