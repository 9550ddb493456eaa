"""`python -m ablate bench`: harness overhead (ablate/raw per-step time), fixed cost per cell, speed
knobs and, on a GPU, packed throughput and the projected GPU-hours of the degradation paper grid."""

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
    import json
    import tempfile
    from pathlib import Path

    import torch

    from ablate.errors import UserError
    from ablate.train import benchmark as B

    if min(args.rounds, args.steps, args.batch, args.threads, args.pack_k) < 1 or args.warmup < 0:
        raise UserError("--rounds, --steps, --batch, --threads, --pack-k must be >= 1, --warmup >= 0")
    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"--device {args.device}: no CUDA device is visible")
    data = "cifar10" if args.data_dir else "digits"
    if args.data_dir:
        from ablate.data import check_available

        check_available("cifar10", args.data_dir)
    torch.set_num_threads(args.threads)
    spec = {
        "device": device,
        "data": data,
        "data_dir": args.data_dir,
        "depth": args.depth,
        "width": args.width,
        "batch": args.batch,
    }
    out: dict = {"spec": spec, "threads": args.threads, "torch": torch.__version__}
    name = torch.cuda.get_device_name() if device.startswith("cuda") else "cpu"
    print(
        f"[bench] ResNet-{args.depth} width {args.width}, batch {args.batch}, {data}, {device} ({name}), "
        f"{args.threads} thread(s); {args.rounds} rounds x {args.steps} steps (+{args.warmup} warm-up)"
    )
    if args.packing_only:
        with tempfile.TemporaryDirectory(prefix="ablate-bench-") as tmp:
            out["packing"] = _packing(B, spec, args, Path(tmp))
        if args.json:
            Path(args.json).write_text(json.dumps(out, indent=2))
        return 0
    cmp = B.compare(spec, args.rounds, args.warmup, args.steps)
    out["compare"] = cmp
    print(
        f"[bench] ablate/raw per-step time: {cmp['ratio']:.3f} (median of {args.rounds}; goal <= 1.03); "
        f"raw {cmp['raw_s'] * 1e3:.1f} ms/step, ablate {cmp['ablate_s'] * 1e3:.1f} ms/step, "
        f"{args.batch / cmp['ablate_s']:.0f} images/s"
    )
    with tempfile.TemporaryDirectory(prefix="ablate-bench-") as tmp:
        if not args.no_fixed_cost:
            fc = B.fixed_cost(spec, cmp["ablate_s"], max(args.steps, 10), Path(tmp))
            out["fixed_cost"] = fc
            print(
                f"[bench] fixed cost per cell: {fc['fixed_s']:.1f} s (a {fc['steps']}-step cell took "
                f"{fc['cell_s']:.1f} s); of it: process start + imports {fc['imports_s']:.1f} s, final "
                f"evaluation of train/val/test {fc['final_eval_s']:.1f} s"
            )
        if not args.no_knobs:
            print("[bench] speed knobs through ablate's loop:")
            out["knobs"] = B.knob_times(spec, args.warmup, args.steps)
        if args.packing == "on" or (args.packing == "auto" and device.startswith("cuda")):
            out["packing"] = _packing(B, spec, args, Path(tmp))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))
    return 0


def _packing(B, spec, args, tmp) -> dict:
    depths = [int(d) for d in args.pack_depths.split(",") if d.strip()]
    rates: dict = {}
    for depth in depths:
        one = B.packed_rate(spec, depth, 1, args.warmup, args.steps, tmp)
        many = B.packed_rate(spec, depth, args.pack_k, args.warmup, args.steps, tmp)
        rates[depth] = {"1": one, str(args.pack_k): many}
        print(
            f"[bench] ResNet-{depth}: 1 run {one:.0f} images/s, {args.pack_k} packed {many:.0f} images/s "
            f"({many / one:.2f}x)"
        )
    best = {d: max(r.values()) for d, r in rates.items()}
    hours = B.project_paper_hours(best)
    print(
        f"[bench] projected degradation paper grid (10 nets x 3 seeds x 64,000 steps x 128) at the best "
        f"rates above: {hours:.2f} device-hours on {spec['device']}"
    )
    return {"rates": rates, "paper_grid_hours": hours}
