"""Model registry and the architectures of the seeds.

Families register themselves when their module is imported; the list below is explicit so that a
reader sees every family in one place (no star-import side effects).
"""

# --- model families (one module each) ---
# --- zoo families (issue 3) ---
# --- ablation models (issue 4) ---
from ablate.models import (
    alexnet,  # noqa: F401
    bn_mlp,  # noqa: F401
    cifar_resnet,  # noqa: F401
    convnext,  # noqa: F401
    convnext_roadmap,  # noqa: F401
    densenet,  # noqa: F401
    efficientnet,  # noqa: F401
    googlenet,  # noqa: F401
    lenet,  # noqa: F401
    mnist_small,  # noqa: F401
    mobilenet,  # noqa: F401
    resnet,  # noqa: F401
    small_convnets,  # noqa: F401
    vgg,  # noqa: F401
)
from ablate.models.registry import (  # noqa: F401
    UnknownModelError,
    build_model,
    builder_choices,
    builder_params,
    get_builder,
    list_models,
    register_model,
    register_variant,
)
