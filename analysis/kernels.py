"""Kernels (Simonyan & Zisserman 2014, §2.3): what this experiment adds to the generic analysis.

Structure is measured, not typed in: each arm's model is rebuilt from its config and we count its
receptive field (walking the convs and pools), the weights of one unit (its C -> C convs), its
parameters and its multiply-adds per image at the run's input size (torch's FLOP counter / 2).
These exact columns are what the claims in experiments/kernels.yaml compare; accuracy is the
final test error after the same number of steps.
"""

from __future__ import annotations

import math

import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from ablate.census.measure import macs
from ablate.data.sources import DATASETS
from ablate.models import build_model
from ablate.models.small_convnets import receptive_field
from ablate.studies import describe_tuned
from ablate.verdicts.metrics import Metric

__all__ = ["TITLE", "METRICS", "derive", "figures", "notes"]  # the hooks (ablate.hooks)

CHANCE_ERROR = 0.85  # a 10-class run at or above this training error did not train (chance: 90%)
TITLE = "Kernels: stacked 3x3 vs one 5x5 / 7x7 (Simonyan & Zisserman 2014, §2.3)"
FOLDER_INPUT = (3, 32, 32), 10  # an image-folder run: its (C, H, W) and classes are not in DATASETS
METRICS = {
    m.name: m
    for m in (
        Metric("receptive_field", "receptive field", unit=" px", exact=True, worst=None),
        Metric("unit_weights", "weights of one unit", exact=True, worst=None),
        Metric("macs", "multiply-adds per image", exact=True, worst=None),
        Metric("nonlinearities_per_unit", "non-linearities per unit", exact=True, worst=None),
    )
}


def structure(cfg_model: dict, dataset: str) -> dict:
    """receptive field, unit weights (one unit), params, MACs of the model a config builds."""
    import torch
    import torch.nn as nn

    shape, classes = (DATASETS[dataset].shape, DATASETS[dataset].num_classes) if dataset in DATASETS else FOLDER_INPUT
    knobs = {k: v for k, v in cfg_model.items() if k != "name"}
    model = build_model(cfg_model["name"], in_channels=shape[0], num_classes=classes, **knobs)
    k, depth = cfg_model.get("unit_kernel", 3), cfg_model.get("unit_depth", 2)
    unit_convs = [
        m
        for m in model.modules()
        if isinstance(m, nn.Conv2d) and m.kernel_size[0] == k and m.in_channels == m.out_channels
    ]
    first_width = unit_convs[0].out_channels if unit_convs else 0
    unit = sum(m.weight.numel() for m in unit_convs if m.out_channels == first_width)
    units = max(1, sum(m.out_channels == first_width for m in unit_convs) // depth)
    return {
        "receptive_field": receptive_field(model),
        "unit_weights": unit // units,
        "macs": macs(model.eval(), torch.zeros(1, *shape)),
        "nonlinearities_per_unit": depth,
    }


def derive(runs: pd.DataFrame, curves: pd.DataFrame, spec: dict) -> pd.DataFrame:
    model_cols = [c for c in runs.columns if c.startswith("cfg.model.")]
    cache: dict = {}
    rows = []
    for _, r in runs.iterrows():
        cfg = {
            c.removeprefix("cfg.model."): r[c] for c in model_cols if not (isinstance(r[c], float) and math.isnan(r[c]))
        }
        key = (tuple(sorted(cfg.items())), r["cfg.data.name"])
        if key not in cache:
            cache[key] = structure(cfg, r["cfg.data.name"])
        rows.append(cache[key])
    return pd.concat([runs, pd.DataFrame(rows, index=runs.index)], axis=1)


def figures(runs: pd.DataFrame, curves: pd.DataFrame, spec: dict) -> dict[str, Figure]:
    """Test accuracy against parameters, mean ± sd over seeds; each stack joined to its big kernel."""
    pairs = (spec.get("published") or {}).get("pairs", {})
    g = runs.groupby("arm", sort=False)
    t = pd.DataFrame(
        {
            "params": g.params.first(),
            "acc": 100 * g.final_test_accuracy.mean(),
            "sd": 100 * g.final_test_accuracy.std(ddof=1).fillna(0),
        }
    )
    fig = Figure(figsize=(6.4, 4.4))
    with sns.axes_style("whitegrid"):
        ax = fig.subplots()
        for arm, r in t.iterrows():
            stack = arm.startswith("3x3")
            ax.errorbar(r.params, r.acc, yerr=r.sd, fmt="o" if stack else "s", capsize=3, color="C0" if stack else "C3")
            ax.annotate(arm, (r.params, r.acc), textcoords="offset points", xytext=(6, 4))
        for a, b in pairs.items():
            if a in t.index and b in t.index:
                ax.plot(t.loc[[a, b], "params"], t.loc[[a, b], "acc"], ":", color="grey")
        ax.set(
            xlabel="parameters",
            ylabel="test accuracy (%)",
            title="Stacked 3x3 (circles) vs one big kernel (squares), equal training budget",
        )
        ax.title.set_fontsize(9)
        fig.tight_layout()
    return {"figure": fig}


def notes(runs: pd.DataFrame, spec: dict) -> list[str]:

    lrs = runs.groupby("arm", sort=False)["cfg.optim.lr"].first()
    out = [
        "Receptive field, weights, parameters and multiply-adds are measured on the models built from each "
        "arm's config; every unit maps C -> C channels, so the per-unit reduction is the paper's 1 - 18/25 = 28% "
        "(1 - 27/49 = 45%), and the whole-net reduction is smaller (stem, 1x1 transitions and classifier are shared).",
        "Accuracy: final test error after the same number of steps; learning rate per arm: "
        + ", ".join(f"{a} {lr:g}" for a, lr in lrs.items())
        + ".",
        *describe_tuned(spec),
    ]
    stuck = runs[runs.final_train_error >= CHANCE_ERROR].groupby("arm", sort=False).size()
    if len(stuck):
        out.append(
            "Runs that never trained (final training error at chance, >= "
            f"{100 * CHANCE_ERROR:.0f}%): "
            + ", ".join(f"{a} {k} of {(runs.arm == a).sum()}" for a, k in stuck.items())
            + ". Without normalisation the deeper stacks of 3x3 convs are harder to optimise, and at a "
            "learning rate at the edge of stability some seeds fail (tune over seeds: `ablate tune "
            "--seeds N`); the accuracy claims then measure trainability as much as kernel size. VGG met the same difficulty and initialised its deeper "
            "nets from a trained shallow one (Simonyan & Zisserman 2014, §3.1)."
        )
    if set(runs["cfg.data.name"]) == {"digits"}:
        out.append(
            "On 8x8 digits every receptive field above 8 px covers the whole image; the accuracy "
            "comparison is at toy scale."
        )
    return out
