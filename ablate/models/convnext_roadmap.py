"""ConvNeXt's roadmap: one modernisable network whose design knobs walk ResNet-50 to ConvNeXt-T.

Liu, Mao, Wu, Feichtenhofer, Darrell & Xie, "A ConvNet for the 2020s", CVPR 2022,
arXiv:2201.03545, §2, Fig. 2 and Table 10. Each step of the roadmap changes one design choice of
the previous step; `ROADMAP` lists the steps in the paper's order with the knobs each one sets, and
`convnext_roadmap(step=...)` builds the network of that step (every earlier change included).

The network: a stem, four stages of residual blocks, global average pooling, (a norm,) one linear
layer. Knobs, in roadmap order:
- depths: blocks per stage, ResNet-50's (3, 4, 6, 3) -> Swin-T's 1:1:3:1 ratio (3, 3, 9, 3).
- stem: 'resnet' (7x7/2 conv + norm + act + 3x3/2 max pool) -> 'patchify' (4x4/4 conv + norm).
- depthwise: the block's spatial conv becomes depthwise (groups = channels, ResNeXt's extreme).
- width: the stem's channels and the first stage's bottleneck (or block) width, 64 -> 96 (Swin-T);
  stage i has width * 2**i.
- block: 'bottleneck' (1x1 reduce -> kxk -> 1x1 expand x4: ResNet's wide-narrow-wide, stage width
  x4 at its output) -> 'inverted' (1x1 expand x4 -> kxk -> 1x1 reduce: a Transformer MLP's
  narrow-wide-narrow, stage width at its output).
- dw_first: the inverted block's depthwise conv moved up, before the 1x1 expansion (like attention
  before the MLP), so the large kernel works on the narrow width.
- kernel: the spatial conv's size, 3 -> 5, 7, 9, 11 (7 kept).
- activation: 'relu' -> 'gelu'.
- fewer_activations: one activation per block, between the two 1x1 convs (none after the
  depthwise conv, none after the residual addition).
- fewer_norms: one norm per block, after the depthwise conv (none after the 1x1 convs).
- norm: 'batch' -> 'layer' (LayerNorm over channels).
- separate_downsample: a stage changes resolution with its own norm + 2x2/2 conv (Swin's patch
  merging) instead of a strided first block with a 1x1/2 projection shortcut; plus a norm after
  global pooling. This is ConvNeXt-T without layer scale (`layer_scale` adds it).

Training knobs (the paper's "modernised training recipe", applied from the second step on):
drop_path (stochastic depth, rising linearly over the blocks to this rate) and layer_scale.
`width_mult` scales every channel count (0.25: 64 -> 16) and `depth_div` divides every stage's
depth (rounded, at least 1; 3: ResNet-50's (3, 4, 6, 3) -> (1, 1, 2, 1) and Swin's (3, 3, 9, 3) ->
(1, 1, 3, 1), which keeps the stage-ratio step a shift of blocks into stage 3) for runs at small
scale; the roadmap's width step still multiplies the width by 96/64. Compute at 224x224 (ablate.report: `roadmap_compute`)
is checked against Table 10's GFLOPs column, which counts multiply-adds.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
import torch.nn as nn
from torchvision.ops import StochasticDepth

from ablate.models.layers import SameConv2d, get_activation, get_norm, he_init
from ablate.models.registry import register_model

EXPANSION = 4  # ResNet's bottleneck expansion and ConvNeXt's MLP ratio


@dataclass(frozen=True)
class Design:
    """The architecture knobs of one roadmap step (ResNet-50's values by default)."""

    depths: tuple[int, int, int, int] = (3, 4, 6, 3)
    stem: str = "resnet"
    depthwise: bool = False
    width: int = 64
    block: str = "bottleneck"
    dw_first: bool = False
    kernel: int = 3
    activation: str = "relu"
    fewer_activations: bool = False
    fewer_norms: bool = False
    norm: str = "batch"
    separate_downsample: bool = False


# (step, the knobs it changes, the step it starts from). Kernel 5, 9 and 11 are side branches the
# paper tried from "move up depthwise conv"; the main line continues from kernel 7.
ROADMAP_CHANGES: list[tuple[str, dict, str | None]] = [
    ("resnet50", {}, None),
    ("stage_ratio", {"depths": (3, 3, 9, 3)}, "resnet50"),
    ("patchify_stem", {"stem": "patchify"}, "stage_ratio"),
    ("depthwise_conv", {"depthwise": True}, "patchify_stem"),
    ("increase_width", {"width": 96}, "depthwise_conv"),
    ("inverted_bottleneck", {"block": "inverted"}, "increase_width"),
    ("move_up_dwconv", {"dw_first": True}, "inverted_bottleneck"),
    ("kernel5", {"kernel": 5}, "move_up_dwconv"),
    ("kernel7", {"kernel": 7}, "move_up_dwconv"),
    ("kernel9", {"kernel": 9}, "move_up_dwconv"),
    ("kernel11", {"kernel": 11}, "move_up_dwconv"),
    ("gelu", {"activation": "gelu"}, "kernel7"),
    ("fewer_activations", {"fewer_activations": True}, "gelu"),
    ("fewer_norms", {"fewer_norms": True}, "fewer_activations"),
    ("layer_norm", {"norm": "layer"}, "fewer_norms"),
    ("separate_downsample", {"separate_downsample": True}, "layer_norm"),
]


def _resolve_roadmap() -> dict[str, Design]:
    designs: dict[str, Design] = {}
    for step, changes, parent in ROADMAP_CHANGES:
        designs[step] = replace(designs[parent] if parent else Design(), **changes)
    return designs


ROADMAP: dict[str, Design] = _resolve_roadmap()
STEPS = tuple(ROADMAP)


class Block(nn.Module):
    """One residual block of any roadmap step; `d.block` and `d.dw_first` fix the layer order."""

    def __init__(self, d: Design, in_ch: int, width: int, stride: int, drop_path: float, layer_scale: float | None):
        super().__init__()
        out_ch = self.out_channels = width * EXPANSION if d.block == "bottleneck" else width
        act = (lambda: nn.Identity()) if d.fewer_activations else (lambda: get_activation(d.activation))
        norm = (lambda c: nn.Identity()) if d.fewer_norms else (lambda c: get_norm(d.norm, c))
        pad = d.kernel // 2

        # A bias before BatchNorm is cancelled by it; before LayerNorm (over channels) or no norm
        # it is not, so those convs have one (as ConvNeXt's do).
        bias = d.norm != "batch" or d.fewer_norms

        def spatial(ch: int, keeps_norm: bool = False) -> nn.Conv2d:
            groups, has_bias = ch if d.depthwise else 1, d.norm != "batch" if keeps_norm else bias
            if stride == 1:  # the same taps, cropped on maps smaller than the kernel
                return SameConv2d(ch, ch, d.kernel, groups=groups, bias=has_bias)
            return nn.Conv2d(ch, ch, d.kernel, stride=stride, padding=pad, groups=groups, bias=has_bias)

        def pointwise(cin: int, cout: int) -> nn.Conv2d:
            return nn.Conv2d(cin, cout, 1, bias=bias)

        if d.block == "bottleneck":  # 1x1 reduce, kxk, 1x1 expand
            layers = [
                pointwise(in_ch, width),
                norm(width),
                act(),
                spatial(width),
                norm(width),
                act(),
                pointwise(width, out_ch),
                norm(out_ch),
            ]
        elif not d.dw_first:  # 1x1 expand, kxk depthwise on the wide layer, 1x1 reduce
            hidden = width * EXPANSION
            layers = [
                pointwise(in_ch, hidden),
                norm(hidden),
                act(),
                spatial(hidden),
                norm(hidden),
                act(),
                pointwise(hidden, out_ch),
                norm(out_ch),
            ]
        else:  # kxk depthwise first, then the MLP: 1x1 expand, 1x1 reduce
            hidden = width * EXPANSION
            layers = [
                spatial(in_ch, keeps_norm=True),
                get_norm(d.norm, in_ch),
                act(),
                pointwise(in_ch, hidden),
                norm(hidden),
                get_activation(d.activation),
                pointwise(hidden, out_ch),
                norm(out_ch),
            ]
        self.residual = nn.Sequential(*layers)
        self.scale = nn.Parameter(torch.full((out_ch, 1, 1), layer_scale)) if layer_scale else None
        self.drop = StochasticDepth(drop_path, "row")
        self.shortcut = None
        if stride != 1 or in_ch != out_ch:  # ResNet's projection shortcut ('B')
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_ch, out_ch, 1, stride=stride, bias=d.norm != "batch"), get_norm(d.norm, out_ch)
            )
        self.out_act = act()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.residual(x)
        if self.scale is not None:
            out = out * self.scale
        identity = x if self.shortcut is None else self.shortcut(x)
        return self.out_act(identity + self.drop(out))


