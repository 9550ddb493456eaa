"""Layers chosen by name, so that an ablation swaps an activation or a norm with a string."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": lambda: nn.ReLU(inplace=True),
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "gelu": nn.GELU,
    "silu": lambda: nn.SiLU(inplace=True),
    "hardswish": lambda: nn.Hardswish(inplace=True),
    "identity": nn.Identity,
}


class SameConv2d(nn.Conv2d):
    """A stride-1 'same' convolution (odd kernel k, padding k // 2) that, on a map smaller than its
    kernel, convolves with the kernel's central taps only.

    On an h x w map, a tap more than h - 1 rows (w - 1 columns) from the centre only ever meets the
    zero padding, so dropping it leaves the output and every gradient unchanged (its gradient is
    zero either way; tests/test_convnext.py checks both). It matters for CIFAR-sized inputs to
    ImageNet designs: ConvNeXt's 7x7 depthwise convs see 2x2 and 1x1 maps in its last stages at
    32x32, where one CPU thread took 13.8 ms for the full 7x7 depthwise forward + backward on a
    64 x 192 x 1 x 1 batch and 0.4 ms for the central tap (torch 2.14.1, oneDNN); for the whole
    net: `python -m benchmarks.convnext_cpu_step`."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, groups: int = 1, bias: bool = True):
        if kernel_size % 2 != 1:
            raise ValueError(f"SameConv2d needs an odd kernel, got {kernel_size}")
        super().__init__(in_channels, out_channels, kernel_size, padding=kernel_size // 2, groups=groups, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k = self.kernel_size[0]
        kh, kw = (min(k, 2 * size - 1) for size in x.shape[-2:])  # the taps that meet the map
        if (kh, kw) == (k, k):
            return super().forward(x)
        top, left = (k - kh) // 2, (k - kw) // 2
        weight = self.weight[:, :, top : top + kh, left : left + kw]
        return nn.functional.conv2d(x, weight, self.bias, padding=(kh // 2, kw // 2), groups=self.groups)


class ChannelLayerNorm(nn.Module):
    """LayerNorm over the channel dimension of an NCHW tensor (ConvNeXt's 'channels_first' LN).

    One fused kernel (F.layer_norm over the last dimension of the NHWC view), not ~6 elementwise
    passes over the map: on a channels-last tensor the NHWC view is the memory as it lies, so the
    permutes copy nothing, and the output is channels-last again. (An NCHW input is copied once.)
    History: with torch 2.14.1 a run of the roadmap's BN -> LN step at width 6 on one CPU thread
    once aborted with heap corruption inside this kernel's backward; a stress of the kernel over
    channels 1..49, batches 1..64 and maps 1..8, NCHW and channels-last, under MALLOC_CHECK_=3
    found nothing, and tests/test_convnext.py trains that case (width 6, one thread)."""

    def __init__(self, channels: int, eps: float = 1e-6):
        super().__init__()
        self.norm = nn.LayerNorm(channels, eps=eps)  # holds weight, bias and eps (state-dict keys)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = self.norm
        return F.layer_norm(x.permute(0, 2, 3, 1), n.normalized_shape, n.weight, n.bias, n.eps).permute(0, 3, 1, 2)


# Each factory takes the number of channels of the feature map it normalises.
NORMS: dict[str, Callable[[int], nn.Module]] = {
    "batch": nn.BatchNorm2d,
    "layer": ChannelLayerNorm,
    "group": lambda c: nn.GroupNorm(min(32, c), c),
    "none": lambda c: nn.Identity(),
}


def _lookup(table: dict, kind: str, name: str):
    try:
        return table[name]
    except KeyError:
        raise ValueError(f"unknown {kind} {name!r}; valid: {', '.join(sorted(table))}") from None


def get_activation(name: str) -> nn.Module:
    return _lookup(ACTIVATIONS, "activation", name)()


def get_norm(name: str, channels: int) -> nn.Module:
    return _lookup(NORMS, "norm", name)(channels)


def he_init(model: nn.Module) -> None:
    """He et al. 2015 initialisation as ResNets use it: convs normal with fan_out, norms to identity."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
