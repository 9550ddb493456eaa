"""Model registry and the architectures of the seeds.

Families register themselves when their module is imported; the list below is explicit so that a
reader sees every family in one place (no star-import side effects).
"""

from ablate.models.registry import (  # noqa: F401
    UnknownModelError,
    builder_choices,
    build_model,
    builder_params,
    get_builder,
    list_models,
    register_model,
)

# --- model families (one module each) ---
from ablate.models import cifar_resnet  # noqa: F401,E402
# --- zoo families (issue 3) ---
from ablate.models import lenet  # noqa: F401,E402
from ablate.models import mnist_small  # noqa: F401,E402
from ablate.models import alexnet  # noqa: F401,E402
from ablate.models import vgg  # noqa: F401,E402
from ablate.models import googlenet  # noqa: F401,E402
from ablate.models import resnet  # noqa: F401,E402
from ablate.models import densenet  # noqa: F401,E402
from ablate.models import mobilenet  # noqa: F401,E402
from ablate.models import efficientnet  # noqa: F401,E402
from ablate.models import convnext  # noqa: F401,E402
# --- ablation models (issue 4) ---
from ablate.models import small_convnets  # noqa: F401,E402
from ablate.models import bn_mlp  # noqa: F401,E402
from ablate.models import convnext_roadmap  # noqa: F401,E402
