"""EfficientNet-B0 ... B7 (torchvision's classes, the reference).

Tan & Le, "EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks", ICML 2019,
arXiv:1905.11946. Compound scaling (§3.3): depth d = alpha^phi, width w = beta^phi, resolution
r = gamma^phi with alpha = 1.2, beta = 1.1, gamma = 1.15 chosen so that alpha * beta^2 * gamma^2
~= 2, hence FLOPs grow by about 2^phi: each +1 of phi doubles compute (doubling phi squares the
factor). B1-B7 use the official, hand-rounded (width, depth, resolution) multipliers below, not
exact powers of the constants. Knobs: activation (replaces SiLU everywhere, the squeeze-excitation
blocks included), norm, dropout, stochastic depth, num_classes, in_channels.
"""

from __future__ import annotations

from functools import partial

import torch.nn as nn

from ablate.models.layers import get_norm
from ablate.models.registry import register_variant
from ablate.models.zoo_inputs import NATIVE_INPUT, replace_first_conv, swap_activation

# (width multiplier, depth multiplier, dropout) of B0..B7 (torchvision = the official TPU repo);
# the resolutions (224 ... 600) are in zoo_inputs.NATIVE_INPUT.
VARIANTS: dict[int, tuple[float, float, float]] = {
    0: (1.0, 1.0, 0.2),
    1: (1.0, 1.1, 0.2),
    2: (1.1, 1.2, 0.3),
    3: (1.2, 1.4, 0.3),
    4: (1.4, 1.8, 0.4),
    5: (1.6, 2.2, 0.4),
    6: (1.8, 2.6, 0.5),
    7: (2.0, 3.1, 0.5),
}
# Compound-scaling constants of §3.3 (depth, width, resolution bases).
ALPHA, BETA, GAMMA = 1.2, 1.1, 1.15


def efficientnet(
    b: int = 0,  # phi, the compound-scaling coefficient: a key of VARIANTS
    activation: str = "silu",
    norm: str = "batch",
    dropout: float | None = None,  # before the classifier; None: the variant's (VARIANTS)
    stochastic_depth_prob: float = 0.2,
    num_classes: int = 1000,
    in_channels: int = 3,
) -> nn.Module:
    """EfficientNet-B{b} of Tan & Le 2019 (torchvision's class)."""
    from torchvision.models.efficientnet import EfficientNet, _efficientnet_conf

    width, depth, default_dropout = VARIANTS[b]
    setting, last_channel = _efficientnet_conf(f"efficientnet_b{b}", width_mult=width, depth_mult=depth)
    if norm == "batch":  # torchvision: B5-B7 were ported from TF with its BN settings
        norm_layer = partial(nn.BatchNorm2d, eps=1e-3, momentum=0.01) if b >= 5 else None
    else:
        get_norm(norm, 8)  # validate
        norm_layer = partial(get_norm, norm)
    model = EfficientNet(
        setting,
        default_dropout if dropout is None else dropout,
        stochastic_depth_prob,
        num_classes,
        norm_layer,
        last_channel,
    )
    if activation != "silu":
        swap_activation(model, nn.SiLU, activation)
    return replace_first_conv(model, in_channels)


# `efficientnet_b{b}`: b fixed, and the variant's published dropout as the knob's default.
for _b, (_width, _depth, _dropout) in VARIANTS.items():
    _res = NATIVE_INPUT[f"efficientnet_b{_b}"][1]
    register_variant(
        f"efficientnet_b{_b}",
        efficientnet,
        f"EfficientNet-B{_b} of Tan & Le 2019 (torchvision's class): width x{_width}, depth x{_depth}, "
        f"{_res}x{_res} input.",
        fixed={"b": _b},
        defaults={"dropout": _dropout},
    )
