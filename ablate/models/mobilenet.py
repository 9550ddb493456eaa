"""MobileNet v1 (ours: depthwise separable, width and resolution multipliers, and a standard-conv
twin), and torchvision's MobileNet v2 and v3.

v1: Howard et al., "MobileNets: Efficient Convolutional Neural Networks for Mobile Vision
Applications", arXiv:1704.04861, Table 1. A 3x3/2 conv with 32 filters, then 13 depthwise separable
layers (3x3 depthwise + BN + ReLU, 1x1 pointwise + BN + ReLU), global average pooling, one FC layer:
4.2M parameters, 569M multiply-adds at 224x224. The width multiplier alpha scales every layer's
channels; the resolution multiplier rho scales the input side (224 * rho, the model is unchanged).
`conv='standard'` replaces each separable pair by one full 3x3 conv: the paper's "Conv MobileNet"
of Table 4 (29.3M parameters, 4866M multiply-adds), the twin for the 8-9x compute claim.
v2: Sandler et al., "MobileNetV2: Inverted Residuals and Linear Bottlenecks", CVPR 2018.
v3: Howard et al., "Searching for MobileNetV3", ICCV 2019 (large and small).
v2/v3 reuse torchvision's classes (the reference); knobs: width multiplier, norm, activation (v2:
replaces ReLU6 everywhere; v3 mixes ReLU and hard-swish by design and has no activation knob).
"""

from __future__ import annotations

import torch
import torch.nn as nn

from ablate.models.layers import get_activation, get_norm
from ablate.models.registry import register_model, register_variant
from ablate.models.zoo_inputs import norm_factory, replace_first_conv, swap_activation

# Table 1 of Howard et al.: (output channels, stride) of the 13 depthwise separable layers.
V1_LAYERS = (
    (64, 1),
    (128, 2),
    (128, 1),
    (256, 2),
    (256, 1),
    (512, 2),
    (512, 1),
    (512, 1),
    (512, 1),
    (512, 1),
    (512, 1),
    (1024, 2),
    (1024, 1),  # Table 1 prints s2 for the last one, but its 7x7 input stays 7x7
)


def _conv_norm_act(c_in, c_out, k, stride, groups, activation, norm):
    return [
        nn.Conv2d(c_in, c_out, k, stride, k // 2, groups=groups, bias=False),
        get_norm(norm, c_out),
        get_activation(activation),
    ]


@register_model("mobilenet_v1")
class MobileNetV1(nn.Module):
    """MobileNet v1 of Howard et al. 2017 (alpha = width_mult; rho: feed 224*rho inputs)."""

    def __init__(
        self,
        *,
        width_mult: float = 1.0,  # alpha: scales every layer's channels (at least 8)
        conv: str = "separable",  # 'standard': Table 4's "Conv MobileNet" twin
        kernel_size: int = 3,  # the spatial (depthwise) convs' kernel
        activation: str = "relu",
        norm: str = "batch",
        dropout: float = 0.001,  # before the classifier
        num_classes: int = 1000,
        in_channels: int = 3,
    ):
        super().__init__()
        if conv not in ("separable", "standard"):
            raise ValueError(f"unknown conv {conv!r}; valid: separable, standard")
        c_in = max(8, int(32 * width_mult))
        layers = _conv_norm_act(in_channels, c_in, 3, 2, 1, activation, norm)
        for c_out, stride in V1_LAYERS:
            c_out = max(8, int(c_out * width_mult))
            if conv == "separable":  # depthwise (groups = channels) then pointwise
                layers += _conv_norm_act(c_in, c_in, kernel_size, stride, c_in, activation, norm)
                layers += _conv_norm_act(c_in, c_out, 1, 1, 1, activation, norm)
            else:
                layers += _conv_norm_act(c_in, c_out, kernel_size, stride, 1, activation, norm)
            c_in = c_out
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(c_in, num_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


@register_model
def mobilenet_v2(
    width_mult: float = 1.0,
    activation: str = "relu6",
    norm: str = "batch",
    dropout: float = 0.2,
    num_classes: int = 1000,
    in_channels: int = 3,
) -> nn.Module:
    """MobileNet v2 of Sandler et al. 2018 (torchvision's class)."""
    from torchvision.models import MobileNetV2

    norm_layer = None if norm == "batch" else norm_factory(norm)
    model = MobileNetV2(num_classes=num_classes, width_mult=width_mult, norm_layer=norm_layer, dropout=dropout)
    if activation != "relu6":
        swap_activation(model, nn.ReLU6, activation)
    return replace_first_conv(model, in_channels)


def mobilenet_v3(
    arch: str = "mobilenet_v3_large",  # torchvision's configuration: mobilenet_v3_large | mobilenet_v3_small
    width_mult: float = 1.0,
    norm: str = "batch",
    dropout: float = 0.2,  # before the classifier
    num_classes: int = 1000,
    in_channels: int = 3,
) -> nn.Module:
    """MobileNet v3 of Howard et al. 2019 (torchvision's class); v3 mixes ReLU and hard-swish by
    design, so it has no activation knob."""
    from torchvision.models.mobilenetv3 import MobileNetV3, _mobilenet_v3_conf

    setting, last_channel = _mobilenet_v3_conf(arch, width_mult=width_mult)
    norm_layer = None if norm == "batch" else norm_factory(norm)
    model = MobileNetV3(setting, last_channel, num_classes=num_classes, norm_layer=norm_layer, dropout=dropout)
    return replace_first_conv(model, in_channels)


for _size in ("large", "small"):
    register_variant(
        f"mobilenet_v3_{_size}",
        mobilenet_v3,
        f"MobileNet v3-{_size.capitalize()} of Howard et al. 2019 (torchvision's class).",
        fixed={"arch": f"mobilenet_v3_{_size}"},
    )
