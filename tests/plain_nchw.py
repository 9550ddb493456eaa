"""The roadmap net without its fast paths: the baseline of benchmarks/convnext_cpu_step.py and the
reference that tests/test_convnext.py checks the fast net against."""

from __future__ import annotations

import copy

import torch
import torch.nn as nn

from ablate.models.layers import ChannelLayerNorm, SameConv2d


class WrittenOutLayerNorm(nn.Module):
    """LayerNorm over the channels of an NCHW map as ~6 elementwise passes (mean, centre, square,
    mean, rsqrt, affine): what ChannelLayerNorm computed before it used the fused kernel. Holds the
    same `norm` parameters, so a state dict loads into either."""

    def __init__(self, norm: nn.LayerNorm):
        super().__init__()
        self.norm = norm

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(1, keepdim=True)
        var = (x - mean).pow(2).mean(1, keepdim=True)
        x = (x - mean) * torch.rsqrt(var + self.norm.eps)
        return x * self.norm.weight[:, None, None] + self.norm.bias[:, None, None]


def _replace(net: nn.Module, kind: type, make) -> nn.Module:
    for module in list(net.modules()):
        for name, child in module.named_children():
            if isinstance(child, kind):
                setattr(module, name, make(child))
    return net


def _plain_conv(child: SameConv2d) -> nn.Conv2d:
    conv = nn.Conv2d(
        child.in_channels,
        child.out_channels,
        child.kernel_size,
        padding=child.padding,
        groups=child.groups,
        bias=child.bias is not None,
    )
    conv.load_state_dict(child.state_dict())
    return conv


def with_written_out_layer_norm(net: nn.Module) -> nn.Module:
    """A copy of `net` whose channel LayerNorms are written out (the layout and convs as built)."""
    return _replace(copy.deepcopy(net), ChannelLayerNorm, lambda ln: WrittenOutLayerNorm(ln.norm))


def as_plain(net: nn.Module) -> nn.Module:
    """A copy of `net` with NCHW activations, every SameConv2d a plain, uncropped nn.Conv2d and every
    channel LayerNorm written out."""
    plain = with_written_out_layer_norm(net)
    plain.channels_last = False
    return _replace(plain, SameConv2d, _plain_conv)
