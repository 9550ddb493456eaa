"""Checks of a whole grid before any cell trains: names, model constructors, data sizes, results folder.

`ablate.config` checks each key of one resolved config; the checks here need more than one key or
more than the config: a model's constructor rules (built once per distinct model on the meta device,
so no memory is allocated and nothing is computed), the dataset's size (known once it is loaded),
and the results folder (writable, with room). Each raises ExperimentError (or UserError): one line
naming the file, the arm, the key and what is allowed.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import warnings
from functools import lru_cache
from pathlib import Path

from ablate.data import check_available, sources
from ablate.errors import ExperimentError, UserError

# The meta-device build takes each dataset's channels and classes from ablate.data.sources.DATASETS
# (the real values come from the DataModule at training time; constructor rules rarely depend on
# them, but a LeNet C3 table does). An image-folder tree is sized by its scan: until then, RGB and
# this many classes.
FOLDER_SHAPE = (3, 10)  # (in_channels, num_classes)

# The results root must have this much free space before a grid starts (bytes): a few checkpoints
# and metric files of the small nets; a GPU-scale grid needs more, but a full disk is caught here.
MIN_FREE_BYTES = 64 * 2**20


def _error(message: str) -> ExperimentError:
    return ExperimentError(" ".join(str(message).split()))  # one line, whatever the cause said


# ----------------------------------------------------------------------------- models
def _model_kwargs(cfg: dict) -> dict:
    return {k: v for k, v in cfg["model"].items() if k != "name"}


def model_inputs(cfg: dict) -> tuple[str, dict]:
    """(model name, constructor kwargs) of a cell's config, with its dataset's channels and classes."""
    info = sources.DATASETS.get(cfg["data"]["name"])
    in_channels, num_classes = (info.channels, info.num_classes) if info else FOLDER_SHAPE
    return cfg["model"]["name"], {"num_classes": num_classes, "in_channels": in_channels, **_model_kwargs(cfg)}


_META_PARAMS: dict[str, int] = {}  # distinct model config -> parameters, for the life of the process


def meta_params(cfg: dict) -> int:
    """Parameters of a cell's model, built on the meta device once per distinct model config (seeds
    and non-model arms repeat one). Raises whatever the model's constructor raises."""
    import torch

    from ablate.models import build_model

    name, kwargs = model_inputs(cfg)
    key = json.dumps([name, kwargs], sort_keys=True, default=str)
    if key not in _META_PARAMS:
        with torch.device("meta"), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "zero-element tensors": reported below if it matters
            _META_PARAMS[key] = sum(p.numel() for p in build_model(name, **kwargs).parameters())
    return _META_PARAMS[key]


def check_models(path: Path, cells) -> None:
    """Build every distinct model of the grid once on the meta device; a constructor error becomes
    one line naming the arm."""
    for cell in cells:
        try:
            meta_params(cell.config)
        except Exception as e:
            knobs = ", ".join(f"model.{k}={v!r}" for k, v in _model_kwargs(cell.config).items())
            raise _error(
                f"{path}: arm {cell.arm!r}: model {cell.config['model']['name']!r} cannot be built with "
                f"{knobs or 'its defaults'}: {e}"
            ) from None


# ----------------------------------------------------------------------------- data
@lru_cache(maxsize=16)
def _train_split_size(name: str, data_dir: str | None) -> int:

    return len(sources.load(name, Path(data_dir) if data_dir else None).train_y)


def validation_count(n: int, val_size) -> int:
    """Images held out for validation; the same rule as ablate.data.datamodule.split_train_val."""
    return int(round(val_size * n)) if isinstance(val_size, float) and val_size < 1 else int(val_size)


def check_data(exp, data_dir: str | None = None) -> None:
    """Once the datasets' sizes are known: the validation split and the batch fit the data.
    Loads each dataset once (about a second); run after ablate.data.check_available."""

    check_downsample(exp)
    seen = set()
    for cell in exp.cells:
        data = cell.config["data"]
        if data["name"] not in sources.DATASETS:
            continue  # an image-folder tree: sized by its own scan (ablate.data.imagefolder)
        key = (data["name"], data["train_subset"], data["val_size"], data["batch_size"])
        if key in seen:
            continue
        seen.add(key)
        where = f"{exp.path}: arm {cell.arm!r}"
        n = _train_split_size(data["name"], str(data_dir) if data_dir else None)
        if data["train_subset"] is not None:
            if data["train_subset"] > n:
                raise _error(
                    f"{where}: key 'data.train_subset': {data['train_subset']} is more than the "
                    f"{n} training images of {data['name']}; allowed: 2..{n}"
                )
            n = data["train_subset"]
        n_val = validation_count(n, data["val_size"])
        if not 0 < n_val < n:
            raise _error(
                f"{where}: key 'data.val_size': {data['val_size']!r} holds out {n_val} of the {n} "
                f"training images of {data['name']}; allowed: a fraction in (0, 1) or a count "
                f"1..{n - 1}"
            )
        n_train = n - n_val
        if data["batch_size"] > n_train:
            raise _error(
                f"{where}: key 'data.batch_size': {data['batch_size']} is more than the {n_train} "
                f"images of the training split of {data['name']} (after data.val_size="
                f"{data['val_size']!r}); allowed: 1..{n_train}"
            )


def check_downsample(exp) -> None:
    """data.downsample divides the image side of its dataset (the table knows the side)."""
    for cell in exp.cells:
        data = cell.config["data"]
        info, k = sources.DATASETS.get(data["name"]), data.get("downsample", 1)
        if info is not None and info.shape[-1] % k:
            side = info.shape[-1]
            valid = ", ".join(str(d) for d in range(1, side + 1) if side % d == 0)
            raise _error(
                f"{exp.path}: arm {cell.arm!r}: key 'data.downsample': {k} does not divide the {side}-pixel "
                f"side of {data['name']}; allowed: {valid}"
            )


# ----------------------------------------------------------------------------- results folder
def check_results_root(root: Path, min_free_bytes: int = MIN_FREE_BYTES) -> None:
    """The results folder exists or can be made, takes a file, and has room: else one UserError."""
    root = Path(root)
    try:
        root.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=root, prefix=".ablate-write-test-"):
            pass
    except OSError as e:
        raise UserError(
            f"results folder {root} is not writable ({e.strerror or e}); "
            f"choose another with --results-dir or $ABLATE_RESULTS_DIR"
        ) from None
    free = shutil.disk_usage(root).free
    if free < min_free_bytes:
        raise UserError(
            f"results folder {root} has {free / 2**20:.0f} MiB free; need at least "
            f"{min_free_bytes / 2**20:.0f} MiB: free space or choose another --results-dir"
        )


def preflight(exp, results_root: Path, data_dir: str | None = None) -> None:
    """Everything checked before a grid's first cell trains, after the grid validated."""

    for name, folder in sorted({(c.config["data"]["name"], c.config["data"].get("folder") or "") for c in exp.cells}):
        check_available(name, data_dir, folder)
    check_data(exp, data_dir)
    check_results_root(results_root)
