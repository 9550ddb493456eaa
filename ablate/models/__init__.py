"""Model registry and the architectures of the seeds.

Families register themselves when their module is imported; the list below is explicit so that a
reader sees every family in one place (no star-import side effects).
"""

from ablate.models.registry import (  # noqa: F401
    UnknownModelError,
    build_model,
    builder_params,
    get_builder,
    list_models,
    register_model,
)

# --- model families (one module each) ---
from ablate.models import cifar_resnet  # noqa: F401,E402
# --- zoo families (issue 3) ---
