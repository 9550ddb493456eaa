"""The results store as DataFrames.

runs: one row per finished run of the grid: experiment, profile, arm, seed, run_id, status, steps,
  final_{train,val,test}_error and _accuracy (fractions, eval mode on the whole split),
  final_train_error_running, params, wall_time_s, data_sizes, the flattened config as
  `cfg.<section>.<key>` columns, and `_flat_config` (the dotted config, for claim selectors).
curves: long format, one row per record: run_id, arm, seed, step, epoch, metric, value.
skipped: (run_id, why) for each cell of the grid that is not in `runs`.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ablate import results
from ablate.config import flatten
from ablate.verdicts.metrics import late_change, with_accuracies

CURVE_COLUMNS = ["step", "epoch", "metric", "value", "arm", "seed", "run_id"]


def _curve(folder: Path) -> pd.DataFrame | None:
    path = folder / results.METRICS
    if not path.is_file() or not path.stat().st_size:
        return None
    try:
        m = pd.read_csv(path)
    except (pd.errors.EmptyDataError, pd.errors.ParserError):
        return None
    if m.empty or "step" not in m:
        return None
    ids = [c for c in ("step", "epoch") if c in m]
    return m.melt(id_vars=ids, var_name="metric").dropna(subset=["value"])


def load_runs(exp, root: Path) -> tuple[pd.DataFrame, pd.DataFrame, list[tuple[str, str]]]:
    """The finished runs of this grid (cells of other settings in the same folder are ignored)."""
    rows, curves, skipped = [], [], []
    for cell in exp.cells:
        folder = results.run_dir(root, exp.name, cell.run_id)
        if not results.is_complete(folder):
            skipped.append((cell.run_id, "not run yet" if not folder.exists() else "unfinished (no summary.json)"))
            continue
        summary = results.read_summary(folder)
        if not summary.get("steps"):
            skipped.append((cell.run_id, "zero optimiser steps"))
            continue
        flat = flatten(cell.config)
        cfg = {f"cfg.{k}": v for k, v in flat.items() if not isinstance(v, list)}
        rows.append({**summary, **cfg, "arm": cell.arm, "seed": cell.seed, "run_id": cell.run_id, "_flat_config": flat})
        curve = _curve(folder)
        if curve is None:
            skipped.append((cell.run_id, "no metrics.csv curve (its final numbers are used; curves are not)"))
        else:
            curves.append(curve.assign(arm=cell.arm, seed=cell.seed, run_id=cell.run_id))
    runs = with_accuracies(pd.DataFrame(rows)) if rows else pd.DataFrame()
    curves_df = pd.concat(curves, ignore_index=True) if curves else pd.DataFrame(columns=CURVE_COLUMNS)
    return runs, curves_df, skipped


def with_derived(exp, runs: pd.DataFrame, curves: pd.DataFrame) -> pd.DataFrame:
    """The runs with the columns claims may measure beyond the summary: the late change of the
    training error, and what the experiment's analysis module derives."""
    if runs.empty:
        return runs
    if "late_train_error_change" not in runs:
        runs = runs.assign(late_train_error_change=late_change(runs, curves).to_numpy())
    return exp.hooks.call("derive", runs, curves, exp.spec, default=runs)
