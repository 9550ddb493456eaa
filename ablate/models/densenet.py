"""DenseNet-121 (torchvision's class, the reference).

Huang, Liu, van der Maaten & Weinberger, "Densely Connected Convolutional Networks", CVPR 2017,
arXiv:1608.06993, Table 1 (DenseNet-BC, k = 32, compression 0.5). Four dense blocks of 6/12/24/16
layers (BN-ReLU-1x1 conv to 4k, BN-ReLU-3x3 conv to k, concatenated onto the input), transition
layers (BN-ReLU-1x1 conv halving channels, 2x2 avg pool): 7,978,856 parameters.
Knobs: growth rate, block config, activation (replaces every ReLU module; torchvision's final
functional ReLU before pooling stays), dropout, num_classes,
in_channels, memory_efficient (checkpointing, the seed's "memory" caveat).
"""

from __future__ import annotations

import torch.nn as nn

from ablate.models.registry import register_model
from ablate.models.zoo_inputs import replace_first_conv, swap_activation


@register_model
def densenet121(
    growth_rate: int = 32,
    block_config: tuple[int, ...] = (6, 12, 24, 16),
    activation: str = "relu",
    drop_rate: float = 0.0,
    memory_efficient: bool = False,
    num_classes: int = 1000,
    in_channels: int = 3,
) -> nn.Module:
    """DenseNet-121 of Huang et al. 2017 (torchvision's class)."""
    from torchvision.models import DenseNet

    model = DenseNet(
        growth_rate=growth_rate,
        block_config=tuple(block_config),
        num_init_features=2 * growth_rate,
        drop_rate=drop_rate,
        memory_efficient=memory_efficient,
        num_classes=num_classes,
    )
    if activation != "relu":
        swap_activation(model, nn.ReLU, activation)
    return replace_first_conv(model, in_channels)
