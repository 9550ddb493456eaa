"""The one LightningModule: it is handed a network and owns loss, metrics and optimisation.

Nothing in the training step waits for the device: the loss and error of each step are added to
sums that stay on the device (TrainWindow), and the host reads them once every train.log_every
steps (MetricsRecorder), one transfer for the whole window. A loss that is not finite is noted on
the device too; at that read the run stops and is marked diverged instead of crashing: for a very
deep plain net that is a finding. Validation and test error are logged at every evaluation.
`label_smoothing` (Szegedy et al. 2016; part of ConvNeXt's training recipe) smooths the training
targets only; the logged training error is still against the true labels. `batch_transform`
(ablate.train.recipe.BatchRecipe: Random Erasing, Mixup/CutMix) may make the targets soft (N, C); the
loss is then soft-target cross-entropy and the logged error is against the target's argmax.
"""

from __future__ import annotations

import contextlib

import lightning.pytorch as pl
import torch
import torch.nn as nn
import torch.nn.functional as F
from torchmetrics.classification import MulticlassAccuracy

from ablate.train.optim import build_optimizer, build_scheduler

EVAL_SPLITS = ("val", "test")  # the order of the DataModule's val_dataloader list


class TrainWindow:
    """Sums of training loss and error since the last record, and the first step whose loss was
    not finite, all kept on the device; `read()` is the one host sync of a window."""

    def __init__(self) -> None:
        self.sums: torch.Tensor | None = None  # [loss sum, error sum] over `steps` steps (float32)
        self.first_bad: torch.Tensor | None = None  # int64 step index, -1 while every loss was finite
        self.steps = 0  # training steps added since the last read (a Python int: no sync)

    def _ensure(self, device: torch.device) -> None:
        if self.sums is None:
            self.sums = torch.zeros(2, device=device)
            self.first_bad = torch.full((), -1, dtype=torch.int64, device=device)
        elif self.sums.device != device:  # loaded from a checkpoint on the CPU
            self.sums, self.first_bad = self.sums.to(device), self.first_bad.to(device)

    def add(self, loss: torch.Tensor, error: torch.Tensor, step: int) -> None:
        loss = loss.detach().float()
        self._ensure(loss.device)
        self.sums += torch.stack([loss, error.float()])
        bad = ~torch.isfinite(loss) & (self.first_bad < 0)
        self.first_bad = torch.where(bad, step, self.first_bad)
        self.steps += 1

    def read(self) -> tuple[dict | None, int | None]:
        """(means of the window or None if it was empty, first non-finite step or None); resets
        the sums (the divergence marker stays). One device-to-host copy. Under DDP every rank
        calls this at the same step: the sums are averaged over the ranks (the global batch's
        means) and the marker becomes the first non-finite step of any rank, so all ranks stop
        together (a rank stopping alone would leave the others waiting in an all-reduce)."""
        if self.sums is None or self.steps == 0:
            return None, None
        _agree_across_ranks(self)
        loss_sum, error_sum, first_bad = torch.cat([self.sums.double(), self.first_bad.double().view(1)]).tolist()
        means = {"train/loss": loss_sum / self.steps, "train/error": error_sum / self.steps}
        self.sums.zero_()
        self.steps = 0
        return means, (int(first_bad) if first_bad >= 0 else None)

    def state_dict(self) -> dict:
        if self.sums is None:
            return {"steps": 0}
        # Copies: the live sums keep changing in place after the checkpoint is taken.
        return {
            "sums": self.sums.to("cpu", copy=True),
            "first_bad": self.first_bad.to("cpu", copy=True),
            "steps": self.steps,
        }

    def load_state_dict(self, state: dict) -> None:
        self.steps = int(state["steps"])
        sums, first_bad = state.get("sums"), state.get("first_bad")
        self.sums = sums.clone() if sums is not None else None
        self.first_bad = first_bad.clone() if first_bad is not None else None


def _agree_across_ranks(window: TrainWindow) -> None:
    """In place: the window's sums become their mean over the DDP ranks, its marker the earliest
    non-finite step of any rank. Two all-reduces per window, nothing outside a DDP run."""
    dist = torch.distributed
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() < 2:
        return
    dist.all_reduce(window.sums, op=dist.ReduceOp.SUM)
    window.sums /= dist.get_world_size()
    never = torch.iinfo(torch.int64).max  # "no bad step" must lose a MIN to any real step
    bad = torch.where(window.first_bad < 0, never, window.first_bad)
    dist.all_reduce(bad, op=dist.ReduceOp.MIN)
    window.first_bad = torch.where(bad == never, -1, bad)


