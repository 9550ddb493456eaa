"""Arguments shared by the commands that read an experiment grid."""

from __future__ import annotations

import argparse

from ablate.errors import UserError


def add_grid_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("experiment", help="experiment name (see `python -m ablate list`) or a YAML path")
    p.add_argument("--profile", help="named profile of the experiment (default: its default_profile)")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override any config key for every cell, e.g. --set train.max_steps=200 "
        "(values parsed as YAML; `seeds=[0,1]` replaces the seed list, `seeds={start: 3, step: 2, max: 15}` "
        "makes it a sequential design)",
    )
    p.add_argument("--results-dir", help="where results go (default: $ABLATE_RESULTS_DIR or ./results)")


def add_seeds_max(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--seeds-max",
        type=int,
        metavar="N",
        help="at most N seeds per arm: caps a seed schedule {start, step, max} (or keeps the first N of a "
        "seed list); give the same N to run, submit, status and analyze",
    )


def load_grid(args):
    from ablate.experiment import load_experiment

    return load_experiment(
        args.experiment,
        args.profile,
        args.overrides,
        results_root=getattr(args, "results_dir", None),  # finds `tuned` values
        seeds_max=getattr(args, "seeds_max", None),
    )


def device_overrides(devices: str | None, num_nodes: int, overrides: list[str]) -> list[str]:
    """`--devices N --num-nodes M` as the config setting it stands for: train.world_size = N x M
    (none without --devices). A `--set train.world_size` that says otherwise is refused."""
    if num_nodes < 1:
        raise UserError(f"--num-nodes {num_nodes}: must be >= 1")
    if devices is None:
        return []
    if not (str(devices).isdigit() and int(devices) >= 1):
        raise UserError(f"--devices {devices!r}: valid: a whole number >= 1 (devices per node for each cell)")
    world = int(devices) * num_nodes
    for item in overrides:
        key, _, value = item.partition("=")
        if key.strip() == "train.world_size" and value.strip() != str(world):
            raise UserError(f"--set {item} contradicts --devices {devices} x --num-nodes {num_nodes} = {world}")
    return [f"train.world_size={world}"]
