"""The local executor: runs the pending cells of a grid, in parallel worker processes on a CPU.

Finished cells (summary.json present) are skipped, so re-running the same command resumes an
interrupted grid; a cell killed mid-way resumes from its last checkpoint. A cell that raises is
reported and the grid goes on; the exit code says whether everything finished.

On a CPU, `jobs` one-thread processes beat one process with `jobs` threads for these small nets
(their ops are too small to split across cores), so `jobs='auto'` runs one cell per core. On a GPU
it runs one cell at a time.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field, replace

from ablate import results
from ablate.experiment import Cell, Experiment
from ablate.run import CellBusy, RunOptions, run_cell


@dataclass
class GridOutcome:
    completed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # already complete before this call
    busy: list[str] = field(default_factory=list)  # being run by another process right now
    failed: dict[str, str] = field(default_factory=dict)  # run id -> error


def resolve_jobs(jobs: int | str, n_cells: int, accelerator: str) -> int:
    if jobs != "auto":
        return max(1, int(jobs))
    import torch

    if accelerator not in ("cpu",) and torch.cuda.is_available():
        return 1
    return max(1, min(os.cpu_count() or 1, n_cells))


def _init_worker(threads: int) -> None:
    # Die with the parent (SIGKILL included), so an interrupted grid leaves no orphan training a
    # cell that the rerun is about to resume. Linux only; elsewhere orphans finish their cell.
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG = 1
    import torch

    torch.set_num_threads(threads)


def _record_failure(opts, experiment, cell, outcome, error: BaseException, tb: str) -> None:
    err = results.run_dir(opts.results_root, experiment.name, cell.run_id) / "error.txt"
    results.atomic_write_text(err, tb)
    outcome.failed[cell.run_id] = f"{type(error).__name__}: {error} (traceback in {err})"
    print(f"\n[ablate] cell {cell.index} ({cell.run_id}) failed: {error}", file=sys.stderr)


def run_grid(experiment: Experiment, opts: RunOptions, jobs: int | str = 1,
             cells: list[Cell] | None = None) -> GridOutcome:  # fmt: skip
    from tqdm.auto import tqdm

    cells = experiment.cells if cells is None else cells
    outcome = GridOutcome()
    todo = []
    for c in cells:
        done = results.is_complete(results.run_dir(opts.results_root, experiment.name, c.run_id))
        (outcome.skipped.append(c.run_id) if done else todo.append(c))
    # From the grid's size, not the number pending: a resumed grid then runs each cell with the
    # same threads per process as an uninterrupted one, and CPU float sums come out bit-identical.
    jobs = resolve_jobs(jobs, len(cells), opts.accelerator)
    bar = tqdm(total=len(todo), desc=f"{experiment.name}/{experiment.profile}", unit="run",
               disable=not opts.progress or not todo, file=sys.stderr)  # fmt: skip

    def settle(cell, run):
        try:
            run()
            outcome.completed.append(cell.run_id)
        except CellBusy as e:
            outcome.busy.append(cell.run_id)
            print(f"\n[ablate] cell {cell.index} skipped: {e}", file=sys.stderr)
        except Exception as e:  # one broken cell must not lose the others
            _record_failure(opts, experiment, cell, outcome, e, traceback.format_exc())
        bar.update(1)
        bar.set_postfix_str(cell.run_id)

    if jobs == 1:
        for cell in todo:
            settle(cell, lambda cell=cell: run_cell(experiment, cell, opts))
    else:
        threads = max(1, (os.cpu_count() or 1) // jobs)
        worker_opts = replace(opts, progress=False)  # per-run bars of parallel runs would interleave
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(jobs, mp_context=ctx, initializer=_init_worker, initargs=(threads,)) as pool:
            futures = {pool.submit(run_cell, experiment, c, worker_opts): c for c in todo}
            for fut in as_completed(futures):
                settle(futures[fut], fut.result)
    bar.close()
    return outcome
