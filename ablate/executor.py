"""The local executor: runs the pending cells of a grid, in parallel worker processes.

Finished cells (summary.json present) are skipped, so re-running the same command resumes an
interrupted grid; a cell killed mid-way resumes from its last checkpoint. A cell that raises is
reported and the grid goes on; the exit code says whether everything finished.

On a CPU, `jobs` one-thread processes beat one process with `jobs` threads for these small nets
(their ops are too small to split across cores), so `jobs='auto'` runs one cell per allocated core.
On GPUs, `runs_per_gpu=K` packs K worker processes onto each visible GPU, each pinned to its GPU
with CUDA_VISIBLE_DEVICES: a CIFAR ResNet at batch 128 is bound by kernel launches, not arithmetic,
so one run leaves most of an H100/H200 idle. The K processes share the GPU through CUDA MPS when
its control daemon runs (concurrent kernels), by the driver's time-slicing otherwise. Without
`runs_per_gpu` a GPU runs one cell at a time, as before.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import pickle
import signal
import sys
import traceback
from collections import deque
from dataclasses import dataclass, field, replace
from multiprocessing.connection import wait
from pathlib import Path

import torch
from tqdm.auto import tqdm

from ablate import results
from ablate.experiment import Cell, Experiment
from ablate.grid_checks import meta_params
from ablate.train.run import CellBusy, RunOptions, run_cell_counted
from ablate.train.threads import allocated_cpus, default_threads

# `runs_per_gpu='auto'`: one packed run per this much GPU memory (bytes). A CIFAR ResNet-110 at batch
# 128 with its data on the GPU needs well under 2 GiB; 4 GiB leaves room for cuDNN workspaces.
AUTO_BYTES_PER_RUN = 4 << 30
AUTO_MAX_RUNS_PER_GPU = 8  # past ~8 concurrent launch-bound runs an H100 gains little (time-slicing)


@dataclass
class GridOutcome:
    completed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # already complete before this call
    busy: list[str] = field(default_factory=list)  # being run by another process right now
    failed: dict[str, str] = field(default_factory=dict)  # run id -> error
    placed: dict[str, tuple[str, int]] = field(default_factory=dict)  # run id -> (GPU id, worker pid)


def resolve_jobs(jobs: int | str, n_cells: int, accelerator: str) -> int:
    if jobs != "auto":
        return max(1, int(jobs))
    if accelerator not in ("cpu",) and torch.cuda.is_available():
        return 1
    return max(1, min(allocated_cpus(), n_cells))


def visible_gpus() -> list[str]:
    """The GPU ids this process may use, as CUDA_VISIBLE_DEVICES would name them to a child."""
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        return [d for d in (x.strip() for x in env.split(",")) if d and d != "-1"]
    return [str(i) for i in range(torch.cuda.device_count())] if torch.cuda.is_available() else []


def mps_running() -> bool:
    """Whether a CUDA MPS control daemon is up for this user (its pipe directory has a control socket)."""
    pipe = Path(os.environ.get("CUDA_MPS_PIPE_DIRECTORY", "/tmp/nvidia-mps"))
    return (pipe / "control").exists()


def resolve_runs_per_gpu(value: int | str, n_gpus: int, n_cells: int) -> int:
    """K worker processes per GPU. `auto`: one per AUTO_BYTES_PER_RUN of the smallest GPU's memory,
    at most AUTO_MAX_RUNS_PER_GPU, at most the allocated CPUs per GPU (each run's Python loop needs
    a core to launch kernels), at most the cells per GPU."""
    if value != "auto":
        k = int(value)
        if k < 1:
            raise ValueError(f"runs per GPU must be >= 1 or 'auto', got {value!r}")
        return k
    per_gpu_cells = -(-n_cells // max(1, n_gpus))
    mem = min(
        (torch.cuda.get_device_properties(i).total_memory for i in range(torch.cuda.device_count())),
        default=AUTO_BYTES_PER_RUN,
    )
    cpus = max(1, allocated_cpus() // max(1, n_gpus))
    return max(1, min(AUTO_MAX_RUNS_PER_GPU, mem // AUTO_BYTES_PER_RUN, cpus, per_gpu_cells))


def longest_first(cells: list[Cell]) -> list[Cell]:
    """The cells ordered by estimated cost, largest first (ties keep grid order): with parallel
    workers a long cell started last leaves the other cores idle while it runs alone (measured on
    the quick degradation grid: the two 110-layer cells ran last, ~110 s of one idle core in 273 s).
    Cost ~ parameters x steps x batch size, the parameters counted on the meta device (the models
    the grid checks already built are not built again)."""

    def cost(cell: Cell) -> float:
        try:
            params = meta_params(cell.config)
        except Exception:
            params = 0
        train, data = cell.config["train"], cell.config["data"]
        return params * float(train.get("max_steps") or 1) * float(data.get("batch_size") or 1)

    return sorted(cells, key=cost, reverse=True)


def _init_worker(threads: int, slots=None, parent: int | None = None) -> None:
    # Die with the parent (SIGKILL included), so an interrupted grid leaves no orphan training a
    # cell that the rerun is about to resume. Linux only; elsewhere orphans finish their cell.
    if sys.platform.startswith("linux"):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG = 1
        # A parent that died while this process was still importing (seconds) sent no signal: the
        # setting only covers deaths after it. Seen: two orphans of a SIGTERM at the start of a look.
        if parent is not None and os.getppid() != parent:
            os._exit(1)
    if slots is not None:  # packing: this worker owns one GPU for its whole life
        os.environ["CUDA_VISIBLE_DEVICES"] = slots.get()  # before anything initialises CUDA
    torch.set_num_threads(threads)


class FinishedElsewhere(Exception):
    """The cell was finished by another runner after this grid started: not counted as run here."""


def _run_placed(experiment: Experiment, cell: Cell, opts: RunOptions) -> tuple[dict, str, int]:
    summary, trained = run_cell_counted(experiment, cell, opts)
    if not trained:
        raise FinishedElsewhere(f"{cell.run_id} was finished by another runner")
    return summary, os.environ.get("CUDA_VISIBLE_DEVICES", ""), os.getpid()


def _record_failure(opts, experiment, cell, outcome, error: BaseException, tb: str) -> None:
    folder = results.run_dir(opts.results_root, experiment.name, cell.run_id)
    where = f" (traceback in {folder / results.ERROR})" if _write_error(folder, tb) else ""
    outcome.failed[cell.run_id] = f"{type(error).__name__}: {error}{where}"
    print(f"\n[ablate] cell {cell.index} ({cell.run_id}) failed: {error}", file=sys.stderr)


def _write_error(folder: Path, tb: str) -> bool:
    """error.txt of the failed attempt, under the run's lock: never beside an attempt another
    process started meanwhile (its start archives the error of the attempt before). False when it
    was not written: the cell is running elsewhere, or the disk is full."""
    try:
        with results.run_lock(folder) as acquired:
            if acquired and not results.is_complete(folder):
                results.atomic_write_text(folder / results.ERROR, tb)
                return True
    except OSError as e:
        print(f"[ablate] could not write {folder / results.ERROR}: {e}", file=sys.stderr)
    return False


def run_grid(
    experiment: Experiment,
    opts: RunOptions,
    jobs: int | str = 1,
    cells: list[Cell] | None = None,
    runs_per_gpu: int | str | None = None,
    gpus: list[str] | None = None,
) -> GridOutcome:
    """Run the pending cells. runs_per_gpu: pack K processes per GPU in `gpus` (default: the
    visible ones); `jobs` is then ignored."""
    cells = experiment.cells if cells is None else cells
    outcome = GridOutcome()
    todo = []
    for c in cells:
        done = results.is_complete(results.run_dir(opts.results_root, experiment.name, c.run_id))
        (outcome.skipped.append(c.run_id) if done else todo.append(c))
    slots = _gpu_slots(runs_per_gpu, gpus, len(cells)) if runs_per_gpu is not None else None
    # From the grid's size, not the number pending: a resumed grid then runs each cell with the
    # same threads per process as an uninterrupted one, and CPU float sums come out bit-identical.
    jobs = len(slots) if slots is not None else resolve_jobs(jobs, len(cells), opts.accelerator)
    bar = tqdm(
        total=len(todo),
        desc=f"{experiment.name}/{experiment.profile}",
        unit="run",
        disable=not opts.progress or not todo,
        file=sys.stderr,
    )

    def settle(cell, run):
        try:
            summary, gpu, pid = run()
            outcome.completed.append(cell.run_id)
            outcome.placed[cell.run_id] = (gpu, pid)
        except FinishedElsewhere:
            outcome.skipped.append(cell.run_id)
        except CellBusy as e:
            outcome.busy.append(cell.run_id)
            print(f"\n[ablate] cell {cell.index} skipped: {e}", file=sys.stderr)
        except Exception as e:  # one broken cell must not lose the others
            _record_failure(opts, experiment, cell, outcome, e, traceback.format_exc())
        bar.update(1)
        bar.set_postfix_str(cell.run_id)

    if jobs == 1 and slots is None:
        for cell in todo:
            settle(cell, lambda cell=cell: _run_placed(experiment, cell, opts))
    else:
        _run_in_workers(experiment, opts, todo, jobs, slots, settle)
    bar.close()
    return outcome


def _gpu_slots(runs_per_gpu: int | str, gpus: list[str] | None, n_cells: int) -> list[str]:
    """One GPU id per worker process: K per visible GPU (`--runs-per-gpu K`)."""
    gpus = visible_gpus() if gpus is None else list(gpus)
    if not gpus:
        raise ValueError("--runs-per-gpu: no GPU is visible (CUDA_VISIBLE_DEVICES, torch.cuda)")
    k = resolve_runs_per_gpu(runs_per_gpu, len(gpus), n_cells)
    sharing = "CUDA MPS" if mps_running() else "time-slicing"
    print(f"[ablate] packing {k} runs on each of GPU(s) {','.join(gpus)} ({sharing})", file=sys.stderr)
    return [g for g in gpus for _ in range(k)]


class WorkerDied(RuntimeError):
    """The worker process running a cell ended without its result: killed (SIGKILL, the kernel's
    out-of-memory killer) or crashed (a segfault in native code)."""


class RemoteTraceback(Exception):
    """The traceback of an exception raised in a worker, as its __cause__ (printed with it)."""

    def __str__(self) -> str:
        return self.args[0]


class _FixedSlot:
    """_init_worker's slot source for a worker started with its GPU id."""

    def __init__(self, slot: str):
        self.slot = slot

    def get(self) -> str:
        return self.slot


