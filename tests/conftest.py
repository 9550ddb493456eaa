"""Shared fixtures. Tests never download: data comes from ../shared/data or ships with sklearn.

`pytest -m "not slow"` is the fast loop (a few minutes, nothing trained); `pytest` runs everything.
What `slow` means is in pyproject.toml's [tool.pytest.ini_options]."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import SHARED_DATA


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
