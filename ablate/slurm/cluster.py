"""Thin wrappers over SLURM's commands, each with a pure parser of its output (tested on text).

Only these functions run SLURM commands; they take an optional `runner` so tests can feed text.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

DEFAULT_MAX_ARRAY_SIZE = 1001  # SLURM's own default, used when `scontrol` cannot say

# squeue's state words, folded into the two that `status` shows for a live task.
PENDING_STATES = {
    "PENDING",
    "CONFIGURING",
    "REQUEUED",
    "REQUEUE_HOLD",
    "REQUEUE_FED",
    "RESV_DEL_HOLD",
    "SUSPENDED",
    "STOPPED",
    "RESIZING",
    "SPECIAL_EXIT",
}
RUNNING_STATES = {"RUNNING", "COMPLETING", "STAGE_OUT", "SIGNALING"}

Runner = Callable[[Sequence[str]], "subprocess.CompletedProcess[str]"]


class SlurmError(RuntimeError):
    """A SLURM command failed; the message holds the command and its stderr."""


def _run(cmd: Sequence[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(cmd), capture_output=True, text=True, timeout=120)


def available() -> bool:
    """True when the SLURM client commands are on PATH (a login node)."""
    return all(shutil.which(c) for c in ("sbatch", "squeue", "scontrol"))


def _checked(cmd: Sequence[str], runner: Runner | None) -> str:
    try:
        proc = (runner or _run)(cmd)
    except FileNotFoundError:
        raise SlurmError(f"{cmd[0]}: not found; is this a SLURM login node?") from None
    if proc.returncode != 0:
        err = (proc.stderr or proc.stdout or "").strip().splitlines()
        raise SlurmError(f"{' '.join(cmd)} failed ({proc.returncode}): {err[-1] if err else ''}")
    return proc.stdout


# --- scontrol show config ------------------------------------------------------------------------


def parse_max_array_size(config_text: str) -> int | None:
    """`scontrol show config` text -> MaxArraySize (None if the line is absent)."""
    m = re.search(r"^\s*MaxArraySize\s*=\s*(\d+)\s*$", config_text, re.MULTILINE)
    return int(m.group(1)) if m else None


def max_array_size(runner: Runner | None = None) -> int:
    text = _checked(["scontrol", "show", "config"], runner)
    return parse_max_array_size(text) or DEFAULT_MAX_ARRAY_SIZE


# --- sbatch --------------------------------------------------------------------------------------


def parse_sbatch_parsable(stdout: str) -> str:
    """`sbatch --parsable` prints 'JOBID' or 'JOBID;CLUSTER' -> 'JOBID'."""
    line = stdout.strip().splitlines()[-1] if stdout.strip() else ""
    job_id = line.split(";", 1)[0].strip()
    if not job_id.isdigit():
        raise SlurmError(f"sbatch --parsable printed {stdout.strip()!r}, expected a job id")
    return job_id


def sbatch(script: str, after: str | None = None, runner: Runner | None = None) -> str:
    """Submit a script file, optionally to start after job `after` has ended; return its job id."""
    cmd = ["sbatch", "--parsable"] + ([f"--dependency=afterany:{after}"] if after else []) + [script]
    return parse_sbatch_parsable(_checked(cmd, runner))


# --- squeue --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueEntry:
    job_id: str  # the array's job id (%F), e.g. '1234'
    task_id: int | None  # the array task id (%K), None for a non-array job
    state: str  # e.g. 'PENDING', 'RUNNING'
    reason: str  # e.g. 'JobArrayTaskLimit', 'BeginTime', 'None'

    @property
    def status(self) -> str:
        """'running' or 'pending' (a state not listed, e.g. a just-ended one, counts as running)."""
        return "pending" if self.state in PENDING_STATES else "running"


SQUEUE_FORMAT = "%F|%K|%T|%r"


def parse_squeue(text: str) -> list[QueueEntry]:
    """Lines of `squeue -h -r -o '%F|%K|%T|%r'` -> entries; ranges like '3-9%2' are expanded."""
    entries = []
    for line in text.splitlines():
        parts = line.strip().split("|")
        if len(parts) != 4:
            continue
        job, task, state, reason = parts
        for t in _task_ids(task):
            entries.append(QueueEntry(job, t, state, reason))
    return entries


def _task_ids(field: str) -> list[int | None]:
    """'5' -> [5]; '1-3,7%2' or '[1-3,7%2]' -> [1, 2, 3, 7]; 'N/A' -> [None]."""
    field = field.strip().strip("[]").split("%", 1)[0]
    if not field or not field[0].isdigit():
        return [None]
    ids: list[int | None] = []
    for part in field.split(","):
        lo, _, hi = part.partition("-")
        step = 1
        if ":" in hi:
            hi, s = hi.split(":", 1)
            step = int(s)
        ids.extend(range(int(lo), int(hi or lo) + 1, step))
    return ids


def squeue(job_ids: Iterable[str], runner: Runner | None = None) -> list[QueueEntry]:
    """Live tasks of these array jobs (the user's own queue, filtered here: squeue of older SLURM
    fails outright when one of several --jobs has left the queue)."""
    wanted = set(job_ids)
    if not wanted:
        return []
    text = _checked(["squeue", "--noheader", "--array", "--me", "--format", SQUEUE_FORMAT], runner)
    return [e for e in parse_squeue(text) if e.job_id in wanted]


# --- sacct ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AcctEntry:
    job_id: str
    task_id: int | None
    state: str  # e.g. 'COMPLETED', 'FAILED', 'CANCELLED', 'TIMEOUT', 'OUT_OF_MEMORY', 'PREEMPTED'
    exit_code: str  # 'code:signal'


SACCT_FIELDS = "JobID,State,ExitCode"


def parse_sacct(text: str) -> list[AcctEntry]:
    """Lines of `sacct -n -P -X --format=JobID,State,ExitCode` -> entries (one per task).

    JobID looks like '1234_5' (a task), '1234_[6-9%2]' (tasks not started yet) or '1234'.
    State may be 'CANCELLED by 0': only the first word is kept.
    """
    entries = []
    for line in text.splitlines():
        parts = line.strip().split("|")
        if len(parts) < 3 or not parts[0]:
            continue
        jobid, state, code = parts[:3]
        job, _, task = jobid.partition("_")
        if not job.isdigit():
            continue
        state = state.split()[0] if state.strip() else "UNKNOWN"
        for t in _task_ids(task) if task else [None]:
            entries.append(AcctEntry(job, t, state, code))
    return entries


def sacct(job_ids: Iterable[str], runner: Runner | None = None) -> list[AcctEntry] | None:
    """Final states from accounting, or None where the cluster keeps no accounting."""
    ids = sorted(set(job_ids), key=int)
    if not ids:
        return []
    cmd = ["sacct", "--noheader", "--parsable2", "--allocations", f"--format={SACCT_FIELDS}", f"--jobs={','.join(ids)}"]
    try:
        proc = (runner or _run)(cmd)
    except (FileNotFoundError, subprocess.TimeoutExpired):
        return None
    if proc.returncode != 0:  # e.g. "Slurm accounting storage is disabled"
        return None
    return parse_sacct(proc.stdout)
