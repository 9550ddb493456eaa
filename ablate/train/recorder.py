"""A callback that keeps the run's metric history: training records and evaluations.

Every train.log_every steps it reads the module's TrainWindow (the one host sync of the window)
and records the window's mean training loss and error, with the learning rate of its last step, at
that step; W&B gets the same record at the same step (`trainer/global_step` = step - 1, as
Lightning numbers it). A window with a non-finite loss is not recorded: the run stops there.

The history is part of every checkpoint, so a resumed run continues the same curve; metrics.csv
is rewritten (atomically) at every evaluation and at the end.
"""

from __future__ import annotations

import time
from pathlib import Path

import lightning.pytorch as pl

from ablate.results import write_records_csv

TRAIN_KEYS = ("train/loss", "train/error", "lr")
EVAL_KEYS = ("val/error", "test/error")


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
        self.records.append({"step": step, "epoch": trainer.current_epoch, **record})
        # The step number Lightning's own logging would use here, so W&B history is unchanged.
        lightning_step = trainer.fit_loop.epoch_loop._batches_that_stepped
        for logger in trainer.loggers:
            logger.log_metrics({**record, "epoch": trainer.current_epoch}, step=lightning_step)

    def on_train_end(self, trainer, pl_module):
        pl_module.end_train_window()  # a non-finite loss after the last record still counts

    def on_validation_end(self, trainer, pl_module):
        if trainer.sanity_checking:
            return
        self.records.append(
            {"step": trainer.global_step, "epoch": trainer.current_epoch, **self._metrics(trainer, EVAL_KEYS)}
        )
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
