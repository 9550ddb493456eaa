"""Checks of a whole grid before any cell trains: names, model constructors, data sizes, results folder.

`ablate.config` checks each key of one resolved config; the checks here need more than one key or
more than the config: a model's constructor rules (built once per distinct model on the meta device,
so no memory is allocated and nothing is computed), the dataset's size (known once it is loaded),
and the results folder (writable, with room). Each raises ExperimentError (or UserError): one line
naming the file, the arm, the key and what is allowed.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ablate import results
from ablate.data import check_available, sources
from ablate.errors import ExperimentError, UserError

# The meta-device build takes each dataset's channels and classes from ablate.data.sources.DATASETS
# (the real values come from the DataModule at training time; constructor rules rarely depend on
# them, but a LeNet C3 table does). An image-folder tree is sized by its scan: until then, RGB and
# this many classes.
FOLDER_SHAPE = (3, 10)  # (in_channels, num_classes)

# The room a grid needs in its results folder (run_bytes): per pending run, its checkpoints (while
# one is saved the KEPT older ones still exist) and its metrics, plus RESERVE_BYTES for the small
# files, W&B's offline logs and the reports. A checkpoint (checkpoint_bytes) holds the weights and
# buffers in 4 bytes an element, as many again per optimiser state slot (SGD momentum: 1, AdamW: 2)
# and per EMA copy, TENSOR_BYTES of zip and pickle framing per tensor, the metric history
# (RECORD_BYTES a record) and FIXED_BYTES of RNG and loop state. Fitted on the files of a 4-channel
# ResNet-8, the quick profile's plain-56 and an AdamW MLP with EMA: the estimate is within 10% above
# the real file (tests/test_disk_space.py).
RESERVE_BYTES = 16 * 2**20
TENSOR_BYTES = 340
FIXED_BYTES = 24 * 2**10
RECORD_BYTES = 160  # one record of the history: in the checkpoint (pickled) and in metrics.csv


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


@dataclass(frozen=True)
class MetaModel:
    """What the meta-device build of a cell's model says about its size."""

    params: int  # parameters (elements)
    buffers: int  # buffer elements (BatchNorm running statistics)
    tensors: int  # state_dict entries
    param_tensors: int  # parameter tensors (each has its own optimiser state)


_META: dict[str, MetaModel] = {}  # distinct model config -> its size, for the life of the process


def meta_model(cfg: dict) -> MetaModel:
    """The size of a cell's model, built on the meta device once per distinct model config (seeds
    and non-model arms repeat one). Raises whatever the model's constructor raises."""
    import torch

    from ablate.models import build_model

    name, kwargs = model_inputs(cfg)
    key = json.dumps([name, kwargs], sort_keys=True, default=str)
    if key not in _META:
        with torch.device("meta"), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "zero-element tensors": reported below if it matters
            net = build_model(name, **kwargs)
            params = list(net.parameters())
            _META[key] = MetaModel(
                sum(p.numel() for p in params),
                sum(b.numel() for b in net.buffers()),
                len(net.state_dict()),
                len(params),
            )
    return _META[key]


def meta_params(cfg: dict) -> int:
    """Parameters of a cell's model (meta_model)."""
    return meta_model(cfg).params


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
def checkpoint_bytes(cfg: dict) -> int:
    """Estimated size of one checkpoint of a cell, from its model's size on the meta device."""
    train, optim, m = cfg["train"], cfg["optim"], meta_model(cfg)
    slots = 2 if optim["name"] == "adamw" else int(bool(optim.get("momentum")))
    ema = 1 if train.get("ema_decay") else 0
    elements = (m.params + m.buffers) * (1 + ema) + m.params * slots
    tensors = m.tensors * (1 + ema) + m.param_tensors * slots
    return 4 * elements + TENSOR_BYTES * tensors + FIXED_BYTES + RECORD_BYTES * metric_records(train)


def metric_records(train: dict) -> int:
    """Records of a run's history: one per train.log_every steps, two per evaluation (and at the end)."""
    evals = train["max_steps"] // (train["eval_every"] or train["max_steps"]) + 1
    return train["max_steps"] // train["log_every"] + 2 * evals


def run_bytes(cfg: dict) -> int:
    """The most a run's folder holds at once: KEPT checkpoints and the one being saved, its metrics."""
    ckpt = checkpoint_bytes(cfg) if cfg["train"]["checkpoint_every"] else 0  # 0: no checkpoints
    return (results.CHECKPOINTS_KEPT + 1) * ckpt + RECORD_BYTES * metric_records(cfg["train"])


def needed_bytes(exp, root: Path) -> tuple[int, int]:
    """(bytes the grid's pending runs need in `root`, how many runs are pending)."""
    pending = [c for c in exp.cells if not results.is_complete(results.run_dir(root, exp.name, c.run_id))]
    return RESERVE_BYTES + sum(run_bytes(c.config) for c in pending), len(pending)


def check_results_root(root: Path, need: int = RESERVE_BYTES, what: str = "") -> None:
    """The results folder exists or can be made, takes a file, and has `need` bytes free (`what`:
    what needs them, for the message): else one UserError."""
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
    if free < need:
        raise UserError(
            f"results folder {root} has {free / 2**20:.1f} MiB free; need at least {need / 2**20:.1f} MiB"
            f"{what}: free space or choose another --results-dir"
        )


_LOCKS_CHECKED: dict[int, str | None] = {}  # device of a results folder -> its lock problem


def report_locking(root: Path) -> str | None:
    """Warn (once per file system and process) when run locks under `root` cannot keep two
    processes from training the same cell; the problem, or None."""
    device = os.stat(root).st_dev
    if device in _LOCKS_CHECKED:
        return _LOCKS_CHECKED[device]
    problem = _LOCKS_CHECKED[device] = results.lock_problem(root)
    if problem:
        print(
            f"[ablate] warning: {problem}. The lock that keeps two runners (two `ablate run`s, SLURM tasks on "
            f"other hosts) from training the same cell at once does not hold here, so such a cell could be "
            f"trained twice; run one runner per results folder, or use a local disk or a file system with locks",
            file=sys.stderr,
        )
    return problem


def preflight(exp, results_root: Path, data_dir: str | None = None) -> None:
    """Everything checked before a grid's first cell trains, after the grid validated."""

    for name, folder in sorted({(c.config["data"]["name"], c.config["data"].get("folder") or "") for c in exp.cells}):
        check_available(name, data_dir, folder)
    check_data(exp, data_dir)
    need, pending = needed_bytes(exp, results_root)
    check_results_root(results_root, need, f" for the {pending} runs still to train (checkpoints, metrics, logs)")
    report_locking(results_root)
