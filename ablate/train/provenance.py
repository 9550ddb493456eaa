"""Where a result came from: code version, packages, machine; one entry per attempt.

provenance.json (as readable as the other results: results folders are often shared) holds, for
every attempt at the run, oldest first under `attempts`, the time, host, git commit, whether the
tree had uncommitted changes and, of those, the SHA-256 and size of `git diff HEAD` and the names
of the changed tracked files; the packages and device; the checkpoints found and the one resumed
from. Its top level repeats the latest attempt, the form it had before attempts were kept.

What could leak (the diff itself, untracked file names, the command line) goes to
provenance-private.json, readable by its owner only (0600), one entry per attempt; the diff only
when asked for (`run --record-diff`, or ABLATE_RECORD_DIFF=1). A stale error.txt of the attempt
before is moved to attempts/<n>/error.txt and named in attempt n's entry.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib.metadata
import os
import platform
import socket
import subprocess
import sys
from pathlib import Path

from ablate import results

PACKAGES = ("torch", "torchvision", "lightning", "torchmetrics", "wandb", "numpy", "scikit-learn", "ablate-cnn")
REPO = Path(__file__).resolve().parents[2]  # ablate/train/provenance.py -> the checkout
MAX_DIFF_BYTES = 1_000_000  # keep provenance files small; a larger diff is truncated and flagged
PRIVATE = "provenance-private.json"
RECORD_DIFF = "ABLATE_RECORD_DIFF"  # "1": keep the diff, as --record-diff does


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout if out.returncode == 0 else None


def git_state(record_diff: bool = False) -> tuple[dict, dict]:
    """(what anyone may read: commit, dirty, the diff's SHA-256 and bytes, the changed tracked
    files; what only the owner may: untracked file names and, if asked for, the diff)."""
    commit = _git("rev-parse", "HEAD")
    if commit is None:
        return {"commit": None, "dirty": None}, {}
    diff = _git("diff", "HEAD") or ""
    untracked = (_git("ls-files", "--others", "--exclude-standard") or "").splitlines()
    public = {
        "commit": commit.strip(),
        "dirty": bool(diff.strip() or untracked),
        "diff_sha256": hashlib.sha256(diff.encode()).hexdigest() if diff else None,
        "diff_bytes": len(diff.encode()),
        "changed_files": (_git("diff", "--name-only", "HEAD") or "").splitlines(),
        "untracked_files": len(untracked),
    }
    private: dict = {"untracked": untracked}
    if record_diff:
        private.update(diff=diff[:MAX_DIFF_BYTES], diff_truncated=len(diff) > MAX_DIFF_BYTES)
    return public, private


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


def collect(record_diff: bool = False) -> tuple[dict, dict]:
    """(public, private) provenance of this process now."""
    git, private = git_state(record_diff)
    public = {
        "time": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "git": git,
        "packages": package_versions(),
        "device": device_info(),
    }
    return public, {"argv": sys.argv, **private}


def record_attempt(out: Path, record: dict, record_diff: bool = False) -> int:
    """Append this attempt (its provenance plus `record`) to the run's provenance files; return its
    number (1, 2, ...). A stale error.txt, the failure of the attempt before, is archived with it."""
    earlier = [_public(a) for a in results.attempts(out)]
    n = len(earlier) + 1
    error = out / results.ERROR
    if error.exists():
        kept = out / "attempts" / str(n - 1) / results.ERROR  # 0: failed before any attempt was recorded
        kept.parent.mkdir(parents=True, exist_ok=True)
        os.replace(error, kept)
        if earlier:
            earlier[-1] = {**earlier[-1], "error_file": str(kept.relative_to(out))}
    public, private = collect(record_diff or os.environ.get(RECORD_DIFF) == "1")
    entry = {"attempt": n, **public, **record}
    results.write_json(out / results.PROVENANCE, {**entry, "attempts": [*earlier, entry]})
    private_path = out / PRIVATE
    kept_private = results.read_json(private_path).get("attempts", []) if private_path.is_file() else []
    results.write_json(private_path, {"attempts": [*kept_private, {"attempt": n, **private}]}, mode=0o600)
    return n


def _public(entry: dict) -> dict:
    """An earlier attempt's entry without what only its owner may read (a provenance.json written
    before this split held the diff, untracked file names and argv)."""
    git = {k: v for k, v in (entry.get("git") or {}).items() if k not in ("diff", "diff_truncated", "untracked")}
    return {**{k: v for k, v in entry.items() if k != "argv"}, "git": git}
