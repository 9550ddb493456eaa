"""Small plain CNNs for the activation, kernel and BatchNorm ablations (issue 4).

`cifar4_flex`: the four-weight-layer CIFAR-10 network of Krizhevsky et al. 2012, Figure 1 (ReLU vs
tanh), as the zoo's `alexnet_cifar4` builds it (cuda-convnet's layers-80sec.cfg: three 5x5 convs of
32, 32, 64 filters with pad 2, 3x3/2 pooling after each (max, avg, avg), one fully connected layer),
except that the classifier is sized from `input_size`, so the same net also runs on the 8x8 digits
of the quick profiles (8 -> 4 -> 2 -> 1). At 32x32 it equals `alexnet_cifar4` (89,578 parameters).

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


def _pooled(size: int, times: int) -> int:
    for _ in range(times):  # kernel 3, stride 2, pad 1 (cuda-convnet's ceil rounding)
        size = (size + 2 - 3) // 2 + 1
    return size


class Cifar4(nn.Module):
    def __init__(self, activation="relu", width=32, input_size=32, num_classes=10, in_channels=3):
        super().__init__()
        w = (width, width, 2 * width)

        def conv(c_in, c_out):
            return [nn.Conv2d(c_in, c_out, 5, padding=2), get_activation(activation)]

        self.features = nn.Sequential(
            *conv(in_channels, w[0]),
            nn.MaxPool2d(3, 2, padding=1),
            *conv(w[0], w[1]),
            nn.AvgPool2d(3, 2, padding=1, count_include_pad=False),
            *conv(w[1], w[2]),
            nn.AvgPool2d(3, 2, padding=1, count_include_pad=False),
        )
        side = _pooled(input_size, 3)
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(w[2] * side * side, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


@register_model
def cifar4_flex(
    activation: str = "relu",
    width: int = 32,
    input_size: int = 32,
    num_classes: int = 10,
    in_channels: int = 3,
) -> nn.Module:
    """Krizhevsky et al. 2012, Fig. 1's four-layer CIFAR net (as `alexnet_cifar4`), any input size."""
    return Cifar4(activation, width, input_size, num_classes, in_channels)


class KernelNet(nn.Module):
    def __init__(
        self,
        unit_kernel=3,
        unit_depth=2,
        units_per_stage=1,
        stages=2,
        width=32,
        activation="relu",
        norm="none",
        num_classes=10,
        in_channels=3,
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


@register_model
def kernel_net(
    unit_kernel: int = 3,
    unit_depth: int = 2,
    units_per_stage: int = 1,
    stages: int = 2,
    width: int = 32,
    activation: str = "relu",
    norm: str = "none",
    num_classes: int = 10,
    in_channels: int = 3,
) -> nn.Module:
    """VGG-style units of `unit_depth` convs of size `unit_kernel` (Simonyan & Zisserman 2014)."""
    return KernelNet(
        unit_kernel, unit_depth, units_per_stage, stages, width, activation, norm, num_classes, in_channels
    )


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
