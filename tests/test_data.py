"""Datasets read offline, splits fixed per seed, batched augmentation, resumable batch order."""

import pickle

import numpy as np
import pytest
import torch

from ablate.data import check_available, load
from ablate.data.augment import augment, random_crop
from ablate.data.datamodule import ArrayDataModule, TrainBatches, split_train_val
from ablate.errors import UserError


def test_digits_are_embedded_and_split_stratified():
    d = load("digits")
    # 1,797 images; the test split is round(20%) of each class (174..183 images per class).
    assert d.train_x.shape == (1438, 1, 8, 8) and d.test_x.shape == (359, 1, 8, 8)
    assert d.train_x.dtype == np.uint8 and d.train_x.max() == 255
    assert np.bincount(d.test_y).min() == 35 and np.bincount(d.test_y).max() == 37


def test_mnist_from_shared_copy(shared_data):
    d = load("mnist", shared_data)
    assert d.train_x.shape == (60000, 1, 28, 28) and d.test_x.shape == (10000, 1, 28, 28)
    assert np.bincount(d.train_y).tolist()[:3] == [5923, 6742, 5958]


def test_cifar10_partial_copy_is_accepted(shared_data):
    d = load("cifar10", shared_data)
    assert d.train_x.shape == (8068, 3, 32, 32) and d.test_x.shape == (1017, 3, 32, 32)
    assert "partial copy" in d.source and d.classes[0] == "airplane"
    assert len(d.train_y) == len(d.train_x)


def test_missing_dataset_says_how_to_fetch(tmp_path):
    with pytest.raises(UserError, match="data fetch cifar10"):
        check_available("cifar10", tmp_path)
    with pytest.raises(UserError, match="MNIST not found"):
        load("mnist", tmp_path)
    check_available("digits", None)  # embedded: always there


def test_cifar_loader_refuses_code_in_pickles(tmp_path):
    root = tmp_path / "cifar-10-batches-py"
    root.mkdir()

    class Evil:
        def __reduce__(self):
            return (eval, ("1+1",))

    for name in ("data_batch_1", "test_batch", "batches.meta"):
        (root / name).write_bytes(pickle.dumps({"data": Evil(), "labels": [0]}))
    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        load("cifar10", tmp_path)


def test_split_fixed_per_seed():
    a, b = split_train_val(100, 0.1, 0), split_train_val(100, 0.1, 0)
    c = split_train_val(100, 0.1, 1)
    assert all((x == y).all() for x, y in zip(a, b))
    assert not (a[1] == c[1]).all()
    assert len(a[1]) == 10 and len(np.intersect1d(*a)) == 0
    assert len(split_train_val(100, 7, 0)[1]) == 7
    with pytest.raises(ValueError):
        split_train_val(100, 0.0, 0)


def test_crop_shifts_content_and_flip_mirrors():
    x = torch.arange(2 * 3 * 4 * 4, dtype=torch.float32).view(2, 3, 4, 4)
    g = torch.Generator().manual_seed(0)
    y = random_crop(x, 1, g)
    assert y.shape == x.shape
    # Each output is a shifted window of the zero-padded input.
    padded = torch.nn.functional.pad(x, (1, 1, 1, 1))
    for i in range(2):
        assert any(torch.equal(y[i], padded[i, :, r : r + 4, c : c + 4]) for r in range(3) for c in range(3))
    flipped = augment(x, "crop_flip", 0, torch.Generator().manual_seed(3))
    for i in range(2):
        assert torch.equal(flipped[i], x[i]) or torch.equal(flipped[i], x[i].flip(2))


def _loader(position):
    x = torch.arange(40, dtype=torch.uint8).view(40, 1, 1, 1).expand(40, 1, 2, 2).contiguous()
    y = torch.arange(40)
    return TrainBatches(x, y, torch.zeros(1, 1, 1, 1), torch.ones(1, 1, 1, 1), 8, "crop", 1, 5, position)


def test_train_batches_resume_mid_epoch_exactly():
    full = [b for e in range(3) for b in _loader(lambda e=e: e * 5)]  # 3 epochs of 5 batches
    resumed = list(_loader(lambda: 7))  # resume after 7 steps: epoch 1, batch 2
    assert len(resumed) == 3
    for (xa, ya), (xb, yb) in zip(full[7:10], resumed):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    epoch0 = torch.cat([y for _, y in full[:5]])
    assert sorted(epoch0.tolist()) == list(range(40))  # an epoch sees every image once


def test_datamodule_normalises_with_train_statistics():
    dm = ArrayDataModule("digits", val_size=0.2, seed=0)
    t = dm.tensors()
    assert dm.sizes == {"train": 1150, "val": 288, "test": 359}
    x, _ = next(iter(dm.eval_batches("train")))
    assert abs(x.mean().item()) < 0.05 and abs(x.std().item() - 1) < 0.05
    assert t["mean"].shape == (1, 1, 1, 1)


def test_the_dataset_table_matches_what_the_loaders_read(shared_data):
    from ablate.data.sources import DATASETS, load

    for name, info in DATASETS.items():
        data = load(name, shared_data if info.needs_data_dir else None)
        assert data.train_x.shape[1:] == info.shape and len(data.classes) == info.num_classes, name
        assert data.test_x.shape[1:] == info.shape, name


def test_downsample_averages_each_block_and_keeps_the_split(shared_data):
    import numpy as np

    from ablate.data import build_datamodule
    from ablate.data.datamodule import downsample

    x = np.arange(2 * 1 * 4 * 4, dtype=np.uint8).reshape(2, 1, 4, 4)
    assert downsample(x, 2)[0, 0].tolist() == [[2, 4], [10, 12]]  # means 2.5, 4.5, 10.5, 12.5 rounded to even
    assert downsample(x, 1) is x
    cfg = {"name": "cifar10", "batch_size": 64, "val_size": 0.1, "augment": "none", "pad": 0, "train_subset": None}
    full, half = (build_datamodule({**cfg, "downsample": k}, 3, shared_data).tensors() for k in (1, 2))
    assert half["train_x"].shape[2:] == (16, 16) and half["test_x"].shape[2:] == (16, 16)
    assert torch.equal(half["train_y"], full["train_y"]) and torch.equal(half["val_y"], full["val_y"])
    block = full["train_x"][0, :, :2, :2].float().mean(dim=(1, 2))
    assert torch.allclose(half["train_x"][0, :, 0, 0].float(), block.round(), atol=0.51)


def test_a_downsample_that_does_not_divide_the_side_is_one_line_before_training(tmp_path):
    from tests.helpers import run_cli

    res = run_cli("run", "degradation", "--set", "data.downsample=3", "--results-dir", str(tmp_path / "r"))
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1
    assert "key 'data.downsample': 3 does not divide the 8-pixel side of digits; allowed: 1, 2, 4, 8" in res.stderr
    assert not (tmp_path / "r").exists()
