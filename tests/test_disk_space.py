"""Disk space: the free-space check is sized from the run's checkpoints (the estimate against real
files), and a disk that fills during a checkpoint save ends the run with one clear error, leaves
no temporary file and no damaged checkpoint, and the cell resumes once space is back."""

from __future__ import annotations

import os
import shutil
import subprocess

import lightning.pytorch as pl
import pytest
import yaml

from ablate import grid_checks, results
from ablate.experiment import load_experiment
from ablate.train.run import RunOptions, run_cell
from tests.faults import same_run


def grid(tmp_path, name="diskgrid", **train):
    spec = {
        "base": {
            "model.name": "cifar_resnet",
            "model.width": 8,
            "model.depth": 20,
            "data": {"name": "digits", "batch_size": 32},
            "train": {"max_steps": 30, "log_every": 5, "eval_every": 15, "checkpoint_every": 5, **train},
        },
        "arms": {"a": {}},
        "seeds": [0],
        "profiles": {"tiny": {}},
    }
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return load_experiment(str(path))


def test_a_results_write_on_a_full_disk_is_one_error_naming_the_folder(tmp_path, monkeypatch):
    def disk_full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(results.DiskFull) as e:
        results.write_json(tmp_path / "run" / "summary.json", {"a": 1})
    message = str(e.value)
    assert f"no space left on the device of {tmp_path / 'run'}" in message and "writing summary.json" in message
    assert "run the same command again" in message and "\n" not in message
    assert not list((tmp_path / "run").iterdir())  # the temporary file went with the failure


def test_temporary_files_of_a_killed_attempt_are_removed_and_nothing_else(tmp_path):
    ckpts = tmp_path / results.CHECKPOINTS
    ckpts.mkdir()
    left = [tmp_path / ".metrics.csv.abc123.tmp", ckpts / "step15.ckpt.tmp", ckpts / ".x.tmp"]
    kept = [tmp_path / "metrics.csv", ckpts / "step10.ckpt", tmp_path / "corrupt" / "step5.ckpt", tmp_path / ".lock"]
    for p in left + kept:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("x")
    assert sorted(results.remove_temporary_files(tmp_path)) == sorted(left)
    assert all(p.exists() for p in kept) and not any(p.exists() for p in left)


@pytest.mark.slow
def test_the_checkpoint_estimate_is_at_or_a_little_above_the_real_file(tmp_path):
    """A 4-channel ResNet-8 (SGD with momentum), the quick profile's plain-56 at width 8, an AdamW
    MLP with an EMA of its weights: estimate / file in [1.0, 1.2]."""
    cases = {
        "resnet8": ({"model.width": 4, "model.depth": 8}, {"name": "sgd", "lr": 0.1, "momentum": 0.9}, 0.0),
        "plain56": (
            {"model.width": 8, "model.depth": 56, "model.shortcut": "none"},
            {"name": "sgd", "lr": 0.1, "momentum": 0.9},
            0.0,
        ),
        "mlp": ({"model.name": "bn_mlp", "model.input_size": 8}, {"name": "adamw", "lr": 0.01}, 0.99),
    }
    ratios = {}
    for name, (model, optim, ema) in cases.items():
        spec = {
            "base": {
                "model.name": "cifar_resnet",
                **model,
                "data": {"name": "digits", "batch_size": 128, "val_size": 0.1},
                "optim": optim,
                "train": {"max_steps": 20, "log_every": 2, "eval_every": 10, "checkpoint_every": 20, "ema_decay": ema},
            },
            "arms": {"a": {}},
            "seeds": [0],
            "profiles": {"p": {}},
        }
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(spec, sort_keys=False))
        exp = load_experiment(str(path))
        run_cell(exp, exp.cells[0], RunOptions(tmp_path / "r", wandb="off", progress=False))
        real = (results.run_dir(tmp_path / "r", name, exp.cells[0].run_id) / "checkpoints" / "step20.ckpt").stat()
        ratios[name] = grid_checks.checkpoint_bytes(exp.cells[0].config) / real.st_size
    print(f"\nestimate / checkpoint file: {ratios}")
    assert all(1.0 <= r <= 1.2 for r in ratios.values()), ratios


class FillDiskAt(pl.Callback):
    """Fills the file system of `folder` but for `spare` bytes after optimiser step `step` (the next
    checkpoint save then finds it full)."""

    def __init__(self, folder, step: int, spare: int):
        self.folder, self.step, self.spare = folder, step, spare

    def on_train_batch_end(self, trainer, *args):
        if trainer.global_step == self.step:
            free = shutil.disk_usage(self.folder).free
            with open(self.folder / "filler", "wb") as f:
                f.write(b"\0" * max(0, free - self.spare))


@pytest.fixture
def small_tmpfs(tmp_path):
    """A 24 MiB tmpfs (mount needs root and a kernel that lets this process mount)."""
    where = tmp_path / "tmpfs"
    where.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(where)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.decode().strip() or 'not root'})")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


@pytest.mark.slow
def test_a_disk_that_fills_during_a_checkpoint_save_stops_the_run_and_the_cell_resumes(tmp_path, small_tmpfs):
    exp = grid(tmp_path)
    cell = exp.cells[0]
    clean = run_cell(exp, cell, RunOptions(tmp_path / "clean", wandb="off", progress=False))
    size = (results.run_dir(tmp_path / "clean", exp.name, cell.run_id) / "checkpoints" / "step30.ckpt").stat().st_size
    opts = RunOptions(small_tmpfs / "results", wandb="off", progress=False)
    out = results.run_dir(opts.results_root, exp.name, cell.run_id)

    with pytest.raises(results.DiskFull) as e:  # full after step 12: the save of step 15 fails
        run_cell(exp, cell, opts, callbacks=[FillDiskAt(small_tmpfs, 12, size // 4)])
    message = str(e.value)
    assert f"no space left on the device of {out / 'checkpoints'}" in message and "step15.ckpt.tmp" in message
    assert "run the same command again" in message
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["step10.ckpt", "step5.ckpt"]
    assert not list(out.rglob("*.tmp")) and not results.is_complete(out)

    (small_tmpfs / "filler").unlink()  # space is back
    summary = run_cell(exp, cell, opts)
    assert summary["resumed_from_step"] == 10 and summary["attempts"] == 2 and clean["attempts"] == 1
    same_run(results.run_dir(tmp_path / "clean", exp.name, cell.run_id), out)


def test_a_cell_run_stopped_by_a_full_disk_is_one_line_and_exit_1(tmp_path, monkeypatch, capsys):
    from ablate.cli import main
    from ablate.train import run as run_module

    exp = grid(tmp_path)
    full = results.disk_full(OSError(28, "No space left on device"), tmp_path / "r" / "x" / "metrics.csv")

    def stopped(*args, **kwargs):
        raise full

    monkeypatch.setattr(run_module, "run_cell", stopped)
    code = main(["run", str(exp.path), "--cell", "0", "--results-dir", str(tmp_path / "r"), "--wandb", "off"])
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert code == 1 and len(err) == 1, err
    assert err[0].startswith(f"[ablate] cell 0 ({exp.cells[0].run_id}) failed: no space left on the device of ")
