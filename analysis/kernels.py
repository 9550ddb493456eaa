"""Kernels (Simonyan & Zisserman 2014, §2.3): a stack of small kernels vs one big kernel with the
same receptive field: receptive field, parameters, compute and accuracy at equal training budget.

Structure is measured, not typed in: each arm's model is rebuilt from its config and we count its
receptive field (walking the convs and pools), its parameters (whole net, and per unit: the weights
of the C -> C convs of one unit) and its multiply-adds per image at the run's input size (torch's
FLOP counter / 2). Accuracy is the final test error at the end of the same number of steps.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import pandas as pd

from analysis.common import Analysis, Verdict, compare, fmt_mean_std, markdown_table

CLAIM = ("Two stacked 3x3 convolutions = one 5x5 in receptive field with 28% fewer parameters and an "
         "extra non-linearity (Simonyan & Zisserman 2014, §2.3).")  # fmt: skip
PAIRS = {"3x3x2": "5x5", "3x3x3": "7x7"}
INPUT_SHAPES = {"digits": (1, 8, 8), "mnist": (1, 28, 28), "cifar10": (3, 32, 32)}


def structure(cfg_model: dict, dataset: str) -> dict:
    """receptive field, unit weights (one unit), params, MACs of the model a config builds."""
    import torch.nn as nn

    from ablate.models import build_model
    import torch

    from ablate.claims.measure import macs
    from ablate.models.small_convnets import receptive_field

    shape = INPUT_SHAPES.get(dataset, (3, 32, 32))
    model = build_model(cfg_model["name"], in_channels=shape[0], num_classes=10,
                        **{k: v for k, v in cfg_model.items() if k != "name"})  # fmt: skip
    k, depth = cfg_model.get("unit_kernel", 3), cfg_model.get("unit_depth", 2)
    unit_convs = [m for m in model.modules() if isinstance(m, nn.Conv2d) and m.kernel_size[0] == k
                  and m.in_channels == m.out_channels]  # fmt: skip
    first_width = unit_convs[0].out_channels if unit_convs else 0
    unit = sum(m.weight.numel() for m in unit_convs if m.out_channels == first_width)
    units = max(1, sum(m.out_channels == first_width for m in unit_convs) // depth)
    return {"receptive_field": receptive_field(model), "unit_weights": unit // units, "width": first_width,
            "params_built": sum(p.numel() for p in model.parameters()), "macs": macs(model.eval(), torch.zeros(1, *shape)),
            "nonlinearities_per_unit": depth}  # fmt: skip


def place(runs: pd.DataFrame) -> pd.DataFrame:
    runs = runs.copy()
    runs["scheme"] = runs.arm
    model_cols = [c for c in runs.columns if c.startswith("cfg.model.")]
    cache: dict = {}
    rows = []
    for _, r in runs.iterrows():
        cfg = {c.removeprefix("cfg.model."): r[c] for c in model_cols if not _isnan(r[c])}
        key = (tuple(sorted(cfg.items())), r["cfg.data.name"])
        if key not in cache:
            cache[key] = structure(cfg, r["cfg.data.name"])
        rows.append(cache[key])
    s = pd.DataFrame(rows, index=runs.index)
    runs = pd.concat([runs, s], axis=1)
    runs["test_acc"] = (1 - runs.final_test_error).where(runs.status == "completed")
    return runs


def _isnan(v) -> bool:
    return isinstance(v, float) and math.isnan(v)


def _one(runs, arm, col):
    return runs.loc[runs.arm == arm, col].iloc[0]


def verdicts(runs: pd.DataFrame, claimed: dict[str, float] | None = None) -> list[Verdict]:
    """runs: the frame of place()."""
    claimed = claimed or {"3x3x2": 0.28, "3x3x3": 0.45}
    out = []
    for stack, single in PAIRS.items():
        tag = f"{stack} vs {single}"
        if not {stack, single} <= set(runs.arm):
            out.append(Verdict(f"{tag}", f"{stack} vs {single}", None, f"{stack} or {single} not in this grid"))
            continue
        rf_s, rf_b = _one(runs, stack, "receptive_field"), _one(runs, single, "receptive_field")
        out.append(Verdict(f"{tag}: receptive field", f"{stack} has the receptive field of {single}",
                           bool(rf_s == rf_b), f"whole net: {rf_s} vs {rf_b} pixels"))  # fmt: skip
        u_s, u_b = _one(runs, stack, "unit_weights"), _one(runs, single, "unit_weights")
        red = 1 - u_s / u_b
        p_s, p_b = _one(runs, stack, "params_built"), _one(runs, single, "params_built")
        c_s, c_b = _one(runs, stack, "macs"), _one(runs, single, "macs")
        want = claimed.get(stack, math.nan)
        out.append(Verdict(
            f"{tag}: parameters", f"{stack} has {100 * want:.0f}% fewer weights per unit (and fewer in the whole net)",
            bool(abs(red - want) < 0.01 and p_s < p_b),
            f"per unit (C={_one(runs, stack, 'width')}): {u_s:,} vs {u_b:,} weights, {100 * red:.1f}% fewer; "
            f"whole net: {p_s:,} vs {p_b:,} parameters, {100 * (1 - p_s / p_b):.1f}% fewer (stem, 1x1 "
            "transitions and classifier are shared)"))  # fmt: skip
        out.append(Verdict(
            f"{tag}: compute", f"{stack} needs less computation than {single}", bool(c_s < c_b),
            f"{c_s / 1e6:.3f}M vs {c_b / 1e6:.3f}M multiply-adds per image, {100 * (1 - c_s / c_b):.1f}% fewer"))
        c = compare(runs.assign(err=1 - runs.test_acc.fillna(0.0)), "err", stack, single)
        out.append(Verdict(
            f"{tag}: accuracy", f"{stack} (more non-linearities) is at least as accurate as {single} at equal budget",
            bool(c.diff <= 0), "final test error: " + c.text(), c.beyond_spread))  # fmt: skip
    return out


def table(runs: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    order = [a for a in ("3x3x2", "5x5", "3x3x3", "7x7") if a in set(runs.arm)] + sorted(
        set(runs.arm) - {"3x3x2", "5x5", "3x3x3", "7x7"})
    rows = []
    for arm in order:
        r = runs[runs.arm == arm]
        rows.append({"arm": arm, "n": len(r), "receptive field": int(r.receptive_field.iloc[0]),
                     "non-linearities per unit": int(r.nonlinearities_per_unit.iloc[0]),
                     "unit weights": int(r.unit_weights.iloc[0]), "params": int(r.params_built.iloc[0]),
                     "MACs": int(r.macs.iloc[0]), "test error mean": r.final_test_error.mean(),
                     "test error std": r.final_test_error.std(ddof=1) if len(r) > 1 else math.nan,
                     "train error mean": r.final_train_error.mean(),
                     "train error std": r.final_train_error.std(ddof=1) if len(r) > 1 else math.nan})  # fmt: skip
    t = pd.DataFrame(rows)
    md = pd.DataFrame({
        "arm": t.arm, "n": t.n, "RF px": t["receptive field"], "ReLUs/unit": t["non-linearities per unit"],
        "weights/unit": [f"{v:,}" for v in t["unit weights"]], "params": [f"{v:,}" for v in t.params],
        "MMACs/image": [f"{v / 1e6:.3f}" for v in t.MACs],
        "train error %": [fmt_mean_std(m, s, n) for m, s, n in zip(t["train error mean"], t["train error std"], t.n)],
        "test error %": [fmt_mean_std(m, s, n) for m, s, n in zip(t["test error mean"], t["test error std"], t.n)],
    })  # fmt: skip
    return t, markdown_table(md)


def figure(t: pd.DataFrame):
    """Test accuracy against parameters, mean ± std over seeds; stacks and their single-kernel
    counterparts joined by a line."""
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    acc, sd = 100 * (1 - t["test error mean"]), 100 * t["test error std"].fillna(0)
    for (x, y, e, arm) in zip(t.params, acc, sd, t.arm):
        ax.errorbar(x, y, yerr=e, fmt="o" if arm.startswith("3x3") else "s", capsize=3,
                    color="C0" if arm.startswith("3x3") else "C3")  # fmt: skip
        ax.annotate(arm, (x, y), textcoords="offset points", xytext=(6, 4))
    idx = dict(zip(t.arm, range(len(t))))
    for a, b in PAIRS.items():
        if a in idx and b in idx:
            ax.plot([t.params[idx[a]], t.params[idx[b]]], [acc[idx[a]], acc[idx[b]]], ":", color="grey")
    ax.set(xlabel="parameters", ylabel="test accuracy (%)",
           title="Stacked 3x3 (circles) vs one big kernel (squares), equal training budget")  # fmt: skip
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def _lr_note(runs: pd.DataFrame) -> str:
    if "cfg.optim.lr" not in runs:
        return ""
    per_arm = runs.groupby("arm", sort=False)["cfg.optim.lr"].first()
    shared = " (one rate for all: the comparison favours the arm it suits; tune each arm for a fair one)"
    return ("; learning rate per arm: " + ", ".join(f"{a} {lr:g}" for a, lr in per_arm.items())
            + ("" if per_arm.nunique() > 1 else shared))  # fmt: skip


def analyze(runs: pd.DataFrame, curves: pd.DataFrame, spec: dict) -> Analysis:
    from ablate.tuning import describe_tuned

    runs = place(runs)
    t, md = table(runs)
    claimed = (spec.get("published") or {}).get("unit_reduction")
    notes = [
        "Receptive field, weights, parameters and multiply-adds are measured on the models built "
        "from each arm's config; every unit maps C -> C channels, so the per-unit reduction is the "
        "paper's 1 - 18/25 = 28% (1 - 27/49 = 45%) and the whole-net reduction is smaller.",
        "Accuracy: final test error after the same number of steps" + _lr_note(runs) + ".",
        *describe_tuned(spec),
    ]
    stuck = [a for a in t.arm if t.set_index("arm").loc[a, "train error mean"] >= 0.8]
    if stuck:
        notes.append(
            f"{', '.join(stuck)} did not train (training error near chance){_lr_note(runs)}. The accuracy "
            "verdicts then measure an optimisation failure of the deeper plain stacks, not the architectures' capacity. "
            "Tune each arm (`python -m ablate tune kernels --arm ARM`, then --set optim.lr=tuned).")  # fmt: skip
    if set(runs["cfg.data.name"]) == {"digits"}:
        notes.append("On 8x8 digits every receptive field above 8 px covers the whole image; the "
                     "accuracy comparison is at toy scale.")  # fmt: skip
    return Analysis("Kernels: stacked 3x3 vs one 5x5 / 7x7 (Simonyan & Zisserman 2014, §2.3)",
                    spec.get("claim", CLAIM), t, md, verdicts(runs, claimed), figure(t), notes)  # fmt: skip
