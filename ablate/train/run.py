"""run_cell(cell) -> summary: the one function that trains a cell of a grid.

The command line, the local executor and SLURM array tasks are thin wrappers around it. A cell
whose summary.json exists is done and is not run again; a cell with a checkpoint resumes from it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import lightning.pytorch as pl
import torch

from ablate import results, tracking
from ablate.experiment import Cell, Experiment
from ablate.train import DDP_RUN_ID_ENV, provenance
from ablate.train.builders import (
    build_callbacks,
    build_data_and_network,
    build_module,
    build_trainer,
    check_devices,
    quiet_lightning,
)
from ablate.train.checkpointing import CORRUPT, CheckpointUnreadable, usable_checkpoint
from ablate.train.module import error_rate
from ablate.train.threads import set_torch_threads


@dataclass(frozen=True)
class RunOptions:
    """How to run, as opposed to what: none of this enters the config hash."""

    results_root: Path
    data_dir: str | None = None
    wandb: str = "auto"  # auto | online | offline | off
    accelerator: str = "auto"
    num_nodes: int = 1  # the cell's train.world_size processes are spread over this many nodes
    progress: bool = True
    threads: int | None = None  # torch intra-op threads; None: the CPUs allocated (ablate.train.threads)
    record_diff: bool = False  # keep the git diff in provenance (owner-only file); also $ABLATE_RECORD_DIFF=1


# What Lightning's launcher writes into rank 0's own environment; restored after the cell, so the
# next DDP cell of the same process starts its own ranks again.
_LAUNCH_ENV = ("MASTER_ADDR", "MASTER_PORT", "NODE_RANK", "LOCAL_RANK", "WORLD_SIZE", DDP_RUN_ID_ENV)


class IncompleteRun(RuntimeError):
    """Training returned before max_steps without diverging: nothing to count as a result."""


class CellBusy(RuntimeError):
    """Another process (a local worker, a SLURM task) is running this cell right now."""


def launcher_rank() -> int:
    """This process's rank as a launcher set it: Lightning's launcher re-runs the command for
    local ranks 1.. with LOCAL_RANK/NODE_RANK set; srun starts every task with SLURM_PROCID;
    torchrun sets RANK. 0 for a single process."""
    for var in ("RANK", "SLURM_PROCID", "LOCAL_RANK", "NODE_RANK"):
        value = os.environ.get(var, "")
        if value.isdigit() and int(value) > 0:
            if var == "SLURM_PROCID" and int(os.environ.get("SLURM_NTASKS", "1")) <= 1:
                continue
            return int(value)
    return 0


def launched_rank(run_id: str) -> int:
    """This process's DDP rank in a launch that ablate itself started for run `run_id`, before any
    Trainer exists; 0 otherwise. A rank an outside launcher set (a container job with RANK=1, a
    torchrun of something else) is not one: that process takes the cell's lock like any other,
    so two processes never train one cell."""
    return launcher_rank() if os.environ.get(DDP_RUN_ID_ENV) == run_id else 0


@contextlib.contextmanager
def _launching(run_id: str):
    """DDP_RUN_ID_ENV set to `run_id` while rank 0 trains, so the ranks Lightning's launcher starts
    inherit it (restored after: the next cell of this process is another run)."""
    before = os.environ.get(DDP_RUN_ID_ENV)
    os.environ[DDP_RUN_ID_ENV] = run_id
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(DDP_RUN_ID_ENV, None)
        else:
            os.environ[DDP_RUN_ID_ENV] = before


def run_cell(experiment: Experiment, cell: Cell, opts: RunOptions, callbacks: Sequence = ()) -> dict:
    """Train one cell to completion (or resume it) and return its summary. `callbacks`: extra
    Lightning callbacks, e.g. an Optuna pruning callback.

    Under DDP only rank 0 takes the run lock and writes; the other ranks of a launch ablate started
    (launched_rank) join its training without the lock."""
    return run_cell_counted(experiment, cell, opts, callbacks)[0]


def run_cell_counted(
    experiment: Experiment, cell: Cell, opts: RunOptions, callbacks: Sequence = ()
) -> tuple[dict, bool]:
    """run_cell's summary, and whether this call trained the cell: False when it found the cell
    finished (by another runner since the grid started), which a grid must not count as its own."""
    out = results.run_dir(opts.results_root, experiment.name, cell.run_id)
    if results.is_complete(out):
        return results.read_summary(out), False
    if launched_rank(cell.run_id) > 0:
        return _train(experiment, cell, opts, out, list(callbacks)), True
    with results.run_lock(out) as acquired:
        if not acquired:
            raise CellBusy(f"{out} is locked by another process")
        if results.is_complete(out):  # finished while we waited for the lock
            return results.read_summary(out), False
        with _launching(cell.run_id):
            return _train(experiment, cell, opts, out, list(callbacks)), True


def _train(experiment: Experiment, cell: Cell, opts: RunOptions, out: Path, callbacks: list) -> dict:
    """One attempt at a cell: record what it starts from, build, fit, summarise, write the result."""
    quiet_lightning()
    set_torch_threads(opts.threads)  # the CPUs SLURM / the affinity mask gave us, not the machine's
    check_devices(cell.config, opts.accelerator)  # before the run folder is touched
    meta = cell_meta(experiment, cell)
    writer = launched_rank(cell.run_id) == 0  # DDP: rank 0 alone writes the run folder
    resume_from, resumed_from_step = _start_attempt(out, meta, cell.config, writer, opts.record_diff)
    pl.seed_everything(cell.seed, workers=True, verbose=False)
    cfg, train = cell.config, cell.config["train"]
    dm, net = build_data_and_network(cfg, cell.seed, opts.data_dir)
    module = build_module(cfg, net, dm.num_classes, cell.seed)
    recorder, ema, own_callbacks = build_callbacks(train, out)
    logger = _logger(experiment, cell, opts, out, {**meta, **cfg})
    trainer = build_trainer(
        train,
        out,
        [*own_callbacks, *callbacks],
        logger=logger,
        accelerator=opts.accelerator,
        num_nodes=opts.num_nodes,
        progress=opts.progress,
    )
    try:
        with ddp_launch(cell.run_id, train["world_size"]):
            # weights_only=True: a checkpoint is plain tensors and containers; a doctored file cannot run code.
            ckpt = str(resume_from) if resume_from else None
            trainer.fit(module, datamodule=dm, ckpt_path=ckpt, weights_only=True)
        _check_finished(trainer, module, train["max_steps"], out)
        summary = _summarize(trainer, module, dm, recorder, meta, resumed_from_step, ema)
        if logger is not None and trainer.is_global_zero:  # other ranks hold a dummy W&B run
            logger.experiment.summary.update({k: v for k, v in summary.items() if isinstance(v, (int, float))})
            summary["wandb_run_id"] = tracking.wandb_run_id(experiment.name, cell.run_id)
            summary["wandb_mode"] = tracking.resolve_mode(opts.wandb)
    finally:
        tracking.finish(logger)
    if trainer.is_global_zero:
        recorder.write()
        results.write_json(out / results.SUMMARY, summary)  # last: marks the run complete
        for hpc in out.glob("hpc_ckpt_*.ckpt"):  # pre-emption checkpoints: superseded by the result
            hpc.unlink()
    return summary


@contextmanager
def ddp_launch(run_id: str, world_size: int):
    """Around trainer.fit of a cell trained by world_size > 1 processes, on rank 0 (which names the
    cell in DDP_RUN_ID_ENV while it trains, `_launching`): afterwards restore the environment
    Lightning's launcher changed and leave the process group, so the next cell of a grid starts
    its own ranks."""
    if world_size < 2 or launched_rank(run_id) > 0:
        yield
        return
    saved = {k: os.environ.get(k) for k in _LAUNCH_ENV}
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        dist = torch.distributed
        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()


def launched_cell(cells: Sequence[Cell]) -> Cell | None:
    """The cell this process must train as rank >= 1 of a launch that ablate started, or None
    for any other process (rank 0, a single process, ranks started by srun or torchrun)."""
    run_id = os.environ.get(DDP_RUN_ID_ENV)
    if not run_id or launcher_rank() == 0:
        return None
    for cell in cells:
        if cell.run_id == run_id:
            return cell
    raise RuntimeError(f"${DDP_RUN_ID_ENV}={run_id}: no such cell in this grid (rank {launcher_rank()})")


def _logger(experiment: Experiment, cell: Cell, opts: RunOptions, out: Path, config: dict):
    """The cell's W&B logger (None with --wandb off)."""
    return tracking.make_logger(
        opts.wandb,
        experiment=experiment.name,
        arm=cell.arm,
        seed=cell.seed,
        profile=experiment.profile,
        run_id=cell.run_id,
        save_dir=out,
        config=config,
    )


