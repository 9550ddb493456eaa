"""Atomic results, resume after SIGKILL (cell and grid), divergence recorded as a finding."""

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from ablate import results
from ablate.experiment import load_experiment
from ablate.train.run import RunOptions, run_cell
from tests.faults import Crash, CrashAt, run_command, same_run, small_grid, start_tree, summary_table
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
    with pytest.raises(results.DiskFull, match="no space left on the device of"):
        results.atomic_write_text(target, '{"status": "completed"}')
    assert not target.exists() and not list(tmp_path.iterdir())
    monkeypatch.undo()
    results.write_json(target, {"a": 1})
    assert results.is_complete(tmp_path) and json.loads(target.read_text()) == {"a": 1}


def _start(grid_file, root):
    return subprocess.Popen(run_command(grid_file, root), cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _wait_for(predicate, proc, timeout=240):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.05)
    return False


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
    pd.testing.assert_frame_equal(summary_table(clean, "resumegrid"), summary_table(killed, "resumegrid"))
    # The resumed curve is the uninterrupted curve: same steps, same values, every column.
    same_run(next((clean / "resumegrid").glob("slow*")), slow_dir)


@pytest.mark.slow
def test_resume_at_an_epoch_end_written_by_a_resumed_attempt_equals_uninterrupted(tmp_path):
    """Batch 128 of 1,293 digits: 10 steps an epoch, a checkpoint every 5. The second attempt resumes
    at step 10 and writes the checkpoint of step 20, the last batch of epoch 1; the third resumes
    from that one. Lightning then counts epochs one behind (its epoch column was 1 where 2 was
    right, from step 25 on); the curve must still be the uninterrupted one, column for column."""
    spec = {
        "base": {
            "model.name": "cifar_resnet",
            "model.width": 4,
            "model.depth": 8,
            "data": {"name": "digits", "batch_size": 128, "val_size": 0.1},
            "train": {"max_steps": 30, "log_every": 5, "eval_every": 15, "checkpoint_every": 5},
        },
        "arms": {"a": {}},
        "seeds": [0],
        "profiles": {"tiny": {}},
    }
    path = tmp_path / "epochgrid.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    exp = load_experiment(str(path))
    cell = exp.cells[0]
    run_cell(exp, cell, RunOptions(tmp_path / "clean", wandb="off", progress=False))
    opts = RunOptions(tmp_path / "resumed", wandb="off", progress=False)
    for step in (11, 21):  # killed just after the checkpoints of steps 10 and 20
        with pytest.raises(Crash):
            run_cell(exp, cell, opts, callbacks=[CrashAt(step)])
    summary = run_cell(exp, cell, opts)
    assert summary["attempts"] == 3 and summary["resumed_from_step"] == 20
    clean = results.run_dir(tmp_path / "clean", exp.name, cell.run_id)
    assert pd.read_csv(clean / results.METRICS).epoch.max() == 2  # the column is there, and moves
    same_run(clean, results.run_dir(opts.results_root, exp.name, cell.run_id))


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
def _checkpoints_of_unfinished_cells(root: Path, name: str = "faultgrid") -> set[str]:
    grid = root / name
    if not grid.is_dir():
        return set()
    return {
        f"{d.name}/{p.name}"
        for d in grid.iterdir()
        if d.is_dir() and not results.is_complete(d)
        for p in (d / results.CHECKPOINTS).glob("step*.ckpt")
    }


@pytest.mark.slow
def test_sigkills_of_the_process_tree_mid_cell_then_rerun_match_uninterrupted(tmp_path):
    """Three SIGKILLs of the whole process tree (runner and both workers), each the moment a cell
    still running writes a checkpoint its attempt had not found: every kill lands mid-cell, after
    that attempt made progress, whatever the machine's speed (a kill after a fixed delay missed the
    grid on a fast machine and landed in start-up on a loaded one). Then a rerun: every summary and
    every curve equal the uninterrupted grid's, column for column."""
    grid_file = small_grid(tmp_path)
    clean, killed = tmp_path / "clean", tmp_path / "killed"
    res = run_cli("run", str(grid_file), "--results-dir", str(clean), "--wandb", "off", "--no-analysis", "--jobs", "2")
    assert res.returncode == 0, res.stderr[-2000:]

    killed_at = []
    for attempt in range(3):
        before = _checkpoints_of_unfinished_cells(killed)
        proc = start_tree(grid_file, killed, jobs="2")
        new = set()

        def progressed(before=before, new=new):
            new |= _checkpoints_of_unfinished_cells(killed) - before
            return bool(new)

        assert _wait_for(progressed, proc), f"attempt {attempt + 1} ended before a new checkpoint: {proc.stderr.read()}"
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        killed_at.append(sorted(new))
    res = run_cli("run", str(grid_file), "--results-dir", str(killed), "--wandb", "off", "--no-analysis")
    assert res.returncode == 0, res.stderr[-2000:]

    finished = sorted(d.name for d in (clean / "faultgrid").iterdir() if results.is_complete(d))
    assert len(finished) == 4
    pd.testing.assert_frame_equal(summary_table(clean, "faultgrid"), summary_table(killed, "faultgrid"))
    for run_id in finished:
        same_run(clean / "faultgrid" / run_id, killed / "faultgrid" / run_id)
    attempts = [results.read_summary(d)["attempts"] for d in (killed / "faultgrid").iterdir() if results.is_complete(d)]
    assert sum(attempts) >= 4 + 1  # at least one cell resumed from a checkpoint a kill left
    print(f"\n3 SIGKILLs at {killed_at}, attempts per cell {sorted(attempts)}: summaries and curves identical")


@pytest.mark.slow
def test_three_runners_on_one_results_folder_train_every_cell_once(tmp_path):
    grid_file = small_grid(tmp_path)
    root = tmp_path / "shared"
    procs = [start_tree(grid_file, root) for _ in range(3)]
    outs = [p.communicate(timeout=600) for p in procs]
    ran = 0
    for (out, err), p in zip(outs, procs):
        assert p.returncode in (0, 1), err[-2000:]  # 1: some cell was running elsewhere
        ran += int(re.search(r"\[ablate\] (\d+) run,", out).group(1))
    assert ran == 4  # a cell another runner finished meanwhile counts as "already done", not as run twice
    summaries = [results.read_summary(d) for d in (root / "faultgrid").iterdir() if results.is_complete(d)]
    # Every cell finished, and was trained once: one attempt, never resumed, one curve in step order.
    assert len(summaries) == 4
    assert all(s["attempts"] == 1 and s["resumed_from_step"] == 0 for s in summaries)
    for s in summaries:
        curve = pd.read_csv(root / "faultgrid" / s["run_id"] / results.METRICS)
        assert curve["step"].is_monotonic_increasing and curve["step"].iloc[-1] == 24
