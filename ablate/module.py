"""The one LightningModule: it is handed a network and owns loss, metrics and optimisation.

Training loss and error are logged every step (the Trainer's log_every_n_steps decides which steps
reach the loggers); validation and test error at every evaluation. A non-finite loss stops the run
and marks it diverged instead of crashing it: for a very deep plain net that is a finding.
`label_smoothing` (Szegedy et al. 2016; part of ConvNeXt's training recipe) smooths the training
targets only; the logged training error is still against the true labels. `batch_transform`
(ablate.recipe.BatchRecipe: Random Erasing, Mixup/CutMix) may make the targets soft (N, C); the
loss is then soft-target cross-entropy and the logged error is against the target's argmax.
"""

from __future__ import annotations

import lightning.pytorch as pl
import torch
import torch.nn as nn
import torch.nn.functional as F
from torchmetrics.classification import MulticlassAccuracy

from ablate.optim import build_optimizer, build_scheduler

EVAL_SPLITS = ("val", "test")  # the order of the DataModule's val_dataloader list


class Classifier(pl.LightningModule):
    def __init__(self, model: nn.Module, num_classes: int, optim: dict, schedule: dict, max_steps: int,
                 channels_last: bool = False, label_smoothing: float = 0.0,
                 batch_transform=None):  # fmt: skip
        super().__init__()
        self.batch_transform = batch_transform  # (x, y, step) -> (x, y), e.g. ablate.recipe.BatchRecipe
        self.model = model
        self.optim_cfg, self.schedule_cfg, self.max_steps = optim, schedule, max_steps
        self.channels_last, self.label_smoothing = channels_last, label_smoothing
        self.eval_acc = nn.ModuleList(
            MulticlassAccuracy(num_classes, average="micro") for _ in EVAL_SPLITS
        )
        self.diverged_at: int | None = None
        if channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.model(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        if self.batch_transform is not None:
            x, y = self.batch_transform(x, y, self.global_step)
        logits = self(x)
        if y.ndim == 2:  # soft targets (Mixup/CutMix, smoothing included)
            from ablate.recipe import soft_target_loss

            loss, y = soft_target_loss(logits, y), y.argmax(1)
        else:
            loss = F.cross_entropy(logits, y, label_smoothing=self.label_smoothing)
        if not torch.isfinite(loss):
            self.diverged_at = self.global_step
            self.trainer.should_stop = True
            return None  # skip the update; the run ends here and is recorded as diverged
        # Logged every step; the Trainer's log_every_n_steps decides what reaches W&B, and the
        # MetricsRecorder records the same steps.
        error = (logits.argmax(1) != y).float().mean()
        self.log_dict({"train/loss": loss.detach(), "train/error": error}, on_step=True,
                      on_epoch=False, prog_bar=True)  # fmt: skip
        self.log("lr", self.trainer.optimizers[0].param_groups[0]["lr"], on_step=True)
        return loss

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

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self.diverged_at = checkpoint.get("diverged_at")


@torch.no_grad()
def error_rate(model: nn.Module, batches) -> float:
    """Top-1 error of `model` (in eval mode) over an iterable of (x, y) batches."""
    was_training = model.training
    model.eval()
    wrong = total = 0
    for x, y in batches:
        wrong += (model(x).argmax(1) != y).sum().item()
        total += len(y)
    model.train(was_training)
    return wrong / total
