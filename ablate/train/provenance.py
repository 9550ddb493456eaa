"""Where a result came from: code version, packages, machine."""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import platform
import socket
import subprocess
import sys
from pathlib import Path

PACKAGES = ("torch", "torchvision", "lightning", "torchmetrics", "wandb", "numpy", "scikit-learn", "ablate-cnn")
REPO = Path(__file__).resolve().parents[2]  # ablate/train/provenance.py -> the checkout
MAX_DIFF_BYTES = 1_000_000  # keep provenance files small; a larger diff is truncated and flagged


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout if out.returncode == 0 else None


def git_state() -> dict:
    commit = _git("rev-parse", "HEAD")
    if commit is None:
        return {"commit": None, "dirty": None, "diff": None}
    diff = _git("diff", "HEAD") or ""
    untracked = _git("ls-files", "--others", "--exclude-standard") or ""
    return {
        "commit": commit.strip(),
        "dirty": bool(diff.strip() or untracked.strip()),
        "diff": diff[:MAX_DIFF_BYTES],
        "diff_truncated": len(diff) > MAX_DIFF_BYTES,
        "untracked": untracked.split(),
    }


def package_versions() -> dict:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def device_info() -> dict:
    import torch

    info = {"cuda_available": torch.cuda.is_available(), "cpu_threads": torch.get_num_threads()}
    if torch.cuda.is_available():
        info["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        info["cuda"] = torch.version.cuda
    return info


def collect() -> dict:
    return {
        "time": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "argv": sys.argv,
        "git": git_state(),
        "packages": package_versions(),
        "device": device_info(),
    }
