"""LeNet-5: LeCun et al. 1998 as published, and the 28x28 variant of the seed's layer table.

LeCun, Bottou, Bengio & Haffner, "Gradient-Based Learning Applied to Document Recognition",
Proc. IEEE 86(11), 1998, §II.B.

`lenet5` is the paper's network (32x32 input):
  C1  6@28x28, 5x5 conv                               156 params  (6*25 + 6)
  S2  6@14x14, 2x2 subsampling: sum * coefficient + bias  12 params  (2 per map)
  C3 16@10x10, 5x5 conv with Table I's partial connections   1,516 params
  S4 16@5x5,  subsampling                              32 params
  C5 120@1x1, 5x5 conv (a full connection at 32x32)   48,120 params
  F6 84 units                                          10,164 params
  output: 10 Euclidean RBF units, one 84-d prototype each (840 values, fixed, not trained)
  = 60,000 trainable parameters, the paper's figure.
The squashing function is A*tanh(S*a) with A = 1.7159, S = 2/3 (Appendix A). The RBF output
y_i = sum_j (x_j - w_ij)^2 is a distance (smaller = more likely); we return -y as logits so that
argmax and cross-entropy work. Knobs: `c3_table=False` connects C3 fully (2,416 params),
`pool='avg'|'max'` replaces trainable subsampling, `output='linear'` a trained 84->10 layer.

`lenet5_28` is the seed's table (000_d3f32fda5f8ed65b.txt): 28x28 input, conv 6 (5x5, no pad) ->
avg pool -> conv 16 (5x5) -> avg pool -> 256 -> 120 -> 84 -> 10, tanh: 44,426 parameters.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn as nn
import torch.nn.functional as F

from ablate.models.layers import ACTIVATIONS, get_activation
from ablate.models.registry import register_model

# Table I of LeCun et al.: the S2 maps each C3 map reads. Maps 0-5 read 3 contiguous maps, 6-11
# read 4 contiguous, 12-14 read 4 non-contiguous, 15 reads all 6.
C3_TABLE: tuple[tuple[int, ...], ...] = (
    (0, 1, 2),
    (1, 2, 3),
    (2, 3, 4),
    (3, 4, 5),
    (4, 5, 0),
    (5, 0, 1),
    (0, 1, 2, 3),
    (1, 2, 3, 4),
    (2, 3, 4, 5),
    (3, 4, 5, 0),
    (4, 5, 0, 1),
    (5, 0, 1, 2),
    (0, 1, 3, 4),
    (1, 2, 4, 5),
    (0, 2, 3, 5),
    (0, 1, 2, 3, 4, 5),
)


class ScaledTanh(nn.Module):
    """LeCun's squashing function f(a) = 1.7159 tanh(2a/3) (Appendix A)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 1.7159 * torch.tanh(x * (2.0 / 3.0))


def _activation(name: str) -> nn.Module:
    return ScaledTanh() if name == "lecun_tanh" else get_activation(name)


class PartialConv(nn.Module):
    """C3: each output map convolves only the input maps its table row lists.

    Output maps with the same fan-in are gathered into one grouped convolution, so the parameter
    count is exactly sum over maps of (fan_in * k * k + 1)."""

    def __init__(self, table, kernel_size: int = 5):
        super().__init__()
        self.table = table
        self.groups = nn.ModuleList()
        self.index: list[torch.Tensor] = []
        self.order: list[int] = []
        for fan_in in sorted({len(row) for row in table}):
            maps = [i for i, row in enumerate(table) if len(row) == fan_in]
            self.groups.append(nn.Conv2d(fan_in * len(maps), len(maps), kernel_size, groups=len(maps)))
            self.index.append(torch.tensor([c for i in maps for c in table[i]]))
            self.order += maps
        # Where each output map sits after concatenating the groups.
        self.register_buffer("perm", torch.argsort(torch.tensor(self.order)), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs = [conv(x[:, idx.to(x.device)]) for conv, idx in zip(self.groups, self.index)]
        return torch.cat(outs, 1)[:, self.perm]


class Subsampling(nn.Module):
    """S2/S4: the sum of a 2x2 window times a trainable coefficient plus a trainable bias, per map."""

    def __init__(self, channels: int):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = 4.0 * F.avg_pool2d(x, 2)  # the window sum
        return s * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)


