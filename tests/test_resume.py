"""Atomic results, resume after SIGKILL (cell and grid), divergence recorded as a finding."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from ablate import results
from tests.helpers import REPO, run_cli

GRID = {
    "base": {
        "model.name": "cifar_resnet",
        "model.width": 4,
        "model.shortcut": "A",
        "data": {"name": "digits", "batch_size": 32, "augment": "crop", "pad": 1},
        "train": {"log_every": 2, "eval_every": 10},
    },
    "arms": {
        "fast": {"model.depth": 8, "train": {"max_steps": 10, "checkpoint_every": 5}},
        "slow": {"model.depth": 20, "train": {"max_steps": 150, "checkpoint_every": 5}},
    },
    "seeds": [0],
    "profiles": {"tiny": {}},
}


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
    cmd = [
        sys.executable,
        "-m",
        "ablate",
        "run",
        str(grid_file),
        "--results-dir",
        str(root),
        "--wandb",
        "off",
        "--no-progress",
        "--no-analysis",
    ]
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
            rows.append(
                {k: s[k] for k in ("run_id", "steps", "final_train_error", "final_val_error", "final_test_error")}
            )
    return pd.DataFrame(rows)


@pytest.mark.slow
def test_sigkill_mid_grid_then_rerun_matches_uninterrupted(grid_file, tmp_path):
    clean, killed = tmp_path / "clean", tmp_path / "killed"
    assert (
        run_cli("run", str(grid_file), "--results-dir", str(clean), "--wandb", "off", "--no-analysis").returncode == 0
    )

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


@pytest.mark.slow
def test_divergence_is_recorded_with_its_curve(tmp_path):
    res = run_cli(
        "run",
        "degradation",
        "--set",
        "optim.lr=1e6",
        "--set",
        "train.max_steps=30",
        "--set",
        "train.log_every=1",
        "--set",
        "model.width=4",
        "--set",
        "seeds=[0]",
        "--set",
        "schedule.milestones=[]",
        "--set",
        "schedule.warmup_steps=0",
        "--results-dir",
        str(tmp_path),
        "--wandb",
        "off",
        "--no-analysis",
    )
    assert res.returncode == 0, res.stderr
    diverged = [results.read_summary(d) for d in (tmp_path / "degradation").iterdir() if results.is_complete(d)]
    assert len(diverged) == 4
    statuses = {s["status"] for s in diverged}
    assert "diverged" in statuses, statuses
    d = next(s for s in diverged if s["status"] == "diverged")
    assert d["steps"] < 30 and d["diverged_at_step"] is not None
    curve = pd.read_csv(tmp_path / "degradation" / d["run_id"] / "metrics.csv")
    assert len(curve) >= 1 and "train/loss" in curve


# ----------------------------------------------------------------------------- faults at scale
SMALL_GRID = {
    "base": {
        "model.name": "cifar_resnet",
        "model.width": 4,
        "model.depth": 8,
        "data": {"name": "digits", "batch_size": 32, "augment": "crop", "pad": 1},
        "train": {"max_steps": 24, "log_every": 2, "eval_every": 8, "checkpoint_every": 4},
    },
    "arms": {"a": {}, "b": {"model.shortcut": "none"}},
    "seeds": [0, 1],
    "profiles": {"tiny": {}},
}


def _small_grid(tmp_path) -> Path:
    path = tmp_path / "faultgrid.yaml"
    path.write_text(yaml.safe_dump(SMALL_GRID, sort_keys=False))
    return path


def _start_tree(grid_file, root, jobs="1"):
    """`ablate run` in its own session, so a SIGKILL of the group takes the whole process tree."""
    cmd = [
        sys.executable,
        "-m",
        "ablate",
        "run",
        str(grid_file),
        "--results-dir",
        str(root),
        "--wandb",
        "off",
        "--no-progress",
        "--no-analysis",
        "--jobs",
        jobs,
    ]
    return subprocess.Popen(
        cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )


def _grid_state(root: Path, name: str = "faultgrid"):
    table, curves = [], {}
    for d in sorted((root / name).iterdir()):
        if results.is_complete(d):
            s = results.read_summary(d)
            table.append(
                {
                    k: s[k]
                    for k in ("run_id", "steps", "status", "final_train_error", "final_val_error", "final_test_error")
                }
            )
            curves[d.name] = pd.read_csv(d / results.METRICS)
    return pd.DataFrame(table), curves


@pytest.mark.slow
def test_random_sigkills_of_the_process_tree_then_rerun_match_uninterrupted(tmp_path):
    import random

    grid_file = _small_grid(tmp_path)
    clean, killed = tmp_path / "clean", tmp_path / "killed"
    assert (
        run_cli(
            "run", str(grid_file), "--results-dir", str(clean), "--wandb", "off", "--no-analysis", "--jobs", "2"
        ).returncode
        == 0
    )

    rng = random.Random(11)  # fixed: the same kill times in every CI run
    kills = 0
    for _ in range(3):
        proc = _start_tree(grid_file, killed, jobs="2")
        time.sleep(rng.uniform(4.0, 8.0))  # start-up is ~3-5 s: some kills land mid-cell, some mid-start
        if proc.poll() is not None:
            break
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        kills += 1
    assert kills >= 3
    res = run_cli("run", str(grid_file), "--results-dir", str(killed), "--wandb", "off", "--no-analysis")
    assert res.returncode == 0, res.stderr[-2000:]

    table_clean, curves_clean = _grid_state(clean)
    table_killed, curves_killed = _grid_state(killed)
    assert len(table_clean) == 4
    pd.testing.assert_frame_equal(table_clean, table_killed)
    assert curves_clean.keys() == curves_killed.keys()
    for run_id, curve in curves_clean.items():
        pd.testing.assert_frame_equal(curve, curves_killed[run_id], obj=run_id)
    attempts = [results.read_summary(d)["attempts"] for d in (killed / "faultgrid").iterdir() if results.is_complete(d)]
    print(f"\n{kills} SIGKILLs, 4 cells, attempts per cell {sorted(attempts)}: table and curves identical")


@pytest.mark.slow
def test_three_runners_on_one_results_folder_train_every_cell_once(tmp_path):
    grid_file = _small_grid(tmp_path)
    root = tmp_path / "shared"
    procs = [_start_tree(grid_file, root) for _ in range(3)]
    outs = [p.communicate(timeout=600) for p in procs]
    for (out, err), p in zip(outs, procs):
        assert p.returncode in (0, 1), err[-2000:]  # 1: some cell was running elsewhere
        assert re.search(r"\[ablate\] \d+ run,", out), out
    summaries = [results.read_summary(d) for d in (root / "faultgrid").iterdir() if results.is_complete(d)]
    # Every cell finished, and was trained once: one attempt, never resumed, one curve in step order.
    assert len(summaries) == 4
    assert all(s["attempts"] == 1 and s["resumed_from_step"] == 0 for s in summaries)
    for s in summaries:
        curve = pd.read_csv(root / "faultgrid" / s["run_id"] / results.METRICS)
        assert curve["step"].is_monotonic_increasing and curve["step"].iloc[-1] == 24
