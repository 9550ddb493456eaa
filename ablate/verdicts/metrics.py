"""What a claim can measure: a column of the runs table, or the first step a curve crosses a level.

Every metric says how to show it (percent points or plain numbers), whether it is exact (the
same for every seed: an architecture's parameters) and what a diverged run counts as.
A curve metric `{first_step: train/error, at_most: 0.25, window: epoch}` is the first logged step
at which the running mean of `train/error` over the trailing window is at or below 0.25; a run that
never gets there is censored at its length (the value is a lower bound, and is kept as one).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

CURVES = ("train/error", "train/loss", "val/error", "test/error")  # recorded by ablate.train.recorder
WINDOWS = ("epoch", "record")  # trailing mean over one epoch of records, or the record itself
UNITS = ("steps", "epochs")


@dataclass(frozen=True)
class Metric:
    name: str
    label: str  # for tables and verdict lines
    scale: float = 1.0  # shown as value * scale ...
    unit: str = ""  # ... in this unit ("%" for fractions)
    exact: bool = False  # same for every seed (a property of the architecture)
    worst: float | None = math.nan  # what a diverged run counts as; None: excluded; nan: censored


RUN_METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("final_train_error", "final training error", 100, "%", worst=1.0),
        Metric("final_val_error", "final validation error", 100, "%", worst=1.0),
        Metric("final_test_error", "final test error", 100, "%", worst=1.0),
        Metric("final_train_accuracy", "final training accuracy", 100, "%", worst=0.0),
        Metric("final_val_accuracy", "final validation accuracy", 100, "%", worst=0.0),
        Metric("final_test_accuracy", "final test accuracy", 100, "%", worst=0.0),
        Metric("final_train_error_running", "running training error at the end", 100, "%", worst=1.0),
        Metric("late_train_error_change", "Δ training error over the last fifth", 100, " pts", worst=None),
        Metric("params", "parameters", exact=True, worst=None),
        Metric("wall_time_s", "wall time", unit=" s", worst=None),
    )
}


@dataclass(frozen=True)
class FirstStep:
    """The first step at which a curve's running mean crosses `level` (a derived metric)."""

    curve: str
    level: float
    direction: str  # "at_most" | "at_least"
    window: str = "epoch"
    unit: str = "steps"

    @property
    def name(self) -> str:
        return f"{self.unit}_to_{self.curve.replace('/', '_')}_{self.direction}_{self.level:g}"

    @property
    def metric(self) -> Metric:
        word = "≤" if self.direction == "at_most" else "≥"
        shown = f"{100 * self.level:g}%" if "error" in self.curve else f"{self.level:g}"
        return Metric(self.name, f"{self.unit} until {self.curve} {word} {shown}", worst=math.nan)


def steps_per_epoch(runs: pd.DataFrame) -> pd.Series:
    """Optimiser steps per epoch of each run (an epoch is train_size // batch_size full batches)."""
    train = runs["data_sizes"].map(lambda d: d.get("train", np.nan) if isinstance(d, dict) else np.nan)
    return (train // runs["cfg.data.batch_size"]).clip(lower=1)


def records_per_epoch(runs: pd.DataFrame) -> dict[str, int]:
    """run_id -> how many training records make one epoch (the trailing window of a running mean)."""
    per_epoch = steps_per_epoch(runs) / runs["cfg.train.log_every"]
    return {r: max(1, int(round(w))) for r, w in zip(runs.run_id, per_epoch)}


def first_step(runs: pd.DataFrame, curves: pd.DataFrame, m: FirstStep) -> pd.DataFrame:
    """Per run (the runs frame's order): value (step or epoch; the run length when never reached)
    and censored (True: never reached, the value is a lower bound)."""
    epoch_records = records_per_epoch(runs)
    c = curves[curves.metric == m.curve].sort_values("step")
    reached: dict[str, float] = {}
    for run_id, g in c.groupby("run_id", sort=False):
        if run_id not in epoch_records:
            continue
        # Evaluation curves hold one record per evaluation: no trailing window there.
        window = 1 if m.window == "record" or not m.curve.startswith("train/") else epoch_records[run_id]
        running = g.value.rolling(window, min_periods=window).mean().to_numpy()
        hit = running <= m.level if m.direction == "at_most" else running >= m.level
        steps = g.step.to_numpy()[hit]
        if len(steps):
            reached[run_id] = float(steps[0])
    # A run that stopped early (diverged) never got there within the budget it was given.
    budget = runs["cfg.train.max_steps"].astype(float)
    value = runs.run_id.map(reached).astype(float)
    censored = value.isna()
    value = value.fillna(budget)
    if m.unit == "epochs":
        value = value / steps_per_epoch(runs).to_numpy()
    return pd.DataFrame({"value": value.to_numpy(), "censored": censored.to_numpy()}, index=runs.index)


LATE_FRACTION = 0.2  # convergence is judged over the last fifth of a run's steps


def late_change(runs: pd.DataFrame, curves: pd.DataFrame, curve: str = "train/error") -> pd.Series:
    """Per run (the runs frame's index): the running mean of `curve` over the trailing epoch at
    the end of the run minus the same at 80% of its steps (a fraction: -0.03 is 3 points down).
    An arm whose runs still move by more than a point here on average had not stopped improving."""
    epoch_records = records_per_epoch(runs)
    c = curves[curves.metric == curve].sort_values("step")
    change: dict[str, float] = {}
    for run_id, g in c.groupby("run_id", sort=False):
        if run_id not in epoch_records:
            continue
        window = epoch_records[run_id]
        steps, values = g.step.to_numpy(), g.value.to_numpy()
        cut = steps[-1] * (1 - LATE_FRACTION)
        early = values[steps <= cut][-window:]
        if len(early) and len(values) >= window:
            change[run_id] = float(values[-window:].mean() - early.mean())
    return runs.run_id.map(change).astype(float)


def with_accuracies(runs: pd.DataFrame) -> pd.DataFrame:
    """Add final_<split>_accuracy = 1 - final_<split>_error."""
    runs = runs.copy()
    for split in ("train", "val", "test"):
        if f"final_{split}_error" in runs:
            runs[f"final_{split}_accuracy"] = 1 - runs[f"final_{split}_error"]
    return runs
