"""Measurements on built models: parameter counts, compute, shapes, depth, receptive fields.

Conventions (the papers'):
- parameters: trainable tensors of the built model (`requires_grad`), counted element by element;
  buffers (BN running statistics, LeNet's fixed RBF prototypes) are not parameters.
- compute: GMACs = 10^9 multiply-adds of convolutions and matrix products, from
  `torch.utils.flop_counter.FlopCounterMode`, which counts 2 FLOPs per multiply-add; batch size 1,
  the model's native input, eval mode. Norms, activations, pooling and additions are not counted
  (as in the papers' "FLOPs", which are multiply-adds).
- Big models are built and run on the meta device: shapes and counts are exact, no memory is used
  and nothing is computed, so the whole zoo measures in seconds.
"""

from __future__ import annotations

import contextlib
import copy
import functools

import torch
import torch.nn as nn
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_flatten
from torch.utils.flop_counter import FlopCounterMode

from ablate.models import build_model
from ablate.models.zoo_inputs import native_input_shape

NORM_TYPES = (nn.BatchNorm2d, nn.GroupNorm, nn.LayerNorm)


def count_params(model: nn.Module) -> int:
    """Trainable parameters (exact integer)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def params_by_kind(model: nn.Module) -> dict[str, int]:
    """Trainable parameters split by the kind of module that owns them: conv, fc, norm, other."""
    out = {"conv": 0, "fc": 0, "norm": 0, "other": 0}
    for m in model.modules():
        own = sum(p.numel() for p in m.parameters(recurse=False) if p.requires_grad)
        kind = (
            "conv"
            if isinstance(m, nn.Conv2d)
            else "fc"
            if isinstance(m, nn.Linear)
            else "norm"
            if isinstance(m, NORM_TYPES)
            else "other"
        )
        out[kind] += own
    return out


@contextlib.contextmanager
def _no_init():
    """Make torch.nn.init's functions cheap: the values of weights never matter to a count, and
    the meta device's random fills are slow in Python (building the 1202-layer CIFAR net took
    ~15 s with them, ~2 s without). On a real device, weights become zeros."""
    names = [n for n in dir(nn.init) if n.endswith("_") and not n.startswith("_")]
    saved = {n: getattr(nn.init, n) for n in names}

    def skip(tensor, *args, **kwargs):
        return tensor if tensor.is_meta else tensor.detach().zero_()

    try:
        for n in names:
            setattr(nn.init, n, skip)
        yield
    finally:
        for n, fn in saved.items():
            setattr(nn.init, n, fn)


def meta_build(name: str, **kwargs) -> nn.Module:
    """Build a registered model on the meta device, skipping weight initialisation (uncached)."""
    with torch.device("meta"), _no_init():
        return build_model(name, **kwargs)


@functools.cache
def lab_model(name: str, **kwargs) -> nn.Module:
    """The registered model `name`, built on the meta device, in eval mode; cached in memory for
    the process. (The meta device beats a real CPU pass even for the small-input 1202-layer net:
    no arithmetic, and no oneDNN set-up per layer.)"""
    return meta_build(name, **kwargs).eval()


def lab_input(name: str, side: int | None = None) -> torch.Tensor:
    """A batch of one native input (or a side x side one), on the meta device."""
    c, h, w = native_input_shape(name)
    return torch.empty(1, c, side or h, side or w, device="meta")


def flops_by_op(model: nn.Module, x: torch.Tensor) -> dict[str, int]:
    """FLOPs (2 per multiply-add) of one forward pass, by aten op name ('convolution', 'addmm'...)."""
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(x)
    return {str(op).split(".")[1]: n for op, n in counter.get_flop_counts()["Global"].items()}


def macs(model: nn.Module, x: torch.Tensor) -> int:
    """Multiply-adds of one forward pass on x (torch's FLOP counter / 2)."""
    return sum(flops_by_op(model, x).values()) // 2


def gmacs(model: nn.Module, x: torch.Tensor) -> float:
    """10^9 multiply-adds of one forward pass on x."""
    return sum(flops_by_op(model, x).values()) / 2e9


@functools.cache
def zoo_params(name: str) -> int:
    return count_params(lab_model(name))


@functools.cache
def zoo_profile(name: str) -> tuple[dict[str, int], int]:
    """One forward pass of the native input: (FLOPs by op, weighted depth)."""
    with torch.no_grad(), FlopCounterMode(display=False) as counter, _DepthMode():
        out = lab_model(name)(lab_input(name))
    flops = {str(op).split(".")[1]: n for op, n in counter.get_flop_counts()["Global"].items()}
    return flops, int(out._ablate_depth)


def zoo_gmacs(name: str) -> float:
    """10^9 multiply-adds of one forward pass on the native input."""
    return sum(zoo_profile(name)[0].values()) / 2e9


def zoo_depth(name: str) -> int:
    """Layers with weights on the longest path (see weighted_depth)."""
    return zoo_profile(name)[1]


def conv_fc_split(name: str) -> dict[str, float]:
    """Fractions of parameters and of compute in conv layers vs FC layers, on the native input."""
    model = lab_model(name)
    p = params_by_kind(model)
    ops = zoo_profile(name)[0]
    conv_flops = ops.get("convolution", 0)
    total_flops = sum(ops.values())
    return {
        "fc_params": p["fc"] / count_params(model),
        "conv_params": p["conv"] / count_params(model),
        "conv_macs": conv_flops / total_flops,
        "fc_macs": 1 - conv_flops / total_flops,
    }


def run_with_hooks(model: nn.Module, x: torch.Tensor, modules: list[nn.Module], hook, pre: bool = False) -> None:
    """One forward pass of x (no grad) with `hook(k, module, inputs, output)` called after module k
    of `modules` runs (before it, without `output`, if `pre`); the hooks are removed afterwards.
    They return None, so the forward pass is unchanged."""
    if pre:
        handles = [m.register_forward_pre_hook(lambda mod, i, k=k: hook(k, mod, i)) for k, m in enumerate(modules)]
    else:
        handles = [m.register_forward_hook(lambda mod, i, o, k=k: hook(k, mod, i, o)) for k, m in enumerate(modules)]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()


def _shapes(model: nn.Module, x: torch.Tensor, modules: list[nn.Module], side: str) -> list[tuple]:
    """Input or output shape (batch dimension dropped) of each module in `modules` when running x."""
    shapes: dict[int, tuple] = {}

    def record(k, _mod, inputs, output=None):
        shapes.setdefault(k, tuple((inputs[0] if side == "input" else output).shape[1:]))

    run_with_hooks(model, x, modules, record, pre=side == "input")
    return [shapes[k] for k in range(len(modules))]


def output_shapes(model: nn.Module, x: torch.Tensor, modules: list[nn.Module]) -> list[tuple]:
    """Output shape (batch dimension dropped) of each module in `modules` when running x."""
    return _shapes(model, x, modules, "output")


def input_shapes(model: nn.Module, x: torch.Tensor, modules: list[nn.Module]) -> list[tuple]:
    """Input shape (batch dimension dropped) of each module in `modules` when running x."""
    return _shapes(model, x, modules, "input")


class _DepthMode(TorchFunctionMode):
    """Tags every tensor with the number of conv/linear layers on the longest path behind it."""

    WEIGHTED = {"conv1d", "conv2d", "conv3d", "linear"}

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        leaves = tree_flatten((args, kwargs))[0]
        depth = max((getattr(t, "_ablate_depth", 0) for t in leaves if isinstance(t, torch.Tensor)), default=0)
        depth += getattr(func, "__name__", "") in self.WEIGHTED
        for t in tree_flatten(out)[0]:
            if isinstance(t, torch.Tensor):
                t._ablate_depth = max(depth, getattr(t, "_ablate_depth", 0))
        return out


def weighted_depth(model: nn.Module, x: torch.Tensor) -> int:
    """Layers with weights (conv, FC) on the longest input-to-output path: the papers' "depth"
    (VGG-16's 16, GoogLeNet's 22, ResNet-152's 152; a projection shortcut is not on it)."""
    with torch.no_grad(), _DepthMode():
        out = model(x)
    return int(out._ablate_depth)


def receptive_field(layers: nn.Module, in_channels: int, side: int = 33) -> int:
    """Side of the input region that one central output unit sees, found by back-propagating from
    that unit: all weights set to 1 so that no contribution cancels, then the extent of the
    non-zero input gradient. `layers` must keep the centre aligned (odd kernels, any padding)."""
    net = _all_ones(layers)
    x = torch.ones(1, in_channels, side, side, requires_grad=True)
    y = net(x)
    y[0, 0, y.shape[2] // 2, y.shape[3] // 2].backward()
    rows = x.grad[0].abs().sum(dim=(0, 2)).nonzero()
    return int(rows.max() - rows.min() + 1)


def _all_ones(layers: nn.Module) -> nn.Module:
    net = copy.deepcopy(layers)
    with torch.no_grad():
        for p in net.parameters():
            p.fill_(1.0)
    return net


def count_calls(model: nn.Module, x: torch.Tensor, kinds: tuple[type, ...]) -> int:
    """How many times modules of the given classes run in one forward pass (a module reused three
    times, like torchvision's bottleneck ReLU, counts three)."""
    n = [0]

    def hook(*_):
        n[0] += 1

    run_with_hooks(model, x, [m for m in model.modules() if isinstance(m, kinds)], hook)
    return n[0]
