"""Resumable checkpoints every N steps, consistent with the metric history, written atomically.

Lightning's ModelCheckpoint saves step-triggered checkpoints before that step's validation, so a
run resumed from one never re-records that evaluation; and it writes in place, so a kill during
the write leaves a truncated file. Here a checkpoint due at an evaluation step is saved after the
evaluation, and every file is written under a temporary name and renamed. The newest two are
kept: where rename is not atomic (some network file systems) or a full disk truncated the newest,
`usable_checkpoint` sets it aside and the run resumes from the one before (or from the start).

Only a file whose content does not parse is set aside, into the run's `corrupt/` folder: out of
the way of the next attempt, of the pruning of old checkpoints, and of Lightning's SLURM handler
(which resumes from any file named `*hpc_ckpt_*` in the run folder). A file that cannot be read
(an I/O error: EIO, EACCES, ESTALE, ...) is retried, then stops the run with CheckpointUnreadable,
and so does a file this torch refuses to unpickle (a type it does not allow: written by other
versions); both stay where they are, and the same command resumes from them once they load. A
full disk during a save stops the run with results.DiskFull and leaves the older checkpoints.
"""

from __future__ import annotations

import errno
import io
import os
import pickle
import sys
import time
from pathlib import Path

import lightning.pytorch as pl
import torch

from ablate import results

KEEP = results.CHECKPOINTS_KEPT  # the newest may be damaged, the one before is the fallback
CORRUPT = "corrupt"  # the run's folder of set-aside checkpoints (never pruned, never resumed from)
READ_TRIES = 4  # an I/O error on a checkpoint read is retried this many times in all ...
READ_BACKOFF_S = 0.25  # ... after 0.25, 0.5, 1 s (1.75 s): a network file system's blip, not an outage


class CheckpointUnreadable(RuntimeError):
    """A checkpoint that may be good could not be loaded: the run stops; nothing is set aside."""


def _step_of(path: Path) -> int:
    try:
        return int(path.stem.removeprefix("step"))
    except ValueError:
        return -1


def _read_bytes(path: Path) -> bytes:
    """The file's bytes, read with plain file I/O (so an I/O error is an OSError, never mistaken for
    damaged content), retried READ_TRIES times; then CheckpointUnreadable."""
    for attempt in range(READ_TRIES):
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise
        except OSError as e:
            if attempt + 1 < READ_TRIES:
                time.sleep(READ_BACKOFF_S * 2**attempt)
                continue
            why = f"{errno.errorcode.get(e.errno, e.errno)}: {e.strerror or e}"
            raise CheckpointUnreadable(
                f"checkpoint {path} could not be read ({why}) in {READ_TRIES} tries; it is left in place and "
                f"the run stops here: check the file system, then run the same command again to resume from it"
            ) from e
    raise AssertionError("unreachable")


def _parse(path: Path, data: bytes) -> int:
    """The checkpoint's global step; raises on content that does not parse or cannot resume."""
    try:
        # weights_only: a checkpoint is plain tensors and containers; a doctored file cannot run code.
        ckpt = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        if "Unsupported global" in str(e):  # well-formed, but holds a type this torch will not load
            found = next((ln.strip() for ln in str(e).splitlines() if "Unsupported global" in ln), "")
            raise CheckpointUnreadable(
                f"checkpoint {path} holds a type this torch {torch.__version__} will not load ({found[:200]}); "
                f"it is left in place and the run stops here: run with the versions that wrote it (see "
                f"provenance.json), or move the file away to resume from an older checkpoint or the start"
            ) from None
        raise
    step = int(ckpt["global_step"])
    if "state_dict" not in ckpt or "optimizer_states" not in ckpt:
        raise KeyError("state_dict/optimizer_states")
    return step


def usable_checkpoint(candidates: list[Path], aside: Path | None = None) -> tuple[Path | None, int]:
    """(the first of `candidates`, newest first, that loads, its global step), or (None, 0) to
    start from scratch.

    A checkpoint whose content does not parse, or lacks the state to resume, is moved into the
    folder `aside` (kept for inspection) with a warning naming it; `aside` None (another DDP rank:
    rank 0 moves it) only skips it. An I/O error or a refused type raises CheckpointUnreadable."""
    for path in candidates:
        try:
            step = _parse(path, _read_bytes(path))
        except FileNotFoundError:
            continue  # gone since it was listed (rank 0 set it aside): not a candidate any more
        except CheckpointUnreadable:
            raise  # may be good: never set aside
        except Exception as e:  # the content: not a zip, truncated, a bad pickle, missing keys
            if aside is None:
                continue
            moved = set_aside(path, aside)
            message = (
                f"checkpoint {path} is unusable ({type(e).__name__}: {' '.join(str(e).split())[:200]}); "
                f"moved to {moved}, resuming from the previous one or from the start"
            )
            print(f"[ablate] warning: {message}", file=sys.stderr, flush=True)
            continue
        return path, step
    return None, 0


def set_aside(path: Path, folder: Path) -> Path:
    """Move `path` into `folder` under a name no earlier set-aside file has (an attempt may find a
    damaged step15.ckpt again)."""
    folder.mkdir(parents=True, exist_ok=True)
    target, n = folder / path.name, 1
    while target.exists():
        target, n = folder / f"{path.name}.{n}", n + 1
    os.replace(path, target)
    return target


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
        try:
            trainer.save_checkpoint(tmp, weights_only=False)  # full state to resume; rank 0 writes
        except OSError as e:
            if trainer.is_global_zero:
                tmp.unlink(missing_ok=True)  # a partial file: the older checkpoints stay as they are
            full = results.disk_full(e, tmp)
            if full is None:
                raise
            raise full from e
        if trainer.is_global_zero:
            os.replace(tmp, final)
            kept = sorted(self.dirpath.glob("step*.ckpt"), key=_step_of, reverse=True)
            for old in kept[KEEP:]:
                old.unlink()
