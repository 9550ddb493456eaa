"""What trains one cell, built from its resolved config: the network, the LightningModule, the
callbacks and the Trainer. The real run (ablate.train.run) and the benchmark
(ablate.train.benchmark) both build here, so the benchmark measures the loop that trains."""

from __future__ import annotations

import logging
import os
import sys
import warnings
from pathlib import Path

import lightning.pytorch as pl
import torch.nn as nn

from ablate import results
from ablate.data import build_datamodule
from ablate.errors import UserError
from ablate.models import build_model
from ablate.train.checkpointing import StepCheckpoint
from ablate.train.module import Classifier
from ablate.train.recipe import BatchRecipe, WeightEma
from ablate.train.recorder import MetricsRecorder
from ablate.train.rng_state import GlobalRngState


def quiet_lightning() -> None:
    # Lightning's tips (litlogger, tensor cores, num_workers for our in-memory loaders) are noise here.
    os.environ.setdefault("POSSIBLE_USER_WARNING", "off")
    quiet = ["lightning.pytorch.accelerators.cuda", "lightning.fabric.utilities.seed"]
    if "SLURM_JOB_ID" not in os.environ:  # under SLURM keep "Handling auto-requeue signal" visible
        quiet.append("lightning.pytorch.utilities.rank_zero")
    for name in quiet:
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=r".*(does not have many workers|litlogger|LitLogger).*")
    warnings.filterwarnings("ignore", message=r".*resuming from a checkpoint that ended before the epoch.*")
    warnings.filterwarnings("ignore", message=r".*The `srun` command is available on your system.*")
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)` is deprecated.*")


def build_data_and_network(cfg: dict, seed: int, data_dir: str | None):
    """(datamodule, network) of a cell; the network's classes and input channels come from the data."""
    dm = build_datamodule(cfg["data"], seed=seed, data_dir=data_dir)
    knobs = {k: v for k, v in cfg["model"].items() if k != "name"}
    if knobs.get("num_classes", dm.num_classes) != dm.num_classes:
        raise UserError(
            f"key 'model.num_classes': {knobs['num_classes']} but the data has {dm.num_classes} classes ({dm.source})"
        )
    kwargs = {"num_classes": dm.num_classes, "in_channels": dm.in_channels, **knobs}
    return dm, build_model(cfg["model"]["name"], **kwargs)


def build_module(cfg: dict, net: nn.Module, num_classes: int, seed: int) -> Classifier:
    """The LightningModule that trains `net` with the cell's optimiser, schedule and recipe."""
    train = cfg["train"]
    recipe = BatchRecipe(train, num_classes, seed)
    return Classifier(
        net,
        num_classes,
        cfg["optim"],
        cfg["schedule"],
        train["max_steps"],
        channels_last=train["channels_last"],
        label_smoothing=train["label_smoothing"],
        batch_transform=recipe if recipe.enabled else None,
        compile=train["compile"],
    )


def build_callbacks(train: dict, out: Path) -> tuple[MetricsRecorder, WeightEma | None, list[pl.Callback]]:
    """(recorder, EMA or None, every callback in order): the EMA comes before the checkpoint, so a
    checkpoint written at step s holds the EMA of step s."""
    recorder = MetricsRecorder(out / results.METRICS, train["log_every"])
    ema = WeightEma(train["ema_decay"]) if train["ema_decay"] > 0 else None
    eval_every = train["eval_every"] or train["max_steps"]
    checkpoint = StepCheckpoint(out / results.CHECKPOINTS, train["checkpoint_every"], eval_every)
    return recorder, ema, [recorder, *([ema] if ema else []), GlobalRngState(), checkpoint]


def build_trainer(
    train: dict,
    out: Path,
    callbacks: list,
    *,
    logger=None,
    accelerator: str = "auto",
    devices: int | str = 1,
    num_nodes: int = 1,
    progress: bool = False,
    **overrides,
) -> pl.Trainer:
    """The Trainer of a cell: step-based, evaluating every train.eval_every steps (0: at the end),
    no checkpointing of its own (ours is StepCheckpoint). `overrides`: Trainer arguments a
    measurement changes (the benchmark turns evaluation off)."""
    kwargs = dict(
        default_root_dir=out,  # Lightning's SLURM handler writes hpc_ckpt_*.ckpt here on USR1
        max_steps=train["max_steps"],
        max_epochs=-1,
        val_check_interval=train["eval_every"] or train["max_steps"],
        check_val_every_n_epoch=None,
        num_sanity_val_steps=0,
        log_every_n_steps=train["log_every"],
        precision=train["precision"],
        gradient_clip_val=train["grad_clip"],
        accelerator=accelerator,
        devices=devices,
        num_nodes=num_nodes,
        callbacks=callbacks,
        logger=logger if logger is not None else False,
        enable_progress_bar=progress and sys.stderr.isatty(),  # no bar spam in logs
        enable_model_summary=False,
        enable_checkpointing=False,
        use_distributed_sampler=False,  # our batch samplers shard the global batch by rank
    )
    return pl.Trainer(**{**kwargs, **overrides})
