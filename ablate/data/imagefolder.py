"""An image-folder tree (`train/<class>/*.jpg` + `val/<class>/...`), decoded in loader workers.

The layout of ImageNet-1k as usually prepared, Imagenette, ImageNet-100 and Tiny-ImageNet (after
moving its val images into class folders). Classes are the sorted folder names under train/.
Splits: `train` is train/ minus a validation hold-out drawn per seed (data.val_size, as the
in-memory path does); `val` is that hold-out (models are selected on it); `test` is the tree's
val/ folder (ImageNet's 50,000 validation images, the split papers report).

Determinism: the batch order is a pure function of (seed, epoch) and each image's augmentation of
(seed, step, slot in the global batch), whatever the number of worker processes or DDP ranks:
the batch sampler yields (index, sample_seed) pairs starting at the trainer's global step, and the
dataset seeds python `random`, numpy and torch for that sample before transforming it. A run
resumed at step s therefore sees exactly the images an uninterrupted run sees from step s on.

Workers return uint8 tensors (4x less to pin and copy than float32); normalisation with the
ImageNet mean/std happens on the training device, after the transfer.
"""

from __future__ import annotations

import functools
import os
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ablate.data.sources import default_data_dir
from ablate.errors import UserError

EXTENSIONS = (".jpg", ".jpeg", ".png")
SPLIT_DIRS = ("train", "val")
# ImageNet channel statistics (pixel / 255), as timm and torchvision use for every folder dataset.
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
EVAL_CROP = 0.875  # the eval transform resizes the short side to image_size / 0.875 (256 for 224)


@dataclass(frozen=True)
class FolderIndex:
    root: Path
    classes: tuple[str, ...]
    files: dict[str, list[str]]  # split dir -> paths relative to root, sorted
    labels: dict[str, np.ndarray]  # split dir -> int64 labels

    def count(self, split: str) -> int:
        return len(self.files[split])


def resolve_folder(folder: str | None, data_dir: str | Path | None) -> Path:
    """data.folder: absolute, or relative to --data-dir / $ABLATE_DATA_DIR."""

    if not folder:
        raise UserError(
            "key 'data.folder': data.name imagefolder needs the tree's path "
            "(absolute, or relative to --data-dir / $ABLATE_DATA_DIR), e.g. --set data.folder=imagenette2"
        )
    path = Path(folder).expanduser()
    return path if path.is_absolute() else default_data_dir(str(data_dir) if data_dir else None) / path


def _scan_split(split_root: Path, classes: tuple[str, ...]) -> tuple[list[str], list[int]]:
    files, labels = [], []
    for label, name in enumerate(classes):
        class_dir = split_root / name
        if not class_dir.is_dir():
            continue
        with os.scandir(class_dir) as it:  # scandir: one syscall per entry on big NFS folders
            names = sorted(e.name for e in it if e.name.lower().endswith(EXTENSIONS) and e.is_file())
        files += [f"{split_root.name}/{name}/{n}" for n in names]
        labels += [label] * len(names)
    return files, labels


def scan(root: str | Path) -> FolderIndex:
    """Index a tree; UserError (one line, naming the path) if it is not an image-folder tree."""
    root = Path(root)
    missing = [d for d in SPLIT_DIRS if not (root / d).is_dir()]
    if missing:
        raise UserError(
            f"{root}: not an image-folder tree (no {' or '.join(d + '/' for d in missing)}); "
            f"expected train/<class>/*.jpg and val/<class>/*.jpg"
        )
    classes = tuple(sorted(p.name for p in (root / "train").iterdir() if p.is_dir()))
    if len(classes) < 2:
        raise UserError(f"{root / 'train'}: found {len(classes)} class folders; need at least 2")
    extra = sorted(p.name for p in (root / "val").iterdir() if p.is_dir() and p.name not in classes)
    if extra:
        raise UserError(f"{root / 'val'}: class folders not in train/: {', '.join(extra[:5])}")
    files, labels = {}, {}
    for split in SPLIT_DIRS:
        f, y = _scan_split(root / split, classes)
        if not f:
            raise UserError(f"{root / split}: no {'/'.join(EXTENSIONS)} images in its class folders")
        files[split], labels[split] = f, np.asarray(y, np.int64)
    return FolderIndex(root, classes, files, labels)


def unreadable(root: Path, files: list[str], workers: int = 1) -> list[tuple[str, str]]:
    """(path, reason) of every file Pillow cannot fully decode (truncated, not an image)."""
    if workers > 1 and len(files) > 1000:
        from multiprocessing import Pool

        chunks = [files[i::workers] for i in range(workers)]
        with Pool(workers) as pool:
            return sorted(x for part in pool.starmap(unreadable, [(root, c) for c in chunks]) for x in part)
    from PIL import Image

    bad = []
    for rel in files:
        try:
            with Image.open(root / rel) as im:
                im.load()  # a full decode: verify() misses truncated JPEGs
        except Exception as e:
            bad.append((rel, f"{type(e).__name__}: {e}"))
    return bad


