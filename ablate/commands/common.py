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
        "(values parsed as YAML; `seeds=[0,1]` replaces the seed list)",
    )
    p.add_argument("--results-dir", help="where results go (default: $ABLATE_RESULTS_DIR or ./results)")


def load_grid(args):
    from ablate.experiment import load_experiment

    return load_experiment(
        args.experiment, args.profile, args.overrides, results_root=getattr(args, "results_dir", None)
    )  # finds `tuned` values
