"""MNIST (seed 000_*, "Comparing Our Three Architectures"): what this experiment adds to the generic
analysis. Its claims (the seed's accuracy ordering, the parameter counts) are in
experiments/mnist.yaml; here: our test accuracy and parameters beside the seed's table and beside
the 0.95% test error LeCun et al. 1998 report for the original 32x32 LeNet-5.

Runs are placed by their model (cfg.model.name), so the published numbers, keyed by model name,
follow the architecture, not the arm's label.
"""

from __future__ import annotations

import pandas as pd

from ablate.models.registry import build_model
from ablate.models.small_convnets import receptive_field
from ablate.report.tables import fmt, markdown_table, mean_ci
from ablate.verdicts.metrics import RUN_METRICS

__all__ = ["TITLE", "table", "notes"]  # the hooks (ablate.hooks)

TITLE = "MNIST: our CNN vs LeNet-5 vs SimpleResNet (seed 000's table; LeCun et al. 1998)"


def table(runs: pd.DataFrame, spec: dict) -> tuple[pd.DataFrame, str] | None:
    """Per model: our test accuracy (mean ± 95% CI over seeds) and parameters beside the seed's."""
    if set(runs["cfg.data.name"]) != {"mnist"}:
        return None  # the seed's numbers are full-MNIST numbers
    pub = spec.get("published") or {}
    acc, params = pub.get("accuracy_percent", {}), pub.get("parameters", {})
    lenet_1998 = pub.get("lenet5_1998_test_error_percent")
    rows = []
    for model, g in runs.groupby("cfg.model.name", sort=False):
        mean, _, low, high = mean_ci(1 - g.final_test_error)
        rows.append(
            {
                "model": model,
                "n": len(g),
                "test accuracy % (ours)": fmt(mean, low, high, RUN_METRICS["final_test_accuracy"]),
                "test accuracy % (seed 000)": f"~{acc[model]:g}" if model in acc else None,
                "test accuracy % (LeCun et al. 1998, 32x32)": (
                    f"{100 - lenet_1998:.2f}" if model == "lenet5_28" and lenet_1998 is not None else None
                ),
                "parameters (ours)": f"{int(g.params.iloc[0]):,}",
                "parameters (seed 000)": f"{params[model]:,}" if model in params else None,
            }
        )
    t = pd.DataFrame(rows)
    return (
        t,
        "Ours beside seed 000's table and LeCun et al. 1998 (MNIST test set, 10,000 images):\n\n" + markdown_table(t),
    )


def notes(runs: pd.DataFrame, spec: dict) -> list[str]:
    steps = sorted(set(runs.steps))
    sizes = runs["data_sizes"].iloc[0] if "data_sizes" in runs and len(runs) else {}
    train = sizes.get("train") if isinstance(sizes, dict) else None
    epochs = f" ({steps[-1] * int(runs['cfg.data.batch_size'].iloc[0]) / train:.1f} epochs)" if train and steps else ""
    profiles = (
        {p: (spec.get("profiles") or {}).get(p, {}).get("description") for p in sorted(set(runs.profile))}
        if "profile" in runs
        else {}
    )
    return [
        *[f"Profile `{p}`: {' '.join(d.split())}" for p, d in profiles.items() if d],
        *_receptive_field_note(runs),
        f"One recipe for every model: Adam (lr 1e-3, no weight decay), batch 64, cosine to 0, no augmentation, "
        f"{', '.join(map(str, steps))} steps{epochs}. The seed gives no recipe; its '~' numbers are rounded.",
        "LeNet-5 here is the seed's 28x28 variant (44,426 parameters, full C3 connections); LeCun et al.'s "
        "0.95% is the 32x32 original (60k parameters, sparse C3 table, RBF output, their own training procedure).",
    ]


def _receptive_field_note(runs: pd.DataFrame) -> list[str]:
    """How much of the digit one feature of SimpleResNet sees before its global average pooling
    (measured on the built model): the inferred net has no pooling or stride, so it stays small."""
    if "simple_resnet" not in set(runs["cfg.model.name"]):
        return []
    import torch.nn as nn

    net = build_model("simple_resnet")
    rf = receptive_field(nn.Sequential(net.stem, net.blocks))
    return [
        f"SimpleResNet (as inferred from the seed's counts) has seven 3x3 convs at stride 1 and no pooling "
        f"before its global average: each of the 32 features it averages sees {rf}x{rf} pixels of the 28x28 "
        "digit, where our CNN's and LeNet-5's fully connected layers see all of it. That is a difference "
        "between the nets beside the shortcut and BatchNorm, not tested separately here."
    ]
