"""The resolved configuration of one run: defaults in one place, dotted overrides, validation.

A run's config has five sections. `model` holds the registered model's name and the knobs an
experiment changes (validated against the builder's signature); the other sections are fixed below.
Every key an experiment may set is listed here with its default, and an unknown key is an error.
"""

from __future__ import annotations

import copy
import inspect
import math
from typing import Any

DEFAULTS: dict[str, dict[str, Any]] = {
    "model": {"name": "cifar_resnet"},  # plus any keyword argument of the builder
    "data": {
        "name": "digits",
        "batch_size": 128,  # images per SGD step
        "val_size": 0.1,  # validation hold-out: a fraction of the training split, or a count
        "augment": "none",  # none | crop (pad + random crop) | crop_flip (+ horizontal flip)
        "pad": 4,  # pixels of zero padding before the random crop (He et al.: 4 on CIFAR)
        "downsample": 1,  # in-memory datasets: average each k x k block of pixels (2: CIFAR at 16x16)
        "train_subset": None,  # keep only the first N training images (None: all)
        # data.name imagefolder only (train/<class>/ + val/<class>/ JPEG/PNG tree):
        "folder": None,  # the tree: absolute, or relative to --data-dir / $ABLATE_DATA_DIR
        "image_size": 224,  # pixels: RandomResizedCrop size (train), centre crop of size/0.875 (eval)
        "rand_augment": None,  # timm RandAugment string, e.g. rand-m9-mstd0.5-inc1 (None: off)
        "workers": 4,  # DataLoader worker processes decoding JPEGs (per training process)
        "pin_memory": True,  # page-locked batches for faster host-to-GPU copies (GPU only)
        "persistent_workers": True,  # keep workers alive between epochs
    },
    "optim": {
        "name": "sgd",  # sgd | adamw
        "lr": 0.1,  # peak learning rate
        "momentum": 0.9,  # SGD momentum (AdamW: beta1 comes from `betas`)
        "nesterov": False,
        "weight_decay": 1e-4,
        "betas": [0.9, 0.999],  # AdamW only
    },
    "schedule": {
        "name": "constant",  # constant | multistep | cosine
        "milestones": [],  # multistep: steps (optimiser updates) at which lr is multiplied by gamma
        "gamma": 0.1,
        "min_lr": 0.0,  # cosine: final learning rate
        "warmup_steps": 0,  # steps of warm-up before the schedule proper
        "warmup": "linear",  # linear (from 0 to lr) | constant (hold warmup_lr; He et al.'s ResNet-110)
        "warmup_lr": None,  # constant warm-up: the learning rate held during warm-up
    },
    "train": {
        "max_steps": 1000,  # optimiser updates in the whole run
        "log_every": 10,  # steps between training loss/error records
        "eval_every": 100,  # steps between validation and test evaluations (0: at the end only)
        "checkpoint_every": 100,  # steps between resumable checkpoints
        # Lightning precision: 32-true | bf16-mixed | bf16-true (bf16 weights, evaluated in bf16) |
        # 16-mixed (fp16 autocast and a GradScaler, on the CPU too; it syncs with the host every step)
        "precision": "32-true",
        "grad_clip": None,  # max gradient norm, None: no clipping
        "channels_last": False,  # NHWC memory format (faster convs on recent GPUs and CPUs)
        "label_smoothing": 0.0,  # cross-entropy target smoothing of the training loss (0: none)
        # Batch-level recipe pieces from timm (ablate.train.recipe), all off by default:
        "mixup": 0.0,  # Mixup Beta(alpha, alpha) concentration (0: off; ConvNeXt 0.8)
        "cutmix": 0.0,  # CutMix Beta concentration (0: off; ConvNeXt 1.0)
        "mixup_prob": 1.0,  # probability that a batch is mixed at all
        "mixup_switch_prob": 0.5,  # with both on: probability of CutMix rather than Mixup
        "random_erase": 0.0,  # Random Erasing probability per image (0: off; ConvNeXt 0.25)
        "ema_decay": 0.0,  # EMA of weights, decay per step (0: off; e.g. 0.9999), evaluated too
        "compile": False,  # torch.compile the network's forward (measure it: `python -m ablate bench`)
        # Processes (devices) that train one cell together with DDP: data.batch_size stays the global
        # batch, split evenly; BatchNorm becomes SyncBatchNorm (GPU only). 1: one device per cell.
        "world_size": 1,
        # Bit-reproducible GPU runs: cuDNN deterministic, no benchmark autotuning, no TF32, and
        # torch's deterministic algorithms (a warning names each op that has none). CPU runs are
        # deterministic without it (docs/slurm.md, "What is exact where").
        "deterministic": False,
    },
}