def cell_meta(experiment: Experiment, cell: Cell) -> dict:
    """What names a run, in its config.json, summary.json and W&B config."""
    keys = ("experiment", "profile", "arm", "seed", "run_id", "index")
    return dict(zip(keys, (experiment.name, experiment.profile, cell.arm, cell.seed, cell.run_id, cell.index)))


def _start_attempt(out: Path, meta: dict, cfg: dict, writer: bool, record_diff: bool) -> tuple[Path | None, int]:
    """(checkpoint to resume from or None, its step). The writer (rank 0, holding the run's lock)
    removes what a killed attempt left half-written, records the config and appends this attempt
    to provenance.json: the checkpoints an earlier attempt left (newest first) and the one chosen,
    the newest that loads. A corrupt one is set aside into corrupt/ with a warning; one that cannot
    be read stops the run (CheckpointUnreadable), recorded as this attempt's error."""
    record: dict = {}
    if writer:
        record["temporary_files_removed"] = [p.name for p in results.remove_temporary_files(out)]
        results.write_json(out / results.CONFIG, {**meta, "config": cfg})
    found = results.checkpoints_newest_first(out)
    record["checkpoints_found"] = [p.name for p in found]
    try:
        resume_from, step = usable_checkpoint(found, out / CORRUPT if writer else None)
    except CheckpointUnreadable as e:
        if writer:
            provenance.record_attempt(out, {**record, "error": str(e)}, record_diff)
        raise
    if writer:
        record.update(resume_from=str(resume_from), resumed_from_step=step)
        provenance.record_attempt(out, record, record_diff)
    return resume_from, step


