"""Atomic results, resume after SIGKILL (cell and grid), divergence recorded as a finding."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from ablate import results
from tests.conftest import REPO, run_cli

GRID = {
    "base": {"model.name": "cifar_resnet", "model.width": 4, "model.shortcut": "A",
             "data": {"name": "digits", "batch_size": 32, "augment": "crop", "pad": 1},
             "train": {"log_every": 2, "eval_every": 10}},
    "arms": {
        "fast": {"model.depth": 8, "train": {"max_steps": 10, "checkpoint_every": 5}},
        "slow": {"model.depth": 20, "train": {"max_steps": 150, "checkpoint_every": 5}},
    },
    "seeds": [0],
    "analysis": "none",
    "profiles": {"tiny": {}},
}  # fmt: skip


@pytest.fixture
def grid_file(tmp_path) -> Path:
    path = tmp_path / "resumegrid.yaml"
    path.write_text(yaml.safe_dump(GRID, sort_keys=False))
    return path


def test_atomic_write_leaves_nothing_on_failure(tmp_path, monkeypatch):
    target = tmp_path / "summary.json"

    def disk_full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space"):
        results.atomic_write_text(target, '{"status": "completed"}')
    assert not target.exists() and not list(tmp_path.iterdir())
    monkeypatch.undo()
    results.write_json(target, {"a": 1})
    assert results.is_complete(tmp_path) and json.loads(target.read_text()) == {"a": 1}


def _start(grid_file, root):
    cmd = [sys.executable, "-m", "ablate", "run", str(grid_file), "--results-dir", str(root),
           "--wandb", "off", "--no-progress", "--no-analysis"]  # fmt: skip
    return subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _wait_for(predicate, proc, timeout=240):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.05)
    return False


def _table(root: Path) -> pd.DataFrame:
    rows = []
    for d in sorted((root / "resumegrid").iterdir()):
        if results.is_complete(d):
            s = results.read_summary(d)
            rows.append({k: s[k] for k in ("run_id", "steps", "final_train_error", "final_val_error",
                                           "final_test_error")})  # fmt: skip
    return pd.DataFrame(rows)


def test_sigkill_mid_grid_then_rerun_matches_uninterrupted(grid_file, tmp_path):
    clean, killed = tmp_path / "clean", tmp_path / "killed"
    assert run_cli("run", str(grid_file), "--results-dir", str(clean), "--wandb", "off",
                   "--no-analysis").returncode == 0  # fmt: skip

    proc = _start(grid_file, killed)
    grid_dir = killed / "resumegrid"

    def fast_done_slow_checkpointed():
        runs = list(grid_dir.glob("*")) if grid_dir.exists() else []
        fast = [d for d in runs if d.name.startswith("fast") and results.is_complete(d)]
        slow = [d for d in runs if d.name.startswith("slow")]
        steps = [int(p.stem[4:]) for p in (slow[0] / "checkpoints").glob("step*.ckpt")] if slow else []
        return fast and any(s >= 10 for s in steps) and not results.is_complete(slow[0])

    assert _wait_for(fast_done_slow_checkpointed, proc), proc.stderr.read() if proc.poll() else "timeout"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    slow_dir = next(grid_dir.glob("slow*"))
    assert not results.is_complete(slow_dir)  # a killed cell never counts as done
    fast_summary_mtime = (next(grid_dir.glob("fast*")) / results.SUMMARY).stat().st_mtime_ns

    res = run_cli("run", str(grid_file), "--results-dir", str(killed), "--wandb", "off", "--no-analysis")
    assert res.returncode == 0, res.stderr
    assert "1 run, 1 already done" in res.stdout
    assert (next(grid_dir.glob("fast*")) / results.SUMMARY).stat().st_mtime_ns == fast_summary_mtime
    summary = results.read_summary(slow_dir)
    assert summary["resumed_from_step"] >= 10 and summary["attempts"] == 2 and summary["steps"] == 150
    pd.testing.assert_frame_equal(_table(clean), _table(killed))
    # The resumed curve is the uninterrupted curve: same steps, same values.
    a = pd.read_csv(next((clean / "resumegrid").glob("slow*")) / "metrics.csv")
    b = pd.read_csv(slow_dir / "metrics.csv")
    pd.testing.assert_frame_equal(a, b)


def test_divergence_is_recorded_with_its_curve(tmp_path):
    res = run_cli("run", "degradation", "--set", "optim.lr=1e6", "--set", "train.max_steps=30",
                  "--set", "train.log_every=1", "--set", "model.width=4", "--set", "seeds=[0]",
                  "--results-dir", str(tmp_path), "--wandb", "off", "--no-analysis")  # fmt: skip
    assert res.returncode == 0, res.stderr
    diverged = [results.read_summary(d) for d in (tmp_path / "degradation").iterdir()
                if results.is_complete(d)]  # fmt: skip
    assert len(diverged) == 6
    statuses = {s["status"] for s in diverged}
    assert "diverged" in statuses, statuses
    d = next(s for s in diverged if s["status"] == "diverged")
    assert d["steps"] < 30 and d["diverged_at_step"] is not None
    curve = pd.read_csv(tmp_path / "degradation" / d["run_id"] / "metrics.csv")
    assert len(curve) >= 1 and "train/loss" in curve
