"""Degradation verdicts and table on hand-made frames, including ones where the claim fails."""

import math

import pandas as pd
import pytest

from analysis.common import compare, markdown_table
from analysis.degradation import figure, table, verdicts


def frame(errors: dict[str, list[float]], status: dict[str, str] | None = None) -> pd.DataFrame:
    """errors: label ('plain-20') -> final train error per seed."""
    rows = []
    for label, errs in errors.items():
        family, depth = label.split("-")
        for seed, e in enumerate(errs):
            rows.append({
                "arm": label, "seed": seed, "run_id": f"{label}-s{seed}",
                "cfg.model.shortcut": "none" if family == "plain" else "A", "cfg.model.depth": int(depth),
                "cfg.data.name": "digits", "status": (status or {}).get(label, "completed"),
                "final_train_error": e, "final_test_error": e + 0.01, "params": 1000 * int(depth),
                "wall_time_s": 1.0,
            })  # fmt: skip
    return pd.DataFrame(rows)


HOLDS = {
    "plain-20": [0.10, 0.11], "plain-56": [0.30, 0.33], "plain-110": [0.80, 0.85],
    "residual-20": [0.09, 0.10], "residual-56": [0.05, 0.06], "residual-110": [0.03, 0.04],
}


def by_id(vs):
    return {v.id: v for v in vs}


def test_all_claims_hold_beyond_spread():
    v = by_id(verdicts(frame(HOLDS)))
    assert all(x.holds for x in v.values())
    assert v["plain-56 > plain-20"].beyond_spread is True
    assert "plain-56 31.50% ± 2.12%" in v["plain-56 > plain-20"].statistic


def test_no_degradation_is_reported_as_not_holding():
    errs = dict(HOLDS, **{"plain-56": [0.08, 0.09]})
    v = by_id(verdicts(frame(errs)))
    assert v["plain-56 > plain-20"].holds is False
    assert v["plain-110 worse"].holds is True  # the other verdicts are computed independently


def test_residual_not_better_than_plain_fails():
    errs = dict(HOLDS, **{"residual-110": [0.90, 0.92]})
    v = by_id(verdicts(frame(errs)))
    assert v["residual < plain"].holds is False
    assert v["residual deeper ≤"].holds is False


def test_difference_within_spread_is_flagged():
    errs = dict(HOLDS, **{"plain-20": [0.10, 0.50], "plain-56": [0.31, 0.32]})
    v = by_id(verdicts(frame(errs)))
    assert v["plain-56 > plain-20"].holds is True and v["plain-56 > plain-20"].beyond_spread is False


def test_diverged_plain110_counts_as_failure_to_train():
    v = by_id(verdicts(frame(dict(HOLDS, **{"plain-110": [math.nan, math.nan]}), {"plain-110": "diverged"})))
    assert v["plain-110 worse"].holds is True and "2 of 2 seeds diverged" in v["plain-110 worse"].statistic


def test_missing_arms_are_not_measured():
    v = by_id(verdicts(frame({"plain-20": [0.1], "plain-56": [0.3]})))
    assert v["plain-56 > plain-20"].holds is True and v["plain-56 > plain-20"].beyond_spread is None
    assert v["residual < plain"].holds is None


def test_table_mean_std_and_markdown():
    t, md = table(frame(HOLDS))
    row = t.set_index("arm").loc["plain-56"]
    assert row["n"] == 2 and row["train error mean"] == pytest.approx(0.315)
    assert "| plain-56 | 2 | 31.50 ± 2.12 |" in md
    assert t["published test error %"].isna().all()  # not CIFAR-10: no paper numbers beside ours


def test_compare_one_seed_has_unknown_spread():
    c = compare(frame({"plain-20": [0.1], "plain-56": [0.3]}), "final_train_error", "plain-56", "plain-20")
    assert c.beyond_spread is None and c.diff == pytest.approx(0.2)


def test_figure_has_plain_and_residual_panels():
    runs = frame(HOLDS)
    curves = pd.DataFrame([
        {"run_id": r, "step": s, "metric": m, "value": 0.5}
        for r in runs.run_id for s in (10, 20) for m in ("train/error", "test/error")
    ])  # fmt: skip
    fig = figure(runs, curves)
    assert [ax.get_title() for ax in fig.axes[:2]] == ["plain networks", "residual networks"]


def test_markdown_table():
    assert markdown_table(pd.DataFrame({"a": [1], "b": ["x"]})) == "| a | b |\n|---|---|\n| 1 | x |"
