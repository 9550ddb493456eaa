"""The fully connected MNIST network of Ioffe & Szegedy 2015, §4.1 and Figure 1.

"A simple network with a 28x28 binary image as input, and 3 fully-connected hidden layers with
100 activations each. Each hidden layer computes y = g(Wu + b) with sigmoid nonlinearity ... the
last hidden layer is followed by a fully-connected layer with 10 activations (one per class) and
cross-entropy loss." With `norm='batch'`, BatchNorm is added to each hidden layer before the
nonlinearity (its bias is then redundant and dropped, §3.2). Any input shape is flattened.
"""

from __future__ import annotations

import torch.nn as nn

from ablate.models.layers import get_activation
from ablate.models.registry import register_model

NORMS_1D = {"batch": nn.BatchNorm1d, "none": lambda n: nn.Identity()}


@register_model
def bn_mlp(
    hidden: int = 100,
    depth: int = 3,
    activation: str = "sigmoid",
    norm: str = "none",
    input_size: int = 28,
    num_classes: int = 10,
    in_channels: int = 1,
) -> nn.Module:
    """Ioffe & Szegedy 2015, Fig. 1: `depth` fully connected layers of `hidden` sigmoid units."""
    if norm not in NORMS_1D:
        raise ValueError(f"unknown norm {norm!r}; valid: {', '.join(NORMS_1D)}")
    layers, n_in = [nn.Flatten()], in_channels * input_size * input_size
    for _ in range(depth):
        layers += [nn.Linear(n_in, hidden, bias=norm == "none"), NORMS_1D[norm](hidden), get_activation(activation)]
        n_in = hidden
    layers.append(nn.Linear(n_in, num_classes))
    return nn.Sequential(*layers)


bn_mlp.choices = {"norm": tuple(NORMS_1D)}  # BatchNorm1d or nothing (not the 2-d table's norms)
