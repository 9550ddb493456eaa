"""One training step of the convnext quick profile's networks on one CPU thread: the roadmap net as
built (NHWC activations, 'same' convolutions cropped to the map) against the same weights as plain
NCHW `nn.Conv2d`s, measured in one run; prints milliseconds per step and the speed-up.

    .venv/bin/python -m benchmarks.convnext_cpu_step      # from the repository root

The quick profile's shapes: CIFAR-10 at 32x32, batch 64, width 1/4, depth 1/3, AdamW. Both
variants compute the same function (tests/test_convnext.py checks outputs and gradients); only
the time differs. A benchmark, not a test: timings on the shared 2-core machine vary by 10% or more.
"""

from __future__ import annotations

import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from ablate.models.convnext_roadmap import convnext_roadmap
from tests.plain_nchw import as_plain

STEPS = ("resnet50", "separate_downsample")  # the profile's architectures (ConvNeXt-T: the last)
BATCH, SIDE = 64, 32
WARMUP, TIMED = 5, 30  # steps


def ms_per_step(net: nn.Module) -> float:
    torch.manual_seed(0)
    x, y = torch.randn(BATCH, 3, SIDE, SIDE), torch.randint(0, 10, (BATCH,))
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3)

    def step():
        loss = F.cross_entropy(net(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    for _ in range(WARMUP):
        step()
    start = time.perf_counter()
    for _ in range(TIMED):
        step()
    return (time.perf_counter() - start) / TIMED * 1e3


def main() -> int:
    torch.set_num_threads(1)
    print(f"one CPU thread, batch {BATCH} at {SIDE}x{SIDE}, {TIMED} timed steps")
    for step in STEPS:
        net = convnext_roadmap(step=step, width_mult=0.25, depth_div=3, num_classes=10, drop_path=0.05)
        plain, fast = ms_per_step(as_plain(net)), ms_per_step(net)
        print(f"{step:22s} plain NCHW {plain:6.1f} ms   as built {fast:6.1f} ms   speed-up {plain / fast:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
