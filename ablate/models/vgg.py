"""VGG-11/13/16/19, with and without BatchNorm.

Simonyan & Zisserman, "Very Deep Convolutional Networks for Large-Scale Image Recognition",
ICLR 2015, arXiv:1409.1556, Table 1 (configurations A, B, D, E).

Every conv is 3x3, stride 1, padding 1; every max pool 2x2, stride 2; the width doubles after each
pool until it reaches 512 (64, 128, 256, 512, 512). Three FC layers: 25,088 -> 4096 -> 4096 ->
1000. VGG-16 has 138,357,544 parameters (the paper's "138M"), 89% of them in the FC layers.
The `_bn` variants put BatchNorm after each conv (torchvision's; BN postdates the paper); as in
torchvision the convs keep their (then redundant) biases, so the counts match its vgg*_bn.
Knobs: activation, norm, `kernel_size` (the ablation of 3x3 stacks: 5 or 7 keeps 'same' padding),
`width` (first-stage filters; 64 in the paper), `fc_width` (4096). An adaptive average pool to 7x7
(as torchvision) is the identity at 224x224 and lets smaller inputs through.
Parameter counts equal torchvision's vgg* builders (tests check this).
"""

from __future__ import annotations

import torch
import torch.nn as nn

from ablate.models.layers import get_activation, get_norm
from ablate.models.registry import register_variant

# Convs per stage (5 stages, a max pool after each); depth = sum + 3 FC layers.
STAGES: dict[int, tuple[int, ...]] = {
    11: (1, 1, 2, 2, 2),  # A
    13: (2, 2, 2, 2, 2),  # B
    16: (2, 2, 3, 3, 3),  # D
    19: (2, 2, 4, 4, 4),  # E
}


class VGG(nn.Module):
    """VGG of Simonyan & Zisserman 2014, Table 1: any configuration of `STAGES`, with or without BN."""

    def __init__(
        self,
        *,
        depth: int = 16,  # a key of STAGES: 11 (A), 13 (B), 16 (D), 19 (E)
        activation: str = "relu",
        norm: str = "none",  # 'batch': the _bn variants (torchvision's; BN postdates the paper)
        kernel_size: int = 3,  # every conv's kernel, odd ('same' padding); 3 in the paper
        width: int = 64,  # first-stage filters, doubling per stage up to 8 * width
        fc_width: int = 4096,  # units of FC6 and FC7
        dropout: float = 0.5,  # before FC7 and FC8
        num_classes: int = 1000,
        in_channels: int = 3,
    ):
        super().__init__()
        if depth not in STAGES:
            raise ValueError(f"unknown VGG depth {depth}; valid: {', '.join(map(str, STAGES))}")
        if kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd ('same' padding), got {kernel_size}")
        layers, c_in = [], in_channels
        for stage, n_convs in enumerate(STAGES[depth]):
            c_out = min(width * 2**stage, 8 * width)  # 64, 128, 256, 512, 512
            for _ in range(n_convs):
                layers += [
                    nn.Conv2d(c_in, c_out, kernel_size, padding=kernel_size // 2),  # biased, as torchvision
                    get_norm(norm, c_out),
                    get_activation(activation),
                ]
                c_in = c_out
            layers.append(nn.MaxPool2d(2, 2))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(7)
        self.classifier = nn.Sequential(
            nn.Linear(c_in * 49, fc_width),
            get_activation(activation),
            nn.Dropout(dropout),
            nn.Linear(fc_width, fc_width),
            get_activation(activation),
            nn.Dropout(dropout),
            nn.Linear(fc_width, num_classes),
        )
        for m in self.modules():  # torchvision's initialisation
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


# `vgg{depth}` and `vgg{depth}_bn`: the depth fixed; the _bn variants default to norm 'batch'.
for _depth in STAGES:
    register_variant(f"vgg{_depth}", VGG, f"VGG-{_depth} of Simonyan & Zisserman 2014.", fixed={"depth": _depth})
    register_variant(
        f"vgg{_depth}_bn",
        VGG,
        f"VGG-{_depth} of Simonyan & Zisserman 2014 with BatchNorm after every conv.",
        fixed={"depth": _depth},
        defaults={"norm": "batch"},
    )
