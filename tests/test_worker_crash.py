"""A worker process that dies mid-cell (SIGKILL: by hand or the out-of-memory killer; SIGSEGV: a
crash in native code) fails its own cell only: the grid goes on in a fresh worker, and a rerun
resumes the failed cells to the uninterrupted results."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from ablate import results
from tests.faults import same_run, small_grid, start_tree, summary_table
from tests.helpers import run_cli


def pid_holding(path: Path) -> int | None:
    """The process that has `path` open (the worker holding a run's lock is the one training it)."""
    target = os.path.realpath(path)
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
            if any(os.path.realpath(f"/proc/{pid}/fd/{fd}") == target for fd in fds):
                return int(pid)
        except OSError:  # gone, or not ours to read
            continue
    return None


def kill_the_worker_of_a_checkpointed_cell(root: Path, spared: set[str], sig: signal.Signals, proc) -> str:
    """Wait until a running cell not in `spared` writes a checkpoint; send `sig` to its worker."""
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        for d in sorted((root / "faultgrid").glob("*")) if (root / "faultgrid").is_dir() else []:
            if d.name in spared or results.is_complete(d) or not list((d / "checkpoints").glob("step*.ckpt")):
                continue
            pid = pid_holding(d / ".lock")
            if pid is not None and pid != proc.pid:
                os.kill(pid, sig)
                return d.name
        time.sleep(0.02)
    raise AssertionError(f"no running cell to kill: {proc.stderr.read() if proc.poll() is not None else 'timeout'}")


@pytest.mark.slow
def test_a_worker_killed_mid_cell_fails_its_cell_only_and_the_grid_goes_on(tmp_path):
    grid_file = small_grid(tmp_path)
    clean, root = tmp_path / "clean", tmp_path / "crashed"
    res = run_cli("run", str(grid_file), "--results-dir", str(clean), "--wandb", "off", "--no-analysis", "--jobs", "2")
    assert res.returncode == 0, res.stderr[-2000:]

    proc = start_tree(grid_file, root, jobs="2")
    victims = {}
    for sig in (signal.SIGKILL, signal.SIGSEGV):
        victims[kill_the_worker_of_a_checkpointed_cell(root, set(victims), sig, proc)] = sig
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 1, err[-3000:]
    assert "[ablate] 2 run, 0 already done, 0 running elsewhere, 2 failed" in out, out + err[-3000:]
    for run_id, sig in victims.items():
        failed = next(ln for ln in err.splitlines() if ln.startswith(f"[ablate] FAILED {run_id}:"))
        assert "WorkerDied: worker process" in failed and f"ended (signal {sig.name})" in failed, failed
        assert (
            "the other cells go on in a fresh worker" in failed
            and "resumes this one from its last checkpoint" in failed
        )
        assert "WorkerDied" in (root / "faultgrid" / run_id / results.ERROR).read_text()
    finished = {d.name for d in (root / "faultgrid").iterdir() if results.is_complete(d)}
    assert len(finished) == 2 and not finished & set(victims)

    res = run_cli("run", str(grid_file), "--results-dir", str(root), "--wandb", "off", "--no-analysis")
    assert res.returncode == 0 and "2 run, 2 already done" in res.stdout, res.stderr[-2000:]
    pd.testing.assert_frame_equal(summary_table(clean, "faultgrid"), summary_table(root, "faultgrid"))
    for d in (clean / "faultgrid").iterdir():
        same_run(d, root / "faultgrid" / d.name)
    for run_id in victims:
        summary = results.read_summary(root / "faultgrid" / run_id)
        assert summary["resumed_from_step"] > 0 and not (root / "faultgrid" / run_id / results.ERROR).exists()
        assert (root / "faultgrid" / run_id / "attempts" / "1" / results.ERROR).is_file()
    print(f"\nworkers of {sorted(victims)} killed ({', '.join(s.name for s in victims.values())}): 2 failed, 2 ran")


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_a_worker_whose_parent_died_before_it_started_exits_at_once():
    """PR_SET_PDEATHSIG covers only a parent's death after the call: a worker still importing when
    its grid was killed would train on as an orphan. It checks its parent instead and exits."""
    import multiprocessing

    from ablate.executor import _worker_main

    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    gone = 2**22 + 12345  # beyond Linux's default pid_max: no process has it
    worker = ctx.Process(target=_worker_main, args=(child, 1, None, gone))
    worker.start()
    worker.join(timeout=120)
    alive = worker.is_alive()
    if alive:  # it waited for cells: stop it before failing
        parent.send(None)
        worker.join(timeout=60)
    assert not alive and worker.exitcode == 1
