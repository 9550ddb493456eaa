HELP = "rebuild an experiment's table, figure, verdicts and report from stored results alone"


def add_arguments(p) -> None:
    from ablate.commands.common import add_grid_arguments

    add_grid_arguments(p)


def main(args) -> int:
    from ablate.analyze import analyze_and_print
    from ablate.commands.common import load_grid
    from ablate.results import results_root

    exp = load_grid(args)
    report = analyze_and_print(exp, results_root(args.results_dir))
    return 0 if report is not None else 1