# Types of keys whose default is None (the others take their default's type).
NULLABLE_TYPES: dict[str, type] = {
    "data.train_subset": int,
    "schedule.warmup_lr": float,
    "train.grad_clip": float,
    "data.folder": str,
    "data.rand_augment": str,
}

# Keys that only the imagefolder dataset reads: set for an in-memory dataset they would do nothing.
FOLDER_ONLY = ("data.folder", "data.image_size", "data.rand_augment")
# ... and keys the imagefolder dataset ignores (it always uses RandomResizedCrop + flip).
ARRAY_ONLY = ("data.augment", "data.pad", "data.downsample")

CHOICES: dict[str, tuple[str, ...]] = {
    "data.augment": ("none", "crop", "crop_flip"),
    "optim.name": ("sgd", "adamw"),
    "schedule.name": ("constant", "multistep", "cosine"),
    "schedule.warmup": ("linear", "constant"),
    "train.precision": ("32-true", "bf16-mixed", "16-mixed", "bf16-true"),
}

# Allowed ranges of numeric keys: (lowest, lowest allowed?, highest, highest allowed?); None: unbounded.
# A key not listed takes any value of its type. Checked per key; rules that join keys (milestones
# within the run, warm-up shorter than it) are in `check_consistency`.
RANGES: dict[str, tuple[float | None, bool, float | None, bool]] = {
    "data.batch_size": (1, True, None, False),
    "data.val_size": (0, False, None, False),  # a fraction in (0, 1) or a count >= 1
    "data.pad": (0, True, None, False),
    "data.downsample": (1, True, None, False),
    "data.train_subset": (2, True, None, False),  # at least one training and one validation image
    "optim.lr": (0, False, None, False),
    "optim.momentum": (0, True, 1, False),
    "optim.weight_decay": (0, True, None, False),
    "schedule.gamma": (0, False, None, False),
    "schedule.min_lr": (0, True, None, False),
    "schedule.warmup_steps": (0, True, None, False),
    "schedule.warmup_lr": (0, False, None, False),
    "train.max_steps": (1, True, None, False),
    "train.log_every": (1, True, None, False),
    "train.eval_every": (0, True, None, False),  # 0: evaluate at the end only
    "train.checkpoint_every": (0, True, None, False),  # 0: no intermediate checkpoints
    "train.grad_clip": (0, False, None, False),
    "train.label_smoothing": (0, True, 1, False),
    "data.image_size": (8, True, None, False),
    "data.workers": (0, True, None, False),
    "train.mixup": (0.0, True, None, False),
    "train.cutmix": (0.0, True, None, False),
    "train.mixup_prob": (0.0, True, 1.0, True),
    "train.mixup_switch_prob": (0.0, True, 1.0, True),
    "train.random_erase": (0.0, True, 1.0, True),
    "train.ema_decay": (0.0, True, 0.999999, True),
    "train.world_size": (1, True, None, False),
}

# Keys an experiment may set to the string "tuned": each arm then uses the best value of its own
# Optuna study (`python -m ablate tune EXP --arm ARM`), looked up when the grid is expanded.
TUNED = "tuned"
# Model knobs that are probabilities (checked in [0, 1)); other positive numeric knobs stay > 0.
MODEL_RATES = ("dropout", "drop_rate", "drop_path", "stochastic_depth_prob")
TUNABLE = ("optim.lr", "optim.weight_decay")


# Keys added to DEFAULTS after run ids were first published (December 2026). A run id hashes the
# resolved config; these keys enter it only when a run sets them away from their default, so a new
# knob does not change the id of every run made before it existed. A key added later goes here.
ADDED_KEYS: tuple[str, ...] = ("data.downsample", "train.world_size", "train.deterministic")


def without_added_defaults(cfg: dict) -> dict:
    """A copy of a resolved config without the ADDED_KEYS that sit at their default."""
    out = copy.deepcopy(cfg)
    flat_defaults = flatten(DEFAULTS)
    for key in ADDED_KEYS:
        section, _, name = key.partition(".")
        if isinstance(out.get(section), dict) and out[section].get(name, flat_defaults[key]) == flat_defaults[key]:
            out[section].pop(name, None)
    return out