def _check_finished(trainer, module, max_steps: int, out: Path) -> None:
    """A run that stopped short (zero optimiser steps: a batch larger than the split; an
    interrupt Lightning swallowed) is a failure, never a result: summary.json is not written."""
    if module.diverged_at is not None or trainer.global_step >= max_steps:
        return
    raise IncompleteRun(
        f"{out.name}: training stopped after {trainer.global_step} of {max_steps} "
        f"optimiser steps without diverging; no result written"
    )


def _summarize(trainer, module, dm, recorder, meta, resumed_from_step, ema=None) -> dict:
    """Final numbers: errors on the full train/val/test splits in eval mode (and of the EMA of the
    weights, when the recipe keeps one), plus bookkeeping."""
    device = module.device
    model = module.model if not module.channels_last else module
    diverged = module.diverged_at is not None
    errors = {}
    precision = trainer.precision_plugin  # evaluate in the dtype the model trained in (bf16-true)
    for split in ("train", "val", "test"):
        batches = dm.eval_batches(split, device)
        errors[f"final_{split}_error"] = float("nan") if diverged else error_rate(model, batches, precision)
        if ema is not None and not diverged:
            errors[f"final_{split}_error_ema"] = error_rate(ema.ema.module, batches, precision)
    train_records = [r for r in recorder.records if "train/error" in r]
    last = train_records[-max(1, len(train_records) // 10) :]  # the last ~10% of the run
    return {
        **meta,
        "status": "diverged" if diverged else "completed",
        "diverged_at_step": module.diverged_at,
        "steps": trainer.global_step,
        **errors,
        "final_train_error_running": (sum(r["train/error"] for r in last) / len(last) if last else float("nan")),
        "params": sum(p.numel() for p in module.model.parameters()),
        "wall_time_s": recorder.wall_time_s(),
        "attempts": recorder.attempts,
        "resumed_from_step": resumed_from_step,
        "data_source": dm.source,
        "data_sizes": dm.sizes,
        "device": str(device),
    }
