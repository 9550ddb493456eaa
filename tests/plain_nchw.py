"""The roadmap net without its fast paths: the baseline of benchmarks/convnext_cpu_step.py and the
reference that tests/test_convnext.py checks the fast net against."""

from __future__ import annotations

import copy

import torch.nn as nn

from ablate.models.layers import SameConv2d


def as_plain(net: nn.Module) -> nn.Module:
    """A copy of `net` with NCHW activations and every SameConv2d a plain, uncropped nn.Conv2d."""
    plain = copy.deepcopy(net)
    plain.channels_last = False
    for module in list(plain.modules()):
        for name, child in module.named_children():
            if isinstance(child, SameConv2d):
                conv = nn.Conv2d(
                    child.in_channels,
                    child.out_channels,
                    child.kernel_size,
                    padding=child.padding,
                    groups=child.groups,
                    bias=child.bias is not None,
                )
                conv.load_state_dict(child.state_dict())
                setattr(module, name, conv)
    return plain
