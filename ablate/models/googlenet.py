"""GoogLeNet / Inception-v1: the paper's network, and torchvision's.

Szegedy et al., "Going Deeper with Convolutions", CVPR 2015, arXiv:1409.4842, Table 1 and Figure 3.

`googlenet` follows Table 1: a 7x7/2 conv, max pool, LRN, 1x1 and 3x3 convs, LRN, max pool, nine
Inception modules (3a-3b, pool, 4a-4e, pool, 5a-5b), global average pooling, dropout 0.4, one FC
layer. Each module has four branches: 1x1; 1x1 -> 3x3; 1x1 -> 5x5; 3x3 max pool -> 1x1. ReLU, conv
biases, no BatchNorm. 22 layers with parameters on the longest path. The two auxiliary classifiers
(after 4a and 4d) are used only in training and are off by default (`aux_logits=True` adds them;
the model then returns (logits, aux1, aux2) in training mode).

`googlenet_torchvision` is torchvision's builder, which differs from the paper: BatchNorm after
every conv (bias-free convs), no LRN, the "5x5" branch uses a 3x3 kernel (a known bug kept for
weight compatibility, pytorch/vision#906), and aux heads are on by default there (13.0M
parameters with them, 6.6M without; we default to without). `googlenet(branch3_kernel=3,
norm='batch', lrn=False)` reproduces torchvision's count from our class.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from ablate.models.layers import get_activation, get_norm
from ablate.models.registry import register_model
from ablate.models.zoo_inputs import replace_first_conv

# Table 1: (#1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj); "pool" is a 3x3/2 max pool.
INCEPTION = (
    ("3a", (64, 96, 128, 16, 32, 32)),
    ("3b", (128, 128, 192, 32, 96, 64)),
    "pool",
    ("4a", (192, 96, 208, 16, 48, 64)),
    ("4b", (160, 112, 224, 24, 64, 64)),
    ("4c", (128, 128, 256, 24, 64, 64)),
    ("4d", (112, 144, 288, 32, 64, 64)),
    ("4e", (256, 160, 320, 32, 128, 128)),
    "pool",
    ("5a", (256, 160, 320, 32, 128, 128)),
    ("5b", (384, 192, 384, 48, 128, 128)),
)


class ConvAct(nn.Sequential):
    def __init__(self, c_in, c_out, k, activation, norm, stride=1):
        super().__init__(
            nn.Conv2d(c_in, c_out, k, stride, k // 2, bias=norm == "none"),
            get_norm(norm, c_out),
            get_activation(activation),
        )


class Inception(nn.Module):
    def __init__(self, c_in, cfg, activation, norm, branch3_kernel=5):
        super().__init__()
        n1, r3, n3, r5, n5, proj = cfg

        def conv(a, b, k):
            return ConvAct(a, b, k, activation, norm)

        self.branch1 = conv(c_in, n1, 1)
        self.branch2 = nn.Sequential(conv(c_in, r3, 1), conv(r3, n3, 3))
        self.branch3 = nn.Sequential(conv(c_in, r5, 1), conv(r5, n5, branch3_kernel))
        self.branch4 = nn.Sequential(nn.MaxPool2d(3, 1, 1), conv(c_in, proj, 1))
        self.out_channels = n1 + n3 + n5 + proj

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)


class AuxHead(nn.Module):
    """Auxiliary classifier (§5): 5x5/3 avg pool, 1x1 conv 128, FC 1024, dropout 0.7, FC."""

    def __init__(self, c_in, num_classes, activation, norm):
        super().__init__()
        self.body = nn.Sequential(
            nn.AdaptiveAvgPool2d(4),
            ConvAct(c_in, 128, 1, activation, norm),
            nn.Flatten(),
            nn.Linear(2048, 1024),
            get_activation(activation),
            nn.Dropout(0.7),
            nn.Linear(1024, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


@register_model("googlenet")
class GoogLeNet(nn.Module):
    """GoogLeNet as in Szegedy et al. 2014, Table 1 (no BN, LRN, true 5x5 branch)."""

    def __init__(
        self,
        *,
        activation: str = "relu",
        norm: str = "none",  # 'batch': torchvision's (BN postdates the paper)
        lrn: bool = True,  # local response normalisation in the stem
        branch3_kernel: int = 5,  # the "5x5" branch's kernel (3 in torchvision's, pytorch/vision#906)
        aux_logits: bool = False,  # the two auxiliary classifiers (training mode only)
        dropout: float = 0.4,  # before the classifier
        num_classes: int = 1000,
        in_channels: int = 3,
    ):
        super().__init__()

        def lrn_layer():
            return nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75) if lrn else nn.Identity()

        self.stem = nn.Sequential(
            ConvAct(in_channels, 64, 7, activation, norm, stride=2),  # 112x112
            nn.MaxPool2d(3, 2, ceil_mode=True),
            lrn_layer(),  # 56x56
            ConvAct(64, 64, 1, activation, norm),
            ConvAct(64, 192, 3, activation, norm),
            lrn_layer(),
            nn.MaxPool2d(3, 2, ceil_mode=True),  # 28x28
        )
        self.modules_ = nn.ModuleDict()
        c = 192
        self.layout: list[str] = []
        for i, entry in enumerate(INCEPTION):
            if entry == "pool":
                key = f"pool{i}"
                self.modules_[key] = nn.MaxPool2d(3, 2, ceil_mode=True)
            else:
                key, cfg = entry
                self.modules_[key] = Inception(c, cfg, activation, norm, branch3_kernel)
                c = self.modules_[key].out_channels
            self.layout.append(key)
        self.aux = (
            nn.ModuleDict(
                {
                    "4a": AuxHead(512, num_classes, activation, norm),
                    "4d": AuxHead(528, num_classes, activation, norm),
                }
            )
            if aux_logits
            else None
        )
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(c, num_classes))

    def forward(self, x: torch.Tensor):
        x = self.stem(x)
        aux_out = []
        for key in self.layout:
            x = self.modules_[key](x)
            if self.aux is not None and self.training and key in self.aux:
                aux_out.append(self.aux[key](x))
        out = self.head(x)
        return (out, *aux_out) if aux_out else out


@register_model
def googlenet_torchvision(
    aux_logits: bool = False,
    dropout: float = 0.2,
    num_classes: int = 1000,
    in_channels: int = 3,
) -> nn.Module:
    """torchvision's GoogLeNet (BN, 3x3 in the '5x5' branch; see the module docstring)."""
    from torchvision.models import googlenet as tv_googlenet

    model = tv_googlenet(
        weights=None,
        aux_logits=aux_logits,
        init_weights=True,
        dropout=dropout,
        num_classes=num_classes,
        transform_input=False,
    )
    return replace_first_conv(model, in_channels)
