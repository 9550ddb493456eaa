"""Each zoo model's native input (C, H, W), and two helpers for the torchvision-reused families.

The native input is what the model's paper feeds it; the claims table measures compute and shapes
there, and the zoo tests run every model on it (or on a smaller size where the architecture allows).
Names not listed fall back by prefix (the CIFAR nets of He et al. are 3x32x32), then to the
model's own `in_channels` / `input_size` (its defaults, or what its variant fixes), so a small net
that declares those knobs is not listed twice.
"""

from __future__ import annotations

import torch.nn as nn

from ablate.models.layers import ACTIVATIONS, get_activation, get_norm
from ablate.models.registry import builder_params, get_builder

# (channels, height, width) of one input image, batch dimension excluded.
NATIVE_INPUT: dict[str, tuple[int, int, int]] = {
    "lenet5": (1, 32, 32),  # LeCun et al. 1998: 28x28 digits padded to 32x32
    "simple_resnet": (1, 28, 28),  # global average pooling: no input_size knob to read it from
    "alexnet": (3, 227, 227),  # the paper says 224, but 11x11/4 without padding needs 227 for 55
    "alexnet_onetower": (3, 224, 224),  # torchvision pads conv1 by 2 instead
    "mobilenet_v1": (3, 224, 224),  # times the resolution multiplier rho
    # EfficientNet-B0..B7: Tan & Le 2019 / the official TPU repo's resolutions (224 ... 600).
    "efficientnet_b0": (3, 224, 224),
    "efficientnet_b1": (3, 240, 240),
    "efficientnet_b2": (3, 260, 260),
    "efficientnet_b3": (3, 300, 300),
    "efficientnet_b4": (3, 380, 380),
    "efficientnet_b5": (3, 456, 456),
    "efficientnet_b6": (3, 528, 528),
    "efficientnet_b7": (3, 600, 600),
}

# Prefix fallbacks, first match wins: ImageNet models are 3x224x224.
_PREFIX_INPUT: tuple[tuple[str, tuple[int, int, int]], ...] = (
    ("cifar_", (3, 32, 32)),
    ("vgg", (3, 224, 224)),
    ("googlenet", (3, 224, 224)),
    ("resnet", (3, 224, 224)),
    ("densenet", (3, 224, 224)),
    ("mobilenet", (3, 224, 224)),
    ("convnext", (3, 224, 224)),
)


def native_input_shape(name: str) -> tuple[int, int, int]:
    """(C, H, W) of the input the model `name` was designed for. Models not listed here (the
    small ablation nets) take their own `in_channels` (else 3) and `input_size` (else 32, the
    CIFAR size): the knob's default or the value their variant fixes."""
    if name in NATIVE_INPUT:
        return NATIVE_INPUT[name]
    for prefix, shape in _PREFIX_INPUT:
        if name.startswith(prefix):
            return shape

    params = {**builder_params(name), **getattr(get_builder(name), "fixed", {})}  # unknown: raises
    side = params.get("input_size", 32)
    return params.get("in_channels", 3), side, side


# --- helpers for builders that reuse torchvision's classes ---


def replace_first_conv(model: nn.Module, in_channels: int) -> nn.Module:
    """Swap the model's first Conv2d for one with `in_channels` inputs (same kernel, stride, ...)."""
    if in_channels == 3:
        return model
    for parent in model.modules():
        for child_name, child in parent.named_children():
            if isinstance(child, nn.Conv2d):
                setattr(
                    parent,
                    child_name,
                    nn.Conv2d(
                        in_channels,
                        child.out_channels,
                        child.kernel_size,
                        child.stride,
                        child.padding,
                        child.dilation,
                        child.groups,
                        child.bias is not None,
                    ),
                )
                return model
    raise ValueError("model has no Conv2d to adapt")


def swap_activation(model: nn.Module, default: type[nn.Module], name: str) -> nn.Module:
    """Replace every module of class `default` by `get_activation(name)` (the activation knob for
    torchvision models, whose activation is a hard-coded class). A no-op for the default."""
    if name not in ACTIVATIONS:
        get_activation(name)  # raises with the valid names
    if isinstance(default(), type(get_activation(name))):
        return model
    for parent in model.modules():
        for child_name, child in parent.named_children():
            if type(child) is default:
                setattr(parent, child_name, get_activation(name))
    return model


def norm_factory(name: str):
    """A torchvision-style norm_layer (called with the channel count) from our norm names."""
    get_norm(name, 8)  # validate early, with the valid names in the error
    return lambda channels: get_norm(name, channels)
