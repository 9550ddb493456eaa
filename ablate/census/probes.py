"""Measurements behind the statements that need more than a parameter count: each function builds
what the statement talks about and measures it (units in the names and docstrings)."""

from __future__ import annotations

import functools
import statistics

import torch
import torch.nn as nn

from ablate.census.measure import (
    NORM_TYPES,
    conv_fc_split,
    count_calls,
    count_params,
    gmacs,
    input_shapes,
    lab_input,
    lab_model,
    output_shapes,
    params_by_kind,
    receptive_field,
    zoo_depth,
    zoo_gmacs,
    zoo_params,
)
from ablate.models.cifar_resnet import BasicBlock
from ablate.models.efficientnet import ALPHA, BETA, GAMMA
from ablate.models.resnet import Bottleneck

C = 64  # channels of the generic "C channels" layers of the 3x3-vs-5x5 arithmetic
HW = 32  # feature-map side for their compute (any side gives the same ratio with 'same' padding)


def stack(kernel: int, n: int, channels: int = C) -> nn.Sequential:
    """n bias-free kernel x kernel convs, channels -> channels, 'same' padding (on meta)."""
    with torch.device("meta"):
        return nn.Sequential(
            *[nn.Conv2d(channels, channels, kernel, padding=kernel // 2, bias=False) for _ in range(n)]
        )


def stack_params_per_c2(kernel: int, n: int) -> float:
    """Parameters of the stack divided by C^2 (18 for two 3x3, 25 for one 5x5)."""
    return count_params(stack(kernel, n)) / C**2


def saving_pct(kernel_big: int, n_small: int, what: str) -> tuple[float, dict]:
    """% fewer parameters (or multiply-adds) of n_small stacked 3x3 convs vs one big conv."""
    small, big = stack(3, n_small), stack(kernel_big, 1)
    if what == "params":
        a, b = count_params(small), count_params(big)
    else:
        x = torch.empty(1, C, HW, HW, device="meta")
        a, b = gmacs(small, x), gmacs(big, x)
    return 100 * (1 - a / b), {"small": a, "big": b}


def rf_of_3x3_stack(n: int) -> int:
    """Receptive field side (pixels) of n stacked 3x3 convs, by back-propagation."""
    return receptive_field(nn.Sequential(*[nn.Conv2d(2, 2, 3) for _ in range(n)]), 2)


def depth(name: str) -> int:
    """Layers with weights on the longest path of `name` (measure.weighted_depth)."""
    return zoo_depth(name)


def shapes(name: str, pick) -> list:
    """Output shapes of the modules `pick(model)` returns, on the native input (flattened list)."""
    model = lab_model(name)
    return [d for s in output_shapes(model, lab_input(name), pick(model)) for d in s]


def calls(name: str, *kinds: type) -> int:
    return count_calls(lab_model(name), lab_input(name), kinds)


def lenet5_input_side() -> tuple[int, dict]:
    """The input side for which LeCun's C5 (a 5x5 conv) sees exactly 5x5 maps, i.e. C5 is 1x1."""
    model = lab_model("lenet5")
    for side in range(16, 65):
        x = torch.empty(1, 1, side, side, device="meta")
        try:
            (c5,) = output_shapes(model, x, [model.features[-2]])
        except RuntimeError:
            continue
        if c5[1:] == (1, 1):
            return side, {}
    raise AssertionError("no input side gives a 1x1 C5")


def alexnet_input_side() -> tuple[int, dict]:
    """The smallest input side for which the paper's AlexNet (no padding in conv1) ends its convs
    with 256 x 6 x 6 = 9,216 features, the size FC6 is built for; extras: what 224 gives."""
    model = lab_model("alexnet")
    pool5 = model.features[-1]
    found = {}
    for side in range(200, 260):
        x = torch.empty(1, 3, side, side, device="meta")
        found[side] = output_shapes(model, x, [pool5])[0]
    side = min(s for s, shape in found.items() if shape == (256, 6, 6))
    return side, {"at224": " × ".join(map(str, found[224]))}


def alexnet_conv1_side(side: int) -> int:
    model = lab_model("alexnet")
    x = torch.empty(1, 3, side, side, device="meta")
    return output_shapes(model, x, [model.features[0]])[0][-1]


def split_pct(name: str, key: str) -> float:
    """% of parameters or compute in conv or FC layers (keys of measure.conv_fc_split)."""

    return 100 * conv_fc_split(name)[key]


def vgg_width_ratio() -> tuple[float, dict]:
    """Smallest width ratio between consecutive VGG-16 stages (channels after each pool)."""
    model = lab_model("vgg16")
    pools = [m for m in model.features if isinstance(m, nn.MaxPool2d)]
    widths = [s[0] for s in output_shapes(model, lab_input("vgg16"), pools)]
    return min(b / a for a, b in zip(widths, widths[1:])), {"widths": "/".join(map(str, widths))}


def vgg_3x3_pct() -> float:
    convs = [m for m in lab_model("vgg16").modules() if isinstance(m, nn.Conv2d)]
    ok = [m for m in convs if m.kernel_size == (3, 3) and m.stride == (1, 1) and m.padding == (1, 1)]
    return 100 * len(ok) / len(convs)


def count_modules(name: str, cls_name: str) -> int:
    return sum(type(m).__name__ == cls_name for m in lab_model(name).modules())


def resnet18_kinds() -> tuple[int, dict]:
    """ResNet-18's conv-layer parameters; extras: FC, BN and total."""
    p = params_by_kind(lab_model("resnet18"))
    return p["conv"], {"fc": p["fc"], "bn": p["norm"], "total": sum(p.values())}


def resnet18_bn() -> tuple[int, dict]:
    p = params_by_kind(lab_model("resnet18"))
    return p["norm"], {"pct": f"{100 * p['norm'] / sum(p.values()):.2f}%", "pairs": p["norm"] // 2}


def bottleneck_5x5() -> tuple[int, int, float]:
    """The seed's 1x1 table: naive 5x5 256->256 vs 1x1 (256->64) -> 5x5 (64->64) -> 1x1 (64->256)."""
    with torch.device("meta"):
        naive = nn.Conv2d(256, 256, 5, bias=False)
        neck = nn.Sequential(
            nn.Conv2d(256, 64, 1, bias=False), nn.Conv2d(64, 64, 5, bias=False), nn.Conv2d(64, 256, 1, bias=False)
        )
    a, b = count_params(naive), count_params(neck)
    return a, b, a / b


def resnet_block_256() -> tuple[float, dict]:
    """ResNet bottleneck block of a 256-channel stage (1x1 256->64, 3x3 64->64, 1x1 64->256) vs
    two 3x3 256->256 convs (a basic block at that width): ratio of conv parameters."""

    with torch.device("meta"):
        neck = Bottleneck(256, 64, 256, 1, "B", "relu", "batch")
        basic = BasicBlock(256, 256, 1, "B", "relu", "batch")
    pn, pb = params_by_kind(neck), params_by_kind(basic)
    return pb["conv"] / pn["conv"], {
        "neck": pn["conv"],
        "basic": pb["conv"],
        "neck_bn": count_params(neck),
        "basic_bn": count_params(basic),
    }


def resnet50_stages() -> list[int]:
    """Bottleneck blocks per stage of ResNet-50, grouped by their output channels."""
    model = lab_model("resnet50")
    outs = output_shapes(model, lab_input("resnet50"), list(model.blocks))
    widths = [s[0] for s in outs]
    return [widths.count(w) for w in sorted(set(widths))]


def resnet50_gflops() -> tuple[float, dict]:
    g = zoo_gmacs("resnet50")
    return 2 * g, {"gmacs": g, "v1": zoo_gmacs("resnet50_v1")}


def ratio_of(a: float, b: float) -> tuple[float, dict]:
    """a / b, with both numbers kept for the statement's record."""
    return a / b, {"a": a, "b": b}


def ratio_params(a: str, b: str) -> tuple[float, dict]:
    pa, pb = zoo_params(a), zoo_params(b)
    return pa / pb, {"a": pa, "b": pb}


def resnet152_vs_34() -> tuple[float, dict]:
    r, ex = ratio_params("resnet152", "resnet34")
    ex.update(
        g152=zoo_gmacs("resnet152_v1"), g34=zoo_gmacs("resnet34"), gvgg16=zoo_gmacs("vgg16"), gvgg19=zoo_gmacs("vgg19")
    )
    return r, ex


def mobilenet_layer_savings() -> tuple[float, dict]:
    """Per separable layer of MobileNet v1: multiply-adds of a standard 3x3 conv with the same
    input, output and stride, divided by those of the depthwise + pointwise pair. Median over the
    13 layers; extras: the smallest and largest."""
    model = lab_model("mobilenet_v1")
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    pairs = [(dw, pw) for dw, pw in zip(convs, convs[1:]) if dw.groups > 1]
    ins = input_shapes(model, lab_input("mobilenet_v1"), [dw for dw, _ in pairs])
    ratios = []
    for (dw, pw), (c, h, w) in zip(pairs, ins):
        x = torch.empty(1, c, h, w, device="meta")
        with torch.device("meta"):
            std = nn.Conv2d(c, pw.out_channels, 3, dw.stride, 1, bias=False)
            sep = nn.Sequential(dw, pw)
        ratios.append(gmacs(std, x) / gmacs(sep, x))
    return statistics.median(ratios), {"min": min(ratios), "max": max(ratios), "n": len(ratios)}


def mobilenet_network_saving() -> tuple[float, dict]:
    """Whole-network multiply-adds: MobileNet v1 with standard convs / with separable ones."""
    x = lab_input("mobilenet_v1")
    std, sep = lab_model("mobilenet_v1", conv="standard"), lab_model("mobilenet_v1")
    g_std, g_sep = gmacs(std, x), gmacs(sep, x)
    return g_std / g_sep, {"g_std": g_std, "g_sep": g_sep, "p_std": count_params(std), "p_sep": count_params(sep)}


def efficientnet_doubling() -> tuple[float, dict]:
    """Compute ratio when phi doubles from 2 to 4 (B2 -> B4); extras: 1 -> 2 and 3 -> 6."""
    g = [zoo_gmacs(f"efficientnet_b{b}") for b in range(8)]
    return g[4] / g[2], {"r12": g[2] / g[1], "r36": g[6] / g[3], "step": (g[7] / g[0]) ** (1 / 7)}


def efficientnet_per_phi() -> tuple[float, dict]:
    """Geometric-mean compute ratio per unit of phi over B0 -> B7, (GMACs_B7 / GMACs_B0)^(1/7)."""

    g0, g7 = zoo_gmacs("efficientnet_b0"), zoo_gmacs("efficientnet_b7")
    return (g7 / g0) ** (1 / 7), {"g0": g0, "g7": g7, "abg": ALPHA * BETA**2 * GAMMA**2}


def convnext_dw_kernel() -> int:
    convs = [
        m for m in lab_model("convnext_tiny").modules() if isinstance(m, nn.Conv2d) and m.groups == m.in_channels > 1
    ]
    return max(m.kernel_size[0] for m in convs)


def convnext_stem() -> list[int]:
    """ConvNeXt-T's stem: [kernel, stride] of its first conv, and the side it turns 224 into."""
    model = lab_model("convnext_tiny")
    stem = next(m for m in model.modules() if isinstance(m, nn.Conv2d))
    return [stem.kernel_size[0], stem.stride[0]]


def convnext_norm_act_ratio() -> tuple[float, dict]:
    """(norm + activation calls) in one ConvNeXt-T block / in one ResNet-50 bottleneck block."""
    cx = lab_model("convnext_tiny").features[1][0]
    rn = lab_model("resnet50").blocks[1]  # an identity-shortcut block (no projection BN)
    acts = (nn.GELU, nn.ReLU)
    n_cx = [count_calls(cx, torch.empty(1, 96, 56, 56, device="meta"), k) for k in (NORM_TYPES, acts)]
    n_rn = [count_calls(rn, torch.empty(1, 256, 56, 56, device="meta"), k) for k in (NORM_TYPES, acts)]
    return sum(n_cx) / sum(n_rn), {"cx": n_cx, "rn": n_rn}


@functools.cache
def swin_t_gmacs() -> float:
    from torchvision.models import swin_t

    with torch.device("meta"):
        model = swin_t().eval()
    return gmacs(model, torch.empty(1, 3, 224, 224, device="meta"))


def convnext_vs_swin() -> tuple[float, dict]:
    g = zoo_gmacs("convnext_tiny")
    return g / swin_t_gmacs(), {"g": g, "gs": swin_t_gmacs(), "p": zoo_params("convnext_tiny")}
