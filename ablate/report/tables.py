"""Per-arm tables: mean and 95% confidence interval over seeds (Student's t), as CSV and Markdown."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

from ablate.verdicts.metrics import Metric


def mean_ci(values) -> tuple[float, float, float, float]:
    """(mean, sd, CI low, CI high) of a sample; the CI is nan with fewer than 2 values."""
    x = np.asarray(values, float)
    if len(x) == 0:
        return (math.nan,) * 4
    mean = float(x.mean())
    if len(x) < 2:
        return mean, math.nan, math.nan, math.nan
    sd = float(x.std(ddof=1))
    half = float(stats.t.ppf(0.975, len(x) - 1) * sd / math.sqrt(len(x)))
    return mean, sd, mean - half, mean + half


def fmt(mean: float, low: float, high: float, metric: Metric, censored: int = 0) -> str:
    """'12.3 ± 1.2' (± the 95% CI half-width, in the metric's unit); '≥' when values are censored."""
    if pd.isna(mean):
        return "—"
    if metric.exact:
        return f"{mean * metric.scale:,.0f}" if abs(mean) >= 100 else f"{mean * metric.scale:.4g}"
    digits = 2 if metric.unit == "%" else 3
    shown = f"{mean * metric.scale:.{digits}g}" if metric.unit != "%" else f"{mean * metric.scale:.2f}"
    text = ("≥ " if censored else "") + shown
    if not pd.isna(low):
        half = (high - low) / 2 * metric.scale
        text += f" ± {half:.2f}" if metric.unit == "%" else f" ± {half:.{digits}g}"
    return text + (f" ({censored} never)" if censored else "")


def markdown_table(df: pd.DataFrame) -> str:
    """A GitHub Markdown table (no extra dependency)."""
    cols = [str(c) for c in df.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for row in df.itertuples(index=False):
        lines.append("| " + " | ".join("" if pd.isna(v) else str(v) for v in row) + " |")
    return "\n".join(lines)


def arm_table(
    columns: dict[str, tuple[Metric, pd.DataFrame]], arms: list[str], diverged: dict[str, int] | None = None
) -> tuple[pd.DataFrame, str]:
    """columns: metric name -> (metric, frame with arm, value, censored per run); diverged: arm ->
    its diverged runs. One row per arm: n, diverged, and per metric mean, sd, ci_low, ci_high (CSV)
    / 'mean ± half-width' (Markdown)."""
    csv_rows, md_rows = [], []
    for arm in arms:
        count = (diverged or {}).get(arm, 0)
        row, md = {"arm": arm, "n": 0, "diverged": count}, {"arm": arm, "n": 0, "diverged": count}
        for name, (metric, frame) in columns.items():
            f = frame[frame.arm == arm]
            finite = np.isfinite(f.value.to_numpy(dtype=float))  # NaN/inf: counted, never averaged
            mean, sd, low, high = mean_ci(f.value[finite])
            cens = int(f.censored[finite].sum())
            row.update(
                {
                    "n": len(f),
                    f"{name} mean": mean,
                    f"{name} sd": sd,
                    f"{name} ci_low": low,
                    f"{name} ci_high": high,
                    f"{name} censored": cens,
                    f"{name} no_value": int((~finite).sum()),
                }
            )
            md["n"] = len(f)
            shown = fmt(mean, low, high, metric, cens) + (f" ({(~finite).sum()} no value)" if (~finite).any() else "")
            md[metric.label + (f" {metric.unit.strip()}" if metric.unit else "")] = shown
        csv_rows.append(row)
        md_rows.append(md)
    return pd.DataFrame(csv_rows), markdown_table(pd.DataFrame(md_rows))
