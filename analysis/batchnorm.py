"""BatchNorm (Ioffe & Szegedy 2015, Fig. 1 and Fig. 2): with BN a network reaches a given accuracy
in fewer steps, and it trains at learning rates x5 and x30 where the same net without BN does not.

Each run is placed by its config: part = 'mlp' (model bn_mlp: the paper's MNIST network) or
'conv'; bn = model.norm == 'batch'; lr factor = the run's lr over the smallest lr of its part.
Accuracy is test accuracy measured in eval mode on the whole test split at each evaluation (the
paper's curves are test accuracy). Steps to target = the first evaluation at or above the target
accuracy of the run's dataset (`published.target_accuracy`); a run that never gets there counts as
its length (a lower bound, marked '≥'). A diverged run (non-finite loss) has no accuracy.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import pandas as pd

from analysis.common import Analysis, Verdict, compare, fmt_mean_std, markdown_table

CLAIM = ("Batch normalisation makes networks train faster and lets them use much higher learning "
         "rates (Ioffe & Szegedy 2015, Fig. 1 and 2).")  # fmt: skip
DEFAULT_TARGETS = {"digits": 0.9, "mnist": 0.95, "cifar10": 0.75}


def place(runs: pd.DataFrame, curves: pd.DataFrame, targets: dict[str, float]) -> pd.DataFrame:
    runs = runs.copy()
    runs["part"] = runs["cfg.model.name"].map(lambda n: "mlp" if n == "bn_mlp" else "conv")
    runs["bn"] = runs["cfg.model.norm"] == "batch"
    base = runs.groupby("part")["cfg.optim.lr"].transform("min")
    runs["factor"] = (runs["cfg.optim.lr"] / base).round(2)
    runs["target"] = runs["cfg.data.name"].map(lambda d: targets.get(d, 0.9))
    runs["diverged"] = runs["status"] == "diverged"
    runs["final_acc"] = (1 - runs["final_test_error"]).where(~runs.diverged)
    acc = curves[curves.metric == "test/error"].assign(acc=lambda c: 1 - c.value)
    acc = acc.merge(runs[["run_id", "target"]], on="run_id")
    first = acc[acc.acc >= acc.target].groupby("run_id").step.min()
    runs["steps_to_target"] = runs.run_id.map(first).astype(float)
    runs["reached"] = runs.steps_to_target.notna()
    runs["steps_bound"] = runs.steps_to_target.fillna(runs["steps"].astype(float))
    # A diverged run never gets there: its bound is the full budget, not the step it stopped at.
    runs.loc[runs.diverged & ~runs.reached, "steps_bound"] = runs["cfg.train.max_steps"].astype(float)
    return runs


def _faster(runs, bn_arm, plain_arm, vid, claim) -> Verdict:
    c = compare(runs, "steps_bound", bn_arm, plain_arm)
    if c is None:
        return Verdict(vid, claim, None, f"{bn_arm} or {plain_arm} not in this grid")
    never = {a: int((~runs[runs.arm == a].reached).sum()) for a in (bn_arm, plain_arm)}
    note = "; ".join(f"{a} never reached the target in {n} seeds (counted as the run length)"
                     for a, n in never.items() if n)  # fmt: skip
    holds = c.diff < 0 and never[bn_arm] == 0
    return Verdict(vid, claim, holds, "steps to target accuracy: " + c.text(pct=False) + (f"; {note}" if note else ""),
                   c.beyond_spread)  # fmt: skip


def _tolerates(runs: pd.DataFrame) -> Verdict:
    vid, claim = "higher lr", "with BN the conv net trains at lr x5 and x30 (no divergence, reaches the target, " \
                              "at least as accurate as without BN at the same lr)"
    conv = runs[runs.part == "conv"]
    factors = sorted(f for f in conv.factor.unique() if f > 1)
    if not factors or conv.bn.nunique() < 2:
        return Verdict(vid, claim, None, "the conv arms at higher learning rates are not in this grid")
    parts, holds, spreads = [], True, []
    for f in factors:
        bn, plain = conv[(conv.factor == f) & conv.bn], conv[(conv.factor == f) & ~conv.bn]
        if bn.empty or plain.empty:
            continue
        ok_bn = not bn.diverged.any() and bn.reached.all()
        # A diverged plain run counts as 0 accuracy (it produced no usable network).
        b_acc, p_acc = bn.final_acc.fillna(0.0), plain.final_acc.fillna(0.0)
        c = compare(pd.concat([bn.assign(_a=b_acc, _k="bn"), plain.assign(_a=p_acc, _k="plain")]), "_a", "bn", "plain", key="_k")
        better = c.diff >= 0
        holds &= ok_bn and better
        spreads.append(c.beyond_spread)
        parts.append(f"x{f:g}: BN {int(bn.reached.sum())}/{len(bn)} reached target, {int(bn.diverged.sum())} diverged; "
                     f"without BN {int(plain.reached.sum())}/{len(plain)} reached, {int(plain.diverged.sum())} diverged; "
                     f"final test accuracy {c.text()}")  # fmt: skip
    spread = all(spreads) if spreads and all(s is not None for s in spreads) else None
    return Verdict(vid, claim, bool(holds), " | ".join(parts), spread)


def verdicts(runs: pd.DataFrame) -> list[Verdict]:
    """runs: the frame of place()."""
    out = [
        _faster(runs, "mlp-bn", "mlp", "faster (MLP)",
                "the MLP with BN reaches the target test accuracy in fewer steps (Fig. 1a)"),
        _faster(runs, "conv-bn-x1", "conv-x1", "faster (conv)",
                "the conv net with BN reaches the target test accuracy in fewer steps at the same lr"),
        _tolerates(runs),
        _faster(runs, "conv-bn-x5", "conv-bn-x1", "higher lr faster",
                "with BN, lr x5 reaches the target in fewer steps than lr x1 (BN-x5 vs BN-Baseline, Fig. 2)"),
    ]  # fmt: skip
    return out


def table(runs: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    order = [a for a in ("mlp", "mlp-bn", "conv-x1", "conv-bn-x1", "conv-x5", "conv-bn-x5", "conv-x30", "conv-bn-x30")
             if a in set(runs.arm)]  # fmt: skip
    order += sorted(set(runs.arm) - set(order))
    rows = []
    for arm in order:
        r = runs[runs.arm == arm]
        sd = lambda col: float(r[col].std(ddof=1)) if len(r) > 1 else math.nan  # noqa: E731
        rows.append({"arm": arm, "part": r.part.iloc[0], "bn": bool(r.bn.iloc[0]), "lr": float(r["cfg.optim.lr"].iloc[0]),
                     "factor": float(r.factor.iloc[0]), "n": len(r), "target": float(r.target.iloc[0]),
                     "reached": int(r.reached.sum()), "steps mean": r.steps_bound.mean(), "steps std": sd("steps_bound"),
                     "final acc mean": r.final_acc.mean(), "final acc std": sd("final_acc"),
                     "diverged": int(r.diverged.sum())})  # fmt: skip
    t = pd.DataFrame(rows)
    md = pd.DataFrame({
        "arm": t.arm, "BN": t.bn.map({True: "yes", False: "no"}), "lr": [f"{v:.4g}" + (f" (x{f:g})" if p == "conv" else "") for v, f, p in zip(t.lr, t.factor, t.part)],
        "n": t.n, "target acc %": [f"{100 * v:.0f}" for v in t.target],
        "reached": [f"{a}/{n}" for a, n in zip(t.reached, t.n)],
        "steps to target": [("≥ " if a < n else "") + fmt_mean_std(m, s, n, 1, 0)
                            for a, n, m, s in zip(t.reached, t.n, t["steps mean"], t["steps std"])],
        "final test acc %": [fmt_mean_std(m, s, n) for m, s, n in zip(t["final acc mean"], t["final acc std"], t.n)],
        "diverged": t.diverged,
    })  # fmt: skip
    return t, markdown_table(md)


def figure(runs: pd.DataFrame, curves: pd.DataFrame):
    """Fig. 1(a) and Fig. 2 redrawn: test accuracy against training steps, mean over seeds."""
    c = curves[curves.metric == "test/error"].drop(columns=["arm", "seed"], errors="ignore")
    c = c.merge(runs[["run_id", "arm", "part", "bn", "factor"]], on="run_id")
    c = c.assign(acc=100 * (1 - c.value))
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.4))
    colours = {1.0: "C0", 5.0: "C1", 30.0: "C3"}
    for ax, part, title in ((axes[0], "mlp", "(a) MLP, 3x100 sigmoid (Fig. 1a)"),
                            (axes[1], "conv", "(b) conv net at lr x1, x5, x30 (Fig. 2)")):  # fmt: skip
        sub = c[c.part == part]
        for (arm, bn, factor), g in sub.groupby(["arm", "bn", "factor"], sort=False):
            mean = g.groupby("step").acc.mean()
            colour = ("C2" if bn else "C7") if part == "mlp" else colours.get(factor, "C4")
            ax.plot(mean.index, mean.values, "-" if bn else "--", color=colour, lw=1.8, label=arm)
        targets = runs[runs.part == part].target.unique()
        for t in targets:
            ax.axhline(100 * t, color="k", lw=0.7, ls=":")
        ax.set(title=title, xlabel="training steps", ylabel="test accuracy (%)")
        ax.grid(alpha=0.3)
        if not sub.empty:
            ax.legend(fontsize=8)
    fig.suptitle("With (solid) vs without (dashed) BatchNorm, after Ioffe & Szegedy 2015; mean over seeds")
    fig.tight_layout()
    return fig


def analyze(runs: pd.DataFrame, curves: pd.DataFrame, spec: dict) -> Analysis:
    from ablate.tuning import describe_tuned

    targets = {**DEFAULT_TARGETS, **((spec.get("published") or {}).get("target_accuracy") or {})}
    runs = place(runs, curves, targets)
    t, md = table(runs)
    notes = [
        "Steps to target: first evaluation whose test accuracy reaches the dataset's target "
        f"({', '.join(f'{k} {100 * v:.0f}%' for k, v in targets.items())}); '≥' marks arms where some "
        "seed never did (counted as the run length). Resolution: one evaluation interval.",
        "Conv nets: lr factor = the arm's learning rate over the smallest conv one (the base); the paper's "
        "BN-x5/BN-x30 are Inception on ImageNet, ours a small conv net. MLPs: each at its own learning rate "
        "(the profile says how each was chosen), so 'faster (MLP)' compares each net at its own good rate.",
        *describe_tuned(spec),
    ]
    stuck = [a for a, acc, bn in zip(t.arm, t["final acc mean"], t.bn) if not bn and t.set_index("arm").loc[a, "factor"] == 1
             and acc < 0.2]  # fmt: skip
    if stuck:
        notes.append(
            f"{', '.join(stuck)} (no BN, base lr) did not learn at all (near-chance accuracy): its base learning "
            "rate was not tuned, so 'faster' is measured against an untrained baseline. Tune it "
            "(`python -m ablate tune batchnorm --arm ARM`) and set the base lr from the result.")  # fmt: skip
    if "mnist" not in set(runs["cfg.data.name"]):
        notes.append("The MLP part ran on the 8x8 scikit-learn digits (64 inputs), not MNIST (784): a "
                     "substitution of the quick profile, which needs no download.")  # fmt: skip
    return Analysis("BatchNorm: faster training and higher learning rates (Ioffe & Szegedy 2015)",
                    spec.get("claim", CLAIM), t, md, verdicts(runs), figure(runs, curves), notes)  # fmt: skip