def _stem(d: Design, in_channels: int, width: int) -> nn.Sequential:
    if d.stem == "resnet":
        return nn.Sequential(
            nn.Conv2d(in_channels, width, 7, stride=2, padding=3, bias=d.norm != "batch"),
            get_norm(d.norm, width),
            get_activation(d.activation),
            nn.MaxPool2d(3, stride=2, padding=1),
        )
    if d.stem == "patchify":
        return nn.Sequential(
            nn.Conv2d(in_channels, width, 4, stride=4, bias=d.norm != "batch"), get_norm(d.norm, width)
        )
    raise ValueError(f"unknown stem {d.stem!r}; valid: resnet, patchify")


# The activations' memory layout by device type (True: channels-last, NHWC). CPU: oneDNN's depthwise
# and 1x1 convolutions run faster on NHWC (one thread, the quick profile's step: the layout alone
# 1.32x for ResNet-50, 1.04x for ConvNeXt-T, whose fused LayerNorm returns NHWC anyway; with the
# cropped convs and that LayerNorm ConvNeXt-T 2.52x: benchmarks/convnext_cpu_step.py). CUDA: NHWC, not measured yet:
# it is cuDNN's tensor-core layout for bf16/fp16 and TF32 convolutions (timm trains ConvNeXt with
# --channels-last); benchmarks/gpu_check.py times both on the first GPU. Other devices: NCHW.
CHANNELS_LAST_ON = {"cpu": True, "cuda": True}


