"""Raw datasets as uint8 arrays (N, C, H, W) and int64 labels, read straight from their files.

We read the files ourselves rather than through torchvision's dataset classes because cluster users
often have partial or read-only copies: torchvision's CIFAR10 refuses any copy whose md5 differs
(a subset, say), and its MNIST wants to extract into the (possibly read-only) folder. Where a
dataset is missing and the network allows, `fetch` downloads it through torchvision.

`DATASETS` is the one table of what is known of each dataset before it is loaded: channels, image
side and classes (the grid's meta-device model build and the analyses read them there), and how
to load it.
"""

from __future__ import annotations

import gzip
import os
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ablate.errors import UserError


@dataclass(frozen=True)
class ArrayData:
    train_x: np.ndarray  # uint8, (N, C, H, W)
    train_y: np.ndarray  # int64, (N,)
    test_x: np.ndarray
    test_y: np.ndarray
    classes: tuple[str, ...]
    source: str  # where the bytes came from, for provenance

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.train_x.shape[1:])


def default_data_dir(cli_value: str | None = None) -> Path:
    """--data-dir, else $ABLATE_DATA_DIR, else ~/.cache/ablate/data."""
    value = cli_value or os.environ.get("ABLATE_DATA_DIR")
    return Path(value).expanduser() if value else Path.home() / ".cache" / "ablate" / "data"


# ----------------------------------------------------------------------------- digits (embedded)
def load_digits(data_dir: Path | None = None) -> ArrayData:
    """scikit-learn's bundled UCI handwritten digits: 1,797 real 8x8 grey images, 10 classes.

    They ship inside scikit-learn (sklearn/datasets/data/digits.csv.gz), so the `quick` profiles
    need no download. There is no official test split: a fixed, stratified 20% (seed 0, whatever
    the run's seed) is the test set.
    """
    from sklearn.datasets import load_digits as sk_load_digits

    x, y = sk_load_digits(return_X_y=True)  # pixel values 0..16
    x = np.clip(x * 16, 0, 255).astype(np.uint8).reshape(-1, *DATASETS["digits"].shape)
    y = y.astype(np.int64)
    rng = np.random.default_rng(0)
    test = np.concatenate([rng.permutation(np.flatnonzero(y == c))[: round(0.2 * (y == c).sum())] for c in range(10)])
    mask = np.zeros(len(y), bool)
    mask[test] = True
    return ArrayData(x[~mask], y[~mask], x[mask], y[mask], tuple(map(str, range(10))), "sklearn digits")


# ----------------------------------------------------------------------------- MNIST
MNIST_FILES = {
    "train_x": "train-images-idx3-ubyte",
    "train_y": "train-labels-idx1-ubyte",
    "test_x": "t10k-images-idx3-ubyte",
    "test_y": "t10k-labels-idx1-ubyte",
}


def _read_idx(path: Path) -> np.ndarray:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def _mnist_path(data_dir: Path, stem: str) -> Path | None:
    for name in (stem, stem + ".gz"):
        path = data_dir / "MNIST" / "raw" / name
        if path.is_file():
            return path
    return None


def load_mnist(data_dir: Path) -> ArrayData:
    """MNIST from <data_dir>/MNIST/raw/ (the official idx files, gzipped or not)."""
    paths = {k: _mnist_path(data_dir, v) for k, v in MNIST_FILES.items()}
    missing = [MNIST_FILES[k] for k, p in paths.items() if p is None]
    if missing:
        raise UserError(
            f"MNIST not found in {data_dir}/MNIST/raw (missing {', '.join(missing)}); "
            f"run `python -m ablate data fetch mnist --data-dir {data_dir}` or set --data-dir/ABLATE_DATA_DIR"
        )
    arr = {k: _read_idx(p) for k, p in paths.items()}
    return ArrayData(
        arr["train_x"][:, None].copy(),
        arr["train_y"].astype(np.int64),
        arr["test_x"][:, None].copy(),
        arr["test_y"].astype(np.int64),
        tuple(map(str, range(10))),
        str(data_dir / "MNIST" / "raw"),
    )


# ----------------------------------------------------------------------------- CIFAR-10
CIFAR_DIR = "cifar-10-batches-py"
CIFAR_TRAIN = [f"data_batch_{i}" for i in range(1, 6)]


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles plain containers and numpy arrays only: a tampered batch file cannot run code."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to unpickle {module}.{name}")
        return super().find_class(module, name)


