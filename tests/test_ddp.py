"""Multi-process runs for real: a two-process DDP cell on the CPU (Lightning's DDP strategy, gloo),
its agreement with one process, resume after SIGKILL; an image-folder cell with the timm recipe
pieces on, resumed after SIGKILL exactly.

Agreement: with data.batch_size the global batch, each of the two ranks trains on its half of the
same augmented batch and DDP averages the two half-batch gradients, which is the one-process
gradient of the whole batch. For a BatchNorm-free net (on GPUs BN becomes SyncBatchNorm; on the
CPU BN + DDP is refused) and a loss that is a mean over equal halves, the two runs must have the
same weights after every step up to float summation order, hence the same validation/test error
curves and final errors; the logged train/loss and train/error are the mean over the ranks' halves,
so they equal the one-process record up to float rounding too. The world size is part of the run
id (train.world_size), so the DDP run never reuses or overwrites the one-process result.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml

from ablate import results
from tests.folder_tree import make_tree
from tests.helpers import REPO, run_cli

# Every test here trains: DDP processes, an image-folder cell, a SLURM job.
pytestmark = pytest.mark.slow

GRID = {
    "description": "two-process DDP check",
    "base": {
        "model": {"name": "bn_mlp", "hidden": 32, "depth": 2, "activation": "relu", "norm": "none", "input_size": 8},
        "data": {"name": "digits", "batch_size": 32, "augment": "crop_flip", "pad": 1},
        "optim": {"name": "sgd", "lr": 0.1},
        "train": {"max_steps": 20, "log_every": 2, "eval_every": 10, "checkpoint_every": 5},
    },
    "arms": {"mlp": {}},
    "seeds": [0],
    "profiles": {"tiny": {}},
}
WEIGHT_TOL = 1e-6  # max |w_ddp - w_single| after 20 SGD steps (measured: ~3e-8)


def _cmd(grid: Path, root: Path, devices: int, wandb: str = "offline") -> list[str]:
    return [
        sys.executable,
        "-m",
        "ablate",
        "run",
        str(grid),
        "--cell",
        "0",
        "--results-dir",
        str(root),
        "--wandb",
        wandb,
        "--no-progress",
        "--accelerator",
        "cpu",
        "--devices",
        str(devices),
    ]


def _run(cmd, timeout=300) -> subprocess.CompletedProcess:
    return subprocess.run(
        cmd, cwd=REPO, capture_output=True, text=True, timeout=timeout, env={**os.environ, "PYTHONUNBUFFERED": "1"}
    )


def _kill_after_checkpoint(cmd, run_dir_glob, min_step: int, root: Path) -> None:
    """Start cmd in its own process group, SIGKILL the whole group (every rank, every loader
    worker) once a checkpoint at step >= min_step exists."""
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        ckpts = list(root.glob(f"{run_dir_glob}/checkpoints/step*.ckpt"))
        if any(int(p.stem[4:]) >= min_step for p in ckpts):
            break
        time.sleep(0.05)
    assert proc.poll() is None, f"finished or failed before the kill: {proc.stderr.read().decode()[-2000:]}"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _weights(run_dir: Path) -> dict:
    # The newest checkpoint (the two newest are kept): the final weights.
    ckpt = max((run_dir / "checkpoints").glob("step*.ckpt"), key=lambda p: int(p.stem[4:]))
    return torch.load(ckpt, map_location="cpu", weights_only=True)["state_dict"]


def _eval_curve(run_dir: Path) -> pd.DataFrame:
    m = pd.read_csv(run_dir / "metrics.csv")
    return m.dropna(subset=["val/error"])[["step", "val/error", "test/error"]].reset_index(drop=True)


def test_two_process_ddp_cell_agrees_with_one_process_and_resumes(tmp_path):
    grid = tmp_path / "ddpgrid.yaml"
    grid.write_text(yaml.safe_dump(GRID, sort_keys=False))
    one, two, killed = tmp_path / "one", tmp_path / "two", tmp_path / "killed"
    for root, devices in ((one, 1), (two, 2)):
        res = _run(_cmd(grid, root, devices))
        assert res.returncode == 0, res.stderr[-3000:]
    (d1,), (d2,) = (list((r / "ddpgrid").iterdir()) for r in (one, two))
    assert d1.name != d2.name  # train.world_size 2 is another run
    assert json.loads((d2 / "config.json").read_text())["config"]["train"]["world_size"] == 2
    s1, s2 = results.read_summary(d1), results.read_summary(d2)
    assert s2["status"] == "completed" and s2["steps"] == 20
    # Rank 0 alone wrote: one result, one W&B offline run, no leftover temporary files.
    assert len(list((two / "ddpgrid").iterdir())) == 1
    assert len(list((d2 / "wandb").glob("offline-run-*"))) == 1
    assert not list(d2.rglob("*.tmp"))
    w1, w2 = _weights(d1), _weights(d2)
    diff = max((w1[k] - w2[k]).abs().max().item() for k in w1)
    print(f"\n[DDP x2 vs one process, 20 steps: max |dw| = {diff:.2e}]")
    assert diff < WEIGHT_TOL
    pd.testing.assert_frame_equal(_eval_curve(d1), _eval_curve(d2))
    # The training record is the global batch's (the ranks' halves averaged), as with one process.
    m1, m2 = pd.read_csv(d1 / "metrics.csv"), pd.read_csv(d2 / "metrics.csv")
    pd.testing.assert_frame_equal(m1, m2, check_exact=False, rtol=1e-5, atol=1e-6)
    for key in ("final_train_error", "final_val_error", "final_test_error"):
        assert s1[key] == s2[key], key

    # Kill both ranks mid-run; the rerun resumes from the checkpoint and ends where one process does.
    _kill_after_checkpoint(_cmd(grid, killed, 2), "ddpgrid/*", 10, killed)
    (dk,) = (killed / "ddpgrid").iterdir()
    assert not results.is_complete(dk)
    res = _run(_cmd(grid, killed, 2))
    assert res.returncode == 0 and "CellBusy" not in res.stderr and "locked" not in res.stderr, res.stderr[-3000:]
    sk = results.read_summary(dk)
    assert sk["resumed_from_step"] >= 10 and sk["attempts"] == 2 and sk["steps"] == 20
    wk = _weights(dk)
    assert max((w1[k] - wk[k]).abs().max().item() for k in w1) < WEIGHT_TOL
    pd.testing.assert_frame_equal(_eval_curve(d1), _eval_curve(dk))
    # Complete: a rerun (both ranks) does nothing.
    again = _run(_cmd(grid, killed, 2))
    assert again.returncode == 0 and results.read_summary(dk) == sk


def test_a_grid_of_ddp_cells_trains_each_once_and_its_other_ranks_never_walk_the_grid(tmp_path):
    """`run GRID --devices 2` without --cell: rank 0 walks the grid; for each cell Lightning's
    launcher re-runs the whole command as rank 1, which trains that cell only (ABLATE_DDP_RUN_ID),
    never another cell, never the analysis; the next cell starts its own rank 1 again."""
    spec = {**GRID, "arms": {"mlp": {}, "wide": {"model.hidden": 48}}}
    grid = tmp_path / "ddpgrid.yaml"
    grid.write_text(yaml.safe_dump(spec, sort_keys=False))
    cmd = [c for c in _cmd(grid, tmp_path / "r", 2, wandb="off") if c not in ("--cell", "0")]
    res = _run(cmd, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    out = res.stdout + res.stderr
    assert out.count("[ablate] ddpgrid / profile tiny: 2 runs") == 1, out[-3000:]  # rank 0 alone walked it
    assert out.count("[ablate] 2 run, 0 already done") == 1, out[-3000:]
    assert out.count("verdicts: ") == 1 and out.count("report:   ") == 1, out[-3000:]  # one analysis
    assert out.count("GLOBAL_RANK: 1, MEMBER: 2/2") == 2, out[-3000:]  # each cell started its own rank 1
    run_dirs = sorted(d for d in (tmp_path / "r" / "ddpgrid").iterdir() if not d.name.startswith("_"))
    assert len(run_dirs) == 2
    for d in run_dirs:
        s = results.read_summary(d)
        assert s["status"] == "completed" and s["steps"] == 20 and s["attempts"] == 1, s


def _agree(rank: int, world: int, port: int, first_bad: list, out: str) -> None:
    import torch.distributed as dist

    from ablate.train.module import TrainWindow

    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    w = TrainWindow()
    for step in range(4):  # a clean window: rank r's loss 1 + r, error 0.5 r
        w.add(torch.tensor(1.0 + rank), torch.tensor(0.5 * rank), step)
    clean = w.read()
    for step in range(4, 8):
        w.add(torch.tensor(float("nan") if step == first_bad[rank] else 1.0), torch.tensor(0.0), step)
    _, bad_step = w.read()
    Path(out, f"rank{rank}.json").write_text(json.dumps({"means": clean[0], "first_bad": bad_step}))
    dist.destroy_process_group()


def test_ranks_agree_on_the_first_non_finite_step_and_average_the_window(tmp_path):
    """Two gloo ranks: a clean window reads the mean over both ranks' halves; then rank 1 alone sees
    a NaN loss at step 6 (rank 0 one at step 7): both read first non-finite step 6, so both stop at
    that window. Without the all-reduce rank 0 would train on and wait for rank 1 forever."""
    import socket

    import torch.multiprocessing as mp

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    mp.spawn(_agree, args=(2, port, [7, 6], str(tmp_path)), nprocs=2, join=True)
    got = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    assert [g["first_bad"] for g in got] == [6, 6]
    assert [g["means"] for g in got] == [{"train/loss": 1.5, "train/error": 0.25}] * 2


FOLDER_SET = [
    "seeds=[0]",
    "train.max_steps=8",
    "train.eval_every=4",
    "train.checkpoint_every=3",
    "train.log_every=1",
    "data.batch_size=16",
    "data.val_size=12",
    "data.image_size=48",
    "data.workers=2",
    "model.width_mult=0.125",
    "model.depth_div=3",
    "train.precision=32-true",
    "schedule.warmup_steps=2",
    "train.ema_decay=0.9",
]


def test_imagenette_profile_trains_from_a_folder_tree_with_the_recipe_and_resumes(tmp_path):
    """`run convnext --profile imagenette` on a tiny tree: RandAugment, Mixup, CutMix, label
    smoothing, Random Erasing, drop path, layer scale on (and the EMA, off in the profile, switched
    on here); killed after a checkpoint, the rerun reproduces the uninterrupted run exactly."""
    make_tree(tmp_path / "data" / "tree", n_train=20, n_val=4)
    cell = 13  # separate_downsample (ConvNeXt-T's design), seed 0
    args = [
        "run",
        "convnext",
        "--profile",
        "imagenette",
        "--data-dir",
        str(tmp_path / "data"),
        "--cell",
        str(cell),
        "--wandb",
        "off",
        "--no-progress",
        "--set",
        "data.folder=tree",
    ]
    for item in FOLDER_SET:
        args += ["--set", item]
    clean, killed = tmp_path / "clean", tmp_path / "killed"
    res = run_cli(*args, "--results-dir", str(clean))
    assert res.returncode == 0, res.stderr[-3000:]
    (dc,) = (clean / "convnext").iterdir()
    cfg = json.loads((dc / "config.json").read_text())["config"]
    assert cfg["data"]["rand_augment"] == "rand-m9-mstd0.5-inc1" and cfg["train"]["mixup"] == 0.8
    assert cfg["train"]["random_erase"] == 0.25 and cfg["model"]["layer_scale"] == 1e-6
    sc = results.read_summary(dc)
    assert "image folder, 3 classes" in sc["data_source"] and sc["data_sizes"]["test"] == 12
    assert {"final_val_error_ema", "final_test_error_ema"} <= sc.keys()
    ck = torch.load(next((dc / "checkpoints").glob("*.ckpt")), map_location="cpu", weights_only=True)
    (ema_state,) = [v["ema"] for k, v in ck["callbacks"].items() if "WeightEma" in k]
    model = {k.removeprefix("model."): v for k, v in ck["state_dict"].items()}
    assert any(not torch.equal(ema_state[k], model[k]) for k in ema_state)  # the EMA is its own weights

    cmd = [sys.executable, "-m", "ablate", *args, "--results-dir", str(killed)]
    _kill_after_checkpoint(cmd, "convnext/*", 3, killed)
    res = run_cli(*args, "--results-dir", str(killed))
    assert res.returncode == 0, res.stderr[-3000:]
    (dk,) = (killed / "convnext").iterdir()
    sk = results.read_summary(dk)
    assert sk["resumed_from_step"] >= 3 and sk["attempts"] == 2
    for key in (
        "final_train_error",
        "final_val_error",
        "final_test_error",
        "final_val_error_ema",
        "final_test_error_ema",
    ):
        assert sk[key] == sc[key], key
    pd.testing.assert_frame_equal(pd.read_csv(dc / "metrics.csv"), pd.read_csv(dk / "metrics.csv"))


# --- the same cell as a two-task job on the dev SLURM cluster ---------------------------------------

try:  # tests/ as a package or as a plain folder on sys.path
    from tests import slurm_helpers as H
except ImportError:  # pragma: no cover
    import slurm_helpers as H  # type: ignore[no-redef]


@pytest.mark.slurm
@pytest.mark.skipif(H.missing_slurm() is not None, reason=H.missing_slurm() or "")
def test_two_task_slurm_job_runs_the_ddp_cell(tmp_path):
    """`submit --gpus-per-task 2` renders two srun tasks per node and `--devices=2`; its CPU
    counterpart (the same script with the GPU request dropped and --accelerator=cpu) runs on the
    one-node dev cluster as two srun-started ranks, and ends where a one-process run ends."""
    from ablate.slurm import store

    grid = tmp_path / "ddpgrid.yaml"
    grid.write_text(yaml.safe_dump(GRID, sort_keys=False))
    root, one = tmp_path / "results", tmp_path / "one"
    res = _run(_cmd(grid, one, 1))
    assert res.returncode == 0, res.stderr[-3000:]
    with H.dev_cluster() as env:
        dry = H.ablate(
            env,
            "submit",
            str(grid),
            "--results-dir",
            str(root),
            "--gpus-per-task",
            "2",
            "--time",
            "10",
            "--wandb",
            "offline",
            "--dry-run",
        )
        script = dry.stdout[dry.stdout.index("#!/bin/bash") :]  # after the "# ---- array of cells" banner
        assert "#SBATCH --ntasks-per-node=2\n" in script and "--devices=2" in script
        assert "#SBATCH --gpus-per-node=2\n" in script and "--accelerator=gpu" in script
        cpu_script = script.replace("#SBATCH --gpus-per-node=2\n", "").replace("--accelerator=gpu", "--accelerator=cpu")
        path = store.slurm_dir(root, "ddpgrid") / "two-task.sbatch"
        path.parent.mkdir(parents=True, exist_ok=True)
        store.log_dir(root, "ddpgrid").mkdir(parents=True, exist_ok=True)
        path.write_text(cpu_script)
        job = subprocess.run(["sbatch", "--parsable", str(path)], env=env, capture_output=True, text=True)
        assert job.returncode == 0, job.stderr
        H.wait_until_idle(env, root, timeout=400)
        log = store.cell_log(root, "ddpgrid", 0).read_text()
    run_dirs = [d for d in (root / "ddpgrid").iterdir() if d.name != "slurm"]
    assert len(run_dirs) == 1, log
    (d2,), (d1,) = run_dirs, list((one / "ddpgrid").iterdir())
    assert results.is_complete(d2), log
    assert "MEMBER: 2/2" in log and "CellBusy" not in log and "locked" not in log, log
    assert len(list((d2 / "wandb").glob("offline-run-*"))) == 1
    w1, w2 = _weights(d1), _weights(d2)
    diff = max((w1[k] - w2[k]).abs().max().item() for k in w1)
    print(f"\n[SLURM 2 tasks vs one process: max |dw| = {diff:.2e}]")
    assert diff < WEIGHT_TOL
    pd.testing.assert_frame_equal(_eval_curve(d1), _eval_curve(d2))
