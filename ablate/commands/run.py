"""`python -m ablate run EXP`: train the grid's pending cells (or one, `--cell N`), then analyse."""

import sys

from ablate.commands.common import add_grid_arguments, add_seeds_max, device_overrides, load_grid
from ablate.errors import UserError
from ablate.grid_checks import preflight
from ablate.results import results_root

HELP = "run an experiment grid (or one cell of it), then print its table and verdicts"


def add_arguments(p) -> None:
    add_grid_arguments(p)
    add_seeds_max(p)
    p.add_argument("--data-dir", help="existing dataset copy (default: $ABLATE_DATA_DIR or ~/.cache/ablate/data)")
    p.add_argument("--cell", type=int, help="run only this cell index (SLURM array tasks use this)")
    p.add_argument(
        "--expect-run-id",
        help="with --cell: refuse to run if that cell's run id differs "
        "(the experiment changed since the job was submitted)",
    )
    p.add_argument(
        "--wandb",
        default="auto",
        choices=("auto", "online", "offline", "off"),
        help="W&B mode; auto = online only with an API key and a reachable server",
    )
    p.add_argument("--accelerator", default="auto", help="Lightning accelerator: auto | cpu | gpu")
    p.add_argument(
        "--devices",
        metavar="N",
        help="train every cell with DDP over N devices per node (sets train.world_size = N x "
        "--num-nodes: a new run id); default: what each cell's train.world_size says (1: one device per cell)",
    )
    p.add_argument("--num-nodes", type=int, default=1, help="nodes per cell for multi-node DDP")
    p.add_argument(
        "--jobs",
        default="auto",
        help="cells run at once: auto = one per allocated CPU core (one thread each), 1 on a GPU",
    )
    p.add_argument(
        "--runs-per-gpu",
        metavar="K",
        help="pack K cells on each visible GPU (K processes, one GPU each, CUDA MPS if its "
        "daemon runs); auto = one per 4 GiB of GPU memory, at most 8 and the CPUs per GPU",
    )
    p.add_argument(
        "--threads",
        type=int,
        metavar="N",
        help="torch threads of this run (default: the CPUs allocated: SLURM_CPUS_PER_TASK, affinity)",
    )
    p.add_argument(
        "--record-diff",
        action="store_true",
        help="keep the git diff of a dirty tree in each run's provenance-private.json (owner-only; "
        "default: its SHA-256, size and changed files only; also $ABLATE_RECORD_DIFF=1)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bars (logs, CI)")
    p.add_argument("--no-analysis", action="store_true", help="do not analyse after the grid")


def main(args) -> int:
    args.overrides = [*args.overrides, *device_overrides(args.devices, args.num_nodes, args.overrides)]
    exp = load_grid(args)  # validates the whole grid before anything trains
    opts = run_options(args)
    if _train_launched_cell(exp, opts):  # a DDP rank >= 1 that ablate started: that cell only
        return 0
    # Data present, splits and batches within it, results folder writable with room: before any run folder.
    preflight(exp, results_root(args.results_dir), args.data_dir)
    _check_devices(exp, args)
    if args.cell is not None:
        return _run_one_cell(exp, args, opts)
    return _run_the_grid(exp, args, opts)


def _check_devices(exp, args) -> None:
    """Device rules of the whole grid before anything trains: BN + DDP on the CPU is refused; a DDP
    cell uses several processes, so it runs one at a time and is never packed."""
    from ablate.train.builders import check_devices  # torch: imported when something trains

    seen = set()
    for cell in exp.cells:
        key = repr((cell.config["model"], cell.config["train"]["world_size"]))
        if key not in seen:
            seen.add(key)
            try:
                check_devices(cell.config, args.accelerator)
            except UserError as e:
                raise UserError(f"{exp.path}: arm {cell.arm!r}: {e}") from None
    world = max(c.config["train"]["world_size"] for c in exp.cells)
    if any(c.config["train"]["world_size"] % args.num_nodes for c in exp.cells):
        raise UserError(f"--num-nodes {args.num_nodes}: train.world_size must be a multiple of it (give --devices N)")
    if world > 1 and (args.runs_per_gpu is not None or args.jobs not in ("auto", "1")):
        raise UserError(
            f"{exp.path}: cells with train.world_size {world} train one at a time on their {world} devices; "
            f"drop --runs-per-gpu / --jobs"
        )
    if world > 1:
        args.jobs = "1"  # in this process: Lightning's launcher starts each DDP cell's other ranks from it


def _train_launched_cell(exp, opts) -> bool:
    """Rank >= 1 of a DDP launch that ablate started (Lightning re-ran this command for it): train
    the one cell rank 0 names and return True; never walk the grid or write the report. False
    for every other process."""
    from ablate.train.run import launched_cell, run_cell

    cell = launched_cell(exp.cells)
    if cell is None:
        return False
    run_cell(exp, cell, opts)
    return True