class ConfigError(ValueError):
    """A bad key or value; the message names the key and the valid choices."""


def set_dotted(cfg: dict, dotted: str, value: Any) -> None:
    node = cfg
    *parents, leaf = dotted.split(".")
    for part in parents:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"key {dotted!r}: {part!r} is not a section")
    node[leaf] = copy.deepcopy(value)


def flatten(d: dict, prefix: str = "") -> dict[str, Any]:
    """{'a': {'b': 1}} -> {'a.b': 1}; lists and scalars are leaves."""
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


def apply_overrides(cfg: dict, overrides: dict[str, Any]) -> dict:
    """A copy of cfg with dotted (or nested) overrides applied in order."""
    cfg = copy.deepcopy(cfg)
    for key, value in flatten(overrides).items():
        set_dotted(cfg, key, value)
    return cfg


def _type_ok(value: Any, expected: type) -> bool:
    if expected is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if expected is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, expected)


def range_text(lo, lo_ok, hi, hi_ok) -> str:
    """(0, False, 1, False) -> '> 0 and < 1'."""
    parts = []
    if lo is not None:
        parts.append(f"{'>=' if lo_ok else '>'} {lo}")
    if hi is not None:
        parts.append(f"{'<=' if hi_ok else '<'} {hi}")
    return " and ".join(parts)


def check_range(key: str, value: float, bounds) -> None:
    lo, lo_ok, hi, hi_ok = bounds
    too_low = lo is not None and (value < lo or (value == lo and not lo_ok))
    too_high = hi is not None and (value > hi or (value == hi and not hi_ok))
    if too_low or too_high or not math.isfinite(value):  # NaN and infinities are never a setting
        raise ConfigError(f"key {key!r}: {value!r} is out of range; allowed: {range_text(*bounds)}")


def _check_value(key: str, value: Any, expected: type | None) -> None:
    if value is None:
        if key in NULLABLE_TYPES or expected is None:
            return
        raise ConfigError(f"key {key!r} may not be null (expected {expected.__name__})")
    if expected is not None and not _type_ok(value, expected):
        raise ConfigError(f"key {key!r} must be {expected.__name__}, got {type(value).__name__} {value!r}")
    if key in CHOICES and value not in CHOICES[key]:
        raise ConfigError(f"key {key!r}: {value!r} is not one of {', '.join(CHOICES[key])}")
    if key in RANGES:
        check_range(key, value, RANGES[key])
    if key == "optim.betas" and (len(value) != 2 or not all(_type_ok(b, float) and 0 <= b < 1 for b in value)):
        raise ConfigError(f"key {key!r}: {value!r}; allowed: two numbers in [0, 1), e.g. [0.9, 0.999]")
    if key == "schedule.milestones" and not all(_type_ok(m, int) for m in value):
        raise ConfigError(f"key {key!r}: {value!r}; allowed: a list of integer steps")


def check_consistency(cfg: dict, only: set[str] | None = None) -> None:
    """Rules that join keys of one resolved config: milestones within the run, a warm-up shorter
    than it, a whole validation count. `only`: check just the rules of these keys (None: all).

    ablate.experiment checks the experiment file's own layers with every rule, and a `--set`
    only for the keys it sets: `--set train.max_steps=12` shortens a run for a smoke test and keeps
    the file's schedule (a milestone past the end never fires), while `--set
    schedule.milestones=[99999]` on a 1000-step run is refused."""
    train, sched, data = cfg.get("train", {}), cfg.get("schedule", {}), cfg.get("data", {})
    max_steps = train.get("max_steps")
    if not _type_ok(max_steps, int):
        return  # reported by the type check

    def wanted(key):
        return only is None or key in only

    ms = sched.get("milestones")
    milestones_ok = isinstance(ms, list) and all(_type_ok(m, int) for m in ms)
    if (
        wanted("schedule.milestones")
        and milestones_ok
        and (any(not 0 < m <= max_steps for m in ms) or ms != sorted(set(ms)))
    ):
        raise ConfigError(
            f"key 'schedule.milestones': {ms!r}; allowed: increasing steps within (0, train.max_steps={max_steps}]"
        )
    warm = sched.get("warmup_steps")
    if wanted("schedule.warmup_steps") and _type_ok(warm, int) and warm >= max_steps > 0 and warm > 0:
        raise ConfigError(
            f"key 'schedule.warmup_steps': {warm} leaves no step after warm-up; "
            f"allowed: 0..{max_steps - 1} (train.max_steps={max_steps})"
        )
    world, batch = train.get("world_size"), data.get("batch_size")
    split_checked = (wanted("train.world_size") or wanted("data.batch_size")) and _type_ok(world, int)
    if split_checked and _type_ok(batch, int) and world >= 1 and batch % world:
        raise ConfigError(
            f"key 'data.batch_size': {batch} does not split evenly over train.world_size={world} "
            f"processes; allowed: a multiple of {world}"
        )
    val = data.get("val_size")
    if wanted("data.val_size") and _type_ok(val, float) and val >= 1 and val != int(val):
        raise ConfigError(f"key 'data.val_size': {val!r}; allowed: a fraction in (0, 1) or a whole count >= 1")


