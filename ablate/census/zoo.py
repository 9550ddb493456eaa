"""The model zoo at a glance: parameters against compute, and where AlexNet and VGG-16 keep them.

Pure functions: measurements -> DataFrame -> figure. Columns of the zoo frame:
  model   registered name
  family  lenet / mnist / alexnet / vgg / googlenet / resnet / cifar_resnet / densenet /
          mobilenet / efficientnet / convnext
  params  trainable parameters (count)
  gmacs   10^9 multiply-adds of one forward pass on the native input (batch 1)
Columns of the split frame (AlexNet and VGG-16 only): model, part ('conv layers' / 'FC layers'),
params, gmacs (the part's share, same units), pct_params, pct_gmacs (percent of the model's total).
"""

from __future__ import annotations

import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

FAMILIES = (
    "cifar_resnet",
    "cifar_plain",
    "lenet",
    "mnist",
    "simple_resnet",
    "alexnet",
    "vgg",
    "googlenet",
    "resnet",
    "densenet",
    "mobilenet",
    "efficientnet",
    "convnext",
)


def family_of(name: str) -> str:
    for fam in FAMILIES:
        if name.startswith(fam):
            return {"simple_resnet": "mnist", "cifar_plain": "cifar_resnet"}.get(fam, fam)
    return "other"


def zoo_frame(records: list[dict]) -> pd.DataFrame:
    """records: dicts with model, params, gmacs -> the zoo frame (family added, sorted by params)."""
    df = pd.DataFrame.from_records(records, columns=["model", "params", "gmacs"])
    df.insert(1, "family", df["model"].map(family_of))
    return df.sort_values("params", ignore_index=True)


def split_frame(records: list[dict]) -> pd.DataFrame:
    """records: dicts with model, conv_params, fc_params, conv_gmacs, fc_gmacs -> the split frame."""
    rows = []
    for r in records:
        total_p = r["conv_params"] + r["fc_params"]
        total_g = r["conv_gmacs"] + r["fc_gmacs"]
        for part, key in (("conv layers", "conv"), ("FC layers", "fc")):
            rows.append(
                {
                    "model": r["model"],
                    "part": part,
                    "params": r[f"{key}_params"],
                    "gmacs": r[f"{key}_gmacs"],
                    "pct_params": 100 * r[f"{key}_params"] / total_p,
                    "pct_gmacs": 100 * r[f"{key}_gmacs"] / total_g,
                }
            )
    return pd.DataFrame(rows)


def zoo_figure(zoo: pd.DataFrame, split: pd.DataFrame) -> Figure:
    """Left: log-log parameters vs GMACs of every model, with AlexNet's and VGG-16's conv and FC
    parts as hollow markers. Right: the conv/FC shares of parameters and of compute."""
    # Style scoped to this figure (sns.set_theme would change every later figure of the process).
    with sns.axes_style("whitegrid"), sns.plotting_context("paper"):
        return _zoo_figure(zoo, split)


def _zoo_figure(zoo: pd.DataFrame, split: pd.DataFrame) -> Figure:
    fig = Figure(figsize=(14, 6.5))
    ax, bx = fig.subplots(1, 2, gridspec_kw={"width_ratios": [2.2, 1]})
    _scatter_panel(ax, zoo, split)
    _split_panel(bx, split)
    fig.tight_layout()
    return fig


def _scatter_panel(ax, zoo: pd.DataFrame, split: pd.DataFrame) -> None:
    """Parameters against compute for every model, the conv / FC parts of AlexNet and VGG-16 hollow."""
    sns.scatterplot(data=zoo, x="gmacs", y="params", hue="family", style="family", s=60, ax=ax)
    for _, r in zoo.iterrows():
        if not r["model"].endswith(("_bn", "_v1")) and r["model"] != "alexnet_onetower":
            ax.annotate(
                r["model"], (r["gmacs"], r["params"]), fontsize=6, alpha=0.8, xytext=(3, 2), textcoords="offset points"
            )
    for (model, part), r in split.set_index(["model", "part"]).iterrows():
        marker = "s" if part == "conv layers" else "D"
        ax.scatter(r["gmacs"], r["params"], marker=marker, facecolors="none", edgecolors="black", s=70)
        ax.annotate(
            f"{model}: {part}",
            (r["gmacs"], r["params"]),
            fontsize=7,
            weight="bold",
            xytext=(4, -9),
            textcoords="offset points",
        )
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="compute (GMACs: multiply-adds of one native-size input, 28-600 px)",
        ylabel="trainable parameters",
        title="The zoo: parameters vs compute (hollow: conv / FC parts of AlexNet, VGG-16)",
    )
    ax.legend(fontsize=7, ncol=2, loc="upper left")
    ax.text(
        0.99,
        0.01,
        "unlabelled: the _bn / _v1 / one-tower twins of labelled models",
        transform=ax.transAxes,
        ha="right",
        fontsize=6,
        color="gray",
    )


def _split_panel(bx, split: pd.DataFrame) -> None:
    """The FC layers' share of parameters and of compute, as stacked bars."""
    long = split.melt(
        id_vars=["model", "part"], value_vars=["pct_params", "pct_gmacs"], var_name="share of", value_name="percent"
    )
    long["share of"] = long["share of"].map({"pct_params": "parameters", "pct_gmacs": "compute"})
    long["bar"] = long["model"] + "\n" + long["share of"]
    fc = long[long["part"] == "FC layers"].set_index("bar")["percent"]
    bars = list(fc.index)
    bx.bar(bars, 100 - fc.values, label="conv layers", color=sns.color_palette()[0])
    bx.bar(bars, fc.values, bottom=100 - fc.values, label="FC layers", color=sns.color_palette()[1])
    for i, v in enumerate(fc.values):
        bx.text(i, 100 - v / 2 if v > 8 else 101, f"FC {v:.1f}%", ha="center", fontsize=7)
    bx.set(ylabel="% of the model's total", ylim=(0, 108), title="FC layers hold the parameters,\nconvs do the compute")
    bx.tick_params(axis="x", labelsize=7)
    bx.legend(fontsize=7, loc="lower right")
