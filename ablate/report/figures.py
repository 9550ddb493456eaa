"""The learning curves every experiment gets: training and evaluation error against steps, one line
per arm, a band of ± one standard deviation over seeds.

Figures are matplotlib `Figure` objects made without pyplot, and seaborn's style is applied inside
a context, so nothing here changes global plotting state.
"""

from __future__ import annotations

import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from ablate.verdicts.metrics import records_per_epoch

STYLE = "whitegrid"


def running_train_error(runs: pd.DataFrame, curves: pd.DataFrame) -> pd.DataFrame:
    """The mini-batch training error of each run, averaged over a trailing epoch of records."""
    epoch_records = records_per_epoch(runs)
    c = curves[curves.metric == "train/error"].sort_values("step")
    out = []
    for run_id, g in c.groupby("run_id", sort=False):
        if run_id in epoch_records:
            out.append(g.assign(value=g.value.rolling(epoch_records[run_id], min_periods=1).mean()))
    return pd.concat(out, ignore_index=True) if out else c


def learning_curves(runs: pd.DataFrame, curves: pd.DataFrame, arms: list[str]) -> Figure:
    fig = Figure(figsize=(11, 4.2))
    with sns.axes_style(STYLE):
        axes = fig.subplots(1, 2, sharey=True)
        train = running_train_error(runs, curves)
        evals = curves[curves.metric.isin(["test/error", "val/error"])]
        palette = dict(zip(arms, sns.color_palette("tab10" if len(arms) <= 10 else "husl", len(arms))))
        panels = (
            (axes[0], train, "training error (trailing-epoch mean of mini-batches)"),
            (axes[1], evals, "evaluation error (solid: test, dashed: validation)"),
        )
        for ax, data, title in panels:
            if not data.empty:
                data = data.assign(**{"error %": 100 * data.value})
                kwargs = {"style": "metric", "dashes": {"test/error": "", "val/error": (4, 2)}} if data is evals else {}
                sns.lineplot(
                    data=data,
                    x="step",
                    y="error %",
                    hue="arm",
                    hue_order=[a for a in arms if a in set(data.arm)],
                    palette=palette,
                    errorbar="sd",
                    ax=ax,
                    legend=ax is axes[1],
                    **kwargs,
                )
            ax.set(title=title, xlabel="optimiser steps", ylabel="error (%)")
            ax.title.set_fontsize(10)
        if axes[1].get_legend() is not None:
            sns.move_legend(axes[1], "upper left", bbox_to_anchor=(1.01, 1), fontsize=8, title=None)
        fig.suptitle("Learning curves: mean over seeds, band ± 1 sd")
        fig.tight_layout()
    return fig
