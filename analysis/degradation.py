"""Degradation (He et al. 2015, §4.2 and Fig. 6): deeper plain nets train worse; shortcuts fix it.

Each run is placed by its config, not its arm name: family = plain (model.shortcut == 'none') or
residual, depth = model.depth. The statistic is the final training error, measured in eval mode
on the whole training split; a diverged run counts as 100% error (it cannot be evaluated).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from analysis.common import (
    Analysis,
    Verdict,
    compare,
    fmt_mean_std,
    markdown_table,
    mean_std_table,
)

TRAIN = "train_error_for_verdict"
CLAIM = ("Deeper plain networks have higher training error than shallower ones (degradation), "
         "and residual connections remove the problem (He et al. 2015, Fig. 6 and Table 6).")  # fmt: skip


def place(runs: pd.DataFrame) -> pd.DataFrame:
    """Add family, depth, label and the verdict statistic to the runs frame."""
    runs = runs.copy()
    runs["family"] = runs["cfg.model.shortcut"].map(lambda s: "plain" if s == "none" else "residual")
    runs["depth"] = runs["cfg.model.depth"].astype(int)
    runs["label"] = runs["family"] + "-" + runs["depth"].astype(str)
    runs[TRAIN] = runs["final_train_error"].where(runs["status"] == "completed", 1.0)
    return runs


def _label_order(runs: pd.DataFrame) -> list[str]:
    keys = runs[["family", "depth", "label"]].drop_duplicates().sort_values(["family", "depth"])
    return keys["label"].tolist()


def _deeper_is_worse(runs, family, shallow, deep, claim_id, claim) -> Verdict:
    c = compare(runs, TRAIN, f"{family}-{deep}", f"{family}-{shallow}", key="label")
    if c is None:
        return Verdict(claim_id, claim, None, f"{family}-{shallow} or {family}-{deep} not in this grid")
    return Verdict(claim_id, claim, c.diff > 0, "final training error: " + c.text(), c.beyond_spread)


def verdicts(runs: pd.DataFrame) -> list[Verdict]:
    runs = place(runs)
    out = [_deeper_is_worse(runs, "plain", 20, 56, "plain-56 > plain-20",
                            "plain-56 ends with higher training error than plain-20")]  # fmt: skip

    c110 = compare(runs, TRAIN, "plain-110", "plain-56", key="label")
    if c110 is None:
        out.append(Verdict("plain-110 worse", "plain-110 is worse still, or fails to train", None,
                           "plain-110 or plain-56 not in this grid"))  # fmt: skip
    else:
        p110 = runs[runs.label == "plain-110"]
        diverged = int((p110.status == "diverged").sum())
        stat = "final training error: " + c110.text() + (f"; {diverged} of {len(p110)} seeds diverged" if diverged else "")
        out.append(Verdict("plain-110 worse", "plain-110 is worse still, or fails to train",
                           bool(c110.diff > 0 or diverged), stat, c110.beyond_spread))  # fmt: skip

    pairs = [compare(runs, TRAIN, f"residual-{d}", f"residual-{s}", key="label") for s, d in ((20, 56), (56, 110))]
    if any(p is None for p in pairs):
        out.append(Verdict("residual deeper ≤", "residual-56 ≤ residual-20 and residual-110 ≤ residual-56 "
                           "in training error", None, "a residual depth is missing from this grid"))  # fmt: skip
    else:
        out.append(Verdict(
            "residual deeper ≤", "residual-56 ≤ residual-20 and residual-110 ≤ residual-56 in training error",
            all(p.diff <= 0 for p in pairs), "; ".join(p.text() for p in pairs),
            all(p.beyond_spread for p in pairs) if all(p.beyond_spread is not None for p in pairs) else None,
        ))  # fmt: skip

    fixes = [compare(runs, TRAIN, f"residual-{d}", f"plain-{d}", key="label") for d in (56, 110)]
    if any(f is None for f in fixes):
        out.append(Verdict("residual < plain", "residual < plain in training error at 56 and 110 layers",
                           None, "an arm at 56 or 110 layers is missing from this grid"))  # fmt: skip
    else:
        out.append(Verdict(
            "residual < plain", "residual < plain in training error at 56 and 110 layers",
            all(f.diff < 0 for f in fixes), "; ".join(f.text() for f in fixes),
            all(f.beyond_spread for f in fixes) if all(f.beyond_spread is not None for f in fixes) else None,
        ))  # fmt: skip
    return out


def table(runs: pd.DataFrame, published: dict | None = None) -> tuple[pd.DataFrame, str]:
    """Mean ± std over seeds per arm: final train error, test error, params, wall time."""
    runs = place(runs)
    order = _label_order(runs)
    t = mean_std_table(runs, {TRAIN: "train error", "final_test_error": "test error",
                              "params": "params", "wall_time_s": "wall time s"}, order, key="label")  # fmt: skip
    t["diverged"] = [int((runs[runs.label == a].status == "diverged").sum()) for a in t.arm]
    # The paper's numbers are CIFAR-10 test errors: put them beside CIFAR-10 runs only.
    on_cifar = set(runs["cfg.data.name"]) == {"cifar10"}
    pub = (published or {}).get("test_error_percent", {}) if on_cifar else {}
    t["published test error %"] = [pub.get(a) for a in t.arm]
    md = pd.DataFrame({
        "arm": t.arm, "n": t.n,
        "train error %": [fmt_mean_std(m, s, n) for m, s, n in zip(t["train error mean"], t["train error std"], t.n)],
        "test error %": [fmt_mean_std(m, s, n) for m, s, n in zip(t["test error mean"], t["test error std"], t.n)],
        "published test error %": t["published test error %"],
        "params": [f"{p / 1e6:.3f}M" for p in t["params mean"]],
        "diverged": t["diverged"],
        "wall time s": [f"{w:.0f}" for w in t["wall time s mean"]],
    })  # fmt: skip
    return t, markdown_table(md)


def figure(runs: pd.DataFrame, curves: pd.DataFrame, smooth: int = 5):
    """He et al. Fig. 6 redrawn: error against iterations, training dashed (running mini-batch
    error, smoothed over `smooth` records), test solid; plain left, residual right."""
    runs = place(runs)
    meta = runs[["run_id", "family", "depth"]]
    c = curves[curves.metric.isin(["train/error", "test/error"])].merge(meta, on="run_id")
    c = c.sort_values("step")
    train = c.metric == "train/error"
    c.loc[train, "value"] = c[train].groupby("run_id")["value"].transform(
        lambda v: v.rolling(smooth, min_periods=1).mean())  # fmt: skip
    c["error %"] = 100 * c["value"]
    c["split"] = c.metric.map({"train/error": "train", "test/error": "test"})
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    depths = sorted(runs.depth.unique())
    palette = dict(zip(depths, sns.color_palette("viridis_r", len(depths))))
    for ax, family in zip(axes, ("plain", "residual")):
        sub = c[c.family == family]
        if not sub.empty:
            sns.lineplot(data=sub, x="step", y="error %", hue="depth", style="split", palette=palette,
                         dashes={"train": (4, 2), "test": ""}, errorbar=None, ax=ax,
                         hue_order=[d for d in depths if d in set(sub.depth)], style_order=["train", "test"])  # fmt: skip
        ax.set_title(f"{family} networks")
        ax.set_xlabel("iterations")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("error (%)  — dashed: training, solid: test")
    fig.suptitle("Degradation (He et al. 2015, Fig. 6), from our runs; mean over seeds")
    fig.tight_layout()
    return fig


def analyze(runs: pd.DataFrame, curves: pd.DataFrame, spec: dict) -> Analysis:
    t, md = table(runs, spec.get("published"))
    notes = [
        "Training error is measured in eval mode on the whole training split (no augmentation) at the "
        "end of training; the figure's dashed curves are running mini-batch errors, as in the paper.",
        "A difference is 'beyond seed spread' when it exceeds two standard errors of the difference "
        "of means (Welch); with one seed the spread is unknown.",
    ]
    return Analysis("Degradation: plain vs residual networks", spec.get("claim", CLAIM), t, md,
                    verdicts(runs), figure(runs, curves), notes)  # fmt: skip
