import time

from ablate.commands.common import add_grid_arguments
from ablate.errors import UserError

HELP = "search one arm's learning rate (and weight decay) with Optuna on the validation split"


def add_arguments(p) -> None:

    add_grid_arguments(p)
    p.add_argument("--arm", required=True, help="the arm to tune (its study: <experiment>/<profile>/<arm>)")
    p.add_argument("--trials", type=int, default=20, help="trials to add to the study (default 20)")
    p.add_argument(
        "--storage",
        default="auto",
        choices=("auto", "sqlite", "journal"),
        help="auto: the existing one, else journal on a shared file system (NFS, Lustre, ...), "
        "else sqlite; stored under <results-dir>/<experiment>/_tune/",
    )
    p.add_argument("--seed", type=int, help="seed of the trial runs (default: the profile's first seed)")
    p.add_argument(
        "--seeds",
        type=int,
        default=1,
        metavar="N",
        help="train each trial on N seeds (the profile's first N, or --seed S to S+N-1) and score "
        "the mean validation error (default 1)",
    )
    p.add_argument(
        "--enqueue",
        action="append",
        default=[],
        metavar="KEY=VALUE[,KEY=VALUE]",
        help="a point the first trials evaluate before the sampler proposes any, e.g. optim.lr=0.03 "
        "(repeatable; skipped where a finished trial has it already); counts towards --trials",
    )
    p.add_argument("--data-dir", help="existing dataset copy (default: $ABLATE_DATA_DIR or ~/.cache/ablate/data)")
    p.add_argument("--accelerator", default="auto", help="Lightning accelerator: auto | cpu | gpu")


def main(args) -> int:
    from ablate.tuning import tune

    if args.trials < 1:
        raise UserError(f"--trials {args.trials}: must be at least 1")
    if args.seeds < 1:
        raise UserError(f"--seeds {args.seeds}: must be at least 1")
    start = time.perf_counter()
    study = tune(
        args.experiment,
        args.arm,
        args.trials,
        profile=args.profile,
        overrides=args.overrides,
        results_root=args.results_dir,
        storage=args.storage,
        seed=args.seed,
        n_seeds=args.seeds,
        data_dir=args.data_dir,
        accelerator=args.accelerator,
        enqueue=args.enqueue,
    )
    done = [t for t in study.trials if t.value is not None]
    states = [t.state.name.lower() for t in study.trials]
    counts = ", ".join(f"{states.count(s)} {s}" for s in sorted(set(states)))
    print(
        f"[tune] {study.study_name}: {len(study.trials)} trials in the study ({counts}); "
        f"this session took {time.perf_counter() - start:.0f} s"
    )
    if done:
        best = study.best_trial
        values = ", ".join(f"{k}={v:.4g}" for k, v in best.params.items())
        print(f"[tune] best: trial {best.number}, {values}, validation error {100 * best.value:.2f}%")
        print("[tune] use it with `optim.lr: tuned` in the arm (or --set optim.lr=tuned)")
    return 0 if done else 1
