"""Shared fixtures. Tests never download: data comes from ../shared/data or ships with sklearn."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("ABLATE_TEST_DATA", REPO.parent / "shared" / "data"))

# One small grid for the tests that train: digits, 4-channel nets, a few steps.
TINY = [
    "train.max_steps=12", "train.log_every=2", "train.eval_every=6", "train.checkpoint_every=4",
    "model.width=4", "seeds=[0]", "schedule.milestones=[]", "schedule.warmup_steps=0",
]  # fmt: skip


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch, tmp_path):
    """No test reads the user's results dir, data dir or W&B settings, nor writes in the repo."""
    for var in ("ABLATE_RESULTS_DIR", "ABLATE_DATA_DIR", "WANDB_MODE", "WANDB_API_KEY", "WANDB_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("WANDB_DIR", str(tmp_path / "wandb-home"))
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(tmp_path / "wandb-config"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no ~/.netrc with a W&B key


@pytest.fixture
def shared_data() -> Path:
    if not (SHARED_DATA / "MNIST").is_dir():
        pytest.skip(f"the offline test data is not at {SHARED_DATA} (set ABLATE_TEST_DATA)")
    return SHARED_DATA


def run_cli(*args: str, env: dict | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    """`python -m ablate ARGS` in a subprocess, as a user would type it."""
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", "ablate", *args], cwd=REPO, env=full_env,
                          capture_output=True, text=True, timeout=timeout)  # fmt: skip
