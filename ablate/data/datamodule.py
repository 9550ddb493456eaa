"""One LightningDataModule for every dataset: in-memory tensors, batched augmentation.

The whole dataset is held as uint8 tensors (on the GPU when training there: CIFAR-10 is 150 MB),
normalised and augmented a batch at a time. The training order is a pure function of
(seed, epoch) and the augmentation of (seed, step), so a run resumed from a checkpoint at step s
sees exactly the batches an uninterrupted run would have seen from step s on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import lightning.pytorch as pl
import numpy as np
import torch

from ablate.data import sources
from ablate.data.augment import augment

EVAL_BATCH = 1000  # images per evaluation batch


def split_train_val(n: int, val_size: float | int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of a train/validation split of n images, fixed per seed."""
    n_val = int(round(val_size * n)) if isinstance(val_size, float) and val_size < 1 else int(val_size)
    if not 0 < n_val < n:
        raise ValueError(f"data.val_size={val_size!r} gives {n_val} of {n} images; need 1..{n - 1}")
    perm = np.random.default_rng(seed).permutation(n)
    return np.sort(perm[n_val:]), np.sort(perm[:n_val])


def downsample(x: np.ndarray, k: int) -> np.ndarray:
    """uint8 images (N, C, H, W) with every k x k block of pixels replaced by its mean (rounded)."""
    if k == 1:
        return x
    n, c, h, w = x.shape
    blocks = x.reshape(n, c, h // k, k, w // k, k).astype(np.float32).mean(axis=(3, 5))
    return np.rint(blocks).astype(np.uint8)


class TrainBatches:
    """Shuffled, augmented training batches; an epoch is len(self) full batches (no ragged end).

    `position` gives the number of batches already consumed (the trainer's global step), so that
    iteration resumes mid-epoch after a restart. Under DDP, batch_size is the global batch: rank r
    of w keeps the contiguous slice [r*b/w, (r+1)*b/w) of each augmented batch, so w processes
    average the gradient of the same global batch one process would see.
    """

    def __init__(
        self,
        x,
        y,
        mean,
        std,
        batch_size,
        augment_kind,
        pad,
        seed,
        position: Callable[[], int],
        rank: int = 0,
        world_size: int = 1,
    ):
        if batch_size % world_size:
            raise ValueError(f"data.batch_size={batch_size} does not split evenly over {world_size} processes")
        self.x, self.y, self.mean, self.std = x, y, mean, std
        self.batch_size, self.augment_kind, self.pad, self.seed = batch_size, augment_kind, pad, seed
        self.position = position
        local = batch_size // world_size
        self.slice = slice(rank * local, (rank + 1) * local)

    def __len__(self) -> int:
        return len(self.x) // self.batch_size

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        per_epoch = len(self)
        step = self.position()
        epoch, first = divmod(step, per_epoch)
        device = self.x.device
        order_gen = torch.Generator(device="cpu").manual_seed(self.seed * 1_000_003 + epoch)
        order = torch.randperm(len(self.x), generator=order_gen)  # on the CPU: the same order on every device
        if device.type == "cuda":  # from page-locked memory, asynchronously: no host sync at an epoch start
            order = order.pin_memory().to(device, non_blocking=True)
        aug_gen = torch.Generator(device=device)
        for b in range(first, per_epoch):
            idx = order[b * self.batch_size : (b + 1) * self.batch_size]
            x = (self.x[idx].float().div_(255) - self.mean) / self.std
            aug_gen.manual_seed(self.seed * 1_000_003 + 7919 * (epoch * per_epoch + b))
            x = augment(x, self.augment_kind, self.pad, aug_gen)  # the whole global batch: same draws
            yield x[self.slice], self.y[idx][self.slice]


class EvalBatches:
    """Fixed-order, unaugmented batches of a split."""

    def __init__(self, x, y, mean, std, batch_size: int = EVAL_BATCH):
        self.x, self.y, self.mean, self.std, self.batch_size = x, y, mean, std, batch_size

    def __len__(self) -> int:
        return -(-len(self.x) // self.batch_size)

    def __iter__(self):
        for i in range(0, len(self.x), self.batch_size):
            x = (self.x[i : i + self.batch_size].float().div_(255) - self.mean) / self.std
            yield x, self.y[i : i + self.batch_size]


class ArrayDataModule(pl.LightningDataModule):
    def __init__(
        self,
        name: str,
        data_dir: str | Path | None = None,
        batch_size: int = 128,
        val_size: float | int = 0.1,
        augment: str = "none",
        pad: int = 4,
        train_subset: int | None = None,
        seed: int = 0,
        downsample: int = 1,
    ):
        super().__init__()
        self.name, self.batch_size, self.val_size = name, batch_size, val_size
        self.augment, self.pad, self.train_subset, self.seed = augment, pad, train_subset, seed
        self.raw = sources.load(name, Path(data_dir) if data_dir else None)
        side = self.raw.shape[-1]
        if downsample < 1 or side % downsample:
            raise ValueError(f"data.downsample={downsample} must divide the {side}-pixel side of {name}")
        self.downsample = downsample
        self._tensors: dict[str, torch.Tensor] | None = None

    # Shape facts the model builder needs before setup().
    @property
    def num_classes(self) -> int:
        return len(self.raw.classes)

    @property
    def in_channels(self) -> int:
        return self.raw.shape[0]

    @property
    def source(self) -> str:
        return self.raw.source

    @property
    def sizes(self) -> dict[str, int]:
        t = self.tensors()
        return {split: len(t[f"{split}_x"]) for split in ("train", "val", "test")}

    def tensors(self, device: torch.device | str = "cpu") -> dict[str, torch.Tensor]:
        if self._tensors is None:
            x, y = self.raw.train_x, self.raw.train_y
            if self.train_subset is not None:
                x, y = x[: self.train_subset], y[: self.train_subset]
            tr, va = split_train_val(len(x), self.val_size, self.seed)
            x, test_x = downsample(x, self.downsample), downsample(self.raw.test_x, self.downsample)
            train_x = torch.from_numpy(x[tr])
            # Per-channel statistics of the training split only (units: pixel / 255).
            flat = train_x.float().div(255).transpose(0, 1).reshape(train_x.shape[1], -1)
            self._tensors = {
                "train_x": train_x,
                "train_y": torch.from_numpy(y[tr]),
                "val_x": torch.from_numpy(x[va]),
                "val_y": torch.from_numpy(y[va]),
                "test_x": torch.from_numpy(test_x),
                "test_y": torch.from_numpy(self.raw.test_y),
                "mean": flat.mean(1).view(1, -1, 1, 1),
                "std": flat.std(1).view(1, -1, 1, 1),
            }
        if any(t.device != torch.device(device) for t in self._tensors.values()):
            self._tensors = {k: v.to(device) for k, v in self._tensors.items()}
        return self._tensors

    def _device(self) -> torch.device:
        # Keep the data where the model trains: on a GPU the batch transfer becomes a no-op.
        return self.trainer.strategy.root_device if self.trainer is not None else torch.device("cpu")

    def _global_step(self) -> int:
        return self.trainer.global_step if self.trainer is not None else 0

    def train_dataloader(self):
        t = self.tensors(self._device())
        return TrainBatches(
            t["train_x"],
            t["train_y"],
            t["mean"],
            t["std"],
            self.batch_size,
            self.augment,
            self.pad,
            self.seed,
            self._global_step,
            *self._rank(),
        )

    def _rank(self) -> tuple[int, int]:
        t = self.trainer
        return (t.global_rank, t.world_size) if t is not None else (0, 1)

    def eval_batches(self, split: str, device: torch.device | str | None = None) -> EvalBatches:
        t = self.tensors(device or self._device())
        return EvalBatches(t[f"{split}_x"], t[f"{split}_y"], t["mean"], t["std"])

    def val_dataloader(self):
        # Index 0 selects models (validation); index 1 is the test set, evaluated alongside only
        # to draw test-error curves as He et al. Fig. 6 does. Nothing is tuned on it.
        return [self.eval_batches("val"), self.eval_batches("test")]

    def test_dataloader(self):
        return self.eval_batches("test")
