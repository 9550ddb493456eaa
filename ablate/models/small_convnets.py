"""Small plain CNNs for the kernel and BatchNorm ablations (issue 4); the activation experiment's
four-layer CIFAR net (`cifar4_flex`) is Krizhevsky et al.'s, in alexnet.py.

`kernel_net`: a VGG-style net (Simonyan & Zisserman 2014, §2.3) whose convolution *units* are
either a stack of `unit_depth` 3x3 convs or one `unit_kernel` x `unit_kernel` conv with the same
receptive field (two 3x3 = one 5x5, three 3x3 = one 7x7). A shared 3x3 stem conv; stages of
`units_per_stage` units at widths width, 2*width, ..., each unit C -> C channels; between stages a
2x2 max pool and a shared 1x1 conv that doubles the width; global average pooling; one linear
classifier. `norm` ('batch' | 'none') and `activation` are knobs, so the BatchNorm ablation uses
the same class. Convs get He et al.'s initialisation: with PyTorch's default (variance 1/(3 fan_in))
every ReLU layer of a plain net shrinks the signal's variance about 3x, so the deeper 3x3 stacks
(6 and 8 convs vs 4) did not train at all at any learning rate in 300 steps (validation error at
chance for lr 1e-3..0.3): a handicap of the initialisation, not of the kernel size. VGG had the
same problem and pre-trained its deeper nets from shallower ones (§3.1).
"""

from __future__ import annotations

import torch
import torch.nn as nn

from ablate.models.layers import get_activation, get_norm, he_init
from ablate.models.registry import register_model


@register_model("kernel_net")
class KernelNet(nn.Module):
    """VGG-style units of `unit_depth` convs of size `unit_kernel` (Simonyan & Zisserman 2014)."""

    def __init__(
        self,
        *,
        unit_kernel: int = 3,  # odd side of each conv of a unit
        unit_depth: int = 2,  # convs per unit: 2 x 3x3 has the receptive field of one 5x5
        units_per_stage: int = 1,
        stages: int = 2,  # stage i has width * 2**i channels; a 2x2 max pool between stages
        width: int = 32,  # channels of the stem and of stage 1
        activation: str = "relu",
        norm: str = "none",
        num_classes: int = 10,
        in_channels: int = 3,
    ):
        super().__init__()
        if unit_kernel % 2 == 0 or unit_kernel < 1 or unit_depth < 1:
            raise ValueError(f"unit_kernel must be odd and unit_depth >= 1, got {unit_kernel}, {unit_depth}")
        bias = norm == "none"

        def conv(c_in, c_out, k):
            return [
                nn.Conv2d(c_in, c_out, k, padding=k // 2, bias=bias),
                get_norm(norm, c_out),
                get_activation(activation),
            ]

        # Every unit maps C -> C channels, so a 3x3 pair costs 18C^2 weights and a 5x5 25C^2, as in
        # VGG §2.3; the stem and the 1x1 width changes between stages are shared by all arms.
        layers, c = conv(in_channels, width, 3), width
        for s in range(stages):
            if s:
                layers += [nn.MaxPool2d(2), *conv(c, width * 2**s, 1)]
                c = width * 2**s
            for _ in range(units_per_stage * unit_depth):
                layers += conv(c, c, unit_kernel)
        c_in = c
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c_in, num_classes))
        he_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def receptive_field(model: nn.Module) -> int:
    """Theoretical receptive field (pixels, one side) of the last feature map before any global
    pooling: walks the convs and pools in module order (for sequential nets such as these)."""
    rf, jump = 1, 1
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)):
            k = m.kernel_size[0] if isinstance(m.kernel_size, tuple) else m.kernel_size
            s = m.stride[0] if isinstance(m.stride, tuple) else m.stride
            d = m.dilation[0] if isinstance(getattr(m, "dilation", 1), tuple) else getattr(m, "dilation", 1)
            rf += (d * (k - 1)) * jump
            jump *= s
    return rf
