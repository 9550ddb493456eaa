"""The results store: one folder per run under <root>/<experiment>/<run_id>/.

A run folder holds config.json, provenance.json, metrics.csv (per-step records), checkpoints/,
wandb/ and, last of all, summary.json. Every file is written atomically (temporary file + rename
in the same folder), and summary.json is written only when the run has finished, so a crash never
leaves anything that counts as a finished result.
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import io
import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

SUMMARY = "summary.json"
CONFIG = "config.json"
METRICS = "metrics.csv"
PROVENANCE = "provenance.json"
CHECKPOINTS = "checkpoints"


def results_root(cli_value: str | None = None) -> Path:
    """--results-dir, else $ABLATE_RESULTS_DIR, else ./results."""
    return Path(cli_value or os.environ.get("ABLATE_RESULTS_DIR") or "results")


def run_dir(root: Path, experiment: str, run_id: str) -> Path:
    return Path(root) / experiment / run_id


def report_dir(root: Path, experiment: str, profile: str) -> Path:
    return Path(root) / experiment / f"_report-{profile}"


def current_umask() -> int:
    """The process umask, read without changing it (os.umask can only be read by setting it,
    which would race with other threads creating files): from /proc on Linux, else 0o022."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    return 0o022


@contextlib.contextmanager
def run_lock(path: Path):
    """An exclusive, non-blocking lock on a run folder; yields False if another process holds it.
    The kernel releases it when the holder dies, so a killed run never leaves a stale lock."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    with open(path / ".lock", "w") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def atomic_write_text(path: Path, text: str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~current_umask())  # mkstemp makes 0600; results are meant to be shared
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def read_json(path: Path) -> Any:
    with open(path) as f:
        return json.load(f)


def write_records_csv(path: Path, records: Iterable[dict]) -> None:
    records = list(records)
    columns = list(dict.fromkeys(k for r in records for k in r))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns)
    writer.writeheader()
    writer.writerows(records)
    atomic_write_text(path, buf.getvalue())


def is_complete(path: Path) -> bool:
    return (Path(path) / SUMMARY).is_file()


def read_summary(path: Path) -> dict:
    return read_json(Path(path) / SUMMARY)


def checkpoints_newest_first(path: Path) -> list[Path]:
    """Resumable checkpoints, newest first: ours (checkpoints/*.ckpt) and Lightning's SLURM
    hpc_ckpt_*.ckpt written on a pre-emption signal."""
    candidates = list((Path(path) / CHECKPOINTS).glob("*.ckpt")) + list(Path(path).glob("hpc_ckpt_*.ckpt"))
    return sorted(candidates, key=lambda p: p.stat().st_mtime_ns, reverse=True)


def latest_checkpoint(path: Path) -> Path | None:
    found = checkpoints_newest_first(path)
    return found[0] if found else None
