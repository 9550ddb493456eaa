"""Whether a run had stopped improving (the change of its running training error over the last
fifth), the report's note on it, and the executor's longest-cells-first order."""

from __future__ import annotations

import pandas as pd
import pytest

from ablate.executor import longest_first
from ablate.experiment import load_experiment
from ablate.report.pipeline import analyze_frames
from ablate.verdicts.metrics import late_change
from tests.frames import frames


def test_late_change_is_the_trailing_epoch_mean_at_the_end_minus_at_80_percent():
    # 100 steps, a record every step, 10 steps an epoch: error falls linearly 1.0 -> 0.01.
    steps = list(range(1, 101))
    runs = pd.DataFrame(
        {"run_id": ["r"], "data_sizes": [{"train": 100}], "cfg.data.batch_size": [10], "cfg.train.log_every": [1]}
    )
    curves = pd.DataFrame(
        {"run_id": "r", "metric": "train/error", "step": steps, "value": [1.0 - 0.01 * (s - 1) for s in steps]}
    )
    # End: mean of steps 91..100 (values 0.10..0.01); at step 80: mean of steps 71..80 (0.30..0.21).
    assert late_change(runs, curves).iloc[0] == pytest.approx(0.055 - 0.255)


def test_the_report_names_arms_still_improving_and_leaves_out_diverged_runs():
    exp = load_experiment("degradation", "quick", ["seeds=[0,1]"])
    late = int(0.9 * exp.cells[0].config["train"]["max_steps"])  # inside the last fifth
    p56 = {c.run_id for c in exp.cells if c.arm == "plain-56"}
    runs, curves = frames(
        exp,
        final={"plain-20": [0.01, 0.01], "residual-20": [0.0, 0.0], "plain-56": [0.5, 0.5]},
        hits={"plain-20": [20, 25], "residual-20": [late, late], "plain-56": [late, late]},
        curve="train/error",
        diverged=p56,
    )
    notes = " ".join(analyze_frames(exp, runs, curves).notes)
    assert "residual-20 (-88.0 points)" in notes and "had not stopped improving" in notes
    assert "plain-20 (" not in notes and "plain-56 (" not in notes


def test_settled_arms_get_the_largest_change_instead():
    exp = load_experiment("degradation", "quick", ["seeds=[0,1]"])
    runs, curves = frames(
        exp,
        final={"plain-20": [0.01, 0.01], "residual-20": [0.0, 0.0]},
        hits={"plain-20": [20, 25], "residual-20": [30, 40]},
        curve="train/error",
    )
    a = analyze_frames(exp, runs, curves)
    assert any(n.startswith("Convergence: the running training error") and "at most 0.0 points" in n for n in a.notes)
    assert "Δ training error over the last fifth" in a.table_md


def test_parallel_grids_start_with_their_longest_cells():
    exp = load_experiment("degradation", "quick")
    order = [c.config["model"]["depth"] for c in longest_first(exp.cells)]
    assert order == sorted(order, reverse=True) and order[0] == 56
    seeds56 = [c.seed for c in longest_first(exp.cells) if c.arm == "plain-56"]
    assert seeds56 == sorted(seeds56)  # ties keep the grid's order
