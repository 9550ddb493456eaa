"""Devices per cell: one unless the experiment (train.world_size) or the command (--devices) asks
for DDP; the world size in the run id (every published id unchanged); BN under DDP becomes
SyncBatchNorm, or is refused on the CPU; the DDP re-entry of ranks >= 1; train.deterministic."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
import torch.nn as nn

from ablate.experiment import load_experiment
from tests.helpers import REPO

# Reports committed in docs/results/ and their run ids: train.world_size and train.deterministic
# entered the defaults after them (config.ADDED_KEYS), so each id must still name the same cell.
PUBLISHED = ("degradation-quick", "convnext-quick")


@pytest.mark.parametrize("report", PUBLISHED)
def test_published_run_ids_survive_the_new_keys(report):
    experiment, _, profile = report.partition("-")
    text = (REPO / "docs" / "results" / report / "PROVENANCE.md").read_text()
    published = set(re.findall(r"\| ([\w-]+-s\d+-[0-9a-f]{10}) \|", text))
    cells = load_experiment(experiment, profile).cells
    assert published and published <= {c.run_id for c in cells}
    assert {c.config["train"]["world_size"] for c in cells} == {1}  # one device per cell


@pytest.fixture
def cli(monkeypatch, capsys, tmp_path):
    """`python -m ablate ...` in this process; returns (exit code, stdout, stderr)."""
    from ablate import cli as ablate_cli

    monkeypatch.chdir(tmp_path)

    def run(*args: str):
        capsys.readouterr()
        code = ablate_cli.main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    return run


def test_world_size_is_part_of_the_run_id_only_when_asked_for():
    from ablate.commands.common import device_overrides

    one = load_experiment("degradation").cells[0]
    assert device_overrides(None, 1, []) == []  # no --devices: the cell's own world size (1)
    assert load_experiment("degradation", overrides=device_overrides("1", 1, [])).cells[0].run_id == one.run_id
    two = load_experiment("degradation", overrides=device_overrides("2", 2, [])).cells[0]
    assert two.config["train"]["world_size"] == 4 and two.run_id != one.run_id


@pytest.mark.parametrize(
    "args, match",
    [
        (["--devices", "auto"], "--devices 'auto': valid: a whole number >= 1"),
        (["--devices", "2", "--set", "train.world_size=4"], "contradicts --devices 2 x --num-nodes 1 = 2"),
        (["--set", "train.world_size=3"], "128 does not split evenly over train.world_size=3"),
        (["--devices", "2", "--accelerator", "cpu"], "SyncBatchNorm, which runs on GPUs only"),
        (["--devices", "2", "--runs-per-gpu", "2", "--set", "model.norm=none"], "drop --runs-per-gpu"),
        (["--num-nodes", "2"], "--num-nodes 2: train.world_size must be a multiple of it"),
    ],
)
def test_device_options_refused_in_one_line_before_anything_trains(cli, tmp_path, args, match):
    code, out, err = cli("run", "degradation", "--results-dir", str(tmp_path / "r"), "--wandb", "off", *args)
    assert code == 2 and match in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "r" / "degradation").exists()


def _trainer(world: int, **kw):
    from ablate import config as C
    from ablate.train.builders import build_trainer

    train = {**C.DEFAULTS["train"], "world_size": world, **kw}
    return build_trainer(train, Path("unused"), [], accelerator="cpu")


def test_one_device_unless_asked_and_ddp_makes_batchnorm_sync():
    from lightning.pytorch.strategies import DDPStrategy, SingleDeviceStrategy

    one = _trainer(1)
    assert isinstance(one.strategy, SingleDeviceStrategy) and one.num_devices == 1
    two = _trainer(2)
    assert isinstance(two.strategy, DDPStrategy) and two.num_devices == 2
    net = two.strategy._layer_sync.apply(nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)))
    assert isinstance(net[1], nn.SyncBatchNorm)  # what Lightning does to the model when DDP starts


def test_deterministic_switches_cudnn_tf32_and_torch_algorithms():
    was = torch.backends.cudnn.allow_tf32
    try:
        _trainer(1, deterministic=True)
        assert torch.are_deterministic_algorithms_enabled() and torch.is_deterministic_algorithms_warn_only_enabled()
        assert torch.backends.cudnn.deterministic and not torch.backends.cudnn.allow_tf32
        assert not torch.backends.cuda.matmul.allow_tf32 and not torch.backends.cudnn.benchmark
        _trainer(1)  # the next cell of the same process is back to torch's defaults
        assert not torch.are_deterministic_algorithms_enabled() and torch.backends.cudnn.allow_tf32
        assert not torch.backends.cudnn.deterministic
    finally:
        torch.use_deterministic_algorithms(False)
        torch.backends.cudnn.deterministic, torch.backends.cudnn.allow_tf32 = False, was


def test_only_ranks_that_ablate_started_train_the_named_cell(monkeypatch):
    from ablate.train import DDP_RUN_ID_ENV
    from ablate.train.run import launched_cell

    cells = load_experiment("degradation").cells
    for var in ("RANK", "LOCAL_RANK", "SLURM_PROCID", "NODE_RANK", DDP_RUN_ID_ENV):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv(DDP_RUN_ID_ENV, cells[3].run_id)
    assert launched_cell(cells) is None  # rank 0 walks the grid
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert launched_cell(cells) == cells[3]
    monkeypatch.delenv(DDP_RUN_ID_ENV)
    assert launched_cell(cells) is None  # a rank that srun or torchrun started: its own --cell
    monkeypatch.setenv(DDP_RUN_ID_ENV, "nope-s0-0000000000")
    with pytest.raises(RuntimeError, match="no such cell"):
        launched_cell(cells)


def test_submit_ddp_cells_carry_their_world_size(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no SLURM: a dry run
    args = ("submit", "degradation", "--results-dir", str(tmp_path), "--dry-run", "--time", "30")
    code, out, err = cli(*args, "--gpus-per-task", "2", "--set", "model.width=16")
    assert code == 0, err
    ids = load_experiment("degradation", overrides=["model.width=16", "train.world_size=2"]).cells
    assert f"RUN_ID={ids[0].run_id}" in out.replace("'", "")
    assert "--set=train.world_size=2" in out and "--devices=2" in out
