"""The two small MNIST networks of the seed's comparison table (000_d3f32fda5f8ed65b.txt).

Lineage: "Our CNN" is a modern LeNet (LeCun et al. 1998, Proc. IEEE 86(11)) with ReLU and max
pooling; SimpleResNet uses the residual block of He et al. 2015 (arXiv:1512.03385).

The seed prints only a table: "Our CNN" 206,922 parameters, 2 conv layers, ReLU, max pooling, no
BatchNorm, flattening 1,568 features (32x7x7, "spatial size 7"), two FC layers; "SimpleResNet"
56,170 parameters, 7 conv layers (1 + 3x2), 3 residual blocks, ReLU, BatchNorm, global average
pooling. Neither architecture is given; we inferred ones that reproduce the printed counts exactly.

Our CNN (inferred, unique under the table's constraints once the kernels are 3x3 with padding 1):
  conv 1->16 (3x3, pad 1) -> ReLU -> maxpool 2       160 params
  conv 16->32 (3x3, pad 1) -> ReLU -> maxpool 2     4,640
  flatten 32*7*7 = 1,568 -> FC 128 -> ReLU -> FC 10  200,832 + 1,290   = 206,922.

SimpleResNet (inferred): width 32 throughout, bias-free 3x3 convs, global average pooling, FC 32->10.
  stem conv 1->32 + BN                               288 + 64
  3 blocks: conv -> BN -> ReLU -> conv, + x, ReLU    3 * (2*9,216 + 64)
  FC 32 -> 10                                        330                 = 56,170.
The textbook block (BN after *both* convs) would give 56,362 (3 BN layers = 192 more); exactly one
BN per block is the simplest design that reproduces 56,170 (another: biased block convs and no BN in
the blocks). `norms_per_block=2` builds the textbook block.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn as nn

from ablate.models.layers import get_activation, get_norm
from ablate.models.registry import register_model


@register_model("mnist_cnn")
class MnistCNN(nn.Module):
    """The seed's "Our CNN" (inferred architecture, 206,922 parameters; see the module docstring)."""

    def __init__(
        self,
        *,
        width: int = 16,  # filters of conv1; conv2 has 2 * width
        hidden: int = 128,  # units of the first FC layer
        kernel_size: int = 3,  # odd ('same' padding)
        activation: str = "relu",
        norm: str = "none",
        num_classes: int = 10,
        in_channels: int = 1,
        input_size: int = 28,  # input side in pixels; sizes the classifier (two 2x2 pools)
    ):
        super().__init__()
        if kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd ('same' padding), got {kernel_size}")
        pad = kernel_size // 2
        bias = norm == "none"  # a conv followed by a norm needs no bias
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, width, kernel_size, padding=pad, bias=bias),
            get_norm(norm, width),
            get_activation(activation),
            nn.MaxPool2d(2),  # 28 -> 14
            nn.Conv2d(width, 2 * width, kernel_size, padding=pad, bias=bias),
            get_norm(norm, 2 * width),
            get_activation(activation),
            nn.MaxPool2d(2),  # 14 -> 7
        )
        side = input_size // 4
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(2 * width * side * side, hidden),  # 1,568 -> 128 at the defaults
            get_activation(activation),
            nn.Linear(hidden, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class ResBlock(nn.Module):
    """y = act(F(x) + x), F = conv-norm-act-conv(-norm); the shortcut is the identity (same shape)."""

    def __init__(self, channels, activation, norm, norms_per_block, shortcut=True):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.norm1 = get_norm(norm, channels)
        self.act1 = get_activation(activation)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.norm2 = get_norm(norm, channels) if norms_per_block == 2 else nn.Identity()
        self.act2 = get_activation(activation)
        self.shortcut = shortcut

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.norm2(self.conv2(self.act1(self.norm1(self.conv1(x)))))
        return self.act2(out + x if self.shortcut else out)


@register_model("simple_resnet")
class SimpleResNet(nn.Module):
    """The seed's SimpleResNet (inferred architecture, 56,170 parameters; see the module docstring).
    `shortcut=False` is its plain twin."""

    def __init__(
        self,
        *,
        width: int = 32,  # channels throughout
        blocks: int = 3,  # residual blocks of two 3x3 convs
        norms_per_block: Literal[1, 2] = 1,  # 1 reproduces the seed's count; 2 is the textbook block
        shortcut: bool = True,
        activation: str = "relu",
        norm: str = "batch",
        num_classes: int = 10,
        in_channels: int = 1,
    ):
        super().__init__()
        if norms_per_block not in (1, 2):
            raise ValueError(f"norms_per_block must be 1 or 2, got {norms_per_block}")
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1, bias=False),
            get_norm(norm, width),
            get_activation(activation),
        )
        self.blocks = nn.Sequential(
            *[ResBlock(width, activation, norm, norms_per_block, shortcut) for _ in range(blocks)]
        )
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(self.stem(x)))
