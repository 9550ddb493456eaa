"""Arguments shared by the commands that read an experiment grid."""

from __future__ import annotations

import argparse


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
