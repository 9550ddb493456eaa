"""Random Erasing of one batch: timm's per-image loop against ablate's batched draw (the same
distribution: tests/test_recipe.py), measured in one run, in alternating rounds; prints
milliseconds per batch (median of the rounds) and the ratio.

    .venv/bin/python -m benchmarks.random_erasing [--device cuda] [--batch 4096] [--side 32] [--json F]

A benchmark, not a test: timings on the shared 2-core machine vary by 10% or more.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from pathlib import Path

import torch

from ablate.train.recipe import random_erasing

PROB = 0.25  # ConvNeXt's Random Erasing probability
ROUNDS, REPEATS = 5, 3  # alternating rounds; batches timed per round (after one untimed)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def ms_per_batch(erase, x: torch.Tensor) -> float:
    erase(x)  # warm-up: allocations, kernel caches
    _sync(x.device)
    start = time.perf_counter()
    for _ in range(REPEATS):
        erase(x)
    _sync(x.device)
    return (time.perf_counter() - start) / REPEATS * 1e3


def measure(device: str, batch: int, side: int) -> dict:
    """{'timm_ms', 'batched_ms', 'ratio'} for a (batch, 3, side, side) normalised batch."""
    from timm.data.random_erasing import RandomErasing

    dev = torch.device(device)
    x = torch.randn(batch, 3, side, side, device=dev)
    timm = RandomErasing(PROB, mode="pixel", max_count=1, device=dev)
    gen = torch.Generator(device=dev).manual_seed(0)
    random.seed(0)
    # Both leave the batch as it was and return an erased copy (timm erases in place: on a copy).
    variants = {"timm": lambda t: timm(t.clone()), "batched": lambda t: random_erasing(t, PROB, gen)}
    times: dict[str, list[float]] = {name: [] for name in variants}
    for r in range(ROUNDS):
        for name in list(variants) if r % 2 == 0 else list(reversed(variants)):
            times[name].append(ms_per_batch(variants[name], x))
    timm_ms, batched_ms = statistics.median(times["timm"]), statistics.median(times["batched"])
    return {"timm_ms": timm_ms, "batched_ms": batched_ms, "ratio": timm_ms / batched_ms}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--batch", type=int, default=4096)
    p.add_argument("--side", type=int, default=32)
    p.add_argument("--threads", type=int, default=1, help="torch threads on the CPU (default 1)")
    p.add_argument("--json", help="also write the numbers to this JSON file")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    got = measure(args.device, args.batch, args.side)
    if args.json:
        Path(args.json).write_text(json.dumps({**vars(args), **got}, indent=2))
    print(
        f"Random Erasing p={PROB}, batch {args.batch} x 3 x {args.side} x {args.side} on {args.device}: "
        f"timm {got['timm_ms']:.1f} ms, batched {got['batched_ms']:.1f} ms per batch, "
        f"batched {got['ratio']:.1f}x faster (median of {ROUNDS} rounds)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
