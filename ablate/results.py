"""The results store: one folder per run under <root>/<experiment>/<run_id>/.

A run folder holds config.json, provenance.json, metrics.csv (per-step records), checkpoints/,
wandb/ and, last of all, summary.json. Every file is written atomically (temporary file + rename
in the same folder), and summary.json is written only when the run has finished, so a crash never
leaves anything that counts as a finished result. A report folder is written whole under a
temporary name and swapped into place (replace_folder). A write that finds the disk full raises
DiskFull, naming the folder; the temporary files a killed attempt leaves are removed when the next
attempt starts (remove_temporary_files).
"""

from __future__ import annotations

import contextlib
import csv
import ctypes
import errno
import fcntl
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

SUMMARY = "summary.json"
CONFIG = "config.json"
METRICS = "metrics.csv"
PROVENANCE = "provenance.json"
ERROR = "error.txt"  # the traceback of a failed attempt (moved to attempts/<n>/ when the next starts)
CHECKPOINTS = "checkpoints"
CHECKPOINTS_KEPT = 2  # per run: the newest may be damaged (a full disk), the one before is the fallback


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


# flock's answers on a file system that has no (working) lock manager: NFS mounted without one
# (ENOLCK), some FUSE and network file systems (EOPNOTSUPP, ENOSYS).
NO_LOCKS = {errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS}


@contextlib.contextmanager
def run_lock(path: Path):
    """An exclusive, non-blocking lock on a run folder; yields False if another process holds it.
    The kernel releases it when the holder dies, so a killed run never leaves a stale lock. Where
    the file system has no locks (NO_LOCKS) it yields True unlocked: lock_problem says so once per
    grid, before anything trains."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    with open(path / ".lock", "w") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        except OSError as e:
            if e.errno not in NO_LOCKS:
                raise
            yield True
            return
        try:
            yield True
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


@contextlib.contextmanager
def waiting_lock(path: Path):
    """An exclusive lock on the file `path`, waiting for it (short critical sections: a report swap)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX)
        except OSError as e:
            if e.errno not in NO_LOCKS:
                raise
        yield


# A second process tries the lock the probe holds: 0 it got it (locks do not exclude), 1 it was refused.
_SECOND_LOCKER = (
    "import fcntl, sys\n"
    "f = open(sys.argv[1], 'a')\n"
    "try:\n    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)\nexcept BlockingIOError:\n    sys.exit(1)\n"
    "sys.exit(0)\n"
)


def lock_problem(root: Path) -> str | None:
    """Why the run locks under `root` cannot keep two processes from training one cell, or None:
    flock refused (NO_LOCKS), a lock that a second process on this host takes as well, or a mount
    whose locks only exclude processes on this host (host_local_locks)."""
    root = Path(root)
    probe = root / f".ablate-lock-probe-{os.getpid()}"
    try:
        with open(probe, "a") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as e:
                name = errno.errorcode.get(e.errno, str(e.errno))
                return f"file locks are not supported under {root} ({name}: {e.strerror})"
            second = subprocess.run([sys.executable, "-I", "-S", "-c", _SECOND_LOCKER, str(probe)], timeout=60)
            if second.returncode == 0:
                return f"a lock held on a file under {root} was taken by a second process too"
    finally:
        probe.unlink(missing_ok=True)
    return host_local_locks(root)


def host_local_locks(root: Path, mountinfo: str = "/proc/self/mountinfo") -> str | None:
    """Whether `root` is on a mount whose flock locks hold on this host only: NFS with
    local_lock=flock|all (also what `nolock` means), Lustre with localflock. Linux; None elsewhere."""
    try:
        lines = Path(mountinfo).read_text().splitlines()
    except OSError:
        return None
    where = os.path.realpath(root)
    best = None
    for line in lines:
        head, _, tail = line.partition(" - ")
        fields, rest = head.split(), tail.split()
        if len(fields) < 6 or len(rest) < 3:
            continue
        mount = fields[4].replace("\\040", " ")
        inside = where == mount or where.startswith(mount.rstrip("/") + "/")
        if inside and (best is None or len(mount) > len(best[0])):
            best = (mount, rest[0], set(fields[5].split(",")) | set(rest[2].split(",")))
    if best is None:
        return None
    mount, fstype, options = best
    local = {"local_lock=flock", "local_lock=all", "nolock"} if fstype.startswith("nfs") else set()
    local |= {"localflock"} if fstype == "lustre" else set()
    found = sorted(options & local)
    if found:
        return f"{root} is on {fstype} ({mount}) mounted with {','.join(found)}: its locks hold on this host only"
    return None


class DiskFull(OSError):
    """A write found no space left on the device: one line naming the folder and what to do."""

    def __str__(self) -> str:
        return self.strerror  # the whole message, without OSError's "[Errno 28] " prefix


