"""Every countable claim of the two seeds, as data (one Claim each).

Seeds: /work/shared/seeds/000_d3f32fda5f8ed65b.txt ("The Evolution of CNNs") and
001_24847cd6ab689f07.txt ("11.3 CNN architectures"). A claim is countable when a built model, or
a layer we build, can measure it: parameters, multiply-adds, shapes, layer counts, receptive fields.
Left out, because only training could test them: accuracies and error rates (the MNIST table's
~99% / ~98.5% / ~99.2%, ImageNet top-5 15.3% / 7.3% / 6.67% / 3.57%, EfficientNet-B7's 84.3%),
AlexNet's "6x faster with ReLU", the degradation of plain nets, and hardware and dataset facts.
Where the seed gives no figure and a paper does (the CIFAR ResNets), the paper's figure is expected
and the claim text says so.
"""

from __future__ import annotations

import torch.nn as nn

from ablate.claims import probes as P
from ablate.claims.core import ABOUT, EXACT, ROUNDED, Between, Claim
from ablate.claims.measure import count_params, input_shapes, lab_input, lab_model, zoo_params

S0 = "000_d3f32fda5f8ed65b.txt"
S1 = "001_24847cd6ab689f07.txt"


def _lenet28(*idx):
    return lambda: P.shapes("lenet5_28", lambda m: [m.features[i] for i in idx])


