"""`python -m ablate data fetch|check|bench NAME`: prepare and verify dataset copies."""

from ablate import config as C
from ablate.data import check_available, default_data_dir, fetch, list_datasets, load
from ablate.data.bench import bench_loader
from ablate.errors import UserError
from ablate.spec import parse_overrides

HELP = (
    "prepare datasets: `data fetch NAME` downloads (login node), `data check NAME` verifies a copy, "
    "`data bench imagefolder` measures the JPEG loader"
)


def add_arguments(p) -> None:
    p.add_argument("action", choices=("fetch", "check", "bench"))
    p.add_argument("name", help="dataset: cifar10 | mnist | digits | imagefolder")
    p.add_argument("--data-dir", help="where the data lives (default: $ABLATE_DATA_DIR or ~/.cache/ablate/data)")
    p.add_argument(
        "--folder", help="imagefolder: the tree (absolute, or relative to --data-dir); default: data.folder from --set"
    )
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="imagefolder: data keys, e.g. --set data.image_size=160 --set data.workers=8",
    )
    p.add_argument(
        "--workers", type=int, help="check: processes decoding every file; bench: loader workers (default data.workers)"
    )
    p.add_argument("--batches", type=int, default=20, help="bench: batches timed after 2 warm-up batches")


def main(args) -> int:

    if args.name not in list_datasets():
        raise UserError(f"unknown dataset {args.name!r}; valid: {', '.join(list_datasets())}")
    if args.name == "imagefolder":
        return _imagefolder(args)
    if args.action == "bench":
        raise UserError("`data bench` measures the image-folder loader only: `data bench imagefolder --folder F`")

    root = default_data_dir(args.data_dir)
    if args.action == "fetch":
        print(f"[ablate] {args.name}: {fetch(args.name, root)}")
    check_available(args.name, root)
    d = load(args.name, root)
    print(
        f"[ablate] {args.name}: {len(d.train_x)} train / {len(d.test_x)} test images of shape "
        f"{'x'.join(map(str, d.shape))} from {d.source}"
    )
    return 0


def _data_config(args) -> dict:

    cfg = C.default_config()
    try:
        cfg = C.apply_overrides(cfg, parse_overrides(args.overrides))
    except C.ConfigError as e:
        raise UserError(f"--set: {e}") from None
    data = {**cfg["data"], "name": "imagefolder"}
    if args.folder:
        data["folder"] = args.folder
    if args.workers is not None:
        data["workers"] = args.workers
    unknown = sorted(set(data) - set(C.DEFAULTS["data"]) - {"name"})
    if unknown:
        raise UserError(
            f"--set: unknown key 'data.{unknown[0]}'; valid: " + ", ".join(f"data.{k}" for k in C.DEFAULTS["data"])
        )
    return data


def _imagefolder(args) -> int:
    from ablate.data import imagefolder as F  # torch: imported when a tree is checked

    data = _data_config(args)
    if args.action == "fetch":
        raise UserError(
            "imagefolder trees are not downloaded by ablate: copy or link the tree and "
            "`data check imagefolder --folder PATH`"
        )
    root = F.resolve_folder(data["folder"], args.data_dir)
    if args.action == "bench":
        return _bench(data, args)
    index = F.scan(root)
    print(
        f"[ablate] {root}: {len(index.classes)} classes ({', '.join(index.classes[:5])}"
        f"{', ...' if len(index.classes) > 5 else ''})"
    )
    for split in F.SPLIT_DIRS:
        per_class = [int(n) for n in (index.labels[split][:, None] == range(len(index.classes))).sum(0)]
        empty = [c for c, n in zip(index.classes, per_class) if n == 0]
        print(
            f"[ablate] {split}/: {index.count(split)} images, {min(per_class)}..{max(per_class)} per class"
            + (f"; no images for {len(empty)} classes: {', '.join(empty[:5])}" if empty else "")
        )
    workers = args.workers or data["workers"] or 1
    bad = F.unreadable(root, index.files["train"] + index.files["val"], workers)
    for rel, why in bad[:20]:
        print(f"[ablate] unreadable: {root / rel}: {why}")
    if bad:
        print(f"[ablate] {len(bad)} unreadable files: fix or remove them before submitting")
        return 1
    print(f"[ablate] every file decodes ({index.count('train') + index.count('val')} checked)")
    return 0


def _bench(data: dict, args) -> int:

    r = bench_loader(data, args.data_dir, batches=args.batches)
    print(
        f"[ablate] imagefolder loader: {r['images_per_s']:.0f} images/s with {r['workers']} workers "
        f"= {r['images_per_s_per_worker']:.0f} images/s per worker core ({r['images']} train images of "
        f"{r['image_size']}px, batch {r['batch_size']}, rand_augment={r['rand_augment']}, "
        f"{r['seconds']:.1f} s)"
    )
    return 0
