"""The model registry and the CIFAR networks of He et al. 2015 (Table 6)."""

import pytest
import torch

from ablate.models import build_model, builder_params, list_models, register_model
from ablate.models.registry import UnknownModelError


def n_params(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def test_duplicate_name_raises():
    with pytest.raises(ValueError, match="already registered"):
        register_model("cifar_resnet20")(lambda: None)


def test_unknown_name_lists_valid_names():
    with pytest.raises(UnknownModelError) as e:
        build_model("resnet_9000")
    assert "cifar_plain56" in str(e.value) and "resnet_9000" in str(e.value)


def test_unknown_kwarg_lists_valid_ones():
    with pytest.raises(TypeError, match="valid: .*shortcut"):
        build_model("cifar_resnet", shortcutt="A")


def test_none_kwargs_keep_builder_defaults():
    assert n_params(build_model("cifar_resnet", depth=20, width=None)) == n_params(build_model("cifar_resnet20"))


# He et al. 2015, Table 6: params of the CIFAR-10 ResNets (the paper rounds to 2 significant digits).
TABLE6 = {20: 0.27e6, 32: 0.46e6, 44: 0.66e6, 56: 0.85e6, 110: 1.7e6, 1202: 19.4e6}


@pytest.mark.parametrize("depth", sorted(TABLE6))
def test_table6_parameter_counts(depth):
    residual = n_params(build_model(f"cifar_resnet{depth}"))
    plain = n_params(build_model(f"cifar_plain{depth}"))
    assert plain == residual  # option A shortcuts have no parameters
    digits = 3 if depth == 1202 else 2
    assert float(f"{residual:.{digits}g}") == pytest.approx(TABLE6[depth], rel=0.02), residual


def test_exact_counts_and_option_b():
    # Known exact figures for the option-A nets (BN included).
    assert n_params(build_model("cifar_resnet20")) == 269_722
    assert n_params(build_model("cifar_resnet56")) == 853_018
    # Option B adds two 1x1 projections + BN: 16*32 + 2*32 + 32*64 + 2*64 = 2,752 parameters.
    b = n_params(build_model("cifar_resnet", depth=20, shortcut="B"))
    assert b - 269_722 == 16 * 32 + 2 * 32 + 32 * 64 + 2 * 64


@pytest.mark.parametrize("bad", [{"depth": 21}, {"shortcut": "C"}, {"activation": "swishy"}, {"norm": "instance"}])
def test_bad_knobs_raise_with_choices(bad):
    with pytest.raises(ValueError, match="valid|6n\\+2"):
        build_model("cifar_resnet", **bad)


@pytest.mark.parametrize("shortcut", ["A", "B", "none"])
def test_forward_backward_all_shortcuts(shortcut):
    m = build_model("cifar_resnet", depth=20, shortcut=shortcut, width=8, in_channels=1, num_classes=7)
    x = torch.randn(2, 1, 8, 8)
    out = m(x)
    assert out.shape == (2, 7) and torch.isfinite(out).all()
    out.sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in m.parameters() if p.grad is not None)


def test_plain_has_no_shortcut_and_residual_does():
    plain, res = build_model("cifar_plain20"), build_model("cifar_resnet20")
    assert all(b.shortcut is None for b in plain.blocks)
    assert all(b.shortcut is not None for b in res.blocks)


def test_knobs_are_builder_params():
    params = builder_params("cifar_resnet")
    for knob in ("depth", "shortcut", "width", "activation", "norm", "num_classes", "in_channels"):
        assert knob in params
    assert "cifar_resnet1202" in list_models()


def test_string_knobs_are_checked_against_their_choices_before_training():
    from ablate.errors import ExperimentError
    from ablate.experiment import load_experiment
    from ablate.models import builder_choices, builder_params, list_models

    for name in list_models():  # every builder's own defaults are valid
        params = builder_params(name)
        assert all(params[k] in v for k, v in builder_choices(name).items()), name
    assert "relu6" in builder_choices("mobilenet_v2")["activation"]
    assert builder_choices("bn_mlp")["norm"] == ("batch", "none")
    with pytest.raises(ExperimentError, match=r"kernels.yaml: .*key 'model.activation': 'relu7' is not one of relu"):
        load_experiment("kernels", "quick", overrides=["model.activation=relu7"])


def test_variants_fix_arguments_of_one_class():
    """A variant's knobs are its class's keyword arguments minus those it fixes (timm's model_args);
    the rest keep the class's defaults unless the variant changes one (vgg*_bn's norm)."""
    import inspect

    from ablate.models.registry import Variant, get_builder

    for name in list_models():
        builder = get_builder(name)
        if isinstance(builder, Variant):
            own = inspect.signature(builder.target).parameters
            assert set(builder_params(name)) == set(own) - set(builder.fixed), name
    assert "depth" not in builder_params("vgg16_bn") and "depth" in builder_params("cifar_resnet")
    assert builder_params("vgg16_bn")["norm"] == "batch" and builder_params("vgg16")["norm"] == "none"
    assert get_builder("resnet50").target is get_builder("resnet50_v1").target


def test_model_classes_take_knobs_by_keyword_only():
    import inspect

    from ablate.models.registry import Variant, get_builder

    for name in list_models():
        builder = get_builder(name)
        target = builder.target if isinstance(builder, Variant) else builder
        if isinstance(target, type):
            kinds = {p.kind for p in inspect.signature(target).parameters.values()}
            assert kinds == {inspect.Parameter.KEYWORD_ONLY}, name


def test_register_variant_rejects_an_argument_the_class_lacks():
    from ablate.models.cifar_resnet import CifarResNet
    from ablate.models.registry import register_variant

    with pytest.raises(TypeError, match="no argument.*depthh"):
        register_variant("cifar_resnet_typo", CifarResNet, "He et al. 2015.", fixed={"depthh": 20})
    assert "cifar_resnet_typo" not in list_models()


def test_literal_choices_come_from_the_class_and_skip_fixed_knobs():
    from ablate.models import builder_choices

    assert builder_choices("cifar_resnet")["shortcut"] == ("A", "B", "none")
    assert "shortcut" not in builder_choices("cifar_resnet20")  # fixed by the variant
    assert builder_choices("simple_resnet")["norms_per_block"] == (1, 2)
    assert builder_choices("lenet5")["pool"] == ("lecun", "avg", "max")
