"""Shared analysis pieces: loading the results store into DataFrames, seed statistics, verdicts,
Markdown tables and the report.

Frames:
- runs: one row per finished run: experiment, profile, arm, seed, run_id, status, steps,
  final_{train,val,test}_error (fractions, eval mode on the full split), final_train_error_running
  (mean mini-batch error over the last ~10% of logged steps), params, wall_time_s, plus the
  flattened config as `cfg.<section>.<key>` columns.
- curves: long format, one row per record: arm, seed, run_id, step, metric, value.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, never a window
import pandas as pd  # noqa: E402

from ablate import results  # noqa: E402
from ablate.config import flatten  # noqa: E402


def load_runs(exp, root: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The finished runs of this grid (cells of other settings in the same folder are ignored)."""
    rows, curves = [], []
    for cell in exp.cells:
        folder = results.run_dir(root, exp.name, cell.run_id)
        if not results.is_complete(folder):
            continue
        summary = results.read_summary(folder)
        cfg = {f"cfg.{k}": v for k, v in flatten(cell.config).items() if not isinstance(v, list)}
        rows.append({**summary, **cfg, "arm": cell.arm, "seed": cell.seed, "run_id": cell.run_id})
        metrics_path = folder / results.METRICS
        if metrics_path.is_file() and metrics_path.stat().st_size:
            m = pd.read_csv(metrics_path)
            long = m.melt(id_vars=[c for c in ("step", "epoch") if c in m], var_name="metric").dropna(subset=["value"])
            curves.append(long.assign(arm=cell.arm, seed=cell.seed, run_id=cell.run_id))
    runs = pd.DataFrame(rows)
    curves_df = pd.concat(curves, ignore_index=True) if curves else pd.DataFrame(
        columns=["step", "epoch", "metric", "value", "arm", "seed", "run_id"])  # fmt: skip
    return runs, curves_df


@dataclass
class Comparison:
    """a vs b on one metric over seeds. `beyond_spread` is None with fewer than 2 seeds a side."""

    metric: str
    a: str
    b: str
    mean_a: float
    mean_b: float
    std_a: float
    std_b: float
    n_a: int
    n_b: int

    @property
    def diff(self) -> float:
        return self.mean_a - self.mean_b

    @property
    def beyond_spread(self) -> bool | None:
        """|mean difference| > 2 standard errors of the difference (Welch), i.e. roughly p < 0.05."""
        if min(self.n_a, self.n_b) < 2:
            return None
        se = math.sqrt(self.std_a**2 / self.n_a + self.std_b**2 / self.n_b)
        return abs(self.diff) > 2 * se

    def text(self, pct: bool = True) -> str:
        f = (lambda v: f"{100 * v:.2f}%") if pct else (lambda v: f"{v:.4g}")
        spread = {None: "1 seed: spread unknown", True: "beyond seed spread",
                  False: "within seed spread"}[self.beyond_spread]  # fmt: skip
        sd = lambda s, n: f" ± {f(s)}" if n > 1 else ""  # noqa: E731
        return (f"{self.a} {f(self.mean_a)}{sd(self.std_a, self.n_a)} vs {self.b} "
                f"{f(self.mean_b)}{sd(self.std_b, self.n_b)} (n={self.n_a},{self.n_b}; {spread})")  # fmt: skip


def compare(runs: pd.DataFrame, metric: str, a: str, b: str, key: str = "arm") -> Comparison | None:
    va, vb = runs.loc[runs[key] == a, metric], runs.loc[runs[key] == b, metric]
    if va.empty or vb.empty:
        return None
    std = lambda v: float(v.std(ddof=1)) if len(v) > 1 else 0.0  # noqa: E731
    return Comparison(metric, a, b, float(va.mean()), float(vb.mean()), std(va), std(vb), len(va), len(vb))


@dataclass
class Verdict:
    id: str
    claim: str
    holds: bool | None  # None: not measured in this grid
    statistic: str
    beyond_spread: bool | None = None

    def line(self) -> str:
        mark = {True: "HOLDS", False: "DOES NOT HOLD", None: "NOT MEASURED"}[self.holds]
        return f"[{mark}] {self.id}: {self.claim}\n    {self.statistic}"

    def to_dict(self) -> dict:
        return asdict(self)


def mean_std_table(runs: pd.DataFrame, metrics: dict[str, str], order: list[str],
                   key: str = "arm") -> pd.DataFrame:  # fmt: skip
    """One row per arm: n, and mean and std over seeds of each metric (column names from `metrics`)."""
    g = runs.groupby(key, sort=False)
    out = pd.DataFrame({"n": g.size()})
    for col, label in metrics.items():
        out[f"{label} mean"] = g[col].mean()
        out[f"{label} std"] = g[col].std(ddof=1)
    order = [a for a in order if a in out.index]
    return out.loc[order].reset_index().rename(columns={key: "arm"})


def fmt_mean_std(mean: float, std: float, n: int, scale: float = 100.0, digits: int = 2) -> str:
    if pd.isna(mean):
        return "—"
    s = f"{scale * mean:.{digits}f}"
    return s + (f" ± {scale * std:.{digits}f}" if n > 1 and not pd.isna(std) else "")


def markdown_table(df: pd.DataFrame) -> str:
    """A GitHub Markdown table (no extra dependency)."""
    cols = [str(c) for c in df.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for row in df.itertuples(index=False):
        lines.append("| " + " | ".join("" if pd.isna(v) else str(v) for v in row) + " |")
    return "\n".join(lines)


@dataclass
class Analysis:
    title: str
    claim: str
    table_csv: pd.DataFrame  # numbers, for machines
    table_md: str  # formatted, for people
    verdicts: list[Verdict]
    figure: object  # matplotlib Figure
    notes: list[str] = field(default_factory=list)

    def report(self, exp, missing: int, figure_name: str) -> str:
        held = sum(v.holds is True for v in self.verdicts)
        lines = [
            f"# {self.title}", "",
            f"Experiment `{exp.name}`, profile `{exp.profile}` ({exp.path.name}); "
            f"{len(exp.cells) - missing} of {len(exp.cells)} runs finished. "
            f"Verdicts are computed from these runs: {held} of {len(self.verdicts)} hold.", "",
            f"**Claim.** {' '.join(self.claim.split())}", "",
            "## Results", "", self.table_md, "",
            "## Verdicts", "",
            *[f"- **{v.id}** ({'holds' if v.holds else 'does not hold' if v.holds is False else 'not measured'}): "
              f"{v.claim} — {v.statistic}" for v in self.verdicts],
            "", f"![figure]({figure_name})", "",
        ]  # fmt: skip
        notes = list(self.notes)
        failed = [v.id for v in self.verdicts if v.holds is False]
        if failed:
            notes.insert(0, f"Not shown in these runs: {', '.join(failed)}. This is what was measured at this "
                            f"scale (profile `{exp.profile}`); it speaks to the paper's setting only as far "
                            "as that profile reproduces it.")  # fmt: skip
        if notes:
            lines += ["## Notes", "", *[f"- {n}" for n in notes], ""]
        return "\n".join(lines)
