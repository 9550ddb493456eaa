"""Training wall time of two quick cells as SLURM tasks (one CPU each, dev cluster) against the same
cells run locally (two one-thread workers), measured in one run; prints the ratio.

    .venv/bin/python -m benchmarks.slurm_vs_local      # from the repository root, as root

Needs the dev cluster's packages (bash slurm/ci-install.sh). Target: ratio <= 1.5 (it was ~12x when
each task started one torch thread per machine core). A benchmark, not a test: on the shared 2-core
machine the ratio measured 0.76x-1.72x from run to run.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from ablate import results
from ablate.experiment import load_experiment
from tests import slurm_helpers as H
from tests.test_throughput import SLURM_GRID


def main() -> int:
    if H.missing_slurm():
        print(H.missing_slurm(), file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "quickcell.yaml"
        path.write_text(yaml.safe_dump(SLURM_GRID, sort_keys=False))
        exp = load_experiment(str(path))

        def train_times(root: Path) -> list[float]:
            return [results.read_summary(results.run_dir(root, exp.name, c.run_id))["wall_time_s"] for c in exp.cells]

        local = Path(tmp) / "local"
        subprocess.run(
            [
                sys.executable,
                "-m",
                "ablate",
                "run",
                str(path),
                "--results-dir",
                str(local),
                "--wandb",
                "off",
                "--no-progress",
                "--no-analysis",
                "--accelerator",
                "cpu",
            ],
            cwd=H.REPO,
            check=True,
            timeout=600,
        )
        with H.dev_cluster() as env:
            remote = Path(tmp) / "slurm"
            H.ablate(env, "submit", str(path), "--results-dir", str(remote), "--time", "10", "--wandb", "off")
            H.wait_until_idle(env, remote, timeout=600)
        t_local, t_slurm = statistics.mean(train_times(local)), statistics.mean(train_times(remote))
    print(
        f"quick plain-20 cell, training wall time: local {t_local:.1f} s, SLURM {t_slurm:.1f} s; "
        f"ratio {t_slurm / t_local:.2f} (target <= 1.5)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
