"""`python -m ablate bench`: harness overhead (ablate/raw per-step time), fixed cost per cell, speed
knobs and, on a GPU, packed throughput and the projected GPU-hours of the degradation paper grid."""

import json
import tempfile
from pathlib import Path

from ablate.data import check_available
from ablate.errors import UserError
from ablate.results import atomic_write_text

HELP = "measure ablate's training loop against a raw PyTorch loop (ratios from one run)"


def add_arguments(p) -> None:
    p.add_argument(
        "--data-dir",
        help="a CIFAR-10 copy (cifar-10-batches-py inside): bench on it; "
        "default: the digits that ship with scikit-learn",
    )
    p.add_argument("--depth", type=int, default=20, help="CIFAR ResNet depth (default 20)")
    p.add_argument("--width", type=int, default=16, help="channels of the first stage (default 16)")
    p.add_argument("--batch", type=int, default=128, help="images per step (default 128)")
    p.add_argument("--rounds", type=int, default=3, help="alternating raw/ablate rounds (default 3)")
    p.add_argument("--steps", type=int, default=20, help="timed steps per block (default 20)")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps before each block (default 3)")
    p.add_argument("--threads", type=int, default=1, help="torch threads on the CPU (default 1)")
    p.add_argument("--device", default="auto", help="cpu | cuda | auto (cuda when available)")
    p.add_argument("--no-fixed-cost", action="store_true", help="skip the per-cell fixed cost")
    p.add_argument("--no-knobs", action="store_true", help="skip bf16 / channels_last / compile")
    p.add_argument(
        "--packing",
        choices=("auto", "on", "off"),
        default="auto",
        help="images/s of 1 and K concurrent runs of ResNet-20/56/110 (auto: on a GPU)",
    )
    p.add_argument("--packing-only", action="store_true", help="only the packed throughput (and projection)")
    p.add_argument("--pack-k", type=int, default=8, help="K for --packing (default 8)")
    p.add_argument("--pack-depths", default="20,56,110", help="depths for --packing (default 20,56,110)")
    p.add_argument("--json", help="also write the numbers to this JSON file")


def main(args) -> int:
    import torch

    from ablate.train import benchmark as B

    spec = _spec(args)
    out: dict = {"spec": spec, "threads": args.threads, "torch": torch.__version__}
    save = _saver(args.json, out)  # after each part: a run cut short keeps what it measured
    name = torch.cuda.get_device_name() if spec["device"].startswith("cuda") else "cpu"
    print(
        f"[bench] ResNet-{args.depth} width {args.width}, batch {args.batch}, {spec['data']}, {spec['device']} "
        f"({name}), {args.threads} thread(s); {args.rounds} rounds x {args.steps} steps (+{args.warmup} warm-up)"
    )
    with tempfile.TemporaryDirectory(prefix="ablate-bench-") as tmp:
        if not args.packing_only:
            _harness_parts(B, spec, args, Path(tmp), out, save)
        if args.packing_only or args.packing == "on" or (args.packing == "auto" and spec["device"].startswith("cuda")):
            _packing(B, spec, args, Path(tmp), out, save)
    return 0


def _spec(args) -> dict:
    """What is measured, checked before anything runs; sets torch's threads."""
    import torch

    if min(args.rounds, args.steps, args.batch, args.threads, args.pack_k) < 1 or args.warmup < 0:
        raise UserError("--rounds, --steps, --batch, --threads, --pack-k must be >= 1, --warmup >= 0")
    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"--device {args.device}: no CUDA device is visible")
    if args.data_dir:
        check_available("cifar10", args.data_dir)
    torch.set_num_threads(args.threads)
    data = "cifar10" if args.data_dir else "digits"
    return {
        "device": device,
        "data": data,
        "data_dir": args.data_dir,
        "depth": args.depth,
        "width": args.width,
        "batch": args.batch,
    }


def _saver(path: str | None, out: dict):
    def save() -> None:
        if path:
            atomic_write_text(Path(path), json.dumps(out, indent=2))

    return save


def _harness_parts(B, spec: dict, args, tmp: Path, out: dict, save) -> None:
    """ablate vs raw per-step time, the fixed cost of a cell, the speed knobs."""
    cmp = B.compare(spec, args.rounds, args.warmup, args.steps)
    out["compare"] = cmp
    save()
    print(
        f"[bench] ablate/raw per-step time: {cmp['ratio']:.3f} (median of {args.rounds}; goal <= 1.03); "
        f"raw {cmp['raw_s'] * 1e3:.1f} ms/step, ablate {cmp['ablate_s'] * 1e3:.1f} ms/step, "
        f"{args.batch / cmp['ablate_s']:.0f} images/s"
    )
    if not args.no_fixed_cost:
        fc = out["fixed_cost"] = B.fixed_cost(spec, cmp["ablate_s"], max(args.steps, 10), tmp)
        save()
        print(
            f"[bench] fixed cost per cell: {fc['fixed_s']:.1f} s (a {fc['steps']}-step cell took "
            f"{fc['cell_s']:.1f} s); of it: process start + imports {fc['imports_s']:.1f} s, final "
            f"evaluation of train/val/test {fc['final_eval_s']:.1f} s"
        )
    if not args.no_knobs:
        print("[bench] speed knobs through ablate's loop:")

        def each(knobs: dict) -> None:
            out["knobs"] = dict(knobs)
            save()

        B.knob_times(spec, args.warmup, args.steps, each=each)


def _packing(B, spec, args, tmp, out: dict, save) -> None:
    """Images/s of 1 and K packed runs per depth (out['packing'] saved after each), then the
    projected paper-grid device-hours at the best rate of each depth."""
    depths = [int(d) for d in args.pack_depths.split(",") if d.strip()]
    rates: dict = {}
    out["packing"] = {"rates": rates}
    for depth in depths:
        one = B.packed_rate(spec, depth, 1, args.warmup, args.steps, tmp)
        rates[depth] = {"1": one}
        save()
        many = B.packed_rate(spec, depth, args.pack_k, args.warmup, args.steps, tmp)
        rates[depth][str(args.pack_k)] = many
        save()
        print(
            f"[bench] ResNet-{depth}: 1 run {one:.0f} images/s, {args.pack_k} packed {many:.0f} images/s "
            f"({many / one:.2f}x)"
        )
    best = {d: max(r.values()) for d, r in rates.items()}
    out["packing"]["paper_grid_hours"] = hours = B.project_paper_hours(best)
    save()
    print(
        f"[bench] projected degradation paper grid (10 nets x 3 seeds x 64,000 steps x 128) at the best "
        f"rates above: {hours:.2f} device-hours on {spec['device']}"
    )
