"""A callback that keeps the run's metric history: training records and evaluations.

Every train.log_every steps it reads the module's TrainWindow (the one host sync of the window)
and records the window's mean training loss and error, with the learning rate of its last step, at
that step; W&B gets the same record at the same step (`trainer/global_step` = step - 1, as
Lightning numbers it). A window with a non-finite loss is not recorded: the run stops there.

The history is part of every checkpoint, so a resumed run continues the same curve; metrics.csv
is rewritten (atomically) at every evaluation and at the end.

The `epoch` of a record is the data's epoch of its last batch, (step - 1) // batches per epoch: the
loaders place themselves by the global step alone (ablate.data), and Lightning's own epoch counter
is not that after a resume. Resumed from a checkpoint written at the last batch of an epoch by an
attempt that itself had resumed, Lightning 2.6 restores `current_epoch` one behind for the rest of
the run (every loss matched; 1 of 24 cells after 10 SIGKILLs of the quick grid, and reproduced by
two crashes in tests/test_resume.py), so the curve's epoch column read it wrong.
"""

from __future__ import annotations

import time
from pathlib import Path

import lightning.pytorch as pl

from ablate.results import write_records_csv

TRAIN_KEYS = ("train/loss", "train/error", "lr")
EVAL_KEYS = ("val/error", "test/error")


def data_epoch(trainer, step: int) -> int:
    """The epoch (0-based) of the step-th batch: what an uninterrupted run's Lightning counter says
    there, and what it should say after any resume. Lightning's counter where the loader has no
    length (never the case for ours)."""
    per_epoch = trainer.num_training_batches
    if not isinstance(per_epoch, int) or per_epoch < 1:
        return trainer.current_epoch
    return max(0, step - 1) // per_epoch


class MetricsRecorder(pl.Callback):
    def __init__(self, csv_path: Path, log_every: int):
        self.csv_path, self.log_every = Path(csv_path), log_every
        self.records: list[dict] = []
        self.elapsed_s = 0.0  # training wall time before this attempt, seconds
        self.attempts = 0
        self._started: float | None = None

    def _metrics(self, trainer, keys) -> dict:  # evaluation metrics only: a sync per evaluation
        m = trainer.callback_metrics
        return {k: float(m[k]) for k in keys if k in m}

    def on_train_start(self, trainer, pl_module):
        self.attempts += 1
        self._started = time.monotonic()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        step = trainer.global_step  # optimiser steps completed
        if step % self.log_every:
            return
        means = pl_module.end_train_window()
        if means is None:  # diverged in this window (the module stops the run), or no step ran
            return
        record = {**means, "lr": trainer.optimizers[0].param_groups[0]["lr"]}
        epoch = data_epoch(trainer, step)
        self.records.append({"step": step, "epoch": epoch, **record})
        # The step number Lightning's own logging would use here, so W&B history is unchanged.
        lightning_step = trainer.fit_loop.epoch_loop._batches_that_stepped
        for logger in trainer.loggers:
            logger.log_metrics({**record, "epoch": epoch}, step=lightning_step)

    def on_train_end(self, trainer, pl_module):
        pl_module.end_train_window()  # a non-finite loss after the last record still counts

    def on_validation_end(self, trainer, pl_module):
        if trainer.sanity_checking:
            return
        step = trainer.global_step
        self.records.append({"step": step, "epoch": data_epoch(trainer, step), **self._metrics(trainer, EVAL_KEYS)})
        self.write()

    def wall_time_s(self) -> float:
        running = time.monotonic() - self._started if self._started is not None else 0.0
        return self.elapsed_s + running

    def write(self) -> None:
        write_records_csv(self.csv_path, self.records)

    def state_dict(self) -> dict:
        return {"records": self.records, "elapsed_s": self.wall_time_s(), "attempts": self.attempts}

    def load_state_dict(self, state: dict) -> None:
        self.records = list(state["records"])
        self.elapsed_s = float(state["elapsed_s"])
        self.attempts = int(state["attempts"])
