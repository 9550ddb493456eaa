"""Resumable checkpoints every N steps, consistent with the metric history, written atomically.

Lightning's ModelCheckpoint saves step-triggered checkpoints before that step's validation, so a
run resumed from one never re-records that evaluation; and it writes in place, so a kill during
the write leaves a truncated file. Here a checkpoint due at an evaluation step is saved after the
evaluation, and every file is written under a temporary name and renamed. The newest two are
kept: where rename is not atomic (some network file systems) or a full disk truncated the newest,
`usable_checkpoint` sets it aside and the run resumes from the one before (or from the start).
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

import lightning.pytorch as pl
import torch

KEEP = 2  # checkpoints kept per run: the newest may be damaged, the one before is the fallback


def _step_of(path: Path) -> int:
    try:
        return int(path.stem.removeprefix("step"))
    except ValueError:
        return -1


def usable_checkpoint(candidates: list[Path], set_aside: bool = True) -> tuple[Path | None, int]:
    """(the first of `candidates`, newest first, that loads, its global step), or (None, 0) to
    start from scratch.

    A checkpoint that does not load, or lacks the state to resume, is renamed to *.corrupt (kept
    for inspection, out of the way of the next attempt) with a warning naming it."""
    for path in candidates:
        try:
            # weights_only: a checkpoint is plain tensors and containers; a doctored file cannot run code.
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
            step = int(ckpt["global_step"])
            if "state_dict" not in ckpt or "optimizer_states" not in ckpt:
                raise KeyError("state_dict/optimizer_states")
        except Exception as e:
            aside = path.with_name(path.name + ".corrupt")
            if not set_aside:  # another DDP rank: rank 0 moves it; this one only skips it
                continue
            with contextlib.suppress(FileNotFoundError):
                os.replace(path, aside)
            message = (
                f"checkpoint {path} is unusable ({type(e).__name__}: {' '.join(str(e).split())[:200]}); "
                f"moved to {aside.name}, resuming from the previous one or from the start"
            )
            print(f"[ablate] warning: {message}", file=sys.stderr, flush=True)
            continue
        return path, step
    return None, 0


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
            kept = sorted(self.dirpath.glob("step*.ckpt"), key=_step_of, reverse=True)
            for old in kept[KEEP:]:
                old.unlink()
