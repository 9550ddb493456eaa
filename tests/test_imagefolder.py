"""The image-folder dataset: counts and classes, splits, transforms, determinism per (seed, step)
whatever the worker count or DDP rank, resume mid-epoch, `data check`, config validation."""

from __future__ import annotations

import pytest
import torch

from ablate import config as C
from ablate.cli import main as cli_main
from ablate.data import build_datamodule, check_available
from ablate.data import imagefolder as F
from ablate.errors import ExperimentError, UserError
from ablate.experiment import load_experiment
from tests.folder_tree import CLASSES, make_tree


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    return make_tree(tmp_path_factory.mktemp("folder") / "tree", n_train=16, n_val=4)


def _dm(tree, **kw):
    cfg = {
        **C.DEFAULTS["data"],
        "name": "imagefolder",
        "folder": str(tree),
        "batch_size": 8,
        "val_size": 6,
        "image_size": 32,
        "workers": 0,
        **kw,
    }
    return build_datamodule(cfg, seed=kw.pop("seed", 0))


def _batches(dm, n, start=0):
    dm._global_step = lambda: start  # the trainer's global step, as in a resumed run
    it = iter(dm.train_dataloader())
    return [next(it) for _ in range(n)]


def test_scan_counts_classes_and_splits(tree):
    index = F.scan(tree)
    assert index.classes == tuple(sorted(CLASSES))
    assert index.count("train") == 48 and index.count("val") == 12
    assert index.labels["train"].tolist() == [0] * 16 + [1] * 16 + [2] * 16
    dm = _dm(tree)
    # val/ is the test split; the validation split is held out of train/ per seed.
    assert dm.sizes == {"train": 42, "val": 6, "test": 12} and dm.num_classes == 3
    assert set(dm.train_idx).isdisjoint(dm.val_idx)
    assert list(_dm(tree).val_idx) == list(dm.val_idx) != list(_dm(tree, seed=1).val_idx)


def test_folder_relative_to_data_dir_and_errors(tree, tmp_path):
    assert F.resolve_folder("tree", tree.parent) == tree
    check_available("imagefolder", tree.parent, "tree")
    (tmp_path / "train" / "a").mkdir(parents=True)
    with pytest.raises(UserError, match="no val/"):
        F.scan(tmp_path)
    with pytest.raises(UserError, match="data.folder"):
        check_available("imagefolder", tree.parent, None)


def test_train_and_eval_transforms_give_the_configured_size(tree):
    dm = _dm(tree, image_size=40)
    x, y = _batches(dm, 1)[0]
    assert x.shape == (8, 3, 40, 40) and x.dtype == torch.uint8 and y.dtype == torch.int64
    xe, ye = next(iter(dm.eval_batches("test")))
    assert xe.shape == (12, 3, 40, 40) and xe.dtype == torch.float32  # normalised
    assert ye.tolist() == [0] * 4 + [1] * 4 + [2] * 4
    # The eval transform is deterministic: two passes agree exactly.
    assert torch.equal(xe, next(iter(dm.eval_batches("test")))[0])


def test_order_and_augmentation_independent_of_workers(tree):
    serial = _batches(_dm(tree, workers=0), 3)
    parallel = _batches(_dm(tree, workers=2), 3)
    for (a, ya), (b, yb) in zip(serial, parallel):
        assert torch.equal(a, b) and torch.equal(ya, yb)
    other_seed = _batches(_dm(tree, seed=1), 1)[0][0]
    assert not torch.equal(serial[0][0], other_seed)
    # workers=0 leaves the main process's RNG (dropout, drop path) where it was.
    torch.manual_seed(5)
    _batches(_dm(tree), 1)
    after = torch.rand(1)
    torch.manual_seed(5)
    assert torch.equal(after, torch.rand(1))


def test_resume_mid_epoch_sees_the_same_batches(tree):
    # 42 train images, batch 8: 5 batches per epoch; steps 3..7 cross into epoch 1.
    dm = _dm(tree)
    full = _batches(dm, 5) + _batches(dm, 3, start=5)
    resumed = _batches(dm, 2, start=3) + _batches(dm, 3, start=5)
    for (a, ya), (b, yb) in zip(full[3:], resumed):
        assert torch.equal(a, b) and torch.equal(ya, yb)
    assert not torch.equal(full[0][1], full[5][1]) or not torch.equal(full[0][0], full[5][0])


