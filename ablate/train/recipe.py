"""The batch-level pieces of the ConvNeXt/DeiT training recipe, from timm.

- Random Erasing (Zhong et al. 2020), as timm.data.RandomErasing(mode='pixel', max_count=1) draws
  it (per image: probability p, area 2%-33% of the image, log-uniform aspect 0.3-3.3, ten attempts
  to fit, per-pixel normal noise), but for the whole batch at once on its device: timm loops over
  the images in Python (4,096 small launches a step at batch 4,096). tests/test_recipe.py checks
  the two draw the same distribution; benchmarks/random_erasing.py times them.
- Mixup (Zhang et al. 2018) / CutMix (Yun et al. 2019) with label smoothing (timm.data.Mixup,
  one draw per batch): the targets become soft (N, num_classes) and the loss is timm's
  SoftTargetCrossEntropy. The logged training error is then against the argmax of the mixed
  target (the class with the larger share), not the image's own label.
- The EMA of the weights (timm.utils.ModelEmaV3, constant decay per step), evaluated on the
  validation split at every evaluation (`val_ema/error`) and on every split at the end.

RandAugment runs per image in the loader workers (ablate.data.imagefolder); drop path and layer
scale are knobs of the model (convnext_roadmap's drop_path, layer_scale).

Random Erasing draws from its own generator on the batch's device; timm's Mixup from the global
python/numpy/torch generators, which are seeded for the batch and restored afterwards. Both are
seeded by (seed, step, rank), so the augmentation is a function of the step (a resumed run repeats
it exactly) and the model's own randomness (dropout, drop path) is not shifted by it.
"""

from __future__ import annotations

import math
import random

import lightning.pytorch as pl
import numpy as np
import torch

from ablate.train.module import error_rate


def recipe_seed(seed: int, step: int, rank: int) -> int:
    return ((seed * 1_000_003 + step) * 1024 + rank) % 2**32


class _SeededGlobalRng:
    """Seed python `random`, numpy and torch (CPU and `device`) on entry; restore them on exit."""

    def __init__(self, seed: int, device: torch.device):
        self.seed, self.device = seed, device

    def __enter__(self):
        self.saved = random.getstate(), np.random.get_state()
        devices = [self.device] if self.device.type == "cuda" else []
        self.fork = torch.random.fork_rng(devices=devices, device_type=self.device.type if devices else "cuda")
        self.fork.__enter__()
        random.seed(self.seed)
        np.random.seed(self.seed)
        torch.manual_seed(self.seed)

    def __exit__(self, *exc):
        self.fork.__exit__(*exc)
        random.setstate(self.saved[0])
        np.random.set_state(self.saved[1])
        return False


# timm.data.RandomErasing's defaults (Zhong et al.): box area as a fraction of the image, aspect
# ratio h/w drawn log-uniformly in [MIN_ASPECT, 1/MIN_ASPECT], attempts at a box that fits.
ERASE_AREA = (0.02, 1 / 3)
ERASE_MIN_ASPECT = 0.3
ERASE_ATTEMPTS = 10


def random_erasing(x: torch.Tensor, prob: float, gen: torch.Generator) -> torch.Tensor:
    """A copy of the (N, C, H, W) batch with one box of per-pixel normal noise in each image chosen
    with probability `prob`: timm's per-image draw, batched (no host sync). The box is the first of
    ERASE_ATTEMPTS (area, aspect) draws whose rounded h < H and w < W (none: the image is kept),
    at a top-left corner uniform over the positions where it fits."""
    n, c, height, width = x.shape
    dev = x.device
    chosen = torch.rand(n, generator=gen, device=dev) <= prob  # timm: skip when random() > p
    area = torch.empty(n, ERASE_ATTEMPTS, device=dev).uniform_(*ERASE_AREA, generator=gen) * (height * width)
    log_lo = math.log(ERASE_MIN_ASPECT)
    aspect = torch.empty(n, ERASE_ATTEMPTS, device=dev).uniform_(log_lo, -log_lo, generator=gen).exp()
    h, w = (area * aspect).sqrt().round(), (area / aspect).sqrt().round()  # round half to even, as Python
    fits = (h < height) & (w < width)
    first = fits.int().argmax(1, keepdim=True)  # the first attempt that fits (0 when none does)
    h, w = h.gather(1, first).squeeze(1), w.gather(1, first).squeeze(1)
    corner = torch.rand(n, 2, generator=gen, device=dev)
    top, left = (corner[:, 0] * (height - h + 1)).floor(), (corner[:, 1] * (width - w + 1)).floor()
    erased = chosen & fits.any(1)
    rows = torch.arange(height, device=dev)[None, :]
    cols = torch.arange(width, device=dev)[None, :]
    in_rows = (rows >= top[:, None]) & (rows < (top + h)[:, None]) & erased[:, None]  # (N, H)
    in_cols = (cols >= left[:, None]) & (cols < (left + w)[:, None])  # (N, W)
    box = (in_rows[:, :, None] & in_cols[:, None, :])[:, None]  # (N, 1, H, W), over every channel
    if dev.type == "cpu":  # no device to wait for: draw noise for the box pixels only
        count = int((h * w * erased).sum()) * c
        return x.clone().masked_scatter_(box, torch.randn(count, generator=gen, dtype=x.dtype))
    # On a GPU, counting would wait for the device; noise for every pixel is one cheap kernel.
    return torch.where(box, torch.randn(x.shape, generator=gen, device=dev, dtype=x.dtype), x)


