"""ImageNet ResNets 18/34/50/101/152: torchvision's V1.5 and He et al.'s V1.

He, Zhang, Ren & Sun, "Deep Residual Learning for Image Recognition", CVPR 2016, arXiv:1512.03385,
Table 1. (The CIFAR nets of §4.2 are in cifar_resnet.py; the basic block is shared with them.)

Stem: 7x7/2 conv 64 + BN + ReLU, 3x3/2 max pool. Four stages of 64/128/256/512 "planes", the first
block of stages 2-4 downsampling by 2; basic blocks (two 3x3) for 18/34, bottlenecks (1x1 reduce,
3x3, 1x1 expand x4) for 50/101/152; global average pooling and one FC layer.
Shortcuts: 'B' (the paper's ImageNet choice and torchvision's) projects with a 1x1 conv + BN where
the shape changes; 'A' zero-pads; 'none' is the plain network.

V1 vs V1.5: the paper downsamples in a bottleneck's first 1x1 conv (stride 2); torchvision's V1.5
(after Goyal et al. 2017 / NVIDIA's recipe) moves the stride to the 3x3 conv. Same parameters,
more compute (ResNet-50: 4.09 GMACs vs 3.86 for V1 at 224x224). `resnet50_v1` etc. are V1; basic
block nets are identical in both. Parameter counts equal torchvision's (tests check this).
"""

from __future__ import annotations

import torch
import torch.nn as nn

from ablate.models.cifar_resnet import SHORTCUTS, BasicBlock, make_shortcut
from ablate.models.layers import get_activation, get_norm, he_init
from ablate.models.registry import register_variant

# Blocks per stage (Table 1) and the block kind.
DEPTHS: dict[int, tuple[str, tuple[int, int, int, int]]] = {
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
    101: ("bottleneck", (3, 4, 23, 3)),
    152: ("bottleneck", (3, 8, 36, 3)),
}


class Bottleneck(nn.Module):
    """1x1 (reduce to `mid`) -> 3x3 -> 1x1 (expand to `out`), BN after each, + shortcut, act.
    `stride_on` is '3x3' (V1.5) or '1x1' (V1, the paper)."""

    def __init__(self, in_ch, mid, out_ch, stride, shortcut, activation, norm, stride_on="3x3"):
        super().__init__()
        s1, s3 = (1, stride) if stride_on == "3x3" else (stride, 1)
        self.conv1 = nn.Conv2d(in_ch, mid, 1, stride=s1, bias=False)
        self.bn1 = get_norm(norm, mid)
        self.act1 = get_activation(activation)
        self.conv2 = nn.Conv2d(mid, mid, 3, stride=s3, padding=1, bias=False)
        self.bn2 = get_norm(norm, mid)
        self.act2 = get_activation(activation)
        self.conv3 = nn.Conv2d(mid, out_ch, 1, bias=False)
        self.bn3 = get_norm(norm, out_ch)
        self.act3 = get_activation(activation)
        self.shortcut = make_shortcut(shortcut, in_ch, out_ch, stride, norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.act1(self.bn1(self.conv1(x)))
        out = self.act2(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.shortcut is not None:
            out = out + self.shortcut(x)
        return self.act3(out)


class ResNet(nn.Module):
    """ResNet of He et al. 2015, Table 1: any depth of `DEPTHS`, V1 or V1.5, any shortcut option."""

    def __init__(
        self,
        *,
        depth: int = 50,  # a key of DEPTHS (Table 1)
        variant: str = "v1.5",  # 'v1.5': bottleneck stride on the 3x3 (torchvision); 'v1': on the 1x1
        shortcut: str = "B",
        width: int = 64,  # stem filters and stage-1 planes (stages: width * 1, 2, 4, 8)
        activation: str = "relu",
        norm: str = "batch",
        num_classes: int = 1000,
        in_channels: int = 3,
    ):
        super().__init__()
        if depth not in DEPTHS:
            raise ValueError(f"unknown ResNet depth {depth}; valid: {', '.join(map(str, DEPTHS))}")
        if variant not in ("v1", "v1.5"):
            raise ValueError(f"unknown variant {variant!r}; valid: v1, v1.5")
        if shortcut not in SHORTCUTS:
            raise ValueError(f"unknown shortcut {shortcut!r}; valid: {', '.join(SHORTCUTS)}")
        kind, counts = DEPTHS[depth]
        expansion = 4 if kind == "bottleneck" else 1
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, width, 7, 2, 3, bias=False),
            get_norm(norm, width),
            get_activation(activation),
            nn.MaxPool2d(3, 2, 1),  # 224 -> 112 -> 56
        )
        blocks, c_in = [], width
        for stage, n in enumerate(counts):
            planes = width * 2**stage
            for i in range(n):
                stride = 2 if stage > 0 and i == 0 else 1
                if kind == "basic":
                    block = BasicBlock(c_in, planes, stride, shortcut, activation, norm)
                else:
                    stride_on = "3x3" if variant == "v1.5" else "1x1"
                    block = Bottleneck(c_in, planes, planes * expansion, stride, shortcut, activation, norm, stride_on)
                blocks.append(block)
                c_in = planes * expansion
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c_in, num_classes))
        he_init(self)  # as torchvision

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(self.stem(x)))


# `resnet{depth}` is V1.5 (torchvision's), `resnet{depth}_v1` the paper's; depth and variant fixed.
for _depth in DEPTHS:
    register_variant(
        f"resnet{_depth}",
        ResNet,
        f"ResNet-{_depth} of He et al. 2015, Table 1; bottleneck stride on the 3x3 conv (torchvision's V1.5).",
        fixed={"depth": _depth, "variant": "v1.5"},
    )
for _depth in (50, 101, 152):
    register_variant(
        f"resnet{_depth}_v1",
        ResNet,
        f"ResNet-{_depth} of He et al. 2015, Table 1; bottleneck stride on the first 1x1 conv (V1, the paper).",
        fixed={"depth": _depth, "variant": "v1"},
    )
