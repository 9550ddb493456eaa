"""What ablate keeps about its SLURM jobs, beside the results: <root>/<experiment>/slurm/.

    slurm/submissions.jsonl   one line per submitted array: job id, offset, cells, script, profile
    slurm/<stamp>-<k>.sbatch  the scripts as submitted (readable, editable, resubmittable)
    slurm/logs/cell-<N>.log   everything cell N printed, all attempts appended
    slurm/logs/<job>_<task>.out  SLURM's own output of a task (e.g. "CANCELLED ... DUE TO TIME LIMIT")

And the pure join that `status` prints: results store + squeue + sacct + logs -> one state per cell.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ablate.slurm.cluster import AcctEntry, QueueEntry

SUBMISSIONS = "submissions.jsonl"
# sacct states that mean the task ended without a result (a cell can still be done: the result
# store wins over accounting, e.g. a task whose result was written before it was cancelled).
FAILED_STATES = {
    "FAILED",
    "CANCELLED",
    "TIMEOUT",
    "NODE_FAIL",
    "OUT_OF_MEMORY",
    "PREEMPTED",
    "BOOT_FAIL",
    "DEADLINE",
    "REVOKED",
    "COMPLETED",
}


def slurm_dir(root: Path, experiment: str) -> Path:
    return Path(root) / experiment / "slurm"


def log_dir(root: Path, experiment: str) -> Path:
    return slurm_dir(root, experiment) / "logs"


def cell_log(root: Path, experiment: str, cell: int) -> Path:
    return log_dir(root, experiment) / f"cell-{cell}.log"


def append_submission(root: Path, experiment: str, record: dict) -> None:
    path = slurm_dir(root, experiment) / SUBMISSIONS
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:  # one short line per write: appends of this size do not interleave
        f.write(json.dumps(record, sort_keys=True) + "\n")
        f.flush()
        os.fsync(f.fileno())


def read_submissions(root: Path, experiment: str) -> list[dict]:
    path = slurm_dir(root, experiment) / SUBMISSIONS
    if not path.is_file():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # a line cut short by a crash: skip it
    return out


def tail(path: Path, lines: int = 5, max_bytes: int = 64 * 1024) -> list[str]:
    """The last lines of a (possibly large) log, without reading all of it."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - max_bytes))
            data = f.read().decode("utf-8", errors="replace")
    except OSError:
        return []
    return [ln for ln in data.splitlines() if ln.strip()][-lines:]


@dataclass(frozen=True)
class CellState:
    index: int
    status: str  # done | running | pending | failed | missing
    detail: str = ""  # e.g. 'job 12_3 BeginTime', 'TIMEOUT', summary status


def task_output(root: Path, experiment: str, submissions: Sequence[dict], cell: int) -> Path | None:
    """SLURM's own output file of the newest task that ran `cell` (None if it never ran)."""
    for rec in reversed(submissions):
        for task, cells in task_cells(rec).items():
            path = log_dir(root, experiment) / f"{rec['job_id']}_{task}.out"
            if cell in cells and path.is_file():
                return path
    return None


def task_cells(rec: dict) -> dict[int, list[int]]:
    """Task id -> the cells it trains: one (cell = task + offset), or a group (`submit
    --cells-per-task K` records them under "tasks")."""
    if "tasks" in rec:
        return {int(t): [int(c) for c in cells] for t, cells in rec["tasks"].items()}
    return {int(c) - int(rec["offset"]): [int(c)] for c in rec["cells"]}


def job_cells_map(submissions: Sequence[dict]) -> dict[tuple[str, int], list[int]]:
    """(array job id, task id) -> the cells of that task, from the submission records."""
    return {(str(rec["job_id"]), t): cells for rec in submissions for t, cells in task_cells(rec).items()}


def cell_states(
    cells: Iterable[int],
    done: dict[int, str],
    submissions: Sequence[dict],
    queue: Sequence[QueueEntry],
    acct: Sequence[AcctEntry] | None,
    has_log: set[int],
) -> list[CellState]:
    """Pure join. Precedence: result store (done) > live queue (running/pending) > accounting
    (failed with its state) > a log or an earlier submission without a result (failed) > missing.

    done: cell -> summary status ('completed' / 'diverged'); acct None = no accounting here.
    """
    to_cells = job_cells_map(submissions)
    live: dict[int, QueueEntry] = {}
    for e in queue:
        for cell in to_cells.get((e.job_id, e.task_id), []) if e.task_id is not None else []:
            if cell not in live or e.status == "running":
                live[cell] = e
    # The newest job of each cell decides its accounting state (submissions are in time order).
    order = {str(rec["job_id"]): i for i, rec in enumerate(submissions)}
    final: dict[int, tuple[int, AcctEntry]] = {}
    for e in acct or []:
        for cell in to_cells.get((e.job_id, e.task_id), []) if e.task_id is not None else []:
            rank = order.get(e.job_id, -1)
            if cell not in final or rank >= final[cell][0]:
                final[cell] = (rank, e)
    submitted = {c for cells in to_cells.values() for c in cells}
    out = []
    for c in cells:
        if c in done:
            out.append(CellState(c, "done", done[c]))
        elif c in live:
            e = live[c]
            why = f" ({e.reason})" if e.reason and e.reason != "None" else ""
            out.append(CellState(c, e.status, f"job {e.job_id}_{e.task_id}{why}"))
        elif c in final and final[c][1].state in FAILED_STATES:
            e = final[c][1]
            out.append(CellState(c, "failed", f"job {e.job_id}_{e.task_id} {e.state} exit {e.exit_code}"))
        elif c in has_log:
            out.append(CellState(c, "failed", "ended without a result"))
        elif c in submitted:
            # Submitted, never started, gone from the queue: cancelled while pending, most likely.
            out.append(CellState(c, "missing", "submitted, never ran (cancelled while pending?)"))
        else:
            out.append(CellState(c, "missing", ""))
    return out