class RBFOutput(nn.Module):
    """Euclidean RBF units; returns minus the squared distance to each class prototype.

    The paper fixes the prototypes to stylised 7x12 bitmaps of the digits (entries +-1); we draw
    random +-1 prototypes, a buffer, so they are not trainable (as in the paper, "at least initially").
    """

    def __init__(self, in_features: int, num_classes: int):
        super().__init__()
        protos = torch.randint(0, 2, (num_classes, in_features)).float() * 2 - 1
        self.register_buffer("prototypes", protos)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return -((x.unsqueeze(1) - self.prototypes) ** 2).sum(-1)


def _pool(kind: str, channels: int) -> nn.Module:
    if kind == "lecun":
        return Subsampling(channels)
    if kind == "avg":
        return nn.AvgPool2d(2)
    if kind == "max":
        return nn.MaxPool2d(2)
    raise ValueError(f"unknown pool {kind!r}; valid: avg, lecun, max")


@register_model("lenet5")
class LeNet5(nn.Module):
    """LeNet-5 of LeCun et al. 1998 (32x32 input, C3 table, RBF output): 60,000 trainable params."""

    def __init__(
        self,
        *,
        activation: str = "lecun_tanh",  # 1.7159 tanh(2a/3), or a name of layers.ACTIVATIONS
        pool: Literal["lecun", "avg", "max"] = "lecun",  # 'lecun': trainable subsampling (S2, S4)
        c3_table: bool = True,  # C3 reads the S2 maps of Table I; False: all of them
        output: Literal["rbf", "linear"] = "rbf",  # fixed RBF prototypes, or a trained 84 -> classes layer
        num_classes: int = 10,
        in_channels: int = 1,
    ):
        super().__init__()
        if activation != "lecun_tanh" and activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; valid: lecun_tanh, " + ", ".join(sorted(ACTIVATIONS)))
        if output not in ("rbf", "linear"):
            raise ValueError(f"unknown output {output!r}; valid: linear, rbf")
        if c3_table and in_channels != 1:
            raise ValueError("C3's connection table needs the single-channel C1 of the paper")
        act = lambda: _activation(activation)
        c3 = PartialConv(C3_TABLE) if c3_table else nn.Conv2d(6, 16, 5)
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 6, 5),
            act(),
            _pool(pool, 6),
            act(),  # C1 28x28, S2 14x14
            c3,
            act(),
            _pool(pool, 16),
            act(),  # C3 10x10, S4 5x5
            nn.Conv2d(16, 120, 5),
            act(),  # C5 1x1
        )
        self.f6 = nn.Sequential(nn.Flatten(), nn.Linear(120, 84), act())
        self.output = RBFOutput(84, num_classes) if output == "rbf" else nn.Linear(84, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.output(self.f6(self.features(x)))


@register_model("lenet5_28")
class LeNet5Small(nn.Module):
    """The 28x28 LeNet-5 of the seed's table (000_d3f32fda5f8ed65b.txt): 44,426 parameters; two
    5x5 convs without padding, two pools, three FC layers."""

    def __init__(
        self,
        *,
        activation: str = "tanh",
        pool: Literal["avg", "max"] = "avg",
        num_classes: int = 10,
        in_channels: int = 1,
        input_size: int = 28,  # input side in pixels; sizes the classifier (28 -> 24 -> 12 -> 8 -> 4)
    ):
        super().__init__()
        if pool not in ("avg", "max"):
            raise ValueError(f"unknown pool {pool!r}; valid: avg, max")
        Pool = nn.AvgPool2d if pool == "avg" else nn.MaxPool2d
        side = ((input_size - 4) // 2 - 4) // 2  # 28 -> 24 -> 12 -> 8 -> 4
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 6, 5),
            get_activation(activation),
            Pool(2),
            nn.Conv2d(6, 16, 5),
            get_activation(activation),
            Pool(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(16 * side * side, 120),
            get_activation(activation),  # 256 -> 120 at 28x28
            nn.Linear(120, 84),
            get_activation(activation),
            nn.Linear(84, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))