CLAIMS: list[Claim] = [
    # --- LeNet-5 -------------------------------------------------------------------------------
    Claim("lenet28_conv1_shape", S0, "LeNet-5 table: Conv1 (5×5, no pad) output 6 × 24 × 24",
          (6, 24, 24), "C×H×W", _lenet28(0), EXACT),
    Claim("lenet28_pool1_shape", S0, "LeNet-5 table: AvgPool (2×2) output 6 × 12 × 12",
          (6, 12, 12), "C×H×W", _lenet28(2), EXACT),
    Claim("lenet28_conv2_shape", S0, "LeNet-5 table: Conv2 (5×5, no pad) output 16 × 8 × 8",
          (16, 8, 8), "C×H×W", _lenet28(3), EXACT),
    Claim("lenet28_pool2_shape", S0, "LeNet-5 table: AvgPool (2×2) output 16 × 4 × 4",
          (16, 4, 4), "C×H×W", _lenet28(5), EXACT),
    Claim("lenet28_flatten", S0, "LeNet-5 table: Flatten 256", 256, "features",
          lambda: P.shapes("lenet5_28", lambda m: [m.classifier[0]])[0], EXACT),
    Claim("lenet28_fc", S0, "LeNet-5 table: FC1 → FC2 → FC3: 120 → 84 → 10", (120, 84, 10), "units",
          lambda: P.shapes("lenet5_28", lambda m: [m.classifier[i] for i in (1, 3, 5)]), EXACT),
    Claim("lenet28_params", S0, "Comparison table: LeNet-5 parameters 44,426", 44426, "parameters",
          lambda: zoo_params("lenet5_28"), EXACT,
          "the seed's own 28×28 LeNet (256 → 120 → 84 → 10, full C3); LeCun's 32×32 LeNet-5 has "
          "60,000"),
    Claim("lenet28_depth", S0, "LeNet-5 depth: 5 layers", 5, "layers",
          lambda: P.depth("lenet5_28"), EXACT,
          "counting layers with weights (2 conv + 3 FC); LeCun et al. count 7 (C1 S2 C3 S4 C5 F6 "
          "and the RBF output)"),
    Claim("lenet_input_28", S0, "LeNet-5 input size 28 × 28 grayscale", 28, "pixels",
          P.lenet5_input_side, EXACT,
          "LeCun et al.'s LeNet-5 takes 32×32 (MNIST's 28×28 digits padded; C5's 5×5 kernel then "
          "sees 5×5 maps); the 28×28 net of the seed's table is a modern adaptation"),
    Claim("lenet5_60k", S0, "LeNet-5 parameters 60K", 60000, "parameters",
          lambda: zoo_params("lenet5"), ROUNDED,
          "LeCun et al.'s 32×32 net (C3 connection table, trainable subsampling; the RBF output's "
          "840 prototype values are fixed): exactly the paper's 60,000. Not the 28×28 LeNet of the "
          "same seed's table (44,426)"),
    Claim("lenet5_about_60000", S1, "LeNet-5 total parameter count: about 60,000", 60000,
          "parameters", lambda: zoo_params("lenet5"), ABOUT),
    # --- the seed's two MNIST networks ---------------------------------------------------------
    Claim("mnist_cnn_params", S0, "Comparison table: Our CNN parameters 206,922", 206922,
          "parameters", lambda: zoo_params("mnist_cnn"), EXACT,
          "architecture inferred (conv 16, conv 32, 3×3, FC 1,568 → 128 → 10); see mnist_small.py"),
    Claim("mnist_cnn_flatten", S0, "Our CNN flattens 1,568 features (spatial size 7)", 1568,
          "features", lambda: P.shapes("mnist_cnn", lambda m: [m.classifier[0]])[0], EXACT),
    Claim("simple_resnet_params", S0, "Comparison table: SimpleResNet parameters 56,170", 56170,
          "parameters", lambda: zoo_params("simple_resnet"), EXACT,
          "architecture inferred: width 32, one BN per block; the textbook block (BN after both "
          "convs) gives 56,362"),
    Claim("conv_layers_mnist_table", S0,
          "Comparison table: conv layers Our CNN 2, LeNet-5 2, SimpleResNet 7 (1 + 3×2)",
          (2, 2, 7), "conv layers",
          lambda: [P.calls(n, nn.Conv2d) for n in ("mnist_cnn", "lenet5_28", "simple_resnet")],
          EXACT),
    # --- AlexNet -------------------------------------------------------------------------------
    Claim("alexnet_61m", S0, "AlexNet parameters 61M", 61e6, "parameters",
          lambda: (zoo_params("alexnet"), {"tv": zoo_params("alexnet_onetower")}),
          ROUNDED, "two-tower AlexNet as published; torchvision's one-tower: {tv:,}"),
    Claim("alexnet_roughly_60m", S1, "AlexNet: the whole network has roughly 60 million parameters",
          60e6, "parameters", lambda: zoo_params("alexnet"), ABOUT),
    Claim("alexnet_vs_lenet_1000x", S0, "AlexNet 61M vs LeNet-5 60K: 1000× more", 1000, "×",
          lambda: P.ratio_params("alexnet", "lenet5"), ABOUT),
    Claim("alexnet_depth", S0, "AlexNet depth: 8 layers", 8, "layers",
          lambda: P.depth("alexnet"), EXACT),
    Claim("alexnet_5conv_3fc", S1, "AlexNet: five convolutional layers and three fully connected",
          (5, 3), "layers", lambda: [P.calls("alexnet", nn.Conv2d), P.calls("alexnet", nn.Linear)],
          EXACT),
    Claim("alexnet_input_224", S0, "AlexNet input size 224 × 224 RGB", 224, "pixels",
          P.alexnet_input_side, EXACT,
          "the paper's layers (11×11 stride-4 conv1, no padding) need 227×227 to reach the 256×6×6 "
          "= 9,216 features FC6 is built for; 224 gives {at224}"),
    Claim("alexnet_conv1_55", S1,
          "AlexNet's first conv (96 filters 11 × 11, stride 4) reduces a 224 × 224 input to 55 × 55",
          55, "pixels", lambda: (P.alexnet_conv1_side(224), {"s227": P.alexnet_conv1_side(227)}),
          EXACT,
          "(224 − 11)/4 + 1 = 54.25: a 224 input gives 54×54; 227 gives {s227}×{s227} (the famous "
          "224/227 discrepancy of the paper); torchvision pads conv1 by 2 to get 55 from 224"),
    Claim("alexnet_conv1_35k", S1, "AlexNet: the first conv has about 35,000 parameters", 35000,
          "parameters",
          lambda: (count_params(lab_model("alexnet").features[0]),
                   {"tv": count_params(lab_model("alexnet_onetower").features[0])}),
          ABOUT, "96 × 11·11·3 + 96; torchvision's one-tower conv1 (64 filters): {tv:,}"),
    Claim("alexnet_fc6_shape", S1, "AlexNet FC6 goes from a 9,216-element flattened vector to 4,096",
          (9216, 4096), "features",
          lambda: [input_shapes(lab_model("alexnet"), lab_input("alexnet"),
                                  [lab_model("alexnet").classifier[1]])[0][0],
                   P.shapes("alexnet", lambda m: [m.classifier[1]])[0]], EXACT),
    Claim("alexnet_fc6_37.7m", S1, "AlexNet FC6 has about 37.7 million parameters", 37.7e6,
          "parameters", lambda: count_params(lab_model("alexnet").classifier[1]), ROUNDED),
    Claim("alexnet_fc6_vs_conv1", S1, "FC6 has roughly a thousand times more parameters than conv1",
          1000, "×", lambda: P.ratio_of(count_params(lab_model("alexnet").classifier[1]),
                             count_params(lab_model("alexnet").features[0])), ABOUT),
    Claim("alexnet_conv_compute", S1, "AlexNet: the convolutions do almost all of the computation",
          100, "% of GMACs", lambda: P.split_pct("alexnet", "conv_macs"), ABOUT,
          "'almost all' read as 100% (holds from 90%)"),
    Claim("alexnet_conv_params", S1, "AlexNet: the convolutions hold a small fraction of the parameters",
          Between(0, 10), "% of params", lambda: P.split_pct("alexnet", "conv_params"), ROUNDED,
          "'small fraction' read as at most 10%"),
    Claim("alexnet_fc_params", S1,
          "AlexNet, VGG and the early CNNs put almost all of their parameters in the FC head (AlexNet)",
          100, "% of params", lambda: P.split_pct("alexnet", "fc_params"), ABOUT),
    # --- VGG -----------------------------------------------------------------------------------
    Claim("vgg_3x3_only", S1, "VGG: every convolution is 3 × 3 with stride 1 and one pixel of padding",
          100, "% of convs", P.vgg_3x3_pct, EXACT),
    Claim("vgg_width_doubles", S1, "VGG: channel counts double after each pooling stage", 2.0, "×",
          P.vgg_width_ratio, EXACT,
          "stage widths {widths}: they double until 512, then stay (the paper: 'increasing by a "
          "factor of 2 after each max-pooling layer, until it reaches 512')"),
    Claim("vgg16_138m", S0, "VGG's 138M parameters (VGG-16)", 138e6, "parameters",
          lambda: zoo_params("vgg16"), ROUNDED),
    Claim("vgg16_138m_b", S1, "VGG-16 has 138 million parameters", 138e6, "parameters",
          lambda: zoo_params("vgg16"), ROUNDED),
    Claim("vgg16_fc_params", S1, "VGG-16: almost all of its parameters in three FC layers", 100,
          "% of params", lambda: P.split_pct("vgg16", "fc_params"), ABOUT,
          "'almost all' read as 100% (holds from 90%); the convs hold the rest"),
    Claim("vgg16_conv_compute", S1,
          "AlexNet, VGG and the early CNNs: the convolutions did almost all of the computation (VGG-16)",
          100, "% of GMACs", lambda: P.split_pct("vgg16", "conv_macs"), ABOUT),
    Claim("vgg19_depth", S0, "VGG pushed depth to 19 layers", 19, "layers",
          lambda: P.depth("vgg19"), EXACT),
    # --- small kernels -------------------------------------------------------------------------
    Claim("rf_two_3x3", S0, "Two stacked 3×3 convs: receptive field 5 × 5 (same as one 5×5)", 5,
          "pixels", lambda: P.rf_of_3x3_stack(2), EXACT),
    Claim("rf_two_3x3_b", S1, "Receptive field grows by k − 1 per layer: two 3 × 3 layers see 5 × 5",
          5, "pixels", lambda: P.rf_of_3x3_stack(2), EXACT),
    Claim("rf_three_3x3", S1, "Three stacked 3 × 3 convolutions match a 7 × 7 receptive field", 7,
          "pixels", lambda: P.rf_of_3x3_stack(3), EXACT),
    Claim("two_3x3_params_pct", S0, "Two 3×3: 18C² vs 25C² parameters (28% fewer)", 28, "% fewer",
          lambda: P.saving_pct(5, 2, "params"), ROUNDED),
    Claim("two_3x3_compute_pct", S0, "Two 3×3: 18C²HW vs 25C²HW computation (28% less)", 28,
          "% fewer MACs", lambda: P.saving_pct(5, 2, "macs"), ROUNDED),
    Claim("two_3x3_per_c2", S1, "Two 3 × 3 layers carry 18C² parameters versus 25C² for one 5 × 5",
          (18, 25), "× C²", lambda: [P.stack_params_per_c2(3, 2), P.stack_params_per_c2(5, 1)], EXACT),
    Claim("three_3x3_params_pct", S0, "Three 3×3 replace one 7×7: 45% fewer parameters", 45,
          "% fewer", lambda: P.saving_pct(7, 3, "params"), ROUNDED, "1 − 27/49 = 44.9%"),
    Claim("three_3x3_per_c2", S1, "Three 3 × 3: 27C² parameters versus 49C² for one 7 × 7",
          (27, 49), "× C²", lambda: [P.stack_params_per_c2(3, 3), P.stack_params_per_c2(7, 1)], EXACT),
    # --- BatchNorm -----------------------------------------------------------------------------
    Claim("bn_64_pairs", S0, "A conv layer with 64 channels learns 64 (γ, β) pairs", 64, "pairs",
          lambda: count_params(nn.BatchNorm2d(64)) // 2, EXACT),
    Claim("resnet18_bn_params", S0,
          "A ResNet-18 adds roughly [figure missing] BN parameters on top of its 11.7 M conv "
          "parameters — a rounding error in size", Between(0, 117000), "parameters",
          P.resnet18_bn, EXACT,
          "the seed's figure is blank; measured {measured:,} ({pairs:,} γ/β pairs) = {pct} of the "
          "total; 'a rounding error' read as under 1% of 11.7M"),
    Claim("resnet18_conv_11.7m", S0, "ResNet-18: 11.7 M conv parameters", 11.7e6, "parameters",
          P.resnet18_kinds, ROUNDED,
          "11.7M is the whole network ({total:,}): convs {measured:,}, FC {fc:,}, BN {bn:,}"),
    # --- GoogLeNet -----------------------------------------------------------------------------
    Claim("googlenet_6.8m", S0, "GoogLeNet: only 6.8M parameters", 6.8e6, "parameters",
          lambda: (zoo_params("googlenet"), {"tv": zoo_params("googlenet_torchvision")}), ROUNDED,
          "the paper's 6.8M is the approximate sum of its Table 1; building Table 1 exactly (biases "
          "included, no aux heads) gives {measured:,}; torchvision's variant (BN, 3×3 for the 5×5 "
          "branch) has {tv:,}"),
    Claim("googlenet_6.8m_b", S1, "GoogLeNet's parameter count is only 6.8 million", 6.8e6,
          "parameters", lambda: zoo_params("googlenet"), ROUNDED, "see googlenet_6.8m"),
    Claim("googlenet_20x_vgg", S0, "GoogLeNet 6.8M: 20× fewer than VGG's 138M", 20, "×",
          lambda: P.ratio_params("vgg16", "googlenet"), ROUNDED),
    Claim("googlenet_20x_vgg_b", S1, "GoogLeNet: about twenty times smaller than VGG-16", 20, "×",
          lambda: P.ratio_params("vgg16", "googlenet"), ABOUT),
    Claim("googlenet_depth", S1, "GoogLeNet was 22 layers deep", 22, "layers",
          lambda: P.depth("googlenet"), EXACT),
    Claim("googlenet_modules", S1, "GoogLeNet stacks nine Inception modules", 9, "modules",
          lambda: P.count_modules("googlenet", "Inception"), EXACT),
    # --- 1x1 bottleneck and ResNet blocks ------------------------------------------------------
    Claim("naive_5x5_params", S0, "Naive 5×5 conv 256 → 256: 1,638,400 parameters", 1638400,
          "parameters", lambda: P.bottleneck_5x5()[0], EXACT),
    Claim("bottleneck_5x5_params", S0,
          "Bottleneck 1×1 (256→64) → 5×5 (64→64) → 1×1 (64→256): 135,168 parameters", 135168,
          "parameters", lambda: P.bottleneck_5x5()[1], EXACT),
    Claim("bottleneck_5x5_ratio", S0, "Twelve times fewer parameters for the same receptive field",
          12, "×", lambda: P.ratio_of(*P.bottleneck_5x5()[:2]), ROUNDED),
    Claim("resnet_block_17x", S0,
          "Bottleneck block of a 256-channel stage vs two naive 3×3 convs: a 17× reduction", 17, "×",
          P.resnet_block_256, ROUNDED,
          "the seed's two counts are blank: convs {neck:,} vs {basic:,} (with BN {neck_bn:,} vs "
          "{basic_bn:,})"),
    Claim("resnet152_vs_34_budget", S0,
          "ResNet-152 fits into the same parameter budget as a much shallower ResNet-34", 1.0, "×",
          P.resnet152_vs_34, ROUNDED,
          "ResNet-152 has {a:,} parameters, ResNet-34 {b:,}. He et al. make a compute claim "
          "instead: ResNet-152 ({g152} GMACs, V1) costs less than VGG-16/19 ({gvgg16}/{gvgg19})"),
    # --- ResNet depth and size ----------------------------------------------------------------
    *[Claim(f"cifar_resnet{d}_depth", S0, f"ResNet table: {d} layers (with skip connections)", d,
            "layers", (lambda d=d: P.depth(f"cifar_resnet{d}")), EXACT) for d in (20, 56, 110)],
    Claim("cifar_resnet1202_depth", S0, "He et al. even tested one with 1,202 layers", 1202,
          "layers", lambda: P.depth("cifar_resnet1202"), EXACT),
    *[Claim(f"cifar_resnet{d}_params", S0,
            f"The {d}-layer CIFAR ResNet of the seed (He et al. Table 6: {p}M parameters)", p * 1e6,
            "parameters", (lambda d=d: zoo_params(f"cifar_resnet{d}")), ROUNDED,
            "figure from the paper; the seed names the depth only")
      for d, p in ((20, 0.27), (56, 0.85), (110, 1.7), (1202, 19.4))],
    Claim("resnet152_depth", S0, "ResNet-152 (152 layers!)", 152, "layers",
          lambda: P.depth("resnet152"), EXACT),
    Claim("resnet50_stages", S1, "ResNet-50: four stages of 3, 4, 6 and 3 bottleneck blocks",
          (3, 4, 6, 3), "blocks", P.resnet50_stages, EXACT),
    Claim("resnet50_25.6m", S1, "ResNet-50: 25.6 million parameters", 25.6e6, "parameters",
          lambda: zoo_params("resnet50"), ROUNDED),
    Claim("resnet50_4.1gflops", S1, "ResNet-50: about 4.1 GFLOPs for one 224 × 224 forward pass",
          4.1, "GFLOPs", P.resnet50_gflops, ROUNDED,
          "unit error: 4.1 is billions of multiply-adds (V1.5: {gmacs} GMACs; He et al.'s V1: "
          "{v1} GMACs, which the paper calls '3.8 × 10⁹ FLOPs'); in FLOPs (2 per multiply-add) it is "
          "{measured}"),
    # --- later families ------------------------------------------------------------------------
    Claim("densenet121_8m", S1, "DenseNet-121 ... with only 8 million parameters", 8e6,
          "parameters", lambda: zoo_params("densenet121"), ABOUT),
    Claim("mobilenet_layer_8_9x", S1,
          "MobileNet's depthwise separable block: an 8–9× reduction in compute (per layer)",
          Between(8, 9), "×", P.mobilenet_layer_savings, ROUNDED,
          "median over MobileNet v1's {n} separable layers; range {min}–{max}× (1/(1/N + 1/9) "
          "for N output channels: below 8 only for the 64-channel first layer)"),
    Claim("mobilenet_network_8_9x", S1,
          "MobileNet: an 8–9× reduction in compute (whole network vs standard convs)",
          Between(8, 9), "×", P.mobilenet_network_saving, ROUNDED,
          "MobileNet v1 {g_sep} vs {g_std} GMACs, {p_sep:,} vs {p_std:,} parameters (paper Table 4: "
          "569M vs 4866M multiply-adds, 4.2M vs 29.3M)"),
    Claim("efficientnet_b0_5.3m", S1, "EfficientNet: 5.3 million parameters at B0", 5.3e6,
          "parameters", lambda: zoo_params("efficientnet_b0"), ROUNDED),
    Claim("efficientnet_b7_66m", S1, "EfficientNet: 66 million parameters at B7", 66e6,
          "parameters", lambda: zoo_params("efficientnet_b7"), ROUNDED),
    Claim("efficientnet_doubling_phi", S1,
          "Compound scaling: α, β, γ chosen so that doubling φ doubles compute (φ 2 → 4: B2 → B4)",
          2.0, "×", P.efficientnet_doubling, ROUNDED,
          "each +1 of φ doubles compute (α·β²·γ² ≈ 2, FLOPs ∝ 2^φ), so doubling φ multiplies it "
          "by 2^φ: measured B2→B4 {measured}×, B1→B2 {r12}×, B3→B6 {r36}×"),
    Claim("efficientnet_per_phi", S1,
          "Compound scaling with φ = 0…7 for B0…B7 (the paper: compute × 2 per unit of φ)", 2.0, "×",
          P.efficientnet_per_phi, ROUNDED,
          "(GMACs B7 / B0)^(1/7) = ({g7}/{g0})^(1/7); α·β²·γ² = {abg}; B1–B7 use rounded official "
          "multipliers, not exact powers"),
    Claim("convnext_7x7_dw", S1, "ConvNeXt: larger 7 × 7 depthwise kernels", 7, "pixels",
          P.convnext_dw_kernel, EXACT),
    Claim("convnext_patchify", S1, "ConvNeXt: patchify stem (non-overlapping 4 × 4 patches)", (4, 4),
          "kernel / stride", P.convnext_stem, EXACT),
    Claim("convnext_fewer_norm_act", S1,
          "ConvNeXt: fewer normalisation and activation layers per block (vs ResNet-50)",
          Between(0, 0.99), "×", P.convnext_norm_act_ratio, EXACT,
          "norm/activation calls per block: ConvNeXt-T {cx}, ResNet-50 bottleneck {rn}"),
    Claim("convnext_equal_compute", S1, "ConvNeXt matches Swin Transformer at equal compute (T size)",
          1.0, "×", P.convnext_vs_swin, ROUNDED,
          "compute ratio ConvNeXt-T / Swin-T (torchvision): {g} vs {gs} GMACs; ConvNeXt-T has "
          "{p:,} parameters (paper: 28M, 4.5G)"),
]