def test_ddp_ranks_split_the_global_batch():
    one = list(F.StepBatchSampler(40, 8, 0, lambda: 2))
    halves = [list(F.StepBatchSampler(40, 8, 0, lambda: 2, rank=r, world_size=2)) for r in (0, 1)]
    assert [a + b for a, b in zip(*halves)] == one
    with pytest.raises(UserError, match="split evenly"):
        F.StepBatchSampler(40, 9, 0, lambda: 0, world_size=2)


def test_rand_augment_applied_when_on_and_validated(tree):
    plain = _batches(_dm(tree), 2)
    ra = _batches(_dm(tree, rand_augment="rand-m9-mstd0.5-inc1"), 2)
    assert not torch.equal(plain[0][0], ra[0][0]) and torch.equal(plain[0][1], ra[0][1])
    assert torch.equal(ra[1][0], _batches(_dm(tree, rand_augment="rand-m9-mstd0.5-inc1"), 2)[1][0])
    with pytest.raises(UserError, match="data.rand_augment"):
        _dm(tree, rand_augment="rand-q9")


def test_posterize_at_top_magnitude_gives_black_not_an_error():
    from PIL import Image

    ra = F.train_transform(16, "rand-n1-m10-inc1")
    posterize = next(op for op in ra.transforms[2].ops if op.name.startswith("Posterize"))
    img = Image.new("RGB", (16, 16), (200, 100, 50))
    assert posterize.aug_fn(img, 0).getextrema() == ((0, 0), (0, 0), (0, 0))
    assert posterize.aug_fn(img, 4).getpixel((0, 0)) == (192, 96, 48)


def test_check_command_counts_and_reports_unreadable(tree, tmp_path, capsys):
    assert cli_main(["data", "check", "imagefolder", "--data-dir", str(tree.parent), "--folder", "tree"]) == 0
    out = capsys.readouterr().out
    assert "3 classes" in out and "train/: 48 images, 16..16 per class" in out and "60 checked" in out
    bad = make_tree(tmp_path / "bad", n_train=3, n_val=1)
    data = (bad / "train" / "cat" / "0001.jpg").read_bytes()
    (bad / "train" / "cat" / "0001.jpg").write_bytes(data[: len(data) // 2])  # truncated
    (bad / "val" / "ship" / "0000.jpg").write_bytes(b"not a jpeg")
    assert cli_main(["data", "check", "imagefolder", "--folder", str(bad)]) == 1
    out = capsys.readouterr().out
    assert "2 unreadable files" in out and "cat/0001.jpg" in out and "ship/0000.jpg" in out


def _grid(tmp_path, data: dict):
    path = tmp_path / "g.yaml"
    import yaml

    path.write_text(
        yaml.safe_dump(
            {
                "base": {"model": {"name": "bn_mlp", "input_size": 8}, "data": data},
                "arms": {"a": {}},
                "profiles": {"p": {}},
            }
        )
    )
    return path


@pytest.mark.parametrize(
    "data, match",
    [
        ({"name": "imagefolder"}, "data.folder"),
        ({"name": "cifar10", "rand_augment": "rand-m9"}, "imagefolder only"),
        ({"name": "digits", "image_size": 64}, "imagefolder only"),
        ({"name": "imagefolder", "folder": "x", "augment": "crop_flip"}, "in-memory datasets only"),
        ({"name": "imagefolder", "folder": "x", "workers": -1}, "data.workers"),
    ],
)
def test_folder_keys_validated_before_training(tmp_path, data, match):
    with pytest.raises(ExperimentError, match=match):
        load_experiment(str(_grid(tmp_path, data)))


def test_convnext_image_folder_profiles_resolve():
    for profile, steps in (("imagenet", 93000), ("imagenette", 3500)):
        exp = load_experiment("convnext", profile)
        cfg = next(c.config for c in exp.cells if c.arm == "separate_downsample")
        assert cfg["data"]["name"] == "imagefolder" and cfg["data"]["rand_augment"] == "rand-m9-mstd0.5-inc1"
        assert cfg["train"]["max_steps"] == steps and cfg["train"]["mixup"] == 0.8
        assert cfg["train"]["cutmix"] == 1.0 and cfg["train"]["random_erase"] == 0.25
        assert cfg["train"]["ema_decay"] == 0.0 and cfg["model"]["layer_scale"] == 1e-6
        # lr scaled linearly from the paper's 4e-3 at batch 4096
        assert cfg["optim"]["lr"] == pytest.approx(4e-3 * cfg["data"]["batch_size"] / 4096)
