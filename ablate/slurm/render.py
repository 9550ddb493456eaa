"""Pure functions: job settings and a chunk of cells -> the text of one sbatch array script.

Nothing here touches the cluster, the clock or the file system, so the text is compared against a
committed golden file (tests/golden/). Every value that comes from the user is passed through
`shlex.quote`, in the `#SBATCH` lines too (sbatch's own parser strips the quotes), and values that
could end a line (newlines, control characters) are refused: a `#SBATCH` line ending early would
turn the rest of the value into shell code.

Array index -> cell index. SLURM's MaxArraySize bounds the array index *value* (valid ids are
0 .. MaxArraySize-1) and so also the number of tasks per array. Cells are split into chunks whose
indices span fewer than MaxArraySize values; each chunk becomes its own script with a literal
`OFFSET`, and a task computes `CELL=$((SLURM_ARRAY_TASK_ID + OFFSET))`.

Cells per task (`cells_per_task` K > 1, one GPU or CPU node share per task): the array then runs
over groups of K cells, task id + OFFSET = group, and the task starts one `srun --overlap` step per
cell of its group at once on its allocation (K processes share its GPU), each with its own
--cell, --expect-run-id, log and 1/K of the task's CPUs as torch threads, and waits for all.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from ablate.errors import UserError
from ablate.train import DDP_RUN_ID_ENV

# SLURM time formats: M, M:S, H:M:S, D-H, D-H:M, D-H:M:S.
_TIME_RE = re.compile(r"^(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?$")
_MEM_RE = re.compile(r"^\d+[KMGT]?$")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
WANDB_MODES = ("auto", "offline", "online", "off")


@dataclass(frozen=True)
class JobSettings:
    """What one sbatch script needs, all of it decided before rendering (paths absolute)."""

    experiment: str  # experiment name, or absolute path of its YAML, as `ablate run` takes it
    results_dir: str  # absolute; results land in results_dir/<experiment>/<run_id>/
    log_dir: str  # absolute; cell-<N>.log per cell and SLURM's own <jobid>_<task>.out
    workdir: str  # absolute; the task runs here (the repository, so `python -m ablate` imports)
    python: str  # interpreter on the compute nodes (usually the submitting venv's)
    time: str  # SLURM time limit, e.g. "4:00:00"
    job_name: str = "ablate"
    profile: str | None = None
    overrides: tuple[str, ...] = ()
    data_dir: str | None = None
    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    nodes: int = 1
    gpus_per_task: int = 0  # GPUs per node for one cell; 0 = CPU
    cpus_per_task: int | None = None  # CPUs per process (one process per GPU)
    mem: str | None = None  # per node, SLURM syntax: 32G
    signal_seconds: int = 120  # USR1 this long before the time limit -> checkpoint + requeue
    wandb: str = "offline"
    cells_per_task: int = 1  # K > 1: each array task trains K cells at once on its allocation
    seeds_max: int | None = None  # `--seeds-max N`: the task's grid must have the same cells

    def __post_init__(self) -> None:
        validate(self)


@dataclass(frozen=True)
class ArrayChunk:
    """One sbatch array: task ids `indices`, cell index = task id + offset."""

    offset: int
    indices: tuple[int, ...]
    parallelism: int | None = None  # the %P of --array: at most P tasks of this array at once

    @property
    def cells(self) -> list[int]:
        return [i + self.offset for i in self.indices]

    @property
    def array_spec(self) -> str:
        spec = compress_ranges(self.indices)
        return f"{spec}%{self.parallelism}" if self.parallelism else spec


def time_seconds(value: str) -> int:
    """SLURM time string -> seconds; raises ValueError on anything SLURM would not accept."""
    m = _TIME_RE.match(value.strip())
    if not m:
        raise ValueError(value)
    days, a, b, c = m.groups()
    if days is not None:  # D-H[:M[:S]]
        h, mi, s = int(a), int(b or 0), int(c or 0)
        return ((int(days) * 24 + h) * 60 + mi) * 60 + s
    if c is not None:  # H:M:S
        return (int(a) * 60 + int(b)) * 60 + int(c)
    if b is not None:  # M:S
        return int(a) * 60 + int(b)
    return int(a) * 60  # M


def validate(s: JobSettings) -> None:
    """Refuse settings that SLURM would reject late, or that could not be quoted safely."""
    texts = {
        "--time": s.time,
        "--partition": s.partition,
        "--account": s.account,
        "--qos": s.qos,
        "--mem": s.mem,
        "experiment": s.experiment,
        "--results-dir": s.results_dir,
        "--data-dir": s.data_dir,
        "--profile": s.profile,
        "job name": s.job_name,
        "python": s.python,
        "workdir": s.workdir,
        "log dir": s.log_dir,
    }
    texts.update({f"--set {i}": o for i, o in enumerate(s.overrides)})
    for what, value in texts.items():
        if value is not None and _CONTROL_RE.search(value):
            raise UserError(f"{what} {value!r}: newlines and control characters are not allowed")
        if value is not None and not what.startswith(("--set", "--data-dir")) and not value.strip():
            raise UserError(f"{what}: may not be empty")
    if s.experiment.startswith("-"):
        raise UserError(f"experiment {s.experiment!r}: may not start with '-'")
    try:
        limit = time_seconds(s.time)
    except ValueError:
        raise UserError(
            f"--time {s.time!r}: valid forms are M, M:S, H:M:S, D-H, D-H:M, D-H:M:S (e.g. 4:00:00)"
        ) from None
    if not 0 < s.signal_seconds < limit:
        raise UserError(f"--signal-seconds {s.signal_seconds}: must be > 0 and below --time ({limit} s)")
    if s.mem is not None and not _MEM_RE.match(s.mem):
        raise UserError(f"--mem {s.mem!r}: valid form is a number with an optional K/M/G/T, e.g. 32G")
    if s.nodes < 1 or s.gpus_per_task < 0 or (s.cpus_per_task is not None and s.cpus_per_task < 1):
        raise UserError("--nodes must be >= 1, --gpus-per-task >= 0, --cpus-per-task >= 1")
    if s.cells_per_task < 1:
        raise UserError(f"--cells-per-task {s.cells_per_task}: must be >= 1")
    if s.cells_per_task > 1 and (s.nodes > 1 or s.gpus_per_task > 1):
        raise UserError(
            f"--cells-per-task {s.cells_per_task}: packs single-device cells; it cannot be "
            f"combined with DDP (--nodes {s.nodes}, --gpus-per-task {s.gpus_per_task})"
        )
    if s.wandb not in WANDB_MODES:
        raise UserError(f"--wandb {s.wandb!r}: valid: {', '.join(WANDB_MODES)}")


def compress_ranges(values: Iterable[int]) -> str:
    """[0, 1, 2, 5, 7, 8] -> '0-2,5,7-8' (the --array syntax)."""
    out: list[str] = []
    vals = sorted(set(values))
    i = 0
    while i < len(vals):
        j = i
        while j + 1 < len(vals) and vals[j + 1] == vals[j] + 1:
            j += 1
        out.append(str(vals[i]) if i == j else f"{vals[i]}-{vals[j]}")
        i = j + 1
    return ",".join(out)


def plan_arrays(cells: Sequence[int], max_array_size: int, parallelism: int | None = None) -> list[ArrayChunk]:
    """Split cell indices into arrays whose task ids stay below max_array_size.

    Greedy in cell order: a chunk starts at its smallest cell (offset) and takes every later cell
    below offset + max_array_size. Each chunk gets the %parallelism; SLURM has no limit across
    arrays, so `submit` chains the chunks (afterany) to keep the total at `parallelism`.
    """
    if max_array_size < 1:
        raise ValueError(f"max_array_size must be >= 1, got {max_array_size}")
    chunks: list[ArrayChunk] = []
    pending = sorted(set(cells))
    while pending:
        offset = pending[0]
        take = [c for c in pending if c < offset + max_array_size]
        pending = pending[len(take) :]
        chunks.append(ArrayChunk(offset, tuple(c - offset for c in take), parallelism))
    return chunks


def plan_groups(cells: Sequence[int], k: int) -> list[list[int]]:
    """Pending cells, in order, in groups of k (the last may be smaller): one array task each."""
    cells = sorted(set(cells))
    return [cells[i : i + k] for i in range(0, len(cells), k)]


def _q(value: object) -> str:
    return shlex.quote(str(value))


def _q_pattern(directory: str, pattern: str) -> str:
    """Quote directory/pattern for sbatch, where '%' is special: '%%' in the directory is a '%'."""
    return _q(directory.replace("%", "%%") + "/" + pattern)


def run_id_case(run_ids: Mapping[int, str], cells: Sequence[int]) -> list[str]:
    """Shell lines setting RUN_ID to the run id each cell had at submission, so a task refuses to
    train a different cell if the experiment file changed in between (`--expect-run-id`)."""
    lines = ['case "$CELL" in']
    lines += [f"    {c}) RUN_ID={_q(run_ids[c])} ;;" for c in cells]
    lines += ['    *) echo "[ablate] no run id for cell $CELL" >&2; exit 2 ;;', "esac"]
    return lines


def run_command(s: JobSettings) -> list[str]:
    """The `python -m ablate run` words, quoted, with the cell left to the shell as "$CELL".

    Options are written `--opt=VALUE`, so a value that starts with '--' stays a value.
    """
    words = [_q(s.python), "-m", "ablate", "run", _q(s.experiment)]
    if s.profile:
        words.append(f"--profile={_q(s.profile)}")
    words += [f"--set={_q(item)}" for item in s.overrides]
    if s.seeds_max is not None:
        words.append(f"--seeds-max={int(s.seeds_max)}")
    words.append(f"--results-dir={_q(s.results_dir)}")
    if s.data_dir:
        words.append(f"--data-dir={_q(s.data_dir)}")
    words += ['--cell="$CELL"', f"--wandb={_q(s.wandb)}", "--no-progress"]
    if s.gpus_per_task:
        words += ["--accelerator=gpu", f"--devices={s.gpus_per_task}"]
    else:
        words += ["--accelerator=cpu", "--devices=1"]
    words.append(f"--num-nodes={s.nodes}")
    return words


def render_sbatch(
    s: JobSettings,
    chunk: ArrayChunk,
    *,
    total_cells: int | None = None,
    run_ids: Mapping[int, str] | None = None,
    groups: Sequence[Sequence[int]] | None = None,
) -> str:
    """The whole sbatch script for one array chunk. Pure: same input, same text.
    run_ids: cell index -> run id at submission; each task then checks its cell still has it.
    groups: with cells_per_task > 1, group index -> its cells (the chunk's indices are groups)."""
    if s.cells_per_task > 1:
        if groups is None or run_ids is None:
            raise ValueError("cells_per_task > 1 needs the groups and the run ids")
        return _render_packed(s, chunk, groups, run_ids, total_cells)
    tasks_per_node = max(s.gpus_per_task, 1)  # Lightning DDP: one process per GPU, started by srun
    cells = chunk.cells
    comment = (
        f"# ablate: experiment {s.experiment}"
        + (f", profile {s.profile}" if s.profile else "")
        + f"; cells {compress_ranges(cells)}"
        + (f" of {total_cells}" if total_cells is not None else "")
        + f" ({len(cells)} tasks)"
    )
    header = _header(
        s,
        chunk.array_spec,
        comment,
        tasks_per_node,
        plural=False,
        extra=["# Cell index = SLURM_ARRAY_TASK_ID + OFFSET (SLURM's MaxArraySize bounds the task id)."],
    )
    header += [
        f"OFFSET={chunk.offset}",
        "CELL=$((SLURM_ARRAY_TASK_ID + OFFSET))",
        f'LOG={_q(s.log_dir)}/cell-"$CELL".log',
        'exec >>"$LOG" 2>&1',
        'echo "[ablate] $(date -Is) cell $CELL: job ${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}'
        ' (id $SLURM_JOB_ID), restart ${SLURM_RESTART_COUNT:-0}, nodes $SLURM_JOB_NODELIST"',
    ]
    run = run_command(s)
    if run_ids is not None:
        header += run_id_case(run_ids, cells)
        run.insert(run.index('--cell="$CELL"') + 1, '--expect-run-id="$RUN_ID"')
        if tasks_per_node * s.nodes > 1:  # srun starts every rank: rank 0 takes the cell's lock, the others join
            header.append(f'export {DDP_RUN_ID_ENV}="$RUN_ID"')
    body = ["srun --kill-on-bad-exit=1 \\", "    " + " \\\n    ".join(_wrap(run))]
    return "\n".join(header + body) + "\n"


def _header(
    s: JobSettings,
    array_spec: str,
    comment: str,
    tasks_per_node: int,
    *,
    plural: bool = True,
    extra: Sequence[str] = (),
) -> list[str]:
    """The #SBATCH lines every script shares, through `set -euo pipefail`. plural: the task runs
    several trainers (packed cells); extra: comment lines after the first two."""
    header = [
        "#!/bin/bash",
        comment,
        "# Written by `python -m ablate submit`; safe to edit and resubmit with `sbatch THIS_FILE`.",
        *extra,
        f"#SBATCH --job-name={_q(s.job_name)}",
        f"#SBATCH --array={array_spec}",
    ]
    for flag, value in (("partition", s.partition), ("account", s.account), ("qos", s.qos)):
        if value:
            header.append(f"#SBATCH --{flag}={_q(value)}")
    header += [
        f"#SBATCH --time={_q(s.time)}",
        f"#SBATCH --nodes={s.nodes}",
        f"#SBATCH --ntasks-per-node={tasks_per_node}",
    ]
    if s.gpus_per_task:
        header.append(f"#SBATCH --gpus-per-node={s.gpus_per_task}")
    if s.cpus_per_task:
        header.append(f"#SBATCH --cpus-per-task={s.cpus_per_task}")
    if s.mem:
        header.append(f"#SBATCH --mem={_q(s.mem)}")
    who = ("trainers", "save", "run") if plural else ("trainer", "saves", "runs")
    header += [
        f"# Preemption and time limit: USR1 reaches the srun-started {who[0]} (no 'B:'), which {who[1]}",
        f"# an hpc checkpoint and {who[2]} `scontrol requeue`; append keeps the log of earlier attempts.",
        "#SBATCH --requeue",
        f"#SBATCH --signal=USR1@{s.signal_seconds}",
        "#SBATCH --open-mode=append",
        f"#SBATCH --output={_q_pattern(s.log_dir, '%A_%a.out')}",
        f"#SBATCH --chdir={_q(s.workdir)}",
        "",
        "set -euo pipefail",
    ]
    return header


def _render_packed(
    s: JobSettings,
    chunk: ArrayChunk,
    groups: Sequence[Sequence[int]],
    run_ids: Mapping[int, str],
    total_cells: int | None,
) -> str:
    """K cells per task: one background `srun --overlap` step per cell, sharing the allocation."""
    all_cells = [c for g in chunk.cells for c in groups[g]]
    comment = (
        f"# ablate: experiment {s.experiment}"
        + (f", profile {s.profile}" if s.profile else "")
        + f"; cells {compress_ranges(all_cells)}"
        + (f" of {total_cells}" if total_cells is not None else "")
        + f" ({len(chunk.cells)} tasks of up to {s.cells_per_task} cells)"
    )
    lines = _header(s, chunk.array_spec, comment, 1) + _group_table(chunk, groups, run_ids)
    lines += [
        "# Torch threads: this task's CPUs (nproc follows the affinity mask) split among its cells.",
        'THREADS=$(( $(nproc) / ${#CELLS[@]} )); [ "$THREADS" -ge 1 ] || THREADS=1',
        "PIDS=()",
        'for i in "${!CELLS[@]}"; do',
        "    CELL=${CELLS[$i]}; RUN_ID=${RUN_IDS[$i]}",
        f'    LOG={_q(s.log_dir)}/cell-"$CELL".log',
        '    echo "[ablate] $(date -Is) cell $CELL: job ${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}'
        " (id $SLURM_JOB_ID), restart ${SLURM_RESTART_COUNT:-0}, group $GROUP (${#CELLS[@]} cells),"
        ' nodes $SLURM_JOB_NODELIST" >>"$LOG"',
    ]
    run = run_command(s)
    run.insert(run.index('--cell="$CELL"') + 1, '--expect-run-id="$RUN_ID"')
    run.insert(run.index('--expect-run-id="$RUN_ID"') + 1, '--threads="$THREADS"')
    body = _wrap(run)
    lines.append("    srun --overlap --ntasks=1 --kill-on-bad-exit=1 \\")
    lines.append("        " + " \\\n        ".join(body) + ' >>"$LOG" 2>&1 &')
    lines += [
        "    PIDS+=($!)",
        "done",
        "STATUS=0",
        'for p in "${PIDS[@]}"; do wait "$p" || STATUS=1; done  # every cell runs to its end',
        'exit "$STATUS"',
    ]
    return "\n".join(lines) + "\n"


def _group_table(chunk: ArrayChunk, groups: Sequence[Sequence[int]], run_ids: Mapping[int, str]) -> list[str]:
    """The script lines that give a packed task its cells and their run ids (a bash `case`)."""
    lines = [
        "# Group index = SLURM_ARRAY_TASK_ID + OFFSET; each group's cells train at once on this task.",
        f"OFFSET={chunk.offset}",
        "GROUP=$((SLURM_ARRAY_TASK_ID + OFFSET))",
        'case "$GROUP" in',
    ]
    for g in chunk.cells:
        cells = " ".join(str(c) for c in groups[g])
        ids = " ".join(_q(run_ids[c]) for c in groups[g])
        lines.append(f"    {g}) CELLS=({cells}); RUN_IDS=({ids}) ;;")
    return lines + ['    *) echo "[ablate] no cells for group $GROUP" >&2; exit 2 ;;', "esac"]


def _wrap(words: list[str]) -> list[str]:
    """Readable lines: the command, then one option and its value per line."""
    lines: list[list[str]] = [[]]
    for word in words:
        if word.startswith("--") and lines[-1]:
            lines.append([])
        lines[-1].append(word)
    return [" ".join(line) for line in lines]
