"""Layers chosen by name, so that an ablation swaps an activation or a norm with a string."""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn as nn

ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": lambda: nn.ReLU(inplace=True),
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "gelu": nn.GELU,
    "silu": lambda: nn.SiLU(inplace=True),
    "hardswish": lambda: nn.Hardswish(inplace=True),
    "identity": nn.Identity,
}


class ChannelLayerNorm(nn.Module):
    """LayerNorm over the channel dimension of an NCHW tensor (ConvNeXt's 'channels_first' LN)."""

    def __init__(self, channels: int, eps: float = 1e-6):
        super().__init__()
        self.norm = nn.LayerNorm(channels, eps=eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


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
