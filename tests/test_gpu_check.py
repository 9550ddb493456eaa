"""benchmarks/gpu_check.py, the check the first GPU machine runs as shipped: its DRY mode runs every
step on the CPU (nothing bypassed) without wandb or optuna and writes each output file; missing
pieces are one line each before anything runs; a step over its limit dies with every worker it
started; MPS starts at most once and stops at the end; the data folder it reads is prepared by
benchmarks/prepare_gpu_data.py from the CIFAR-10 subset and nothing else."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmarks import gpu_check, prepare_gpu_data
from tests.helpers import REPO, SHARED_DATA

STEP_FILES = {  # each step's log, and the numbers it writes
    "env": "env.json",
    "syncs": "syncs.json",
    "bench": "bench.json",
    "packing": "packing.json",
    "erasing": "erasing.json",
    "determinism": "determinism.json",
    "layout": "layout.json",
    "slice": None,
}
FAKE_MPS = """#!/bin/bash
# Stands in for nvidia-cuda-mps-control: records each call and succeeds.
if [ "$1" = "-d" ]; then echo start >> "$MPS_FAKE_LOG"; else echo "$(cat)" >> "$MPS_FAKE_LOG"; fi
"""


def _blocked_env(tmp_path: Path) -> dict:
    """The GPU machine's Python: no wandb, no optuna (a sitecustomize on PYTHONPATH hides them from
    this process and every subprocess), and an MPS control binary that only records its calls."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(
        "import sys\nfor name in ('wandb', 'optuna'):\n    sys.modules[name] = None\n"
    )
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "nvidia-cuda-mps-control").write_text(FAKE_MPS)
    (bindir / "nvidia-cuda-mps-control").chmod(0o755)
    return {
        **os.environ,
        "PYTHONPATH": f"{site}{os.pathsep}{REPO}",
        "PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}",
        "MPS_FAKE_LOG": str(tmp_path / "mps.log"),
    }


@pytest.mark.slow
def test_dry_run_executes_every_step_without_wandb_or_optuna_and_writes_each_file(tmp_path):
    if not (SHARED_DATA / "cifar-10-batches-py").is_dir():
        pytest.skip(f"no CIFAR-10 subset at {SHARED_DATA}")
    data = prepare_gpu_data.prepare(SHARED_DATA, tmp_path / "data").parent
    env, out = _blocked_env(tmp_path), tmp_path / "out"
    blocked = subprocess.run([sys.executable, "-c", "import wandb"], env=env, capture_output=True, text=True)
    assert blocked.returncode != 0 and "wandb" in blocked.stderr  # the blocker works in subprocesses
    cmd = [sys.executable, "-m", "benchmarks.gpu_check", "--dry", "--out", str(out), "--data-dir", str(data)]
    res = subprocess.run([*cmd, "--budget", "2400"], cwd=REPO, env=env, capture_output=True, text=True, timeout=2700)
    record = json.loads((out / "results.json").read_text())
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:] + json.dumps(record["steps"], indent=1)
    assert list(record["steps"]) == list(STEP_FILES) and record["dry"] and record["finished"]
    for name, numbers in STEP_FILES.items():
        step = record["steps"][name]
        assert step["status"] == "ok" and step["limit_s"] > 0, (name, step)
        assert (out / f"{name}.log").stat().st_size > 0, name
        if numbers:
            assert json.loads((out / numbers).read_text()) == step["numbers"], name
    n = {name: s["numbers"] for name, s in record["steps"].items()}
    assert {p: v["syncs"] for p, v in n["syncs"].items()} == {
        "32-true": 0,
        "bf16-mixed": 0,
        "bf16-true": 0,
        "16-mixed": 49,
    }
    assert n["bench"]["compare"]["ratio"] > 0 and n["bench"]["fixed_cost"]["cell_s"] > 0
    assert set(n["bench"]["knobs"]) == {"default", "bf16-mixed", "channels_last", "compile"}
    assert set(n["packing"]["packing"]["rates"]["8"]) == {"1", "2"} and n["packing"]["packing"]["paper_grid_hours"] > 0
    assert n["erasing"]["ratio"] > 0 and n["determinism"]["deterministic"]["identical_weights"]
    assert set(n["layout"]) == {"device", "resnet50", "separate_downsample"}
    assert {s["status"] for s in n["slice"].values()} == {"completed"} and len(n["slice"]) == 6
    assert (tmp_path / "mps.log").read_text().split() == ["start", "quit"]  # once, stopped at the end
    assert record["sharing"] == "CUDA MPS" and record["steps"]["packing"]["sharing"] == "CUDA MPS"