def run_options(args):
    """The RunOptions of the command line (how to run, never what)."""
    from ablate.train.run import RunOptions  # Lightning: imported when something trains

    if args.threads is not None and args.threads < 1:
        raise UserError(f"--threads {args.threads}: must be >= 1")
    return RunOptions(
        results_root(args.results_dir),
        args.data_dir,
        args.wandb,
        args.accelerator,
        args.num_nodes,
        progress=not args.no_progress,
        threads=args.threads,
        record_diff=args.record_diff,
    )


def _run_one_cell(exp, args, opts) -> int:
    """`--cell N`: what a SLURM array task runs."""
    from ablate.results import DiskFull
    from ablate.train.checkpointing import CheckpointUnreadable
    from ablate.train.run import CellBusy, run_cell

    if not 0 <= args.cell < len(exp.cells):
        raise UserError(f"--cell {args.cell}: {exp.name}/{exp.profile} has cells 0..{len(exp.cells) - 1}")
    cell = exp.cells[args.cell]
    if args.expect_run_id and cell.run_id != args.expect_run_id:
        raise UserError(
            f"{exp.path}: cell {args.cell} is now {cell.run_id}, not {args.expect_run_id}: "
            f"the experiment changed since submission; resubmit"
        )
    try:
        summary = run_cell(exp, cell, opts)
    except CellBusy as e:
        print(f"[ablate] cell {args.cell} not run: {e}", file=sys.stderr)
        return 1
    except (DiskFull, CheckpointUnreadable) as e:  # one clear line; the same command resumes the cell
        print(f"[ablate] cell {args.cell} ({cell.run_id}) failed: {e}", file=sys.stderr)
        return 1
    print(f"[ablate] cell {args.cell} {summary['run_id']}: {summary['status']}")
    return 0


def _run_the_grid(exp, args, opts) -> int:
    from ablate.executor import run_grid  # Lightning: imported when something trains

    runs_per_gpu = args.runs_per_gpu
    if runs_per_gpu is not None and runs_per_gpu != "auto" and not (runs_per_gpu.isdigit() and int(runs_per_gpu) >= 1):
        raise UserError(f"--runs-per-gpu {runs_per_gpu!r}: valid: a whole number >= 1, or auto")
    design = f"up to {len(exp.seeds)} seeds: {exp.schedule.describe()}" if exp.schedule else f"{len(exp.seeds)} seeds"
    print(
        f"[ablate] {exp.name} / profile {exp.profile}: {len(exp.cells)} runs "
        f"({len(exp.arms)} arms x {design}) -> {opts.results_root / exp.name}"
    )

    def train(cells):
        try:
            outcome = run_grid(exp, opts, jobs=args.jobs, cells=cells, runs_per_gpu=runs_per_gpu)
        except ValueError as e:  # no GPU visible for --runs-per-gpu
            raise UserError(str(e)) from None
        print(
            f"[ablate] {len(outcome.completed)} run, {len(outcome.skipped)} already done, "
            f"{len(outcome.busy)} running elsewhere, {len(outcome.failed)} failed"
        )
        for run_id, err in outcome.failed.items():
            print(f"[ablate] FAILED {run_id}: {err}", file=sys.stderr)
        return not (outcome.failed or outcome.busy)

    ok = train(exp.cells) if exp.schedule is None else _run_rounds(exp, opts, train)
    if not args.no_analysis:
        from ablate.report.pipeline import analyze_and_print  # pandas, seaborn: imported to analyse

        analyze_and_print(exp, opts.results_root, wandb_mode=args.wandb)
    return 0 if ok else 1


def _run_rounds(exp, opts, train) -> bool:
    """A sequential design: train the cells of each look, judge, and go on while some claim is
    open (ablate.verdicts.sequential); the decisions come from the stored runs, as `analyze`'s do.
    False when a round's runs did not all finish (failed, or running elsewhere)."""
    from ablate.report.judging import next_round, summary  # pandas: imported to judge

    before = None
    while True:
        state, cells = next_round(exp, opts.results_root)
        print(f"[ablate] {summary(exp, state)}")
        if not cells:
            return True
        if cells == before:  # trained, yet not in the analysis (e.g. zero optimiser steps): not again
            print(
                f"[ablate] look {state.looks_taken + 1} cannot be taken: its runs are not all usable", file=sys.stderr
            )
            return False
        n = max(c.seed for c in cells) + 1
        print(f"[ablate] look {state.looks_taken + 1}: {n} seeds per arm of {_arms(cells)}")
        if not train(cells):
            return False
        before = cells


def _arms(cells) -> str:
    return ", ".join(dict.fromkeys(c.arm for c in cells))
