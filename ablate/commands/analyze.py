from ablate.commands.common import add_grid_arguments, add_seeds_max, load_grid
from ablate.results import results_root

HELP = "rebuild an experiment's table, figures, verdicts and report from stored results alone"


def add_arguments(p) -> None:

    add_grid_arguments(p)
    add_seeds_max(p)
    p.add_argument(
        "--wandb",
        default="auto",
        choices=("auto", "online", "offline", "off"),
        help="log the table, verdicts and figures as one W&B analysis run (auto: offline "
        "without a server); off: files only",
    )


def main(args) -> int:
    from ablate.report.pipeline import analyze_and_print

    exp = load_grid(args)
    paths = analyze_and_print(exp, results_root(args.results_dir), wandb_mode=args.wandb)
    return 0 if paths is not None else 1