def _worker_main(conn, threads: int, slot: str | None, parent: int) -> None:
    """A worker process: cells from `conn`, one at a time, until None; each answered with
    ("ok", (summary, gpu, pid)) or ("error", exception, traceback text)."""
    _init_worker(threads, _FixedSlot(slot) if slot is not None else None, parent)
    while (task := conn.recv()) is not None:
        try:
            conn.send(("ok", _run_placed(*task)))
        except Exception as e:  # the cell failed; the worker goes on with the next
            try:
                pickle.loads(pickle.dumps(e))  # it must also rebuild on the other side
            except Exception:
                e = RuntimeError(f"{type(e).__name__}: {e}")
            conn.send(("error", e, traceback.format_exc()))


@dataclass
class _Worker:
    process: multiprocessing.process.BaseProcess
    conn: object  # the parent's end of the pipe
    slot: str | None
    cell: Cell | None = None  # the cell it is running


def _start_worker(ctx, threads: int, slot: str | None) -> _Worker:
    parent, child = ctx.Pipe()
    # Not a daemon: a cell may start processes of its own (data loader workers, DDP ranks).
    process = ctx.Process(target=_worker_main, args=(child, threads, slot, os.getpid()))
    process.start()
    child.close()
    return _Worker(process, parent, slot)