def validate(
    cfg: dict,
    model_params: dict[str, Any],
    datasets: list[str],
    model_choices: dict[str, tuple[str, ...]] | None = None,
) -> None:
    """Raise ConfigError for an unknown key, a wrong type, an unknown choice.

    model_params: the registered builder's keyword arguments and defaults (from builder_params);
    model_choices: the valid values of its string knobs (from builder_choices).
    """
    unknown_sections = sorted(set(cfg) - set(DEFAULTS))
    if unknown_sections:
        raise ConfigError(f"unknown section {unknown_sections[0]!r}; valid: {', '.join(DEFAULTS)}")
    defaults = flatten(DEFAULTS)
    for key, value in flatten(cfg).items():
        section, _, name = key.partition(".")
        if section == "model" and name != "name":
            _check_model_key(key, name, value, model_params, cfg["model"]["name"], model_choices or {})
            continue
        if key not in defaults:
            valid = sorted(k for k in defaults if k.startswith(section + "."))
            raise ConfigError(f"unknown key {key!r}; valid keys in {section!r}: {', '.join(valid)}")
        if key in TUNABLE and value == TUNED:
            continue  # resolved to the arm's tuned value by ablate.experiment
        expected = NULLABLE_TYPES.get(key) or type(defaults[key])
        _check_value(key, value, expected)
    if cfg["data"]["name"] not in datasets:
        raise ConfigError(f"key 'data.name': unknown dataset {cfg['data']['name']!r}; valid: {', '.join(datasets)}")
    _check_folder_keys(cfg)


def _check_folder_keys(cfg: dict) -> None:
    flat, defaults = flatten(cfg), flatten(DEFAULTS)
    if cfg["data"]["name"] == "imagefolder" and not cfg["data"].get("folder"):
        raise ConfigError(
            "key 'data.folder': data.name imagefolder needs the tree's path "
            "(absolute, or relative to --data-dir / $ABLATE_DATA_DIR)"
        )
    for key in ARRAY_ONLY if cfg["data"]["name"] == "imagefolder" else FOLDER_ONLY:
        if flat.get(key, defaults[key]) != defaults[key]:
            which = "the in-memory datasets" if key in ARRAY_ONLY else "data.name imagefolder"
            raise ConfigError(
                f"key {key!r} applies to {which} only, not {cfg['data']['name']!r} (set it back to {defaults[key]!r})"
            )


def _check_model_key(key, name, value, model_params, model_name, choices) -> None:
    if name not in model_params:
        raise ConfigError(
            f"unknown key {key!r} for model {model_name!r}; valid: "
            + ", ".join(f"model.{p}" for p in sorted(model_params))
        )
    default = model_params[name]
    if default is not None and default is not inspect.Parameter.empty:
        _check_value(key, value, type(default))
    if name in choices and value not in choices[name]:
        raise ConfigError(f"key {key!r}: {value!r} is not one of {', '.join(map(str, choices[name]))}")
    # Sizes (widths, depths, kernels, classes, ...): a knob whose default is a positive number
    # must stay positive; rates (dropout, drop path) stay in [0, 1).
    if isinstance(value, bool) or not isinstance(value, (int, float)) or name in choices:
        return
    if name in MODEL_RATES:
        check_range(key, value, (0, True, 1, False))
    elif isinstance(default, (int, float)) and not isinstance(default, bool) and default > 0:
        check_range(key, value, (1, True, None, False) if isinstance(default, int) else (0, False, None, False))


def default_config() -> dict:
    return copy.deepcopy(DEFAULTS)
