"""The sbatch renderer: golden files, shell quoting (no injection), array splitting. No SLURM needed."""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

import pytest

from ablate.errors import UserError
from ablate.slurm import render
from ablate.slurm.render import ArrayChunk, JobSettings, compress_ranges, plan_arrays

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("ABLATE_UPDATE_GOLDEN") == "1"  # regenerate: ABLATE_UPDATE_GOLDEN=1 pytest


def settings(**kw) -> JobSettings:
    base = dict(
        experiment="degradation",
        results_dir="/scratch/me/results",
        log_dir="/scratch/me/results/degradation/slurm/logs",
        workdir="/home/me/ablate",
        python="/home/me/ablate/.venv/bin/python",
        time="4:00:00",
        job_name="ablate-degradation",
        profile="paper",
    )
    return JobSettings(**{**base, **kw})


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
    assert path.is_file(), f"missing golden file {path}; create it with ABLATE_UPDATE_GOLDEN=1"
    assert text == path.read_text(), f"{name} changed; if intended, rerun with ABLATE_UPDATE_GOLDEN=1"


def test_golden_single_gpu_array():
    s = settings(
        partition="gpu",
        account="proj-42",
        qos="normal",
        gpus_per_task=1,
        cpus_per_task=8,
        mem="32G",
        data_dir="/scratch/me/data",
        overrides=("optim.lr=0.05", "train.max_steps=20000"),
    )
    run_ids = {i: f"plain-20-s{i}-0123456789" for i in range(12)}
    check_golden(
        "slurm_single_gpu.sbatch",
        render.render_sbatch(s, ArrayChunk(0, (0, 1, 2, 5), 16), total_cells=12, run_ids=run_ids),
    )


def test_golden_ddp_two_nodes_with_offset():
    s = settings(
        experiment="/home/me/ablate/experiments/convnext.yaml",
        profile="paper",
        partition="gpu",
        gpus_per_task=4,
        nodes=2,
        cpus_per_task=8,
        mem="200G",
        time="2-00:00:00",
        signal_seconds=300,
    )
    run_ids = {c: f"separate_downsample-s{c - 1000}-0123456789" for c in (1000, 1001, 1007)}
    text = render.render_sbatch(s, ArrayChunk(1000, (0, 1, 7)), total_cells=1010, run_ids=run_ids)
    check_golden("slurm_ddp.sbatch", text)
    # srun starts all 8 ranks: each must know which cell's launch it belongs to (rank 0 alone locks it).
    assert 'export ABLATE_DDP_RUN_ID="$RUN_ID"' in text and text.index("export ABLATE_DDP") < text.index("srun ")


def test_rendering_is_pure(monkeypatch, tmp_path):
    """Same input, same text: the script depends on its arguments only (not on the working directory
    or the environment it is rendered in), changes none of them and writes nothing."""
    run_ids = {3: "plain-20-s0-0123456789", 5: "plain-20-s1-0123456789"}
    s, ch = settings(), ArrayChunk(3, (0, 2))
    first = render.render_sbatch(s, ch, total_cells=6, run_ids=run_ids)
    monkeypatch.chdir(tmp_path)
    for var in ("USER", "HOME", "PATH", "SLURM_JOB_ID", "SLURM_ARRAY_TASK_ID", "ABLATE_RESULTS_DIR"):
        monkeypatch.setenv(var, "/elsewhere")
    again = render.render_sbatch(settings(), ArrayChunk(3, (0, 2)), total_cells=6, run_ids=dict(run_ids))
    assert again == first
    assert (s, ch, run_ids) == (settings(), ArrayChunk(3, (0, 2)), {3: run_ids[3], 5: run_ids[5]})
    assert list(tmp_path.iterdir()) == []


def test_ddp_launch_matches_lightning_requirements():
    text = render.render_sbatch(settings(gpus_per_task=4, nodes=2), ArrayChunk(0, (0,)))
    # Lightning under SLURM: tasks per node must equal devices, started by srun, one per GPU.
    assert "#SBATCH --nodes=2\n" in text
    assert "#SBATCH --ntasks-per-node=4\n" in text
    assert "#SBATCH --gpus-per-node=4\n" in text
    assert "--accelerator=gpu \\\n    --devices=4 \\\n    --num-nodes=2\n" in text
    assert "\nsrun " in text
    cpu = render.render_sbatch(settings(), ArrayChunk(0, (0,)))
    assert "#SBATCH --ntasks-per-node=1\n" in cpu and "gpus-per-node" not in cpu
    assert "--accelerator=cpu" in cpu


def test_preemption_directives():
    text = render.render_sbatch(settings(signal_seconds=90), ArrayChunk(0, (0,)))
    for line in ("#SBATCH --requeue", "#SBATCH --signal=USR1@90", "#SBATCH --open-mode=append"):
        assert line + "\n" in text
    assert "B:USR1" not in text  # the signal must reach the srun-started trainer, not the shell


