"""The LightningDataModule of an image-folder tree (see ablate.data.imagefolder for the splits,
the transforms and why the order and augmentation are deterministic per (seed, step))."""

from __future__ import annotations

from pathlib import Path

import lightning.pytorch as pl
import torch
from torch.utils.data import DataLoader

from ablate.data import imagefolder as F
from ablate.data.datamodule import split_train_val

EVAL_BATCH = 250  # images per evaluation batch (224x224 uint8: 37 MB)


class EvalLoader:
    """(normalised float x, y) batches of a split on `device`, for the final error pass."""

    def __init__(self, loader: DataLoader, device):
        self.loader, self.device = loader, torch.device(device)

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self):
        for x, y in self.loader:
            yield F.normalize(x.to(self.device, non_blocking=True)), y.to(self.device)


class FolderDataModule(pl.LightningDataModule):
    def __init__(
        self,
        folder: str | None = None,
        data_dir: str | Path | None = None,
        batch_size: int = 128,
        val_size: float | int = 0.1,
        train_subset: int | None = None,
        image_size: int = 224,
        rand_augment: str | None = None,
        workers: int = 4,
        pin_memory: bool = True,
        persistent_workers: bool = True,
        seed: int = 0,
    ):
        super().__init__()
        self.root = F.resolve_folder(folder, data_dir)
        self.batch_size, self.image_size, self.rand_augment, self.seed = batch_size, image_size, rand_augment, seed
        self.workers, self.pin_memory, self.persistent_workers = workers, pin_memory, persistent_workers
        F.check_rand_augment(rand_augment)
        self.index = F.scan(self.root)
        n = self.index.count("train") if train_subset is None else min(train_subset, self.index.count("train"))
        self.train_idx, self.val_idx = split_train_val(n, val_size, seed)

    # Shape facts the model builder needs before setup().
    @property
    def num_classes(self) -> int:
        return len(self.index.classes)

    @property
    def in_channels(self) -> int:
        return 3

    @property
    def sizes(self) -> dict[str, int]:
        return {"train": len(self.train_idx), "val": len(self.val_idx), "test": self.index.count("val")}

    @property
    def source(self) -> str:
        s = self.sizes
        return (
            f"{self.root}: image folder, {self.num_classes} classes, {s['train']} train / {s['val']} "
            f"held-out val (from train/) / {s['test']} test (val/) images at {self.image_size}px"
        )

    def dataset(self, split: str, train_transform: bool = False) -> F.FolderDataset:
        """split: train | val (the hold-out of train/) | test (the tree's val/)."""
        if split == "test":
            files, labels = self.index.files["val"], self.index.labels["val"]
        else:
            idx = self.train_idx if split == "train" else self.val_idx
            files = [self.index.files["train"][i] for i in idx]
            labels = self.index.labels["train"][idx]
        transform = (
            F.train_transform(self.image_size, self.rand_augment)
            if train_transform
            else F.eval_transform(self.image_size)
        )
        return F.FolderDataset(self.root, files, labels, transform)

    def _loader_kwargs(self) -> dict:
        workers = self.workers
        # generator: the loader draws its workers' base seed from it, not from the global RNG
        # that dropout and drop path use (our samples are seeded per (seed, step, slot) anyway).
        return {
            "num_workers": workers,
            "pin_memory": self.pin_memory and torch.cuda.is_available(),
            "persistent_workers": self.persistent_workers and workers > 0,
            "generator": torch.Generator().manual_seed(self.seed),
        }

    def _rank(self) -> tuple[int, int]:
        t = self.trainer
        return (t.global_rank, t.world_size) if t is not None else (0, 1)

    def _global_step(self) -> int:
        return self.trainer.global_step if self.trainer is not None else 0

    def train_dataloader(self) -> DataLoader:
        rank, world = self._rank()
        sampler = F.StepBatchSampler(len(self.train_idx), self.batch_size, self.seed, self._global_step, rank, world)
        return DataLoader(self.dataset("train", train_transform=True), batch_sampler=sampler, **self._loader_kwargs())

    def _eval_loader(self, split: str, shard: bool) -> DataLoader:
        ds = self.dataset(split)
        rank, world = self._rank() if shard else (0, 1)
        # Each rank evaluates every world-th image: exact (no padding), and the accuracy metric
        # sums its counts over ranks.
        indices = range(rank, len(ds), world)
        kwargs = self._loader_kwargs()
        kwargs["persistent_workers"] = False  # evaluation is rare; do not hold idle workers
        return DataLoader(torch.utils.data.Subset(ds, indices), batch_size=EVAL_BATCH, **kwargs)

    def eval_batches(self, split: str, device=None) -> EvalLoader:
        """The whole split (not sharded), normalised on `device`: for the final errors."""
        return EvalLoader(self._eval_loader(split, shard=False), device or "cpu")

    def val_dataloader(self):
        # Index 0 selects models (the hold-out); index 1 is the test split (the tree's val/).
        return [self._eval_loader("val", shard=True), self._eval_loader("test", shard=True)]

    def test_dataloader(self):
        return self._eval_loader("test", shard=True)

    def on_after_batch_transfer(self, batch, dataloader_idx: int):
        x, y = batch
        return F.normalize(x), y
