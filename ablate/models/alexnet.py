"""AlexNet as published (two towers), torchvision's one-tower variant, and the paper's small
four-layer CIFAR-10 network of Figure 1 (ReLU vs tanh).

Krizhevsky, Sutskever & Hinton, "ImageNet Classification with Deep Convolutional Neural Networks",
NeurIPS 2012, §3.5 and Figure 2.

`alexnet` (the paper, two GPUs): conv1 96 11x11/4 -> LRN -> maxpool 3/2 -> conv2 256 5x5 (each
tower sees only its own 48 maps: groups=2) -> LRN -> maxpool -> conv3 384 3x3 (reads both towers)
-> conv4 384 3x3 (groups=2) -> conv5 256 3x3 (groups=2) -> maxpool -> FC 4096 -> FC 4096 -> FC 1000,
dropout 0.5 before FC6 and FC7. The FC layers read all units of the previous layer (the paper's
Figure 2), so they are ordinary Linear layers. 60,965,224 parameters. The paper writes 224x224
input, but 11x11 stride 4 without padding gives 55x55 only from 227x227 (224 gives 54), so the
native input here is 227 (a no-op adaptive pool to 6x6 lets smaller inputs through).
`alexnet_onetower` is torchvision's single-GPU variant (after Krizhevsky's "one weird trick",
arXiv:1404.5997): 64/192/384/256/256 filters, conv1 padded by 2, no LRN; 61,100,840 parameters.

`alexnet_cifar4`: the paper's Figure 1 says only "a four-layer convolutional neural network" on
CIFAR-10. We use Krizhevsky's own public cuda-convnet CIFAR-10 example (layers-80sec.cfg): three 5x5
convs (32, 32, 64 filters, pad 2), each followed by 3x3 stride-2 pooling (max, avg, avg), and one FC
layer to 10 classes: four weight layers, 89,578 parameters. `activation='tanh'` is the figure's
dashed curve. (An inferred choice: the figure's exact network is unpublished.) `cifar4_flex` is the
same class, the activation experiment's net: no norm layers, and the classifier sized from
`input_size`, so it also runs on the 8x8 digits of the quick profiles (8 -> 4 -> 2 -> 1); at 32x32
it equals `alexnet_cifar4`.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from ablate.models.layers import get_activation, get_norm
from ablate.models.registry import register_variant

# (out_channels, kernel, stride, padding, groups, LRN after, maxpool after) per conv layer.
TWO_TOWER = (
    (96, 11, 4, 0, 1, True, True),
    (256, 5, 1, 2, 2, True, True),
    (384, 3, 1, 1, 1, False, False),
    (384, 3, 1, 1, 2, False, False),
    (256, 3, 1, 1, 2, False, True),
)
ONE_TOWER = (
    (64, 11, 4, 2, 1, False, True),
    (192, 5, 1, 2, 1, False, True),
    (384, 3, 1, 1, 1, False, False),
    (256, 3, 1, 1, 1, False, False),
    (256, 3, 1, 1, 1, False, True),
)


class AlexNet(nn.Module):
    """AlexNet of Krizhevsky et al. 2012: five convs (`convs`, one row per layer) and three FC layers."""

    def __init__(
        self,
        *,
        convs: tuple = TWO_TOWER,  # one row per conv layer (see TWO_TOWER); fixed by each variant
        lrn: bool = True,  # local response normalisation after conv1 and conv2 (§3.3)
        activation: str = "relu",
        norm: str = "none",
        dropout: float = 0.5,  # before FC6 and FC7
        width: float = 1.0,  # multiplies every conv's filters and the FC width (4096)
        num_classes: int = 1000,
        in_channels: int = 3,
    ):
        super().__init__()
        layers, c_in = [], in_channels
        for out, k, s, p, g, has_lrn, has_pool in convs:
            out = int(out * width) // g * g
            layers += [
                nn.Conv2d(c_in, out, k, s, p, groups=g, bias=norm == "none"),
                get_norm(norm, out),
                get_activation(activation),
            ]
            if has_lrn and lrn:  # §3.3: k=2, n=5, alpha=1e-4, beta=0.75
                layers.append(nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0))
            if has_pool:
                layers.append(nn.MaxPool2d(3, 2))  # overlapping pooling, §3.4
            c_in = out
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(6)  # identity at the native input
        hidden = int(4096 * width)
        self.classifier = nn.Sequential(
            nn.Dropout(dropout),
            nn.Linear(c_in * 36, hidden),
            get_activation(activation),  # FC6
            nn.Dropout(dropout),
            nn.Linear(hidden, hidden),
            get_activation(activation),  # FC7
            nn.Linear(hidden, num_classes),  # FC8
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.flatten(self.avgpool(self.features(x)), 1)
        return self.classifier(x)


register_variant(
    "alexnet",
    AlexNet,
    "AlexNet as published (Krizhevsky et al. 2012): two towers as grouped convs, LRN, 227x227.",
    fixed={"convs": TWO_TOWER},
)
register_variant(
    "alexnet_onetower",
    AlexNet,
    "torchvision's one-tower AlexNet (Krizhevsky 2014, arXiv:1404.5997): 64-192-384-256-256.",
    fixed={"convs": ONE_TOWER, "lrn": False},
)


def _pooled(size: int, times: int) -> int:
    for _ in range(times):  # kernel 3, stride 2, pad 1 (cuda-convnet's ceil rounding)
        size = (size + 2 - 3) // 2 + 1
    return size


class Cifar4(nn.Module):
    """The four-layer CIFAR-10 net of Krizhevsky et al. 2012, Figure 1 (inferred: cuda-convnet's
    layers-80sec.cfg; see the module docstring)."""

    def __init__(
        self,
        *,
        activation: str = "relu",
        # None: no norm layers at all (cifar4_flex's state-dict keys: features.0/3/6); a name of
        # layers.NORMS puts that norm after each conv ('none': an Identity, alexnet_cifar4's keys 0/4/8).
        norm: str | None = "none",
        width: int = 32,  # filters of conv1 and conv2; conv3 has 2 * width
        input_size: int = 32,  # input side in pixels; sizes the classifier (32 -> 16 -> 8 -> 4)
        num_classes: int = 10,
        in_channels: int = 3,
    ):
        super().__init__()
        w = (width, width, 2 * width)
        bias = norm in (None, "none")  # a conv followed by a norm needs no bias

        def conv(c_in, c_out):
            norm_layers = [] if norm is None else [get_norm(norm, c_out)]
            return [nn.Conv2d(c_in, c_out, 5, padding=2, bias=bias), *norm_layers, get_activation(activation)]

        # cuda-convnet pools with ceil rounding: 32 -> 16 -> 8 -> 4.
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


register_variant(
    "alexnet_cifar4",
    Cifar4,
    "The four-layer CIFAR-10 net of Krizhevsky et al. 2012, Figure 1 (inferred: cuda-convnet's "
    "layers-80sec.cfg; see the module docstring). 32x32 input.",
    fixed={"input_size": 32},
)
register_variant(
    "cifar4_flex",
    Cifar4,
    "Krizhevsky et al. 2012, Fig. 1's four-layer CIFAR net (as `alexnet_cifar4`, no norm layers), any input size.",
    fixed={"norm": None},
)
