"""`python -m ablate submit EXP ...`: one SLURM array task per pending cell; returns at once.

With a seed schedule (a sequential design) each submit is one round: the cells of the next look,
as ablate.report.judging.next_round decides it from the stored runs, the same decision `run` and
`analyze` make. Running `submit` again after a round has finished judges it and submits the next
round, or says that no claim needs more seeds.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import ablate
from ablate import results
from ablate.commands.common import add_grid_arguments, add_seeds_max, device_overrides, load_grid
from ablate.errors import UserError
from ablate.grid_checks import preflight
from ablate.slurm import cluster, render, store

HELP = (
    "submit the pending cells of an experiment as SLURM array job(s) and return at once; with a seed "
    "schedule, the cells of its next look (run it again when a round has finished)"
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_grid_arguments(p)
    add_seeds_max(p)
    p.add_argument(
        "--data-dir",
        help="dataset folder, visible from the compute nodes "
        "(prepare it with `python -m ablate data fetch NAME --data-dir D`)",
    )
    _add_resource_arguments(p)
    p.add_argument(
        "--wandb",
        default="offline",
        choices=("auto", "offline", "online", "off"),
        help="W&B mode on the compute nodes (default offline; upload later with `python -m ablate sync EXP`)",
    )
    p.add_argument(
        "--python", default=sys.executable, help="Python on the compute nodes (default: this one, %(default)s)"
    )
    p.add_argument(
        "--max-array-size",
        type=int,
        metavar="N",
        help="split arrays for this MaxArraySize (default: read `scontrol show config`)",
    )
    p.add_argument("--dry-run", action="store_true", help="print the script(s), submit nothing")


def _add_resource_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("resources (one array task = one cell)")
    g.add_argument("--partition", help="SLURM partition")
    g.add_argument("--account", help="SLURM account")
    g.add_argument("--qos", help="SLURM quality of service")
    g.add_argument("--time", default="4:00:00", help="time limit per cell (default 4:00:00)")
    g.add_argument(
        "--gpus-per-task",
        type=int,
        default=0,
        metavar="N",
        help="GPUs per node for one cell; N > 1 trains with DDP, one process per GPU (default 0: CPU)",
    )
    g.add_argument("--nodes", type=int, default=1, metavar="M", help="nodes per cell (default 1)")
    g.add_argument("--cpus-per-task", type=int, metavar="C", help="CPUs per training process")
    g.add_argument("--mem", help="memory per node, e.g. 32G")
    g.add_argument(
        "--cells-per-task",
        type=int,
        default=1,
        metavar="K",
        help="train K cells at once in each array task, sharing its GPU (or CPUs): a grid "
        "of N cells needs N/K allocations (default 1)",
    )
    g.add_argument(
        "--array-parallelism",
        type=int,
        metavar="P",
        help="at most P tasks of each array run at once (the %%P of --array)",
    )
    g.add_argument(
        "--signal-seconds",
        type=int,
        default=120,
        metavar="S",
        help="USR1 this long before the time limit: checkpoint and requeue (default 120; "
        "SLURM may signal up to a minute early)",
    )


def repo_root() -> Path:
    """Where the tasks run, so `python -m ablate` imports this very code."""
    return Path(ablate.__file__).resolve().parent.parent


def experiment_arg(value: str) -> str:
    """A YAML path becomes absolute (tasks run elsewhere); an experiment name stays a name."""
    path = Path(value)
    return str(path.resolve()) if path.suffix in (".yaml", ".yml") else value


def main(args: argparse.Namespace) -> int:
    if max(1, args.gpus_per_task) * args.nodes > 1:  # a DDP cell: its world size is part of its run id
        args.overrides = [
            *args.overrides,
            *device_overrides(str(max(1, args.gpus_per_task)), args.nodes, args.overrides),
        ]
    exp = load_grid(args)  # validates the whole grid first
    if args.array_parallelism is not None and args.array_parallelism < 1:
        raise UserError(f"--array-parallelism {args.array_parallelism}: must be >= 1")
    root = results.results_root(args.results_dir).resolve()
    # Data present (compute nodes may have no internet), sizes fit, results folder writable: before
    # anything is queued, as `run` checks before anything trains.
    preflight(exp, root, args.data_dir)
    settings = _job_settings(args, exp, root)  # checks --time, --partition, ... before anything is read
    pending = _pending_cells(exp, root, args.dry_run) if exp.schedule is None else _round_cells(exp, root, args.dry_run)
    if not pending:
        return 0
    plan = _plan_arrays(exp, pending, settings, args)
    if args.dry_run:
        for _, text, cells, _ in plan:
            print(f"# ---- array of cells {render.compress_ranges(cells)} (not submitted) ----")
            print(text, end="")
        return 0
    if not cluster.available():
        raise UserError(
            "sbatch/squeue/scontrol not found: run `submit` on a SLURM login node (or use --dry-run to see the script)"
        )
    submitted = _submit_arrays(exp, root, plan, args)
    status = f"python -m ablate status {args.experiment} --results-dir {root}"
    print(f"submitted {len(pending)} cells as {len(submitted)} array(s); follow with: {status}", file=sys.stderr)
    return 0


def _job_settings(args: argparse.Namespace, exp, root: Path) -> render.JobSettings:
    return render.JobSettings(
        experiment=experiment_arg(args.experiment),
        results_dir=str(root),
        log_dir=str(store.log_dir(root, exp.name)),
        workdir=str(repo_root()),
        python=args.python,
        time=args.time,
        job_name=f"ablate-{exp.name}",
        profile=exp.profile,
        overrides=tuple(args.overrides),
        data_dir=str(Path(args.data_dir).resolve()) if args.data_dir else None,
        partition=args.partition,
        account=args.account,
        qos=args.qos,
        nodes=args.nodes,
        gpus_per_task=args.gpus_per_task,
        cpus_per_task=args.cpus_per_task,
        mem=args.mem,
        signal_seconds=args.signal_seconds,
        wandb=args.wandb,
        cells_per_task=args.cells_per_task,
        seeds_max=args.seeds_max,
    )


def _pending_cells(exp, root: Path, dry_run: bool, cells=None, what: str = "") -> list[int]:
    """The cells (default: the grid's) neither finished nor queued or running from an earlier submit."""
    cells = exp.cells if cells is None else cells
    done = {c.index for c in cells if results.is_complete(results.run_dir(root, exp.name, c.run_id))}
    live = set() if dry_run else _live_cells(root, exp.name) & {c.index for c in cells}
    pending = [c.index for c in cells if c.index not in done and c.index not in live]
    print(
        f"{exp.name} (profile {exp.profile}){what}: {len(cells)} cells, {len(done)} done, "
        f"{len(live - done)} queued or running, {len(pending)} to submit",
        file=sys.stderr,
    )
    if not pending and live - done:
        print("this round is still queued or running: run submit again when it has finished", file=sys.stderr)
    return pending


def _round_cells(exp, root: Path, dry_run: bool) -> list[int]:
    """A sequential design: the pending cells of its next look (one round, one array job)."""
    from ablate.report.judging import next_round, summary  # pandas: imported to judge

    state, cells = next_round(exp, root)
    print(f"{exp.name} (profile {exp.profile}): {summary(exp, state)}", file=sys.stderr)
    if not cells:
        print(
            "no claim needs more seeds (each is settled, stopped, or judged at the last look): nothing to "
            "submit (`python -m ablate analyze` prints the verdicts)",
            file=sys.stderr,
        )
        return []
    arms = ", ".join(dict.fromkeys(c.arm for c in cells))
    return _pending_cells(exp, root, dry_run, cells, f", look {state.looks_taken + 1} ({arms})")


def _plan_arrays(exp, pending: list[int], settings, args) -> list[tuple]:
    """[(array chunk, sbatch text, its cells, task id -> cells or None)]: arrays within
    MaxArraySize, K cells a task when packing."""
    max_size = args.max_array_size or _max_array_size(args.dry_run)
    run_ids = {c.index: c.run_id for c in exp.cells}
    groups = render.plan_groups(pending, settings.cells_per_task) if settings.cells_per_task > 1 else None
    chunks = render.plan_arrays(range(len(groups)) if groups else pending, max_size, args.array_parallelism)
    plan = []
    for ch in chunks:
        text = render.render_sbatch(settings, ch, total_cells=len(exp.cells), run_ids=run_ids, groups=groups)
        cells = [c for g in ch.cells for c in groups[g]] if groups else ch.cells
        tasks = {str(t): groups[t + ch.offset] for t in ch.indices} if groups else None  # task id -> its cells
        plan.append((ch, text, cells, tasks))
    return plan


def _submit_arrays(exp, root: Path, plan: list[tuple], args) -> list[str]:
    """sbatch each array (after the previous one when --array-parallelism limits them); record each."""
    sdir = store.slurm_dir(root, exp.name)
    store.log_dir(root, exp.name).mkdir(parents=True, exist_ok=True)  # sbatch needs it to exist
    stamp = time.strftime("%Y%m%d-%H%M%S")
    submitted: list[str] = []
    for k, (ch, text, cells, tasks) in enumerate(plan):
        path = sdir / f"{stamp}-array{k}.sbatch"
        results.atomic_write_text(path, text)
        # SLURM's %P limits one array only: with a limit, array k+1 starts after array k ended.
        after = submitted[-1] if submitted and args.array_parallelism else None
        try:
            job_id = cluster.sbatch(str(path), after=after)
        except cluster.SlurmError as e:
            raise UserError(
                f"{path}: {e} (arrays submitted before this one: {', '.join(submitted) or 'none'})"
            ) from None
        record = {
            "job_id": job_id,
            "offset": ch.offset,
            "cells": cells,
            "script": str(path),
            "profile": exp.profile,
            "overrides": list(args.overrides),
            "seeds_max": args.seeds_max,
            "submitted_at": stamp,
            "after": after,
        }
        if tasks:
            record["tasks"] = tasks  # store.task_cells reads it
        store.append_submission(root, exp.name, record)
        submitted.append(job_id)
        print(f"{job_id}\tcells {render.compress_ranges(cells)}\t{path}" + (f"\tafter {after}" if after else ""))
    return submitted


def _max_array_size(dry_run: bool) -> int:
    try:
        return cluster.max_array_size()
    except cluster.SlurmError as e:
        if dry_run:
            print(f"note: {e}; assuming MaxArraySize={cluster.DEFAULT_MAX_ARRAY_SIZE}", file=sys.stderr)
            return cluster.DEFAULT_MAX_ARRAY_SIZE
        raise UserError(f"cannot read MaxArraySize: {e}") from None


def _live_cells(root: Path, experiment: str) -> set[int]:
    """Cells whose task is still queued or running from an earlier submit: not submitted twice."""
    subs = store.read_submissions(root, experiment)
    if not subs or not cluster.available():
        return set()
    try:
        queue = cluster.squeue({str(s["job_id"]) for s in subs})
    except cluster.SlurmError as e:
        print(f"warning: {e}; cannot tell which cells are still queued", file=sys.stderr)
        return set()
    to_cells = store.job_cells_map(subs)
    return {c for e in queue for c in to_cells.get((e.job_id, e.task_id), [])}
