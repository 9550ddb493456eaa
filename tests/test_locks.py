"""The cell lock: taken unless this process is a rank >= 1 of a launch ablate itself started (an
outside RANK=1 takes it like any process); a file system whose locks cannot keep two processes
off one cell is detected before anything trains and reported once."""

from __future__ import annotations

import errno
import fcntl
import re

import pandas as pd
import pytest
import yaml

from ablate import grid_checks, results
from ablate.experiment import load_experiment
from ablate.train import DDP_RUN_ID_ENV as DDP_RUN_ID
from ablate.train import run as run_module
from ablate.train.run import CellBusy, RunOptions, launched_rank, run_cell
from tests.faults import small_grid, start_tree

LAUNCHERS = ("RANK", "SLURM_PROCID", "SLURM_NTASKS", "LOCAL_RANK", "NODE_RANK", DDP_RUN_ID)


@pytest.fixture
def clean_env(monkeypatch):
    for var in LAUNCHERS:
        monkeypatch.delenv(var, raising=False)
    return monkeypatch


@pytest.mark.parametrize(
    "env,rank",
    [
        ({"RANK": "1"}, 0),  # an outside launcher (a container job): not ours
        ({"RANK": "1", DDP_RUN_ID: "other-run"}, 0),  # ablate's launch of another cell
        ({"RANK": "1", DDP_RUN_ID: "r-s0-abc"}, 1),
        ({"LOCAL_RANK": "2", DDP_RUN_ID: "r-s0-abc"}, 2),  # Lightning's launcher
        ({"SLURM_PROCID": "1", "SLURM_NTASKS": "2", DDP_RUN_ID: "r-s0-abc"}, 1),  # srun
        ({"SLURM_PROCID": "1", "SLURM_NTASKS": "1", DDP_RUN_ID: "r-s0-abc"}, 0),
        ({DDP_RUN_ID: "r-s0-abc"}, 0),  # rank 0 of the launch
    ],
)
def test_launched_rank_counts_only_ranks_of_a_launch_ablate_started_for_this_run(clean_env, env, rank):
    for k, v in env.items():
        clean_env.setenv(k, v)
    assert launched_rank("r-s0-abc") == rank


def _one_cell(tmp_path):
    path = tmp_path / "lockgrid.yaml"
    spec = {
        "base": {"model.name": "cifar_resnet", "model.width": 4, "model.depth": 8, "data.name": "digits"},
        "arms": {"a": {}},
        "seeds": [0],
        "profiles": {"tiny": {}},
    }
    path.write_text(yaml.safe_dump(spec))
    exp = load_experiment(str(path))
    return exp, exp.cells[0], RunOptions(tmp_path / "r", wandb="off", progress=False)


def test_an_outside_rank_1_takes_the_lock_and_finds_the_cell_busy(tmp_path, clean_env):
    exp, cell, opts = _one_cell(tmp_path)
    clean_env.setenv("RANK", "1")
    with results.run_lock(results.run_dir(opts.results_root, exp.name, cell.run_id)) as held:
        assert held
        with pytest.raises(CellBusy, match="locked by another process"):
            run_cell(exp, cell, opts)


def test_a_rank_1_of_ablates_own_launch_joins_without_the_lock(tmp_path, clean_env):
    exp, cell, opts = _one_cell(tmp_path)
    clean_env.setenv("RANK", "1")
    clean_env.setenv(DDP_RUN_ID, cell.run_id)
    clean_env.setattr(run_module, "_train", lambda *a: {"joined": True})
    with results.run_lock(results.run_dir(opts.results_root, exp.name, cell.run_id)) as held:
        assert held and run_cell(exp, cell, opts) == {"joined": True}


def test_rank_0_marks_the_launch_while_it_trains_and_unmarks_it_after(tmp_path, clean_env):
    exp, cell, opts = _one_cell(tmp_path)
    seen = []
    clean_env.setattr(run_module, "_train", lambda *a: seen.append(run_module.os.environ.get(DDP_RUN_ID)) or {})
    run_cell(exp, cell, opts)
    assert seen == [cell.run_id] and DDP_RUN_ID not in run_module.os.environ