# ----------------------------------------------------------------------------- transforms
def train_transform(image_size: int, rand_augment: str | None = None, min_scale: float = 0.08):
    """Inception-style RandomResizedCrop (scale 0.08-1, bicubic) + horizontal flip, optionally
    timm's RandAugment (e.g. 'rand-m9-mstd0.5-inc1', ConvNeXt's), to a uint8 CHW tensor."""
    from torchvision import transforms as T

    steps = [
        T.RandomResizedCrop(image_size, scale=(min_scale, 1.0), interpolation=T.InterpolationMode.BICUBIC),
        T.RandomHorizontalFlip(),
    ]
    if rand_augment:
        from timm.data.auto_augment import rand_augment_transform

        # timm takes the mean fill colour as 0..255 ints and the image size for translations.
        hparams = {"translate_const": int(image_size * 0.45), "img_mean": tuple(round(255 * m) for m in MEAN)}
        steps.append(_pillow13_posterize(rand_augment_transform(rand_augment, hparams)))
    steps.append(T.PILToTensor())
    return T.Compose(steps)


def _pillow13_posterize(rand_augment):
    """timm's Posterize at the top magnitude asks Pillow for 0 bits (an all-black image), which
    Pillow >= 13 refuses; give the black image Pillow < 13 gave, so the recipe is unchanged."""
    for op in rand_augment.ops:
        if op.name.startswith("Posterize"):
            op.aug_fn = functools.partial(_posterize, _fn=op.aug_fn)
    return rand_augment


def _posterize(img, bits_to_keep, _fn, **kwargs):  # module level: picklable for spawned workers
    from PIL import Image

    return Image.new(img.mode, img.size) if bits_to_keep < 1 else _fn(img, bits_to_keep, **kwargs)


def eval_transform(image_size: int):
    """Resize the short side to image_size / 0.875 (256 for 224), centre-crop image_size."""
    from torchvision import transforms as T

    return T.Compose(
        [
            T.Resize(int(round(image_size / EVAL_CROP)), interpolation=T.InterpolationMode.BICUBIC),
            T.CenterCrop(image_size),
            T.PILToTensor(),
        ]
    )


def check_rand_augment(spec: str | None) -> None:
    """Raise UserError for a RandAugment string timm does not understand."""
    if not spec:
        return
    try:
        train_transform(32, spec)
    except Exception as e:
        raise UserError(
            f"key 'data.rand_augment': {spec!r} is not a timm RandAugment string "
            f"(e.g. 'rand-m9-mstd0.5-inc1'): {type(e).__name__}: {e}"
        ) from None


class FolderDataset(torch.utils.data.Dataset):
    """Items are (index, sample_seed) -> (uint8 CHW image, label); sample_seed None: no seeding
    (the eval transform is deterministic)."""

    def __init__(self, root: Path, files: list[str], labels: np.ndarray, transform: Callable):
        self.root, self.files, self.labels, self.transform = Path(root), files, labels, transform

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, item):
        index, sample_seed = item if isinstance(item, tuple) else (item, None)
        from PIL import Image

        with Image.open(self.root / self.files[index]) as im:
            img = im.convert("RGB")
        if sample_seed is None:
            return self.transform(img), int(self.labels[index])
        if torch.utils.data.get_worker_info() is not None:
            _seed_all(sample_seed)  # a worker's global RNGs serve this dataset only
            return self.transform(img), int(self.labels[index])
        # workers=0: the main process's RNGs also drive dropout and drop path; leave them as found,
        # so a run with 0 workers trains exactly as one with several.
        saved = random.getstate(), np.random.get_state(), torch.get_rng_state()
        try:
            _seed_all(sample_seed)
            return self.transform(img), int(self.labels[index])
        finally:
            random.setstate(saved[0])
            np.random.set_state(saved[1])
            torch.set_rng_state(saved[2])


def _seed_all(seed: int) -> None:
    # torchvision's crops draw from torch, timm's RandAugment from random and numpy.
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def sample_seed(seed: int, step: int, slot: int) -> int:
    """The augmentation seed of slot `slot` of the global batch of step `step` (0 <= slot < 2**16)."""
    return ((seed * 1_000_003 + step) * 65_536 + slot) % 2**63


class StepBatchSampler(torch.utils.data.Sampler):
    """Batches of (index, sample_seed) for this rank, from the trainer's global step on.

    An epoch is n // batch_size full global batches (no ragged end); the order of epoch e is
    torch.randperm(n) seeded by (seed, e), the same formula as the in-memory TrainBatches. Rank r
    of w takes the contiguous slots [r*b/w, (r+1)*b/w) of each global batch of b images.
    """

    def __init__(
        self, n: int, batch_size: int, seed: int, position: Callable[[], int], rank: int = 0, world_size: int = 1
    ):
        if batch_size % world_size:
            raise UserError(
                f"key 'data.batch_size': {batch_size} images per step do not split evenly over {world_size} processes"
            )
        if n < batch_size:
            raise UserError(f"key 'data.batch_size': {batch_size} is more than the {n} training images")
        self.n, self.batch_size, self.seed, self.position = n, batch_size, seed, position
        self.rank, self.world_size = rank, world_size

    def __len__(self) -> int:
        return self.n // self.batch_size

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        per_epoch = len(self)
        step = self.position()
        epoch, first = divmod(step, per_epoch)
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        order = torch.randperm(self.n, generator=gen).tolist()
        local = self.batch_size // self.world_size
        lo = self.rank * local
        for b in range(first, per_epoch):
            global_step = epoch * per_epoch + b
            batch = order[b * self.batch_size : (b + 1) * self.batch_size]
            yield [(batch[s], sample_seed(self.seed, global_step, s)) for s in range(lo, lo + local)]


def normalize(x: torch.Tensor) -> torch.Tensor:
    """uint8 (N, 3, H, W) on any device -> float, ImageNet mean/std normalised."""
    mean = torch.tensor(MEAN, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(STD, device=x.device).view(1, 3, 1, 1)
    return (x.float().div_(255) - mean) / std
