"""Datasets by name (`list_datasets`), their LightningDataModule, and local-copy checks.

In-memory datasets (digits, mnist, cifar10: ablate.data.sources) and `imagefolder`, any
train/<class>/ + val/<class>/ tree of JPEG/PNG files decoded in loader workers
(ablate.data.imagefolder). Importing this package is cheap; the DataModules (which import
Lightning) are imported on use.
"""

from ablate.data import sources
from ablate.data.sources import (  # noqa: F401
    ArrayData,
    default_data_dir,
    fetch,
    load,
)

IMAGEFOLDER = "imagefolder"
# The data keys each kind of DataModule takes (the others are config keys of the other kind).
ARRAY_KEYS = ("batch_size", "val_size", "augment", "pad", "train_subset", "downsample")
FOLDER_KEYS = (
    "folder",
    "batch_size",
    "val_size",
    "train_subset",
    "image_size",
    "rand_augment",
    "workers",
    "pin_memory",
    "persistent_workers",
)


def list_datasets() -> list[str]:
    return sorted([*sources.list_datasets(), IMAGEFOLDER])


def check_available(name: str, data_dir, folder: str | None = None) -> None:
    """Raise UserError (one line, with the fix) if the dataset is not present locally."""
    if name != IMAGEFOLDER:
        return sources.check_available(name, data_dir)
    from ablate.data.imagefolder import resolve_folder, scan

    scan(resolve_folder(folder, data_dir))


def build_datamodule(data_cfg: dict, seed: int, data_dir=None):
    if data_cfg["name"] == IMAGEFOLDER:
        from ablate.data.folder_datamodule import FolderDataModule

        return FolderDataModule(data_dir=data_dir, seed=seed, **{k: data_cfg[k] for k in FOLDER_KEYS if k in data_cfg})
    from ablate.data.datamodule import ArrayDataModule

    kwargs = {k: data_cfg[k] for k in ARRAY_KEYS if k in data_cfg}
    return ArrayDataModule(data_cfg["name"], data_dir=data_dir, seed=seed, **kwargs)
