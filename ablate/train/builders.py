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
from ablate.grid_checks import model_inputs
from ablate.models import build_model
from ablate.train.checkpointing import StepCheckpoint
from ablate.train.module import Classifier
from ablate.train.preemption import StepBoundaryRequeue
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
    # DDP: every rank evaluates the whole validation and test split, so the logged errors agree.
    warnings.filterwarnings("ignore", message=r".*when logging on epoch level in distributed setting.*")


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
    """(recorder, EMA or None, every callback in order): the EMA comes before the checkpoints, so a
    checkpoint written at step s holds the EMA of step s."""
    recorder = MetricsRecorder(out / results.METRICS, train["log_every"])
    ema = WeightEma(train["ema_decay"]) if train["ema_decay"] > 0 else None
    eval_every = train["eval_every"] or train["max_steps"]
    checkpoint = StepCheckpoint(out / results.CHECKPOINTS, train["checkpoint_every"], eval_every)
    requeue = StepBoundaryRequeue(train["log_every"], eval_every)  # last: a USR1 save sees the step done
    return recorder, ema, [recorder, *([ema] if ema else []), GlobalRngState(), checkpoint, requeue]


def on_cpu(accelerator: str) -> bool:
    """Whether a run with this --accelerator trains on the CPU ('auto': when no CUDA device is visible)."""
    import torch

    return accelerator == "cpu" or (accelerator == "auto" and not torch.cuda.is_available())


def precision_args(precision: str, cpu: bool) -> dict:
    """The Trainer's precision arguments. 16-mixed on the CPU: Lightning would silently train
    bf16-mixed instead ("AMP with fp16 is not supported on CPU"); torch's CPU autocast does fp16 and
    its GradScaler runs on the CPU, so the plugin is given explicitly and the run is what it says."""
    if precision == "16-mixed" and cpu:
        import torch
        from lightning.pytorch.plugins.precision import MixedPrecision

        return {"precision": None, "plugins": [MixedPrecision("16-mixed", "cpu", scaler=torch.amp.GradScaler("cpu"))]}
    return {"precision": precision}


def check_devices(cfg: dict, accelerator: str) -> None:
    """Refuse, before anything trains, what the devices cannot run: BatchNorm under DDP on the CPU
    (train.world_size > 1 makes BN layers SyncBatchNorm, which torch runs on GPUs only; per-process
    BN statistics would be another network's mathematics)."""
    world = cfg["train"]["world_size"]
    if world < 2 or not on_cpu(accelerator) or not has_batchnorm(cfg):
        return
    raise UserError(
        f"key 'train.world_size': {world} processes on the CPU with a BatchNorm model ({cfg['model']['name']}): "
        f"DDP makes BN layers SyncBatchNorm, which runs on GPUs only; use --accelerator gpu, "
        f"train.world_size 1, or a model without BatchNorm"
    )


def has_batchnorm(cfg: dict) -> bool:
    """Whether the cell's network has BatchNorm layers (built on the meta device: no memory)."""
    import torch

    name, kwargs = model_inputs(cfg)
    with torch.device("meta"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net = build_model(name, **kwargs)
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in net.modules())


def set_determinism(deterministic: bool) -> None:
    """train.deterministic: cuDNN picks deterministic kernels and does not autotune, and no TF32
    (10-bit mantissa) in convolutions or matmuls; the Trainer adds torch's deterministic algorithms
    (warn_only: an op without one is named in a warning, not an error). Off: torch's defaults
    (cuDNN convolutions may use TF32 on Ampere and later)."""
    import torch

    torch.backends.cudnn.deterministic = deterministic
    torch.backends.cudnn.allow_tf32 = not deterministic
    if deterministic:
        torch.backends.cuda.matmul.allow_tf32 = False


def build_trainer(
    train: dict,
    out: Path,
    callbacks: list,
    *,
    logger=None,
    accelerator: str = "auto",
    num_nodes: int = 1,
    progress: bool = False,
    **overrides,
) -> pl.Trainer:
    """The Trainer of a cell: step-based, evaluating every train.eval_every steps (0: at the end),
    no checkpointing of its own (ours is StepCheckpoint), on train.world_size devices (DDP with
    SyncBatchNorm when more than one). `overrides`: Trainer arguments a measurement changes (the
    benchmark turns evaluation off)."""
    world = train["world_size"]
    if world % num_nodes:
        raise UserError(f"key 'train.world_size': {world} processes do not split over {num_nodes} nodes")
    set_determinism(train["deterministic"])
    kwargs = dict(
        default_root_dir=out,  # Lightning's SLURM handler writes hpc_ckpt_*.ckpt here on USR1
        max_steps=train["max_steps"],
        max_epochs=-1,
        val_check_interval=train["eval_every"] or train["max_steps"],
        check_val_every_n_epoch=None,
        num_sanity_val_steps=0,
        log_every_n_steps=train["log_every"],
        **precision_args(train["precision"], on_cpu(accelerator)),
        gradient_clip_val=train["grad_clip"],
        accelerator=accelerator,
        devices=world // num_nodes,
        num_nodes=num_nodes,
        # One device per cell unless the cell asks for more; then BN statistics over the global batch.
        strategy="ddp" if world > 1 else "auto",
        sync_batchnorm=world > 1,
        deterministic="warn" if train["deterministic"] else False,
        callbacks=callbacks,
        logger=logger if logger is not None else False,
        enable_progress_bar=progress and sys.stderr.isatty(),  # no bar spam in logs
        enable_model_summary=False,
        enable_checkpointing=False,
        use_distributed_sampler=False,  # our batch samplers shard the global batch by rank
    )
    return pl.Trainer(**{**kwargs, **overrides})