class Classifier(pl.LightningModule):
    def __init__(
        self,
        model: nn.Module,
        num_classes: int,
        optim: dict,
        schedule: dict,
        max_steps: int,
        channels_last: bool = False,
        label_smoothing: float = 0.0,
        batch_transform=None,
        compile: bool = False,
    ):
        super().__init__()
        self.batch_transform = batch_transform  # (x, y, step) -> (x, y), e.g. ablate.train.recipe.BatchRecipe
        self.model = model
        self.optim_cfg, self.schedule_cfg, self.max_steps = optim, schedule, max_steps
        self.channels_last, self.label_smoothing = channels_last, label_smoothing
        self.eval_acc = nn.ModuleList(MulticlassAccuracy(num_classes, average="micro") for _ in EVAL_SPLITS)
        self.diverged_at: int | None = None
        self.train_window = TrainWindow()
        if channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        # Kept out of the module tree (no second copy of the weights in state_dict/checkpoints):
        # the compiled callable shares self.model's parameters.
        self.__dict__["_net"] = torch.compile(self.model) if compile else self.model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return self._net(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        if self.batch_transform is not None:
            x, y = self.batch_transform(x, y, self.global_step)
        logits = self(x)
        if y.ndim == 2:  # soft targets (Mixup/CutMix, smoothing included)
            loss, y = soft_target_loss(logits, y), y.argmax(1)
        else:
            loss = F.cross_entropy(logits, y, label_smoothing=self.label_smoothing)
        # No self.log and no Python test on a tensor here: either would wait for the device every
        # step. A non-finite loss still updates the weights (they are garbage from then on); the
        # recorder stops the run at the end of the window and no record of it is kept.
        error = (logits.argmax(1) != y).float().mean()
        self.train_window.add(loss, error, self.global_step)
        return loss

    def end_train_window(self) -> dict | None:
        """The window's mean training loss and error (host sync), or None if it was empty or saw a
        non-finite loss; then diverged_at is the first such step and the run stops."""
        means, first_bad = self.train_window.read()
        if first_bad is not None:
            if self.diverged_at is None:
                self.diverged_at = first_bad
            self.trainer.should_stop = True
            return None
        return means

    def validation_step(self, batch, batch_idx, dataloader_idx: int = 0):
        x, y = batch
        self.eval_acc[dataloader_idx].update(self(x), y)

    def on_validation_epoch_end(self) -> None:
        for split, acc in zip(EVAL_SPLITS, self.eval_acc):
            if acc.update_count:
                self.log(f"{split}/error", 1.0 - acc.compute(), prog_bar=split == "val")
            acc.reset()

    def configure_optimizers(self):
        # Weight decay on every parameter, as in the 2012-2016 papers' Caffe/Torch recipes.
        opt = build_optimizer(self.model.parameters(), self.optim_cfg)
        sched = build_scheduler(opt, self.schedule_cfg, self.optim_cfg["lr"], self.max_steps)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["diverged_at"] = self.diverged_at
        # A checkpoint may fall inside a log window (checkpoint_every, SLURM pre-emption): the
        # partial sums travel with it so the resumed record equals the uninterrupted one.
        checkpoint["train_window"] = self.train_window.state_dict()

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self.diverged_at = checkpoint.get("diverged_at")
        if "train_window" in checkpoint:
            self.train_window.load_state_dict(checkpoint["train_window"])


def soft_target_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Cross-entropy against soft (N, C) targets (timm's SoftTargetCrossEntropy)."""
    from timm.loss import SoftTargetCrossEntropy  # timm loads only when a recipe mixes targets

    return SoftTargetCrossEntropy()(logits, target)


@torch.no_grad()
def error_rate(model: nn.Module, batches, precision=None) -> float:
    """Top-1 error of `model` (in eval mode) over an iterable of (x, y) batches. `precision`: the
    Trainer's precision plugin, so the evaluation runs as validation does (bf16-true: inputs cast
    to bfloat16; *-mixed: under autocast); None: as given."""
    was_training = model.training
    model.eval()
    wrong = total = 0
    context = precision.forward_context() if precision is not None else contextlib.nullcontext()
    with context:
        for x, y in batches:
            x = precision.convert_input(x) if precision is not None else x
            wrong += (model(x).argmax(1) != y).sum().item()
            total += len(y)
    model.train(was_training)
    return wrong / total
