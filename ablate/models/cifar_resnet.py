"""The CIFAR-10 networks of He et al. 2015, §4.2: plain and residual, depth 6n+2.

He, Zhang, Ren & Sun, "Deep Residual Learning for Image Recognition", CVPR 2016, arXiv:1512.03385.

Layout (§4.2): a 3x3 conv with 16 filters, then three stages of n basic blocks (two 3x3 convs
each) with 16/32/64 filters on 32/16/8 feature maps; the first conv of stages 2 and 3 has stride 2;
BatchNorm after every conv, before the activation; global average pooling; a fully connected
classifier. The plain net is the same stack with no shortcuts.

Shortcuts (§3.3): 'A' identity, with the input subsampled and zero-padded in channels where the
shape changes (no parameters, so plain and option-A residual nets have equal counts: Table 6);
'B' identity within a stage and a 1x1 projection (+BN) where the shape changes; 'none' the plain net.
"""

from __future__ import annotations

from typing import Literal, get_args

import torch
import torch.nn as nn
import torch.nn.functional as F

from ablate.models.layers import get_activation, get_norm, he_init
from ablate.models.registry import register_model, register_variant

Shortcut = Literal["A", "B", "none"]  # declared once: the config validator reads it off the builder
SHORTCUTS = get_args(Shortcut)


class PadShortcut(nn.Module):
    """Option A: subsample by `stride` and zero-pad the extra channels (no parameters)."""

    def __init__(self, in_ch: int, out_ch: int, stride: int):
        super().__init__()
        self.stride, self.extra = stride, out_ch - in_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, :: self.stride, :: self.stride]
        # F.pad pads the last dims first: (W_left, W_right, H_top, H_bottom, C_front, C_back).
        return F.pad(x, (0, 0, 0, 0, 0, self.extra))


def make_shortcut(kind: str, in_ch: int, out_ch: int, stride: int, norm: str) -> nn.Module | None:
    if kind == "none":
        return None
    if in_ch == out_ch and stride == 1:
        return nn.Identity()
    if kind == "A":
        return PadShortcut(in_ch, out_ch, stride)
    return nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, stride=stride, bias=False), get_norm(norm, out_ch))


class BasicBlock(nn.Module):
    """Two 3x3 convs; with a shortcut, y = act(F(x) + shortcut(x)); without, y = act(F(x))."""

    def __init__(self, in_ch, out_ch, stride, shortcut, activation, norm):
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=1, bias=False)
        self.bn1 = get_norm(norm, out_ch)
        self.act1 = get_activation(activation)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1, bias=False)
        self.bn2 = get_norm(norm, out_ch)
        self.act2 = get_activation(activation)
        self.shortcut = make_shortcut(shortcut, in_ch, out_ch, stride, norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(self.act1(self.bn1(self.conv1(x)))))
        if self.shortcut is not None:
            out = out + self.shortcut(x)
        return self.act2(out)


@register_model("cifar_resnet")
class CifarResNet(nn.Module):
    """He et al. 2015 §4.2 CIFAR network, any depth 6n+2; shortcut 'A', 'B' or 'none' (plain)."""

    def __init__(
        self,
        *,
        depth: int = 20,  # weight layers, 6n+2: n basic blocks per stage
        shortcut: Shortcut = "A",
        width: int = 16,  # filters of stage 1 (stages: width, 2*width, 4*width)
        activation: str = "relu",
        norm: str = "batch",
        num_classes: int = 10,
        in_channels: int = 3,
    ):
        super().__init__()
        if (depth - 2) % 6 != 0 or depth < 8:
            raise ValueError(f"depth must be 6n+2 with n >= 1 (20, 32, 44, 56, 110, ...), got {depth}")
        if shortcut not in SHORTCUTS:
            raise ValueError(f"unknown shortcut {shortcut!r}; valid: {', '.join(SHORTCUTS)}")
        n = (depth - 2) // 6
        widths = [width, 2 * width, 4 * width]
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1, bias=False),
            get_norm(norm, width),
            get_activation(activation),
        )
        blocks, in_ch = [], width
        for stage, out_ch in enumerate(widths):
            for i in range(n):
                stride = 2 if (stage > 0 and i == 0) else 1
                blocks.append(BasicBlock(in_ch, out_ch, stride, shortcut, activation, norm))
                in_ch = out_ch
        self.blocks = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(in_ch, num_classes)
        he_init(self)  # He et al. initialise as in their ref. [13]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.blocks(self.stem(x))
        return self.fc(torch.flatten(self.pool(x), 1))


# Table 6 of He et al. lists 20/32/44/56/110/1202 layers; each depth is registered residual
# (`cifar_resnet20`, option A) and plain (`cifar_plain20`), with depth and shortcut fixed.
CIFAR_DEPTHS = (20, 32, 44, 56, 110, 1202)
for _depth in CIFAR_DEPTHS:
    for _prefix, _shortcut, _kind in (
        ("cifar_resnet", "A", "residual, option-A shortcuts"),
        ("cifar_plain", "none", "plain (no shortcuts)"),
    ):
        register_variant(
            f"{_prefix}{_depth}",
            CifarResNet,
            f"He et al. 2015 §4.2 CIFAR network, {_depth} layers, {_kind}.",
            fixed={"depth": _depth, "shortcut": _shortcut},
        )