class BatchRecipe:
    """(x, y, step) -> (x, y'): Random Erasing, then Mixup/CutMix; y' soft when mixing is on."""

    def __init__(self, train_cfg: dict, num_classes: int, seed: int):
        self.seed = seed
        self.erase_prob = train_cfg.get("random_erase", 0.0)
        self.mixup = None
        if train_cfg.get("mixup", 0.0) > 0 or train_cfg.get("cutmix", 0.0) > 0:
            from timm.data.mixup import Mixup

            self.mixup = Mixup(
                mixup_alpha=train_cfg["mixup"],
                cutmix_alpha=train_cfg["cutmix"],
                prob=train_cfg["mixup_prob"],
                switch_prob=train_cfg["mixup_switch_prob"],
                mode="batch",
                label_smoothing=train_cfg["label_smoothing"],
                num_classes=num_classes,
            )

    @property
    def enabled(self) -> bool:
        return self.mixup is not None or self.erase_prob > 0

    @property
    def soft_targets(self) -> bool:
        return self.mixup is not None

    def __call__(self, x: torch.Tensor, y: torch.Tensor, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.enabled:
            return x, y
        dist = torch.distributed
        rank = dist.get_rank() if dist.is_available() and dist.is_initialized() else 0
        seed = recipe_seed(self.seed, step, rank)
        if self.erase_prob > 0:
            x = random_erasing(x, self.erase_prob, torch.Generator(device=x.device).manual_seed(seed))
        else:
            x = x.clone()  # timm mixes in place; the caller's batch stays as it was
        with _SeededGlobalRng(seed, x.device):
            if self.mixup is not None:
                if len(x) % 2:
                    raise ValueError(f"Mixup/CutMix needs an even batch per process, got {len(x)}")
                x, y = self.mixup(x, y)
        return x, y


class WeightEma(pl.Callback):
    """The EMA of the network's weights, updated after every optimiser step; part of the
    checkpoint, so a resumed run continues the same average. Place it before the checkpoint
    callback, so a checkpoint written at step s holds the EMA of step s."""

    def __init__(self, decay: float, every_eval: bool = True):
        self.decay, self.every_eval = decay, every_eval
        self.ema = None
        self._restored: dict | None = None

    def on_train_start(self, trainer, pl_module):
        from timm.utils import ModelEmaV3

        if self.ema is None:
            self.ema = ModelEmaV3(pl_module.model, decay=self.decay)
            if self._restored is not None:
                self.ema.module.load_state_dict(self._restored)
                self._restored = None

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if outputs is not None:  # None: the step was skipped (diverged)
            self.ema.update(pl_module.model, step=trainer.global_step)

    def on_validation_epoch_end(self, trainer, pl_module):
        if self.ema is None or trainer.sanity_checking or not self.every_eval:
            return
        batches = trainer.datamodule.eval_batches("val", pl_module.device)
        err = error_rate(self.ema.module, batches, trainer.precision_plugin)
        pl_module.log("val_ema/error", err, sync_dist=False)

    def state_dict(self) -> dict:
        if self.ema is not None:
            return {"ema": self.ema.module.state_dict()}
        return {"ema": self._restored} if self._restored is not None else {}

    def load_state_dict(self, state_dict: dict) -> None:
        if state_dict.get("ema") is not None:
            if self.ema is not None:
                self.ema.module.load_state_dict(state_dict["ema"])
            else:
                self._restored = state_dict["ema"]
