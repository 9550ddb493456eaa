"""What the tests share besides fixtures: the repository, the offline data, a tiny grid, the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("ABLATE_TEST_DATA", REPO.parent / "shared" / "data"))

# One small grid for the tests that train: digits, 4-channel nets, a few steps.
TINY = [
    "train.max_steps=12",
    "train.log_every=2",
    "train.eval_every=6",
    "train.checkpoint_every=4",
    "model.width=4",
    "seeds=[0]",
    "schedule.milestones=[]",
    "schedule.warmup_steps=0",
]


def run_cli(*args: str, env: dict | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    """`python -m ablate ARGS` in a subprocess, as a user would type it."""
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "ablate", *args], cwd=REPO, env=full_env, capture_output=True, text=True, timeout=timeout
    )


# The same tiny nets as a base config, for tests that write their own experiment file.
TINY_BASE = {
    "model.name": "cifar_resnet",
    "model.width": 4,
    "model.depth": 8,
    "data": {"name": "digits", "batch_size": 32, "val_size": 0.1, "augment": "none"},
    "train": {"max_steps": 12, "log_every": 2, "eval_every": 6, "checkpoint_every": 6},
    "schedule": {"name": "multistep"},
}
