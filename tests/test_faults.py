"""Faults inside a run: a zero-step run, a corrupt checkpoint, a checkpoint that cannot be read,
W&B mode and umask left as found."""

import errno
import json
import os
import sys

import pytest
import yaml

from ablate import results
from ablate.experiment import load_experiment
from ablate.train import checkpointing
from ablate.train.checkpointing import CheckpointUnreadable
from ablate.train.run import IncompleteRun, RunOptions, run_cell
from tests.faults import Crash, CrashAt, failing_reads, same_run

GRID = {
    "base": {
        "model.name": "cifar_resnet",
        "model.width": 4,
        "model.depth": 8,
        "data": {"name": "digits", "batch_size": 32},
        "train": {"max_steps": 20, "log_every": 2, "eval_every": 10, "checkpoint_every": 5},
    },
    "arms": {"a": {}},
    "seeds": [0],
    "profiles": {"tiny": {}},
}


def experiment(tmp_path, **base):
    spec = {**GRID, "base": {**GRID["base"], **base}}
    path = tmp_path / "faultgrid.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return load_experiment(str(path))


@pytest.mark.slow
def test_truncated_newest_checkpoint_is_skipped_and_run_resumes_from_previous(tmp_path, capfd):
    exp = experiment(tmp_path)
    cell = exp.cells[0]
    clean = run_cell(exp, cell, RunOptions(tmp_path / "clean", wandb="off", progress=False))

    opts = RunOptions(tmp_path / "broken", wandb="off", progress=False)
    with pytest.raises(Crash):
        run_cell(exp, cell, opts, callbacks=[CrashAt(15)])
    out = results.run_dir(opts.results_root, exp.name, cell.run_id)
    ckpts = sorted((out / "checkpoints").glob("step*.ckpt"), key=lambda p: int(p.stem[4:]))
    assert [p.name for p in ckpts] == ["step10.ckpt", "step15.ckpt"]  # the newest two are kept
    newest = ckpts[-1]
    newest.write_bytes(newest.read_bytes()[: newest.stat().st_size // 2])  # a disk that filled up
    assert not results.is_complete(out)

    capfd.readouterr()
    summary = run_cell(exp, cell, opts)
    err = capfd.readouterr().err
    assert "step15.ckpt is unusable" in err and "resuming from the previous one" in err
    assert summary["resumed_from_step"] == 10 and summary["steps"] == 20 and summary["attempts"] == 2
    assert clean["attempts"] == 1
    same_run(results.run_dir(tmp_path / "clean", exp.name, cell.run_id), out)
    assert (out / "corrupt" / "step15.ckpt").is_file()  # kept for inspection: the pruning never touched it


@pytest.mark.slow
def test_a_checkpoint_that_cannot_be_read_stops_the_run_and_the_next_attempt_resumes_from_it(tmp_path, monkeypatch):
    """EIO on every read of the newest checkpoint: the attempt stops with a clear error, nothing is
    renamed and the older checkpoint is not used instead; once the file reads again (a transient
    error, retried), the run resumes from it and ends as the uninterrupted run."""
    monkeypatch.setattr(checkpointing, "READ_BACKOFF_S", 0.0)
    exp = experiment(tmp_path)
    cell = exp.cells[0]
    run_cell(exp, cell, RunOptions(tmp_path / "clean", wandb="off", progress=False))
    opts = RunOptions(tmp_path / "r", wandb="off", progress=False)
    with pytest.raises(Crash):
        run_cell(exp, cell, opts, callbacks=[CrashAt(15)])
    out = results.run_dir(opts.results_root, exp.name, cell.run_id)
    newest = out / "checkpoints" / "step15.ckpt"

    calls = failing_reads(monkeypatch, newest, errno.EIO, 10**6)
    with pytest.raises(CheckpointUnreadable, match=r"step15.ckpt could not be read \(EIO"):
        run_cell(exp, cell, opts)
    assert newest.is_file() and not (out / "corrupt").exists() and not results.is_complete(out)

    calls[0] = 10**6 - 1  # the file system is back but for one more failed read: retried
    summary = run_cell(exp, cell, opts)
    assert summary["resumed_from_step"] == 15 and summary["attempts"] == 2
    same_run(results.run_dir(tmp_path / "clean", exp.name, cell.run_id), out)
    attempts = json.loads((out / results.PROVENANCE).read_text())["attempts"]
    assert [a.get("resumed_from_step") for a in attempts] == [0, None, 15]
    assert "could not be read" in attempts[1]["error"]


@pytest.mark.slow
def test_every_checkpoint_corrupt_restarts_from_scratch(tmp_path, capfd):
    exp = experiment(tmp_path)
    cell = exp.cells[0]
    opts = RunOptions(tmp_path / "r", wandb="off", progress=False)
    with pytest.raises(Crash):
        run_cell(exp, cell, opts, callbacks=[CrashAt(12)])
    out = results.run_dir(opts.results_root, exp.name, cell.run_id)
    for p in (out / "checkpoints").glob("*.ckpt"):
        p.write_bytes(b"PK\x03\x04 not a checkpoint")
    summary = run_cell(exp, cell, opts)
    assert capfd.readouterr().err.count("is unusable") == 2
    assert summary["resumed_from_step"] == 0 and summary["steps"] == 20 and summary["status"] == "completed"


@pytest.mark.slow
def test_zero_step_run_never_writes_a_summary(tmp_path):
    # Validation refuses this batch size (bigger than the training split): bypass it to prove the
    # run itself also refuses to count zero optimiser steps as a result.
    exp = experiment(tmp_path, data={"name": "digits", "batch_size": 5000})
    opts = RunOptions(tmp_path / "r", wandb="off", progress=False)
    with pytest.raises(IncompleteRun, match="after 0 of 20 optimiser steps"):
        run_cell(exp, exp.cells[0], opts)
    assert not results.is_complete(results.run_dir(opts.results_root, exp.name, exp.cells[0].run_id))


@pytest.mark.slow
def test_offline_wandb_run_leaves_no_wandb_mode_in_the_environment(tmp_path):
    exp = experiment(tmp_path, train={"max_steps": 4, "log_every": 2, "eval_every": 4, "checkpoint_every": 0})
    before = {k: v for k, v in os.environ.items() if k.startswith("WANDB_") and k != "WANDB_SERVICE"}
    summary = run_cell(exp, exp.cells[0], RunOptions(tmp_path / "r", wandb="offline", progress=False))
    assert summary["wandb_mode"] == "offline"
    out = results.run_dir(tmp_path / "r", exp.name, exp.cells[0].run_id)
    assert list((out / "wandb").glob("offline-run-*"))  # it did log, offline, into the run folder
    # (WANDB_SERVICE is wandb's own per-process service socket, not a setting of ours.)
    assert "WANDB_MODE" not in os.environ
    assert {k: v for k, v in os.environ.items() if k.startswith("WANDB_") and k != "WANDB_SERVICE"} == before


def test_reading_the_umask_does_not_change_it():
    old = os.umask(0o027)
    try:
        assert results.current_umask() == 0o027
        assert os.umask(0o027) == 0o027  # unchanged by the read
    finally:
        os.umask(old)


def test_importing_the_results_store_leaves_the_umask_alone(tmp_path):
    import subprocess

    code = (
        "import os; os.umask(0o077); import ablate.results as r, ablate.train.run; "
        "print(oct(os.umask(0o077)), oct(r.current_umask()))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=os.path.dirname(os.path.dirname(__file__)),
    ).stdout.split()
    assert out == ["0o77", "0o77"]