class RoadmapNet(nn.Module):
    def __init__(
        self,
        d: Design,
        width_mult: float,
        depth_div: int,
        num_classes: int,
        in_channels: int,
        drop_path: float,
        layer_scale: float | None,
    ):
        super().__init__()
        base = max(1, round(d.width * width_mult))
        depths = [max(1, round(n / depth_div)) for n in d.depths]
        self.stem = _stem(d, in_channels, base)
        self.stages, out_ch = _stages(d, base, depths, drop_path, layer_scale)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head_norm = nn.LayerNorm(out_ch) if d.separate_downsample else nn.Identity()
        self.fc = nn.Linear(out_ch, num_classes)
        self.channels_last: bool | None = None  # None: by device (CHANNELS_LAST_ON); False: NCHW; True: NHWC
        he_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nhwc = CHANNELS_LAST_ON.get(x.device.type, False) if self.channels_last is None else self.channels_last
        if nhwc:
            x = x.contiguous(memory_format=torch.channels_last)
        x = self.pool(self.stages(self.stem(x))).flatten(1)
        return self.fc(self.head_norm(x))


def _stages(
    d: Design, base: int, depths: list[int], drop_path: float, layer_scale: float | None
) -> tuple[nn.Sequential, int]:
    """(the four stages, the channels out of the last). Stage i has width base * 2**i; stochastic
    depth rises linearly over all blocks from 0 to drop_path."""
    n = sum(depths)
    rates = [drop_path * k / max(1, n - 1) for k in range(n)]
    stages, in_ch, k = [], base, 0
    for i, depth in enumerate(depths):
        width = base * 2**i
        blocks: list[nn.Module] = []
        if i > 0 and d.separate_downsample:  # Swin-like: norm, then a 2x2/2 conv
            blocks += [get_norm(d.norm, in_ch), nn.Conv2d(in_ch, width, 2, stride=2)]
            in_ch = width
        for j in range(depth):
            stride = 2 if (i > 0 and j == 0 and not d.separate_downsample) else 1
            block = Block(d, in_ch, width, stride, rates[k], layer_scale)
            blocks.append(block)
            in_ch, k = block.out_channels, k + 1
        stages.append(nn.Sequential(*blocks))
    return nn.Sequential(*stages), in_ch


@register_model
def convnext_roadmap(
    step: str = "separate_downsample",
    width_mult: float = 1.0,
    depth_div: int = 1,
    drop_path: float = 0.0,
    layer_scale: float | None = None,
    num_classes: int = 1000,
    in_channels: int = 3,
) -> nn.Module:
    """The network of one step of Liu et al.'s ResNet-50 -> ConvNeXt-T roadmap (Table 10)."""
    if step not in ROADMAP:
        raise ValueError(f"unknown roadmap step {step!r}; valid: {', '.join(STEPS)}")
    return RoadmapNet(
        ROADMAP[step],
        width_mult=width_mult,
        depth_div=depth_div,
        num_classes=num_classes,
        in_channels=in_channels,
        drop_path=drop_path,
        layer_scale=layer_scale,
    )


convnext_roadmap.choices = {"step": STEPS}  # checked by the config validator before training