def test_missing_pieces_are_one_line_each_before_anything_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(gpu_check, "REQUIRED", (*gpu_check.REQUIRED, "no_such_package_xyz"))
    code = gpu_check.main(["--out", str(tmp_path / "out"), "--data-dir", str(tmp_path / "nodata"), "--dry"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 2, err
    assert "package no_such_package_xyz is not installed" in err[0] and "prepare_gpu_data" in err[1]
    record = json.loads((tmp_path / "out" / "results.json").read_text())
    assert len(record["missing"]) == 2 and record["steps"] == {}


def test_a_step_past_its_limit_dies_with_every_worker_it_started(tmp_path):
    pidfile = tmp_path / "worker.pid"
    script = f"sleep 300 & echo $! > {pidfile}; wait"  # a worker in the background, the step waits on it
    t0 = time.monotonic()
    status, seconds, code = gpu_check.run_step(["bash", "-c", script], 1.5, tmp_path / "step.log", dict(os.environ))
    assert status == "timeout" and code is None and time.monotonic() - t0 < 15
    worker = int(pidfile.read_text())
    time.sleep(0.2)
    assert not Path(f"/proc/{worker}").exists() or "Z" in Path(f"/proc/{worker}/stat").read_text().split()[2]
    assert not gpu_check.LIVE


def test_mps_starts_at_most_once_only_if_it_can_and_stops(tmp_path, monkeypatch):
    env = _blocked_env(tmp_path)
    monkeypatch.setenv("PATH", env["PATH"])
    monkeypatch.setenv("MPS_FAKE_LOG", env["MPS_FAKE_LOG"])
    monkeypatch.setattr(gpu_check.Mps, "_serves", lambda self: True)  # a CUDA context opens under it
    mps = gpu_check.Mps()
    assert [mps.ensure(), mps.ensure()] == ["CUDA MPS", "CUDA MPS"] and mps.env
    mps.stop()
    mps.stop()
    assert (tmp_path / "mps.log").read_text().split() == ["start", "quit"]
    monkeypatch.setattr(gpu_check.Mps, "_serves", lambda self: False)  # the daemon runs, its server cannot
    broken = gpu_check.Mps()
    assert broken.ensure().startswith("time-slicing (MPS started but") and broken.env is None
    assert (tmp_path / "mps.log").read_text().split() == ["start", "quit", "start", "quit"]  # stopped again
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert gpu_check.Mps().ensure().startswith("time-slicing (no nvidia-cuda-mps-control")


def test_prepare_gpu_data_copies_the_cifar_subset_checked(tmp_path):
    source = tmp_path / "src"
    (source / "cifar-10-batches-py").mkdir(parents=True)
    (source / "MNIST").mkdir()  # anything else in the source stays behind
    for name in prepare_gpu_data.FILES:
        (source / "cifar-10-batches-py" / name).write_bytes(name.encode())
    sums = [
        f"{prepare_gpu_data.md5(source / 'cifar-10-batches-py' / n)}  ./cifar-10-batches-py/{n}"
        for n in prepare_gpu_data.FILES
    ]
    (source / "MD5SUMS").write_text("\n".join(sums) + "\n")
    out = prepare_gpu_data.prepare(source, tmp_path / "dest")
    assert sorted(p.name for p in (tmp_path / "dest").iterdir()) == ["cifar-10-batches-py"]
    assert sorted(p.name for p in out.iterdir()) == sorted(prepare_gpu_data.FILES)
    (source / "MD5SUMS").write_text(sums[0].replace(sums[0][:4], "0000") + "\n")
    with pytest.raises(SystemExit, match="MD5SUMS says"):
        prepare_gpu_data.prepare(source, tmp_path / "dest2")


@pytest.mark.slow
def test_bench_with_every_part_on_runs_on_the_cpu_without_wandb_or_optuna(tmp_path):
    """`python -m ablate bench` in one call with the harness ratio, the fixed cost of a cell (a real
    `ablate run --cell 0 --wandb off` subprocess), the four knobs and packing, tiny sizes."""
    out = tmp_path / "bench.json"
    cmd = [sys.executable, "-m", "ablate", "bench", "--device", "cpu", "--rounds", "1", "--steps", "2"]
    cmd += ["--warmup", "1", "--batch", "16", "--width", "4", "--depth", "8", "--packing", "on", "--pack-k", "2"]
    cmd += ["--pack-depths", "8", "--json", str(out)]
    res = subprocess.run(cmd, cwd=REPO, env=_blocked_env(tmp_path), capture_output=True, text=True, timeout=1200)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    got = json.loads(out.read_text())
    assert got["compare"]["ratio"] > 0 and got["fixed_cost"]["fixed_s"] < got["fixed_cost"]["cell_s"]
    assert all(got["knobs"][k] > 0 for k in ("default", "bf16-mixed", "channels_last", "compile")), got["knobs"]
    assert set(got["packing"]["rates"]["8"]) == {"1", "2"} and got["packing"]["paper_grid_hours"] > 0
    for line in ("ablate/raw per-step time", "fixed cost per cell", "compile:", "projected degradation paper grid"):
        assert line in res.stdout, line
