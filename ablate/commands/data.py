HELP = "prepare datasets: `data fetch NAME` downloads (login node), `data check NAME` verifies a copy"


def add_arguments(p) -> None:
    p.add_argument("action", choices=("fetch", "check"))
    p.add_argument("name", help="dataset: cifar10 | mnist | digits")
    p.add_argument("--data-dir", help="where the data lives (default: $ABLATE_DATA_DIR or ~/.cache/ablate/data)")


def main(args) -> int:
    from ablate.data import check_available, default_data_dir, fetch, list_datasets, load
    from ablate.errors import UserError

    if args.name not in list_datasets():
        raise UserError(f"unknown dataset {args.name!r}; valid: {', '.join(list_datasets())}")
    root = default_data_dir(args.data_dir)
    if args.action == "fetch":
        print(f"[ablate] {args.name}: {fetch(args.name, root)}")
    check_available(args.name, root)
    d = load(args.name, root)
    print(f"[ablate] {args.name}: {len(d.train_x)} train / {len(d.test_x)} test images of shape "
          f"{'x'.join(map(str, d.shape))} from {d.source}")  # fmt: skip
    return 0
