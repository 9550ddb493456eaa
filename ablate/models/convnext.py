"""ConvNeXt-T (torchvision's class, the reference).

Liu, Mao, Wu, Feichtenhofer, Darrell & Xie, "A ConvNet for the 2020s", CVPR 2022, arXiv:2201.03545.
A 4x4/4 "patchify" stem, four stages of (3, 3, 9, 3) blocks with widths 96/192/384/768; each block
is a 7x7 depthwise conv, LayerNorm, 1x1 expand x4 (a Linear), GELU, 1x1 project, layer scale,
stochastic depth: one norm and one activation per block. 28.6M parameters, 4.5 GMACs at 224x224.
Knobs: activation (replaces GELU), stochastic depth, layer-scale init, num_classes, in_channels.
"""

from __future__ import annotations

import torch.nn as nn

from ablate.models.registry import register_model
from ablate.models.zoo_inputs import replace_first_conv, swap_activation


@register_model
def convnext_tiny(
    activation: str = "gelu",
    stochastic_depth_prob: float = 0.1,
    layer_scale: float = 1e-6,
    num_classes: int = 1000,
    in_channels: int = 3,
) -> nn.Module:
    """ConvNeXt-T of Liu et al. 2022 (torchvision's class)."""
    from torchvision.models.convnext import CNBlockConfig, ConvNeXt

    stages = [
        CNBlockConfig(96, 192, 3),
        CNBlockConfig(192, 384, 3),
        CNBlockConfig(384, 768, 9),
        CNBlockConfig(768, None, 3),
    ]
    model = ConvNeXt(
        stages, stochastic_depth_prob=stochastic_depth_prob, layer_scale=layer_scale, num_classes=num_classes
    )
    if activation != "gelu":
        swap_activation(model, nn.GELU, activation)
    return replace_first_conv(model, in_channels)
