"""Throughput machinery: no host sync per training step, threads from the allocation, packing."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import yaml

from tests.host_syncs import DIGITS_STEPS_PER_EPOCH_AT_32, count_step_syncs
from tests.host_syncs import grid as grid_of_syncs

PRECISIONS = ("32-true", "bf16-mixed", "bf16-true")  # the no-sync claim's; 16-mixed syncs every step


@pytest.mark.slow
def test_training_steps_sync_once_per_log_window(tmp_path):
    # Before the TrainWindow this counted 89 in 25 steps (self.log on_step, isfinite in Python, ...).
    got = count_step_syncs(tmp_path, "cpu", max_steps=25, log_every=10)
    print(f"{got['syncs']} host syncs in training steps 2..25 (log_every=10)")
    assert got["summary"]["status"] == "completed" and got["summary"]["steps"] == 25
    assert 1 <= got["syncs"] <= math.ceil(25 / 10)


def test_fifty_steps_of_32_digits_cross_an_epoch(tmp_path):
    from ablate.train.builders import build_data_and_network

    dm, _ = build_data_and_network(grid_of_syncs(tmp_path, 50, 1000).cells[0].config, 0, None)
    assert len(dm.train_dataloader()) == DIGITS_STEPS_PER_EPOCH_AT_32 < 50


@pytest.mark.slow
@pytest.mark.parametrize("precision", [*PRECISIONS, "16-mixed"])
def test_training_steps_never_wait_for_the_device(tmp_path, precision):
    """Steps 2..50 of a cell, across the first epoch boundary (step 40, where the next epoch's
    order goes to the device), with no log window inside: no host sync, for every precision of the
    claim. On a GPU, torch.cuda.set_sync_debug_mode counts every sync (a D2H read, a copy from
    page-able memory, a synchronize); on the CPU the value reads that would sync on a GPU.
    16-mixed is outside the claim: its GradScaler reads the found-inf flag after every step. With
    ABLATE_SYNC_REPORT set, each count is added to that JSON file (benchmarks/gpu_check.py)."""
    accelerator = "gpu" if torch.cuda.is_available() else "cpu"
    got = count_step_syncs(tmp_path, accelerator, max_steps=50, log_every=1000, precision=precision)
    _report(precision, accelerator, got)
    assert got["summary"]["status"] == "completed" and got["summary"]["steps"] == 50
    if precision in PRECISIONS:
        assert got["syncs"] == 0, f"{got['syncs']} host syncs in {got['steps']} steps ({precision}, {accelerator})"
    else:
        assert got["syncs"] >= got["steps"], got["syncs"]


def _report(precision: str, accelerator: str, got: dict) -> None:
    import json
    import os

    from ablate.results import atomic_write_text

    print(f"\n[syncs] {precision} on {accelerator}: {got['syncs']} host syncs in {got['steps']} training steps")
    path = os.environ.get("ABLATE_SYNC_REPORT")
    if path:
        report = json.loads(Path(path).read_text()) if Path(path).exists() else {}
        report[precision] = {"device": accelerator, "syncs": got["syncs"], "steps": got["steps"]}
        atomic_write_text(Path(path), json.dumps(report, indent=2))


def test_window_records_means_and_first_nonfinite_step():
    from ablate.train.module import TrainWindow

    w = TrainWindow()
    for step, (loss, err) in enumerate([(1.0, 0.5), (3.0, 0.25)]):
        w.add(torch.tensor(loss), torch.tensor(err), step)
    assert w.read() == ({"train/loss": 2.0, "train/error": 0.375}, None)
    state = None
    for step, loss in [(2, 1.0), (3, float("nan")), (4, float("inf"))]:
        w.add(torch.tensor(loss), torch.tensor(0.0), step)
        if step == 2:
            state = w.state_dict()  # a checkpoint inside the window
    assert w.read()[1] == 3  # the first non-finite step, not a later one
    resumed = TrainWindow()
    resumed.load_state_dict(state)
    resumed.add(torch.tensor(5.0), torch.tensor(1.0), 3)
    assert resumed.read() == ({"train/loss": 3.0, "train/error": 0.5}, None)


@pytest.mark.slow
def test_divergence_stops_at_the_window_and_keeps_the_curve(tmp_path):
    from ablate import results
    from ablate.train.run import RunOptions, run_cell

    exp = grid_of_syncs(tmp_path, 60, 5)
    cell = exp.cells[0]
    cell.config["optim"]["lr"] = 1e6  # after hashing: only this in-process run sees it
    opts = RunOptions(tmp_path / "results", wandb="off", accelerator="cpu", progress=False)
    s = run_cell(exp, cell, opts)
    assert s["status"] == "diverged" and s["diverged_at_step"] is not None
    assert s["diverged_at_step"] < s["steps"] <= s["diverged_at_step"] + 5 and s["steps"] % 5 == 0
    import pandas as pd

    curve = pd.read_csv(results.run_dir(opts.results_root, exp.name, cell.run_id) / results.METRICS)
    train = curve.dropna(subset=["train/loss"])
    assert (train["step"] <= s["diverged_at_step"]).all() and train["train/loss"].notna().all()


PACK_GRID = {
    "base": {
        "model.name": "cifar_resnet",
        "model.width": 4,
        "model.depth": 8,
        "data": {"name": "digits", "batch_size": 32, "augment": "crop", "pad": 1},
        "train": {"max_steps": 30, "log_every": 2, "eval_every": 15, "checkpoint_every": 5},
    },
    "arms": {"a": {}, "b": {"model.width": 6}},
    "seeds": [0],
    "profiles": {"tiny": {}},
}


def test_allocated_cpus_follow_slurm_and_affinity(monkeypatch):
    import os

    from ablate.train.threads import allocated_cpus

    mask = len(os.sched_getaffinity(0))
    monkeypatch.delenv("SLURM_CPUS_PER_TASK", raising=False)
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    assert allocated_cpus() == mask
    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "1")
    assert allocated_cpus() == 1
    monkeypatch.setenv("SLURM_CPUS_PER_TASK", str(mask + 50))  # never more than the mask allows
    assert allocated_cpus() == mask
    monkeypatch.delenv("SLURM_CPUS_PER_TASK")
    monkeypatch.setenv("SLURM_JOB_ID", "12")  # a job without --cpus-per-task, no CPU binding
    monkeypatch.setenv("SLURM_CPUS_ON_NODE", "1")
    monkeypatch.setenv("SLURM_NTASKS_PER_NODE", "1")
    assert allocated_cpus() == 1
    for var in ("SLURM_JOB_ID", "SLURM_CPUS_ON_NODE", "SLURM_NTASKS_PER_NODE"):
        monkeypatch.delenv(var)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0})
    assert allocated_cpus() == 1  # not os.cpu_count()


def test_a_runs_threads_are_its_share_at_most_omp_num_threads(monkeypatch):
    import os

    from ablate.train.threads import allocated_cpus, default_threads

    for var in ("SLURM_CPUS_PER_TASK", "SLURM_JOB_ID", "OMP_NUM_THREADS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)))
    assert (allocated_cpus(), default_threads(), default_threads(jobs=3)) == (8, 8, 2)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # asked for explicitly: never more
    assert (allocated_cpus(), default_threads(), default_threads(jobs=3)) == (8, 1, 1)
    monkeypatch.setenv("OMP_NUM_THREADS", "16")  # never more than the allocation either
    assert default_threads() == 8


@pytest.mark.slow
def test_packed_grid_trains_every_cell_once_and_resumes(tmp_path):
    """K=2 worker processes on one (fake) GPU id, the CPU doing the work: every cell trained once,
    each in a worker pinned to that id, and a packed grid killed mid-cell resumes to the same curves."""
    import signal
    import subprocess
    import sys

    import pandas as pd

    from ablate import results
    from ablate.executor import run_grid
    from ablate.experiment import load_experiment
    from ablate.train.run import RunOptions
    from tests.helpers import REPO
    from tests.test_resume import _wait_for

    path = tmp_path / "packgrid.yaml"
    path.write_text(yaml.safe_dump(PACK_GRID, sort_keys=False))
    exp = load_experiment(str(path), "tiny")
    clean = RunOptions(tmp_path / "clean", wandb="off", accelerator="cpu", progress=False)
    first = run_grid(exp, clean, cells=exp.cells[:1], runs_per_gpu=2, gpus=["0"])
    out = run_grid(exp, clean, runs_per_gpu=2, gpus=["0"])
    assert first.completed == [exp.cells[0].run_id] and out.skipped == [exp.cells[0].run_id]
    assert sorted(out.completed) == sorted(c.run_id for c in exp.cells[1:]) and not out.failed
    assert {gpu for gpu, _ in out.placed.values()} == {"0"} and len({p for _, p in out.placed.values()}) <= 2
    for c in exp.cells:
        assert results.read_summary(results.run_dir(clean.results_root, exp.name, c.run_id))["attempts"] == 1

    killed = tmp_path / "killed"
    cmd = [
        sys.executable,
        "-m",
        "ablate",
        "run",
        str(path),
        "--results-dir",
        str(killed),
        "--wandb",
        "off",
        "--no-progress",
        "--no-analysis",
        "--accelerator",
        "cpu",
        "--devices",
        "1",
        "--runs-per-gpu",
        "2",
    ]
    env = {**__import__("os").environ, "CUDA_VISIBLE_DEVICES": "0"}
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    grid = killed / exp.name

    def some_cell_checkpointed_mid_run():
        return any(int(p.stem[4:]) >= 10 for p in grid.glob("*/checkpoints/step*.ckpt")) if grid.exists() else False

    assert _wait_for(some_cell_checkpointed_mid_run, proc), proc.stderr.read() if proc.poll() else "timeout"
    proc.send_signal(signal.SIGKILL)  # the workers die with it (PR_SET_PDEATHSIG)
    proc.wait()
    res = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    resumed = [results.read_summary(results.run_dir(killed, exp.name, c.run_id)) for c in exp.cells]
    assert any(s["attempts"] == 2 and s["resumed_from_step"] >= 10 for s in resumed)
    for c in exp.cells:
        a = pd.read_csv(results.run_dir(clean.results_root, exp.name, c.run_id) / results.METRICS)
        b = pd.read_csv(results.run_dir(killed, exp.name, c.run_id) / results.METRICS)
        pd.testing.assert_frame_equal(a, b)


SLURM_GRID = {  # a plain-20 cell of the digits (the earlier quick degradation setting), two seeds
    "base": {
        "model.name": "cifar_resnet",
        "model.depth": 20,
        "model.width": 8,
        "model.shortcut": "A",
        "data": {"name": "digits", "batch_size": 64, "val_size": 0.1, "augment": "crop", "pad": 1},
        "train": {"max_steps": 200, "log_every": 5, "eval_every": 40, "checkpoint_every": 40},
    },
    "arms": {"plain-20": {"model.shortcut": "none"}},
    "seeds": [0, 1],
    "profiles": {"quick": {}},
}


@pytest.mark.slurm
@pytest.mark.slow
def test_a_slurm_task_trains_with_the_threads_it_was_given(tmp_path):
    """Two quick cells as two SLURM tasks of one CPU each on the dev cluster: each trains with one
    torch thread, as recorded in its provenance. One thread per machine core instead made a cell ~12x
    slower (47 s vs 4 s). The wall-time ratio itself is a benchmark (benchmarks/slurm_vs_local.py),
    not a test: on a shared machine it measured 0.76x-1.72x from run to run."""
    from ablate import results
    from ablate.experiment import load_experiment
    from tests import slurm_helpers as H

    if H.missing_slurm():
        pytest.skip(H.missing_slurm())
    path = tmp_path / "quickcell.yaml"
    path.write_text(yaml.safe_dump(SLURM_GRID, sort_keys=False))
    exp = load_experiment(str(path))
    with H.dev_cluster() as env:
        remote = tmp_path / "slurm"
        H.ablate(env, "submit", str(path), "--results-dir", str(remote), "--time", "10", "--wandb", "off")
        H.wait_until_idle(env, remote, timeout=600)
    for c in exp.cells:
        run = results.run_dir(remote, exp.name, c.run_id)
        assert results.read_summary(run)["steps"] == SLURM_GRID["base"]["train"]["max_steps"]
        assert results.read_json(run / results.PROVENANCE)["device"]["cpu_threads"] == 1


def test_bench_registered_cheap_to_import_and_refuses_bad_input():
    import subprocess
    import sys

    from ablate.cli import COMMANDS
    from tests.helpers import run_cli

    assert COMMANDS["bench"] == "ablate.commands.bench"
    code = "import sys, ablate.commands.bench; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
    res = run_cli("bench", "--steps", "0")
    assert res.returncode == 2 and res.stderr.count("\n") == 1 and "--steps" in res.stderr


def test_project_paper_hours_from_rates():
    from ablate.train.benchmark import project_paper_hours

    # 10,000 images/s at every depth: 10 nets x 3 seeds x 64,000 x 128 images / 1e4 / 3600 s.
    flat = project_paper_hours({20: 1e4, 56: 1e4, 110: 1e4})
    assert flat == pytest.approx(10 * 3 * 64_000 * 128 / 1e4 / 3600)
    # per-image time linear in depth: 32 and 44 interpolated between 20 and 56
    lin = project_paper_hours({20: 1e4 * 20 / 20, 56: 1e4 * 20 / 56, 110: 1e4 * 20 / 110})
    assert lin == pytest.approx(6 * 64_000 * 128 * sum(d / 20 for d in (20, 32, 44, 56, 110)) / 1e4 / 3600)
