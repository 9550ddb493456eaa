"""Datasets by name (`list_datasets`), their LightningDataModule, and local-copy checks.

Importing this package is cheap; the DataModule (which imports Lightning) is imported on use.
"""

from ablate.data.sources import (  # noqa: F401
    ArrayData,
    check_available,
    default_data_dir,
    fetch,
    list_datasets,
    load,
)


def build_datamodule(data_cfg: dict, seed: int, data_dir=None):
    from ablate.data.datamodule import ArrayDataModule

    kwargs = {k: v for k, v in data_cfg.items() if k != "name"}
    return ArrayDataModule(data_cfg["name"], data_dir=data_dir, seed=seed, **kwargs)
