"""Small image-folder trees built at test time from the shared lossy CIFAR-10 JPEGs (no download).

The lossy copy is fine for testing a JPEG pipeline and never for reporting CIFAR-10 numbers
(../shared/data/README.md, section 3)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from tests.helpers import SHARED_DATA

ZIP = SHARED_DATA / "cifar-10-jpeg-LOSSY" / "cifar10_jpeg_lossy.zip"
CLASSES = ("airplane", "cat", "ship")


def make_tree(dest: Path, n_train: int = 16, n_val: int = 4, classes=CLASSES) -> Path:
    """dest/train/<class>/NNNN.jpg (from the zip's train/) and dest/val/<class>/ (from its test/)."""
    if not ZIP.is_file():
        pytest.skip(f"the lossy CIFAR-10 JPEG zip is not at {ZIP} (set ABLATE_TEST_DATA)")
    with zipfile.ZipFile(ZIP) as z:
        for split, src, n in (("train", "train", n_train), ("val", "test", n_val)):
            for c in classes:
                (dest / split / c).mkdir(parents=True, exist_ok=True)
                for i in range(n):
                    (dest / split / c / f"{i:04d}.jpg").write_bytes(z.read(f"{src}/{c}/{i:04d}.jpg"))
    return dest
