"""`python -m ablate status EXP`: each cell done / running / pending / failed / missing.

The results store decides 'done'; squeue says what is running or pending; sacct (where the cluster
keeps accounting) says how a task ended. Without accounting, a cell that left a log but no result
counts as failed. The profile and --set overrides default to those of the latest `submit`.
With a seed schedule, a cell nobody ran is 'missing' only if the next look needs it: 'later' if a
later look may, 'unneeded' once every claim is decided (or the schedule is spent).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from ablate import results
from ablate.commands.common import add_grid_arguments, add_seeds_max, load_grid
from ablate.report import judging
from ablate.slurm import cluster, store

HELP = "show each cell of an experiment: done / running / pending / failed (log tail) / missing"


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_grid_arguments(p)
    add_seeds_max(p)
    p.add_argument(
        "--lines", type=int, default=5, metavar="N", help="lines of log shown under each failed cell (default 5)"
    )


def main(args: argparse.Namespace) -> int:
    root = results.results_root(args.results_dir).resolve()
    subs = store.read_submissions(root, _experiment_name(args.experiment))
    if args.profile is None and not args.overrides and subs:
        args.profile, args.overrides = subs[-1]["profile"], list(subs[-1]["overrides"])
        args.seeds_max = args.seeds_max or subs[-1].get("seeds_max")
    exp = load_grid(args)
    subs = store.read_submissions(root, exp.name)
    done = {}
    for c in exp.cells:
        rd = results.run_dir(root, exp.name, c.run_id)
        if results.is_complete(rd):
            done[c.index] = str(results.read_summary(rd).get("status", "completed"))
    queue, acct, note = _queue_and_accounting({str(s["job_id"]) for s in subs})
    logs = {c.index for c in exp.cells if store.cell_log(root, exp.name, c.index).is_file()}
    states = store.cell_states([c.index for c in exp.cells], done, subs, queue, acct, logs)
    if exp.schedule is not None:
        states = _with_looks(exp, root, states)
    _print_states(exp, states, root, subs, args.lines)
    if note:
        print(f"note: {note}", file=sys.stderr)
    return 0


def _with_looks(exp, root: Path, states: list) -> list:
    """A sequential design's missing cells that its next look does not need: 'later' while a look is
    still to come, 'unneeded' once the design has ended."""
    state, needed = judging.next_round(exp, root)
    print(judging.summary(exp, state))
    wanted = {c.index for c in needed}
    later = "later" if state.next_seeds is not None else "unneeded"
    return [replace(s, status=later) if s.status == "missing" and s.index not in wanted else s for s in states]


def _queue_and_accounting(job_ids: set[str]) -> tuple[list, dict | None, str]:
    """(squeue entries, sacct states or None, a note on what could not be read)."""
    if not job_ids:
        return [], None, ""
    if not cluster.available():
        return [], None, "no SLURM commands here: running/pending not shown"
    queue, note = [], ""
    try:
        queue = cluster.squeue(job_ids)
    except cluster.SlurmError as e:
        note = f"squeue failed ({e}); running/pending not shown"
    acct = cluster.sacct(job_ids)
    if acct is None:
        note = note or "no SLURM accounting (sacct) here: 'failed' = ran and left no result"
    return queue, acct, note


def _print_states(exp, states, root: Path, subs: list, lines: int) -> None:
    counts: dict[str, int] = {}
    for s in states:
        counts[s.status] = counts.get(s.status, 0) + 1
    summary = ", ".join(
        f"{counts[k]} {k}"
        for k in ("done", "running", "pending", "failed", "missing", "later", "unneeded")
        if k in counts
    )
    print(f"{exp.name} (profile {exp.profile}): {len(states)} cells: {summary}")
    width = max(len(c.arm) for c in exp.cells)
    print(f"{'cell':>4}  {'arm':<{width}}  {'seed':>4}  {'state':<8}  detail")
    for c, s in zip(exp.cells, states):
        print(f"{c.index:>4}  {c.arm:<{width}}  {c.seed:>4}  {s.status:<8}  {s.detail}".rstrip())
        if s.status == "failed" and lines > 0:
            for line in store.tail(store.cell_log(root, exp.name, c.index), lines):
                print(f"{'':>6}| {line}")
            out = store.task_output(root, exp.name, subs, c.index)  # e.g. "... DUE TO TIME LIMIT"
            for line in store.tail(out, lines) if out else []:
                if "slurmstepd" in line or "srun: error" in line:
                    print(f"{'':>6}| {line}")


def _experiment_name(value: str) -> str:
    path = Path(value)
    return path.stem if path.suffix in (".yaml", ".yml") else value