def _unpickle(path: Path) -> dict:
    with open(path, "rb") as f:
        return _ArrayUnpickler(f, encoding="latin1").load()


def _read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    d = _unpickle(path)
    x = np.asarray(d["data"], np.uint8).reshape(-1, *DATASETS["cifar10"].shape)  # rows of 3 x 32 x 32 bytes
    y = np.asarray(d["labels"], np.int64)[: len(x)]  # partial copies keep all labels, fewer images
    return x, y


def load_cifar10(data_dir: Path) -> ArrayData:
    """CIFAR-10 from <data_dir>/cifar-10-batches-py/ (the official python pickles).

    Accepts a partial copy (fewer images per batch than the official 10,000), which torchvision's
    md5 check would reject; the number of images found is recorded in `source`.
    """
    root = data_dir / CIFAR_DIR
    present = [n for n in CIFAR_TRAIN + ["test_batch"] if (root / n).is_file()]
    if "test_batch" not in present or len(present) < 2:
        raise UserError(
            f"CIFAR-10 not found in {root} (need data_batch_1..5 and test_batch); "
            f"run `python -m ablate data fetch cifar10 --data-dir {data_dir}` or set --data-dir/ABLATE_DATA_DIR"
        )
    train = [_read_cifar_batch(root / n) for n in CIFAR_TRAIN if n in present]
    test_x, test_y = _read_cifar_batch(root / "test_batch")
    train_x = np.concatenate([x for x, _ in train])
    train_y = np.concatenate([y for _, y in train])
    classes = tuple(_unpickle(root / "batches.meta")["label_names"])
    partial = "" if len(train_x) == 50000 and len(test_x) == 10000 else " (partial copy)"
    source = f"{root}: {len(train_x)} train / {len(test_x)} test images{partial}"
    return ArrayData(train_x, train_y, test_x, test_y, classes, source)


# ----------------------------------------------------------------------------- the dataset table
@dataclass(frozen=True)
class DatasetInfo:
    """What is known of an in-memory dataset before it is loaded, and how to load it."""

    channels: int
    side: int  # height = width of one image, pixels
    num_classes: int
    load: Callable[[Path], ArrayData]
    needs_data_dir: bool = True  # False: it ships inside a package, nothing to fetch

    @property
    def shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one image."""
        return self.channels, self.side, self.side


DATASETS: dict[str, DatasetInfo] = {
    "digits": DatasetInfo(channels=1, side=8, num_classes=10, load=load_digits, needs_data_dir=False),
    "mnist": DatasetInfo(channels=1, side=28, num_classes=10, load=load_mnist),
    "cifar10": DatasetInfo(channels=3, side=32, num_classes=10, load=load_cifar10),
}


def list_datasets() -> list[str]:
    return sorted(DATASETS)


def load(name: str, data_dir: Path | None = None) -> ArrayData:
    if name not in DATASETS:
        raise UserError(f"unknown dataset {name!r}; valid: {', '.join(list_datasets())}")
    return DATASETS[name].load(default_data_dir(None) if data_dir is None else Path(data_dir))


def check_available(name: str, data_dir: str | Path | None) -> None:
    """Raise UserError (one line, with the fix) if the dataset is not present locally."""
    if name not in DATASETS or not DATASETS[name].needs_data_dir:
        return
    root = default_data_dir(str(data_dir) if data_dir else None)
    if name == "mnist":
        missing = [v for v in MNIST_FILES.values() if _mnist_path(root, v) is None]
    else:
        missing = [n for n in ["test_batch", "batches.meta"] if not (root / CIFAR_DIR / n).is_file()]
    if missing:
        raise UserError(
            f"dataset {name!r} is not in {root} (missing {', '.join(missing)}); on a machine with "
            f"internet run `python -m ablate data fetch {name} --data-dir {root}`"
        )


def fetch(name: str, data_dir: Path) -> str:
    """Download a dataset through torchvision (needs the network); returns where it landed."""
    import torchvision

    data_dir.mkdir(parents=True, exist_ok=True)
    if name == "cifar10":
        torchvision.datasets.CIFAR10(str(data_dir), train=True, download=True)
    elif name == "mnist":
        torchvision.datasets.MNIST(str(data_dir), train=True, download=True)
    elif name == "digits":
        return "digits ship inside scikit-learn: nothing to fetch"
    else:
        raise UserError(f"unknown dataset {name!r}; valid: {', '.join(list_datasets())}")
    check_available(name, data_dir)
    return str(data_dir)
