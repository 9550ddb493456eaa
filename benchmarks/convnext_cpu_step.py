"""One training step of the convnext quick profile's networks on one CPU thread (or a GPU): the
roadmap net as built (activations in the layout of its device, 'same' convolutions cropped to the
map, the fused LayerNorm) against the same weights as plain NCHW `nn.Conv2d`s with the LayerNorm
written out (the baseline), against the net as built with the written-out LayerNorm (before the
fused kernel), and against the net as built in NCHW (the layout choice alone); measured in one run,
in alternating rounds; prints milliseconds per step (median of the rounds) and the ratios.

    .venv/bin/python -m benchmarks.convnext_cpu_step [--device cuda] [--json F]   # from the repository root

The quick profile's shapes: CIFAR-10 at 32x32, batch 64, width 1/4, depth 1/3, AdamW. Every
variant computes the same function (tests/test_convnext.py checks outputs and gradients); only
the time differs. A benchmark, not a test: timings on the shared 2-core machine vary by 10% or more.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import time
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from ablate.models.convnext_roadmap import convnext_roadmap
from tests.plain_nchw import as_plain, with_written_out_layer_norm

STEPS = ("resnet50", "separate_downsample")  # the profile's architectures (ConvNeXt-T: the last)
BATCH, SIDE = 64, 32
WARMUP, TIMED = 5, 30  # steps
ROUNDS = 3  # alternating rounds: every variant sees the same machine load


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def ms_per_step(net: nn.Module, device: torch.device, timed: int = TIMED) -> float:
    torch.manual_seed(0)
    x, y = torch.randn(BATCH, 3, SIDE, SIDE, device=device), torch.randint(0, 10, (BATCH,), device=device)
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3)

    def step():
        loss = F.cross_entropy(net(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    for _ in range(WARMUP):
        step()
    _sync(device)
    start = time.perf_counter()
    for _ in range(timed):
        step()
    _sync(device)
    return (time.perf_counter() - start) / timed * 1e3


def variants(net: nn.Module, device: torch.device) -> dict[str, nn.Module]:
    nchw = copy.deepcopy(net)
    nchw.channels_last = False
    built = {"plain": as_plain(net), "before": with_written_out_layer_norm(net), "nchw": nchw, "built": net}
    return {name: v.to(device) for name, v in built.items()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--timed", type=int, default=TIMED, help=f"timed steps per round (default {TIMED})")
    p.add_argument("--json", help="also write the numbers to this JSON file")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    device = torch.device(args.device)
    print(
        f"{args.device}, one CPU thread, batch {BATCH} at {SIDE}x{SIDE}, {args.timed} timed steps, median of {ROUNDS}"
    )
    out: dict = {"device": args.device}
    for step in STEPS:
        net = convnext_roadmap(step=step, width_mult=0.25, depth_div=3, num_classes=10, drop_path=0.05)
        nets = variants(net, device)
        times: dict[str, list[float]] = {name: [] for name in nets}
        for r in range(ROUNDS):
            for name in list(nets) if r % 2 == 0 else list(reversed(nets)):
                times[name].append(ms_per_step(nets[name], device, args.timed))
        ms = out[step] = {name: statistics.median(t) for name, t in times.items()}
        print(
            f"{step:20s} plain NCHW {ms['plain']:6.1f} ms  written-out LN {ms['before']:6.1f} ms  "
            f"as built in NCHW {ms['nchw']:6.1f} ms  as built {ms['built']:6.1f} ms  speed-up {ms['plain'] / ms['built']:.2f}x "
            f"(fused LN {ms['before'] / ms['built']:.2f}x, layout {ms['nchw'] / ms['built']:.2f}x)"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