def disk_full(error: OSError, path: Path) -> DiskFull | None:
    """The DiskFull that `error` (raised writing `path`) means, or None when it is another error."""
    if isinstance(error, DiskFull):
        return error
    if getattr(error, "errno", None) not in (errno.ENOSPC, errno.EDQUOT):
        return None
    folder = Path(path).parent
    try:
        free = f"{shutil.disk_usage(folder).free / 2**20:.1f} MiB free"
    except OSError:
        free = "free space unknown"
    return DiskFull(
        error.errno,
        f"no space left on the device of {folder} ({free}) while writing {Path(path).name}: the run stops "
        f"here; free space, then run the same command again (the cell resumes from its last checkpoint)",
    )


def atomic_write_text(path: Path, text: str, mode: int | None = None) -> None:
    """Write `path` whole or not at all. mode: its permission bits (default: 0o666 less the umask,
    as any file; 0o600 for what only the owner may read)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~current_umask() if mode is None else mode)  # mkstemp makes 0600
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        os.unlink(tmp)
        full = disk_full(e, path) if isinstance(e, OSError) else None
        if full is not None:
            raise full from e
        raise


def remove_temporary_files(folder: Path) -> list[Path]:
    """Remove what a killed attempt left half-written in a run folder: the temporary files of
    atomic writes (.NAME.XXXX.tmp) and of checkpoint saves (checkpoints/*.ckpt.tmp). Only the
    holder of the run's lock may call this (no other writer is at work)."""
    folder = Path(folder)
    found = [*folder.glob(".*.tmp"), *(folder / CHECKPOINTS).glob(".*.tmp"), *(folder / CHECKPOINTS).glob("*.ckpt.tmp")]
    for p in found:
        p.unlink(missing_ok=True)
    return found


# renameat2(2) with RENAME_EXCHANGE swaps two paths in one step (Linux >= 3.15, glibc >= 2.28).
_AT_FDCWD, _RENAME_EXCHANGE = -100, 2
_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


# A folder swapped out stays (hidden) this long before a later swap removes it: a reader that
# opened it just before the swap finishes reading a whole folder, not one being deleted under it.
RETIRED_GRACE_S = 60.0


def replace_folder(new: Path, final: Path) -> None:
    """Put the folder `new` at `final` (same parent). Where the kernel can, the two are exchanged in
    one step, so a reader sees the old folder or the new, never neither; elsewhere the old one is
    renamed aside first. The old folder is kept, hidden, for RETIRED_GRACE_S and removed by a later
    call. Callers serialise with waiting_lock."""
    new, final = Path(new), Path(final)
    remove_retired(final)
    if not final.exists():
        os.rename(new, final)
        return
    retired = final.with_name(f".{final.name}.retired-{time.time_ns()}")
    renameat2 = getattr(_LIBC, "renameat2", None)
    if renameat2 is not None and renameat2(_AT_FDCWD, bytes(new), _AT_FDCWD, bytes(final), _RENAME_EXCHANGE) == 0:
        os.rename(new, retired)  # `new` names the old folder now
        return
    os.rename(final, retired)
    os.rename(new, final)


def remove_retired(final: Path, grace_s: float = RETIRED_GRACE_S) -> list[Path]:
    """Remove the folders replace_folder swapped out of `final` more than grace_s seconds ago."""
    removed = []
    for old in final.parent.glob(f".{final.name}.retired-*"):
        stamp = old.name.rsplit("-", 1)[1]
        if stamp.isdigit() and time.time_ns() - int(stamp) > grace_s * 1e9:
            shutil.rmtree(old, ignore_errors=True)
            removed.append(old)
    return removed


def write_json(path: Path, obj: Any, mode: int | None = None) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n", mode)


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


def attempts(folder: Path) -> list[dict]:
    """The attempts provenance.json records, oldest first ([] without the file). A file written
    before attempts were kept describes one attempt: itself."""
    path = Path(folder) / PROVENANCE
    if not path.is_file():
        return []
    prov = read_json(path)
    return list(prov.get("attempts") or [prov])


def result_attempts(folder: Path) -> list[dict]:
    """The attempts whose training the result holds: from the last that started from scratch on."""
    found = attempts(folder)
    fresh = [i for i, a in enumerate(found) if not a.get("resumed_from_step")]
    return found[fresh[-1] :] if fresh else found


def code_of(folder: Path) -> tuple[list[str], bool]:
    """(the git commits of the result's attempts, in order and each once; whether any ran from a
    tree with uncommitted changes)."""
    gits = [a.get("git") or {} for a in result_attempts(folder)]
    commits = list(dict.fromkeys(g["commit"] for g in gits if g.get("commit")))
    return commits, any(g.get("dirty") for g in gits)
