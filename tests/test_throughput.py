"""Throughput machinery: no host sync per training step, threads from the allocation, packing."""

from __future__ import annotations

import math

import pytest
import torch
import yaml
from torch.utils._python_dispatch import TorchDispatchMode

SYNC_OPS = {"_local_scalar_dense", "is_nonzero", "item"}  # what .item(), float(t), `if t:` reach


class SyncCounter(TorchDispatchMode):
    """Counts the ops that copy a tensor's value to the host (a device sync on a GPU). tolist() and
    numpy() read memory without dispatching, so they are counted by patching them (see counting)."""

    def __init__(self):
        super().__init__()
        self.count = 0
        self.where: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func.overloadpacket.__name__ in SYNC_OPS:
            self.count += 1
        return func(*args, **(kwargs or {}))


def _grid(tmp_path, max_steps: int, log_every: int, **train) -> Experiment:  # noqa: F821
    from ablate.experiment import load_experiment

    spec = {
        "base": {
            "model.name": "cifar_resnet",
            "model.width": 4,
            "model.depth": 8,
            "data": {"name": "digits", "batch_size": 32, "augment": "crop", "pad": 1},
            "train": {"max_steps": max_steps, "log_every": log_every, "eval_every": 0, "checkpoint_every": 0, **train},
        },
        "arms": {"a": {}},
        "seeds": [0],
        "profiles": {"tiny": {}},
    }
    path = tmp_path / "syncgrid.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return load_experiment(str(path), "tiny")


def _count_training_syncs(tmp_path, monkeypatch, max_steps, log_every) -> tuple[int, dict]:
    """Train one cell in this process; count host syncs from the first to the last training step,
    evaluations excluded."""
    import lightning.pytorch as pl

    from ablate.train.run import RunOptions, run_cell

    counter = SyncCounter()
    state = {"on": False}
    for name in ("tolist", "numpy"):  # not dispatched: count them at the Python level
        original = getattr(torch.Tensor, name)

        def counted(self, *a, _original=original, **k):
            counter.count += state["on"]
            return _original(self, *a, **k)

        monkeypatch.setattr(torch.Tensor, name, counted)

    class Window(pl.Callback):
        def on_train_batch_start(self, *a):
            if not state["on"]:
                self._on()

        def _on(self):
            state["on"] = True
            counter.__enter__()

        def _off(self):
            if state["on"]:
                state["on"] = False
                counter.__exit__(None, None, None)

        def on_validation_start(self, *a):
            self._off()

        def on_train_end(self, *a):
            self._off()

    exp = _grid(tmp_path, max_steps, log_every)
    opts = RunOptions(tmp_path / "results", wandb="off", accelerator="cpu", devices=1, progress=False)
    summary = run_cell(exp, exp.cells[0], opts, callbacks=[Window()])
    return counter.count, summary


@pytest.mark.slow
@pytest.mark.parametrize("max_steps,log_every", [(25, 10)])
def test_training_steps_sync_once_per_log_window(tmp_path, monkeypatch, max_steps, log_every):
    # Before the TrainWindow this counted 89 (self.log on_step, isfinite in Python, ...).
    syncs, summary = _count_training_syncs(tmp_path, monkeypatch, max_steps, log_every)
    print(f"{syncs} host syncs in {max_steps} training steps (log_every={log_every})")
    assert summary["status"] == "completed" and summary["steps"] == max_steps
    assert 1 <= syncs <= math.ceil(max_steps / log_every)


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

    exp = _grid(tmp_path, 60, 5)
    cell = exp.cells[0]
    cell.config["optim"]["lr"] = 1e6  # after hashing: only this in-process run sees it
    opts = RunOptions(tmp_path / "results", wandb="off", accelerator="cpu", devices=1, progress=False)
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
    clean = RunOptions(tmp_path / "clean", wandb="off", accelerator="cpu", devices=1, progress=False)
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


@pytest.mark.slow
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_gpu_training_steps_never_sync(tmp_path):
    """torch.cuda.set_sync_debug_mode('error') from the second training step to the last, with no
    log boundary inside: any host sync in a step (item, a Python `if` on a tensor, a D2H copy) raises."""
    import lightning.pytorch as pl

    from ablate.train.run import RunOptions, run_cell

    class NoSync(pl.Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            if trainer.global_step == 1:
                torch.cuda.set_sync_debug_mode("error")

        def on_validation_start(self, *a):
            torch.cuda.set_sync_debug_mode(0)

        def on_train_end(self, *a):
            torch.cuda.set_sync_debug_mode(0)

    exp = _grid(tmp_path, 30, 1000)  # 30 steps of 32 images: inside the first epoch of digits
    opts = RunOptions(tmp_path / "results", wandb="off", accelerator="gpu", devices=1, progress=False)
    try:
        summary = run_cell(exp, exp.cells[0], opts, callbacks=[NoSync()])
    finally:
        torch.cuda.set_sync_debug_mode(0)
    assert summary["status"] == "completed" and summary["steps"] == 30
    print("\n[gpu] 0 host syncs in training steps 2..30 (set_sync_debug_mode('error') raised nothing)")


@pytest.mark.slow
def test_gpu_check_dry_run_writes_its_logs(tmp_path):
    """benchmarks/gpu_check.sh with DRY_RUN=1: every step runs on the CPU at tiny sizes (the packed
    slice on a fake GPU id) and leaves its log; the summary names each step's exit code."""
    import os
    import subprocess
    import sys

    from tests.helpers import REPO

    logs = tmp_path / "logs"
    env = {**os.environ, "DRY_RUN": "1", "PYTHON": sys.executable}
    res = subprocess.run(
        ["bash", str(REPO / "benchmarks" / "gpu_check.sh"), str(logs)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    summary = (logs / "summary.txt").read_text() if (logs / "summary.txt").exists() else ""
    assert res.returncode == 0, res.stdout + res.stderr + summary
    for name in ("env.txt", "gpu_tests.log", "bench.log", "bench.json", "packing.log", "packing.json", "slice.log"):
        assert (logs / name).stat().st_size > 0, name
    for step in ("gpu_tests", "bench", "packing", "slice"):
        assert f"[gpu_check] {step}: exit 0" in summary
    assert "ablate/raw per-step time" in summary and "projected degradation paper grid" in summary
    assert summary.count("[slice] ") == 6 and "completed" in summary


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
