"""What the fault-injection tests share: a crash at a chosen step, and the comparison of a resumed
run with an uninterrupted one (every column and every summary key but the wall clock and the
attempt bookkeeping)."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import lightning.pytorch as pl
import pandas as pd
import yaml

from ablate import results
from tests.helpers import REPO

# Differ by design between a resumed run and an uninterrupted one: wall clock, attempt bookkeeping.
VOLATILE = ("wall_time_s", "attempts", "resumed_from_step")


class Crash(RuntimeError):
    pass


class CrashAt(pl.Callback):
    """Kills the run (an exception out of fit) after optimiser step `step`."""

    def __init__(self, step: int):
        self.step = step

    def on_train_batch_end(self, trainer, *args):
        if trainer.global_step >= self.step:
            raise Crash(f"simulated crash at step {trainer.global_step}")


def failing_reads(monkeypatch, target: Path, code: int, times: int) -> list[int]:
    """Path.read_bytes of `target` raises OSError(code) `times` times, then reads; returns the count."""
    calls = [0]
    read = Path.read_bytes

    def flaky(self):
        if self == target:
            calls[0] += 1
            if calls[0] <= times:
                raise OSError(code, f"simulated {errno.errorcode[code]}", str(self))
        return read(self)

    monkeypatch.setattr(Path, "read_bytes", flaky)
    return calls


def same_curve(a: pd.DataFrame, b: pd.DataFrame, obj: str = "metrics.csv") -> None:
    """Every column of two metrics.csv frames equal, the volatile ones aside."""
    assert list(a.columns) == list(b.columns), (list(a.columns), list(b.columns))
    drop = [c for c in VOLATILE if c in a.columns]
    pd.testing.assert_frame_equal(a.drop(columns=drop), b.drop(columns=drop), obj=obj)


def same_run(clean: Path, resumed: Path) -> None:
    """The resumed run folder holds the uninterrupted one's result: metrics.csv column for column,
    summary.json key for key (the volatile keys aside)."""
    same_curve(pd.read_csv(clean / results.METRICS), pd.read_csv(resumed / results.METRICS), obj=resumed.name)
    a, b = results.read_summary(clean), results.read_summary(resumed)
    assert a.keys() == b.keys()
    differ = {k: (a[k], b[k]) for k in a if k not in VOLATILE and not _same(a[k], b[k])}
    assert not differ, differ


def _same(x, y) -> bool:
    return x == y or (x != x and y != y)  # NaN (a diverged run's errors) equals NaN here


def summary_table(root: Path, experiment: str) -> pd.DataFrame:
    """One row per finished run under root/experiment: every summary key but the volatile ones."""
    rows = []
    for d in sorted((root / experiment).iterdir()):
        if results.is_complete(d):
            rows.append({k: v for k, v in results.read_summary(d).items() if k not in VOLATILE})
    return pd.DataFrame(rows).astype(str)


TINY_NET = {"model.name": "cifar_resnet", "model.width": 4, "model.depth": 8}  # a 4-channel ResNet-8

# A grid of four small cells (2 arms x 2 seeds, 24 steps, a checkpoint every 4), for runs killed and rerun.
SMALL_GRID = {
    "base": {
        **TINY_NET,
        "data": {"name": "digits", "batch_size": 32, "augment": "crop", "pad": 1},
        "train": {"max_steps": 24, "log_every": 2, "eval_every": 8, "checkpoint_every": 4},
    },
    "arms": {"a": {}, "b": {"model.shortcut": "none"}},
    "seeds": [0, 1],
    "profiles": {"tiny": {}},
}


def small_grid(tmp_path) -> Path:
    path = tmp_path / "faultgrid.yaml"
    path.write_text(yaml.safe_dump(SMALL_GRID, sort_keys=False))
    return path


def run_command(grid_file, root, *extra: str) -> list[str]:
    """`python -m ablate run GRID` into `root`, quiet, without W&B and analysis."""
    return [sys.executable, "-m", "ablate", "run", str(grid_file), "--results-dir", str(root), "--wandb", "off"] + [
        "--no-progress",
        "--no-analysis",
        *extra,
    ]


def start_tree(grid_file, root, jobs="1", env=None):
    """`ablate run` in its own session, so a SIGKILL of the group takes the whole process tree."""
    return subprocess.Popen(
        run_command(grid_file, root, "--jobs", jobs),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        env={**os.environ, **(env or {})},
    )