def _answer(worker: _Worker):
    """The result getter of the worker's cell: returns its (summary, gpu, pid) or raises its error;
    WorkerDied when the process ended without an answer."""
    try:
        kind, *rest = worker.conn.recv()
    except (EOFError, OSError):
        worker.process.join(5)
        code = worker.process.exitcode
        how = f"signal {signal.Signals(-code).name}" if code is not None and code < 0 else f"exit code {code}"
        error = WorkerDied(
            f"worker process {worker.process.pid} ended ({how}) while training this cell: killed (by hand, or "
            f"the out-of-memory killer) or crashed; the other cells go on in a fresh worker, and the same "
            f"command resumes this one from its last checkpoint"
        )

        def died():
            raise error

        return died
    if kind == "ok":
        return lambda: rest[0]
    exc, tb = rest

    def failed():
        raise exc from RemoteTraceback(tb)

    return failed


def _run_in_workers(experiment, opts, todo: list[Cell], jobs: int, slots: list[str] | None, settle) -> None:
    """`jobs` spawned worker processes, longest cells first; settle(cell, result getter) as each
    ends. A worker that dies (SIGKILL, the OOM killer, a segfault) fails the one cell it was
    running; a fresh worker, on the same GPU slot, takes its place for the cells still to run."""
    threads = default_threads(jobs)
    # Per-run bars of parallel runs would interleave; each worker sets its own threads.
    task_opts = replace(opts, progress=False, threads=threads)
    ctx = multiprocessing.get_context("spawn")
    pending = deque(longest_first(todo))
    workers = [_start_worker(ctx, threads, slot) for slot in (slots or [None] * jobs)]
    try:
        while True:
            for i in range(len(workers)):
                if workers[i].cell is None and pending:
                    workers[i] = _give(ctx, threads, workers[i], (experiment, pending.popleft(), task_opts))
            busy = [w for w in workers if w.cell is not None]
            if not busy:
                return
            ready = wait([w.conn for w in busy] + [w.process.sentinel for w in busy])
            for w in busy:
                if w.conn in ready or w.process.sentinel in ready:
                    cell, w.cell = w.cell, None
                    settle(cell, _answer(w))
    finally:
        _stop(workers)


def _give(ctx, threads: int, worker: _Worker, task: tuple) -> _Worker:
    """Send `task` to `worker`, or to a fresh worker on its slot when it has died meanwhile (after
    its last answer, or while idle); returns the worker that has the task."""
    if worker.process.is_alive():
        try:
            worker.conn.send(task)
            worker.cell = task[1]
            return worker
        except OSError:  # it died between the check and the send
            pass
    worker.conn.close()
    fresh = _start_worker(ctx, threads, worker.slot)
    fresh.conn.send(task)
    fresh.cell = task[1]
    return fresh


def _stop(workers: list[_Worker]) -> None:
    """End the worker processes: asked first, killed if they do not end within a few seconds."""
    for w in workers:
        if w.process.is_alive():
            with contextlib.suppress(OSError):  # the worker is gone, or its pipe closed
                w.conn.send(None)
    for w in workers:
        w.process.join(5)
        if w.process.is_alive():
            w.process.kill()
            w.process.join()
