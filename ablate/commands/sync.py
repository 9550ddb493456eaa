"""`python -m ablate sync EXP`: upload the offline W&B runs of an experiment with `wandb sync`.

Compute nodes often have no internet, so tasks log W&B offline into each run's folder
(<root>/<exp>/<run_id>/wandb/offline-run-<stamp>-<id>/). From a machine with internet this uploads
them: one `wandb sync` per W&B run (a requeued run has one offline folder per attempt, all with
the same id; they go in one call, oldest first, so they land in order in the same W&B run), several
runs in parallel. Idempotent: a folder that `wandb sync` marked as uploaded (its
`run-<id>.wandb.synced` file) is skipped. Only finished cells are uploaded unless --all: a run
uploaded while it still trains would be marked synced and its later steps never sent.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from ablate import results
from ablate.commands.status import _experiment_name
from ablate.errors import UserError
from ablate.results import is_complete

HELP = "upload the offline W&B runs of an experiment (`wandb sync`, in parallel, skipping synced ones)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("experiment", help="experiment name (or YAML path)")
    p.add_argument("--results-dir", help="where results are (default: $ABLATE_RESULTS_DIR or ./results)")
    p.add_argument("--jobs", "-j", type=int, default=4, metavar="N", help="uploads at once (default 4)")
    p.add_argument(
        "--all",
        action="store_true",
        help="also upload runs of cells that have not finished (they will not be uploaded again later)",
    )
    p.add_argument("--project", help="W&B project override (`wandb sync --project`)")
    p.add_argument("--entity", help="W&B entity override (`wandb sync --entity`)")
    p.add_argument(
        "--wandb",
        default=None,
        metavar="PATH",
        help="the wandb executable (default: the one beside this Python, else on PATH)",
    )
    p.add_argument("--dry-run", action="store_true", help="print the commands, upload nothing")


@dataclass(frozen=True)
class SyncJob:
    run_dir: Path  # the ablate run folder
    folders: tuple[Path, ...]  # its offline W&B folders still to upload, oldest first
    skipped: int  # folders already uploaded


def is_synced(folder: Path) -> bool:
    """`wandb sync` leaves run-<id>.wandb.synced beside run-<id>.wandb once uploaded."""
    return any(folder.glob("*.wandb.synced"))


def find_jobs(exp_dir: Path, include_unfinished: bool = False) -> list[SyncJob]:
    """Scan <root>/<exp>/*/wandb/offline-run-* (pure apart from reading the tree)."""

    jobs = []
    for run_dir in sorted(p for p in exp_dir.iterdir() if p.is_dir()) if exp_dir.is_dir() else []:
        folders = sorted((run_dir / "wandb").glob("offline-run-*"))  # the name starts with its time
        if not folders or not (include_unfinished or is_complete(run_dir)):
            continue
        todo = tuple(f for f in folders if any(f.glob("*.wandb")) and not is_synced(f))
        jobs.append(SyncJob(run_dir, todo, len(folders) - len(todo)))
    return jobs


def sync_command(wandb: str, job: SyncJob, project: str | None = None, entity: str | None = None) -> list[str]:
    cmd = [wandb, "sync"]
    if project:
        cmd += ["--project", project]
    if entity:
        cmd += ["--entity", entity]
    return cmd + [str(f) for f in job.folders]


def wandb_executable(explicit: str | None = None) -> str:
    if explicit:
        return explicit
    beside = Path(sys.executable).with_name("wandb")
    return str(beside) if beside.is_file() else (shutil.which("wandb") or "wandb")


Runner = Callable[[Sequence[str]], "subprocess.CompletedProcess[str]"]


def _run(cmd: Sequence[str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "WANDB_SILENT": "true"}
    env.pop("WANDB_MODE", None)  # an inherited WANDB_MODE=offline would make the upload a no-op
    return subprocess.run(list(cmd), capture_output=True, text=True, env=env)


def sync_all(
    jobs: Sequence[SyncJob], cmd_for: Callable[[SyncJob], list[str]], parallel: int, runner: Runner = _run
) -> dict[Path, str]:
    """Run the uploads, `parallel` at a time; -> run folder: error text (empty dict = all ok).
    A folder counts as uploaded only when `wandb sync` left its .synced marker."""
    todo = [j for j in jobs if j.folders]
    errors: dict[Path, str] = {}

    def one(job: SyncJob) -> None:
        proc = runner(cmd_for(job))
        missing = [f.name for f in job.folders if not is_synced(f)]
        if proc.returncode != 0 or missing:
            lines = (proc.stderr or proc.stdout or "").strip().splitlines()
            why = lines[-1] if lines else f"exit {proc.returncode}"
            errors[job.run_dir] = why + (f" (not marked synced: {', '.join(missing)})" if missing else "")

    with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
        list(pool.map(one, todo))
    return errors


def main(args: argparse.Namespace) -> int:

    if args.jobs < 1:
        raise UserError(f"--jobs {args.jobs}: must be >= 1")
    exp_dir = results.results_root(args.results_dir).resolve() / _experiment_name(args.experiment)
    if not exp_dir.is_dir():
        raise UserError(f"{exp_dir}: no results for experiment {args.experiment!r} here")
    jobs = find_jobs(exp_dir, include_unfinished=args.all)
    wandb = wandb_executable(args.wandb)
    todo = [j for j in jobs if j.folders]
    skipped = sum(j.skipped for j in jobs)
    print(
        f"{exp_dir.name}: {len(todo)} W&B run(s) to upload "
        f"({sum(len(j.folders) for j in todo)} offline folders), {skipped} folder(s) already synced",
        file=sys.stderr,
    )

    def cmd_for(job: SyncJob) -> list[str]:
        return sync_command(wandb, job, args.project, args.entity)

    if args.dry_run:
        import shlex

        for job in todo:
            print(shlex.join(cmd_for(job)))
        return 0
    errors = sync_all(todo, cmd_for, args.jobs)
    for run_dir, why in sorted(errors.items()):
        print(f"failed: {run_dir.name}: {why}", file=sys.stderr)
    print(f"uploaded {len(todo) - len(errors)} of {len(todo)} run(s)", file=sys.stderr)
    return 1 if errors else 0