@pytest.mark.slow
def test_a_runner_with_rank_1_in_its_environment_never_trains_a_cell_twice(tmp_path):
    """Two runners on one results folder, one of them in a container job that set RANK=1: every
    cell is trained once, by one of them (one attempt, never resumed), and their counts add up."""
    grid_file = small_grid(tmp_path)
    root = tmp_path / "shared"
    procs = [start_tree(grid_file, root, env={"RANK": "1"}), start_tree(grid_file, root)]
    ran = 0
    for p in procs:
        out, err = p.communicate(timeout=600)
        assert p.returncode in (0, 1), err[-2000:]  # 1: some cell was running elsewhere
        ran += int(re.search(r"\[ablate\] (\d+) run,", out).group(1))
    summaries = [results.read_summary(d) for d in (root / "faultgrid").iterdir() if results.is_complete(d)]
    assert len(summaries) == 4 and ran == 4
    assert all(s["attempts"] == 1 and s["resumed_from_step"] == 0 for s in summaries)
    for s in summaries:
        curve = pd.read_csv(root / "faultgrid" / s["run_id"] / results.METRICS)
        assert curve["step"].is_monotonic_increasing and curve["step"].iloc[-1] == 24


def test_a_local_folder_has_working_locks(tmp_path):
    assert results.lock_problem(tmp_path) is None
    assert not list(tmp_path.iterdir())  # the probe file is gone


def test_a_file_system_without_locks_is_detected_and_runs_go_on_unlocked(tmp_path, monkeypatch):
    def no_locks(f, op):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_locks)
    problem = results.lock_problem(tmp_path)
    assert problem == f"file locks are not supported under {tmp_path} (ENOLCK: No locks available)"
    with results.run_lock(tmp_path / "run") as acquired:
        assert acquired  # unlocked: reported once per grid, not a failure of every cell


def test_locks_a_second_process_also_takes_are_detected(tmp_path, monkeypatch):
    monkeypatch.setattr(fcntl, "flock", lambda f, op: None)  # this process "holds" nothing
    assert results.lock_problem(tmp_path) == f"a lock held on a file under {tmp_path} was taken by a second process too"


MOUNTINFO = """22 1 0:21 / / rw,relatime - ext4 /dev/sda1 rw
40 22 0:40 / /shared rw,relatime - nfs4 server:/export rw,vers=4.2,local_lock=flock,addr=10.0.0.1
41 22 0:41 / /shared/locked rw,relatime - nfs4 server:/other rw,vers=4.2,local_lock=none
42 22 0:42 / /lustre rw - lustre 10.0.0.2@tcp:/fs rw,localflock
43 22 0:43 / /nfs3 rw - nfs server:/old rw,vers=3,nolock,local_lock=all
"""


@pytest.mark.parametrize(
    "where,found",
    [
        ("/shared/results", "nfs4 (/shared) mounted with local_lock=flock"),
        ("/shared/locked/results", None),
        ("/lustre/me", "lustre (/lustre) mounted with localflock"),
        ("/nfs3/x", "nfs (/nfs3) mounted with local_lock=all,nolock"),
        ("/home/me", None),
    ],
)
def test_mounts_whose_locks_hold_on_one_host_only_are_named(tmp_path, where, found):
    info = tmp_path / "mountinfo"
    info.write_text(MOUNTINFO)
    problem = results.host_local_locks(where, str(info))
    assert (problem is None) if found is None else (found in problem and "this host only" in problem)


def test_preflight_reports_a_lock_problem_once(tmp_path, monkeypatch, capfd):
    calls = []
    monkeypatch.setattr(results, "lock_problem", lambda root: calls.append(root) or "no locks here")
    monkeypatch.setattr(grid_checks, "_LOCKS_CHECKED", {})
    exp, _, _ = _one_cell(tmp_path)
    for _ in range(3):
        grid_checks.preflight(exp, tmp_path / "r")
    err = capfd.readouterr().err
    assert len(calls) == 1 and err.count("warning: no locks here") == 1 and "trained twice" in err