NASTY = [
    "x; touch PWNED",
    "$(touch PWNED)",
    "`touch PWNED`",
    "a'b\"c",
    "--results-dir=/etc",
    "spa ce",
    "* ? [a]",
    "${HOME}",
    "é ü ☃",
    "%A %a %%",
]


def _execute(text: str, tmp_path: Path) -> list[str]:
    """Run the rendered script's shell part with a fake `srun`; return the argv `ablate run` got."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    argv_file = tmp_path / "argv"
    (bindir / "srun").write_text(f'#!/bin/bash\nprintf "%s\\0" "$@" > {shlex.quote(str(argv_file))}\n')
    (bindir / "srun").chmod(0o755)
    script = tmp_path / "job.sbatch"
    script.write_text(text)
    env = {
        **os.environ,
        "PATH": f"{bindir}:{os.environ['PATH']}",
        "SLURM_ARRAY_TASK_ID": "2",
        "SLURM_ARRAY_JOB_ID": "77",
        "SLURM_JOB_ID": "79",
        "SLURM_JOB_NODELIST": "n1",
    }
    subprocess.run(["bash", str(script)], cwd=tmp_path, env=env, check=True, timeout=30)
    return argv_file.read_bytes().decode().split("\0")[:-1]


@pytest.mark.parametrize("value", NASTY)
def test_user_values_cannot_inject_shell(value, tmp_path):
    logs = tmp_path / f"logs {value}".replace("/", "_")
    logs.mkdir()
    experiment = "./" + value if value.startswith("-") else value  # a leading '-' is refused
    s = settings(
        experiment=experiment,
        profile=value,
        overrides=(f"k={value}", value),
        results_dir=f"/r/{value}",
        data_dir=f"/d/{value}",
        log_dir=str(logs),
        partition=value,
        account=value,
        qos=value,
        job_name=value,
        python="/bin/echo",
    )
    text = render.render_sbatch(s, ArrayChunk(5, (0, 2)))
    argv = _execute(text, tmp_path)
    assert not list(tmp_path.rglob("PWNED")) and not Path("PWNED").exists()
    assert argv[:5] == ["--kill-on-bad-exit=1", "/bin/echo", "-m", "ablate", "run"]
    assert argv[5] == experiment
    opts = [a.partition("=") for a in argv[6:] if a != "--no-progress"]
    assert all(a.startswith("--") and eq for a, eq, _ in opts)  # every option with a value: --opt=VALUE
    got = {}
    for a, _, v in opts:
        got.setdefault(a, []).append(v)
    assert got["--profile"] == [value]
    assert got["--set"] == [f"k={value}", value]
    assert got["--results-dir"] == [f"/r/{value}"]
    assert got["--data-dir"] == [f"/d/{value}"]
    assert got["--cell"] == ["7"]  # task 2 + offset 5
    assert (logs / "cell-7.log").is_file()  # the log went where it should, despite the name
    # Every #SBATCH value is one shell-quoted word: what sbatch's own parser reads back is the value.
    for line in text.splitlines():
        if line.startswith("#SBATCH --") and "=" in line:
            flag, _, quoted = line[len("#SBATCH ") :].partition("=")
            words = shlex.split(quoted)
            assert len(words) == 1, line
            if flag in ("--partition", "--account", "--qos", "--job-name"):
                assert words[0] == value
            if flag == "--output":
                assert words[0] == str(logs).replace("%", "%%") + "/%A_%a.out"


@pytest.mark.parametrize("field", ["partition", "account", "qos", "experiment", "profile", "job_name"])
def test_newlines_are_refused(field):
    with pytest.raises(UserError):
        settings(experiment="--results-dir=/etc")
    with pytest.raises(UserError, match="newlines"):
        settings(**{field: "gpu\n#SBATCH --wrap=evil\ntouch PWNED"})
    with pytest.raises(UserError, match="newlines"):
        settings(overrides=("a=1\rb", "ok=1"))


@pytest.mark.parametrize(
    "value,seconds",
    [
        ("30", 1800),
        ("30:15", 1815),
        ("4:00:00", 14400),
        ("1-0", 86400),
        ("1-2:30", 95400),
        ("2-00:00:00", 172800),
    ],
)
def test_time_formats(value, seconds):
    assert render.time_seconds(value) == seconds


@pytest.mark.parametrize(
    "kw,match",
    [
        (dict(time="4h"), "--time"),
        (dict(time="1:00", signal_seconds=120), "--signal-seconds"),
        (dict(mem="32 GB"), "--mem"),
        (dict(nodes=0), "--nodes"),
        (dict(wandb="sometimes"), "--wandb"),
        (dict(partition=""), "may not be empty"),
    ],
)
def test_invalid_settings_raise_user_errors(kw, match):
    with pytest.raises(UserError, match=match):
        settings(**kw)


def test_compress_ranges():
    assert compress_ranges([]) == ""
    assert compress_ranges([5]) == "5"
    assert compress_ranges([0, 1, 2, 5, 7, 8, 8]) == "0-2,5,7-8"
    assert compress_ranges([9, 3, 5]) == "3,5,9"


def test_twelve_cells_max_array_size_five_makes_three_arrays():
    chunks = plan_arrays(range(12), max_array_size=5, parallelism=2)
    assert [c.array_spec for c in chunks] == ["0-4%2", "0-4%2", "0-1%2"]
    assert [c.offset for c in chunks] == [0, 5, 10]
    assert [c.cells for c in chunks] == [list(range(5)), list(range(5, 10)), [10, 11]]


@pytest.mark.parametrize(
    "cells,size",
    [
        ([3, 5, 9], 1001),
        ([0, 1000, 1001, 2500], 1001),
        (list(range(0, 40, 3)), 7),
        ([7], 1),
        ([2, 4, 6, 8, 10, 2000], 5),
    ],
)
def test_plan_arrays_maps_every_cell_once_below_the_limit(cells, size):
    chunks = plan_arrays(cells, size)
    assert sorted(c for ch in chunks for c in ch.cells) == sorted(cells)
    for ch in chunks:
        assert all(0 <= i < size for i in ch.indices)  # the task id VALUE is bounded
        assert len(ch.indices) <= size
        assert ch.indices[0] == 0  # the offset is the first cell: no wasted id range


def test_sparse_pending_cells_keep_their_index():
    (chunk,) = plan_arrays([3, 5, 9], 1001, parallelism=2)
    assert chunk.offset == 3 and chunk.array_spec == "0,2,6%2" and chunk.cells == [3, 5, 9]


def test_golden_packed_cells_per_task():
    s = settings(partition="gpu", gpus_per_task=1, cpus_per_task=8, mem="32G", cells_per_task=4)
    run_ids = {i: f"plain-20-s{i}-0123456789" for i in range(10)}
    groups = render.plan_groups([0, 1, 2, 3, 5, 6, 7, 8, 9], 4)
    assert groups == [[0, 1, 2, 3], [5, 6, 7, 8], [9]]
    check_golden(
        "slurm_packed.sbatch",
        render.render_sbatch(s, ArrayChunk(0, (0, 1, 2)), total_cells=10, run_ids=run_ids, groups=groups),
    )


def test_packed_script_starts_every_cell_of_its_group_at_once(tmp_path):
    """Run the rendered script with a fake srun and python: each cell of the task's group is
    started (in the background), with its run id and a thread share, and a failing cell fails the task."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "srun").write_text('#!/bin/bash\nwhile [[ "$1" == --* ]]; do shift; done\nexec "$@"\n')
    calls = tmp_path / "calls.txt"
    (bin_dir / "fakepython").write_text(f'#!/bin/bash\necho "$*" >> {calls}\n[[ "$*" != *--cell=6* ]]\n')
    for f in bin_dir.iterdir():
        f.chmod(0o755)
    s = settings(
        gpus_per_task=1,
        cells_per_task=2,
        python=str(bin_dir / "fakepython"),
        log_dir=str(tmp_path / "logs"),
        workdir=str(tmp_path),
    )
    (tmp_path / "logs").mkdir()
    run_ids = {i: f"r{i}" for i in range(8)}
    text = render.render_sbatch(s, ArrayChunk(2, (0, 1)), run_ids=run_ids, groups=[[0, 1], [2, 3], [4, 5], [6, 7]])
    script = tmp_path / "job.sbatch"
    script.write_text(text)
    env = {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "SLURM_ARRAY_JOB_ID": "7",
        "SLURM_JOB_ID": "8",
        "SLURM_JOB_NODELIST": "n1",
    }
    ok = subprocess.run(["bash", str(script)], env={**env, "SLURM_ARRAY_TASK_ID": "0"}, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    lines = calls.read_text().splitlines()
    assert len(lines) == 2 and all("--threads=" in x for x in lines)
    assert {
        ("--cell=4" in x and "--expect-run-id=r4" in x) or ("--cell=5" in x and "--expect-run-id=r5" in x)
        for x in lines
    } == {True}
    assert (tmp_path / "logs" / "cell-4.log").is_file() and (tmp_path / "logs" / "cell-5.log").is_file()
    bad = subprocess.run(["bash", str(script)], env={**env, "SLURM_ARRAY_TASK_ID": "1"}, capture_output=True, text=True)
    assert bad.returncode == 1 and len(calls.read_text().splitlines()) == 4  # cell 7 ran although 6 failed


def test_cells_per_task_refuses_ddp():
    with pytest.raises(UserError, match="cells-per-task"):
        settings(gpus_per_task=2, cells_per_task=2)
