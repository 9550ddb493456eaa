"""Degradation (He et al. 2015, §4.2, Fig. 6 and Table 6): what this experiment adds to the generic
analysis. Its claims are in experiments/degradation.yaml; here: He et al.'s Fig. 6 redrawn and
Table 6's test errors beside ours (on CIFAR-10 runs only).

Runs are placed by their config, not their arm names: family = plain (model.shortcut == 'none')
or residual, depth = model.depth.
"""

from __future__ import annotations

import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from ablate.report.tables import fmt, markdown_table, mean_ci
from ablate.verdicts.metrics import RUN_METRICS

__all__ = ["TITLE", "derive", "table", "figures", "notes"]  # the hooks (ablate.hooks)

TITLE = "Degradation: plain vs residual networks (He et al. 2015, Fig. 6, Table 6)"


def derive(runs: pd.DataFrame, curves: pd.DataFrame, spec: dict) -> pd.DataFrame:
    runs = runs.copy()
    runs["family"] = runs["cfg.model.shortcut"].map(lambda s: "plain" if s == "none" else "residual")
    runs["depth"] = runs["cfg.model.depth"].astype(int)
    return runs


def table(runs: pd.DataFrame, spec: dict) -> tuple[pd.DataFrame, str] | None:
    """Our test error beside Table 6's, on CIFAR-10 runs only (the paper's numbers are CIFAR-10's)."""
    if set(runs["cfg.data.name"]) != {"cifar10"}:
        return None
    pub = (spec.get("published") or {}).get("test_error_percent", {})
    rows = []
    for arm, g in runs.groupby("arm", sort=False):
        mean, _, low, high = mean_ci(g.final_test_error)
        rows.append(
            {
                "arm": arm,
                "n": len(g),
                "test error % (ours)": fmt(mean, low, high, RUN_METRICS["final_test_error"]),
                "test error % (Table 6)": pub.get(arm),
            }
        )
    t = pd.DataFrame(rows)
    return t, "Ours beside He et al.'s Table 6 (CIFAR-10 test error):\n\n" + markdown_table(t)


def figures(runs: pd.DataFrame, curves: pd.DataFrame, spec: dict, smooth: int = 5) -> dict[str, Figure]:
    """Fig. 6 redrawn: error against iterations, training dashed (running mini-batch error,
    smoothed over `smooth` records), test solid; plain left, residual right."""
    meta = runs[["run_id", "family", "depth"]]
    c = curves[curves.metric.isin(["train/error", "test/error"])].merge(meta, on="run_id").sort_values("step")
    train = c.metric == "train/error"
    c.loc[train, "value"] = (
        c[train].groupby("run_id")["value"].transform(lambda v: v.rolling(smooth, min_periods=1).mean())
    )
    c["error %"] = 100 * c["value"]
    c["split"] = c.metric.map({"train/error": "train", "test/error": "test"})
    depths = sorted(runs.depth.unique())
    fig = Figure(figsize=(11, 4.2))
    with sns.axes_style("whitegrid"):
        axes = fig.subplots(1, 2, sharey=True)
        palette = dict(zip(depths, sns.color_palette("viridis_r", len(depths))))
        for ax, family in zip(axes, ("plain", "residual")):
            sub = c[c.family == family]
            if not sub.empty:
                sns.lineplot(
                    data=sub,
                    x="step",
                    y="error %",
                    hue="depth",
                    style="split",
                    palette=palette,
                    dashes={"train": (4, 2), "test": ""},
                    errorbar=None,
                    ax=ax,
                    hue_order=[d for d in depths if d in set(sub.depth)],
                    style_order=["train", "test"],
                )
            ax.set(title=f"{family} networks", xlabel="iterations")
        axes[0].set_ylabel("error (%)  — dashed: training, solid: test")
        fig.suptitle("Degradation (He et al. 2015, Fig. 6), from our runs; mean over seeds")
        fig.tight_layout()
    return {"figure": fig}


def notes(runs: pd.DataFrame, spec: dict) -> list[str]:
    return [
        "The claims' training error is measured in eval mode on the whole training split (no augmentation) at "
        "the end of training; a diverged run counts as 100% error. The figure's dashed curves are running "
        "mini-batch errors, as in the paper.",
    ]
