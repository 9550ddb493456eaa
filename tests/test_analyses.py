"""Each shipped experiment's analysis on hand-made frames: its claims (from its YAML file) come out
HOLDS, REFUTED or UNRESOLVED as the numbers say, and its own table, checks and figures are made."""

from __future__ import annotations

import pytest

from ablate.experiment import load_experiment
from ablate.report.pipeline import analyze_frames
from ablate.verdicts.evaluate import HOLDS, REFUTED, UNRESOLVED
from tests.frames import by_id, frames


def analyse(name, profile="quick", overrides=(), **kw):
    """The analysis of hand-made frames, as a fixed design of as many seeds as the frames have
    (unless the test gives its own seeds): the sequential replay has tests of its own."""
    if not any(o.startswith("seeds=") for o in overrides):
        n = max(len(v) for v in kw["final"].values())
        overrides = [*overrides, f"seeds={list(range(n))}"]
    exp = load_experiment(name, profile, overrides)
    return analyze_frames(exp, *frames(exp, **kw))


# ----------------------------------------------------------------------------- degradation
def test_degradation_holds_when_plain_degrades_and_residual_does_not():
    a = analyse(
        "degradation",
        "paper",
        final={
            "plain-20": [0.10, 0.11, 0.12],
            "plain-56": [0.30, 0.31, 0.32],
            "plain-110": [0.60, 0.62, 0.61],
            "residual-20": [0.09, 0.10, 0.095],
            "residual-56": [0.05, 0.052, 0.051],
            "residual-110": [0.03, 0.031, 0.032],
        },
    )
    v = by_id(a)
    assert {x.outcome for x in v.values()} == {HOLDS}, [x.line() for x in a.verdicts]
    assert v["plain-56-worse"].a.label == "plain-56"  # selected by config, shown by arm
    assert set(a.figures) == {"curves", "figure"} and "| plain-110 | 3 |" in a.table_md


def test_degradation_noise_is_unresolved_and_reversal_refuted():
    a = analyse(
        "degradation",
        "paper",
        overrides=["seeds=[0,1]"],
        final={
            "plain-20": [0.10, 0.30],
            "plain-56": [0.12, 0.29],
            "plain-110": [0.60, 0.62],
            "residual-20": [0.05, 0.051],
            "residual-56": [0.09, 0.091],
            "residual-110": [0.031, 0.03],
        },
    )
    v = by_id(a)
    assert v["plain-56-worse"].outcome == UNRESOLVED and v["plain-56-worse"].seeds_needed != 2
    assert v["residual-56-better"].outcome == REFUTED


@pytest.mark.parametrize("seeds, outcome", [(2, UNRESOLVED), (4, HOLDS)])
def test_degradation_diverged_plain_110_counts_as_100_percent_error(seeds, outcome):
    # Every plain-110 run diverged: the side is the constant 100%, which is no proof that it has no
    # noise; the exact permutation test must agree, and it cannot below 4 vs 4 seeds (p >= 2/6).
    exp = load_experiment("degradation", "paper", [f"seeds={list(range(seeds))}"])
    p110 = [c.run_id for c in exp.cells if c.arm == "plain-110"]
    final = {"plain-56": [0.30, 0.31, 0.29, 0.32][:seeds], "plain-110": [0.20] * seeds}
    v = by_id(analyze_frames(exp, *frames(exp, final=final, diverged=set(p110))))
    p = v["plain-110-worse"]
    assert p.a.values == [1.0] * seeds and p.outcome == outcome, p.line()
    assert f"plain-110: {seeds} of {seeds} runs diverged (counted as the worst value)" in p.line()
    assert "plain-110: no variation" in p.line() and "exact permutation test" in p.line()
    assert f"diverged {seeds}/0" in p.line()
    assert v["residual-fixes-56"].outcome == "not measured"


def test_degradation_quick_tests_no_degradation_not_depth_gains():
    # Both residual nets fit the 1,293 quick digits (a 0% floor): the quick profile claims that
    # residual-56 is no worse than residual-20 within a point; "lower" is the paper profile's.
    a = analyse(
        "degradation",
        overrides=["seeds=[0,1,2]"],
        final={
            "plain-20": [0.004, 0.005, 0.006],
            "plain-56": [0.45, 0.50, 0.48],
            "residual-20": [0.0008, 0.0008, 0.0],
            "residual-56": [0.0015, 0.003, 0.0008],
        },
    )
    v = by_id(a)
    assert set(v) == {"plain-56-worse", "residual-56-no-worse", "residual-fixes-56"}
    assert {x.outcome for x in v.values()} == {HOLDS}, [x.line() for x in a.verdicts]
    assert any("residual-56-better" in n for n in a.notes)


# ----------------------------------------------------------------------------- activation
def test_activation_six_times_faster_holds_and_uses_epochs_of_records():
    a = analyse(
        "activation",
        final={"relu": [0.1] * 3, "tanh": [0.1] * 3},
        hits={"relu": [20, 24, 22], "tanh": [140, 150, 130]},
        curve="train/error",
    )
    v = by_id(a)
    assert v["relu-faster"].outcome == HOLDS and v["several-times-faster"].outcome == HOLDS
    assert v["several-times-faster"].scale == "log ratio"


def test_activation_tanh_as_fast_refutes_several_times():
    a = analyse(
        "activation",
        final={"relu": [0.1] * 3, "tanh": [0.1] * 3},
        hits={"relu": [40, 44, 48], "tanh": [38, 46, 50]},
        curve="train/error",
    )
    v = by_id(a)
    assert v["several-times-faster"].outcome == REFUTED and v["relu-faster"].outcome == UNRESOLVED


def test_activation_relu_never_reaching_the_target_cannot_hold():
    a = analyse(
        "activation",
        final={"relu": [0.1] * 3, "tanh": [0.1] * 3},
        hits={"relu": [None, 20, 22], "tanh": [150, 160, 170]},
        curve="train/error",
    )
    v = by_id(a)["relu-faster"]
    assert v.outcome == UNRESOLVED and v.a.censored == [True, False, False]


# ----------------------------------------------------------------------------- batchnorm
def test_batchnorm_claims_of_the_quick_profile():
    final = {
        "mlp": [0.1, 0.11, 0.12],
        "mlp-bn": [0.05, 0.055, 0.052],
        "conv-x5": [0.9, 0.9001, 0.901],
        "conv-bn-x5": [0.05, 0.06, 0.055],
        "conv-x30": [0.9, 0.91, 0.905],
        "conv-bn-x30": [0.95, 0.96, 0.955],
        "conv-x1": [0.1, 0.1, 0.1],
        "conv-bn-x1": [0.1, 0.1, 0.1],
    }
    hits = {
        "mlp": [2000, 2200, 2100],
        "mlp-bn": [300, 400, 350],
        "conv-x1": [150, 165, 180],
        "conv-bn-x1": [60, 75, 60],
        "conv-x5": [None] * 3,
        "conv-bn-x5": [120, 135, 150],
        "conv-x30": [None] * 3,
        "conv-bn-x30": [None] * 3,
    }
    v = by_id(analyse("batchnorm", overrides=["seeds=[0,1,2]"], final=final, hits=hits))
    assert v["faster-mlp"].outcome == HOLDS and v["faster-conv"].outcome == HOLDS, v["faster-mlp"].line()
    assert v["bn-trains-at-x5"].outcome == HOLDS and v["bn-trains-at-x30"].outcome == REFUTED
    assert v["higher-lr-faster"].outcome == REFUTED  # 120-150 vs 60-75 steps
    assert "faster-mlp-mnist" not in v  # a claim of the paper profile only


def test_two_seeds_of_a_moderate_effect_stay_unresolved():
    v = by_id(
        analyse(
            "batchnorm",
            final={"mlp": [0.1, 0.11], "mlp-bn": [0.05, 0.055]},
            hits={"mlp": [500, 800], "mlp-bn": [300, 500]},
        )
    )
    assert v["faster-mlp"].outcome == UNRESOLVED and v["faster-mlp"].seeds_needed >= 3


# ----------------------------------------------------------------------------- kernels
def test_kernels_structure_is_exact_and_measured():
    a = analyse(
        "kernels",
        overrides=["seeds=[0,1,2]"],
        final={
            "3x3x2": [0.05, 0.06, 0.09],
            "5x5": [0.08, 0.05, 0.07],
            "3x3x3": [0.10, 0.11, 0.105],
            "7x7": [0.07, 0.075, 0.072],
        },
    )
    v = by_id(a)
    for pair in ("3x3x2", "3x3x3"):
        for what in ("receptive-field", "weights", "compute"):
            assert v[f"{pair}-{what}"].outcome == HOLDS and v[f"{pair}-{what}"].scale == "exact"
    assert v["3x3x2-weights"].a.values[0] / v["3x3x2-weights"].b.values[0] == pytest.approx(18 / 25)
    assert v["3x3x3-weights"].a.values[0] / v["3x3x3-weights"].b.values[0] == pytest.approx(27 / 49)
    assert v["3x3x2-accuracy"].outcome == UNRESOLVED and v["3x3x3-accuracy"].outcome == REFUTED


# ----------------------------------------------------------------------------- convnext
def test_convnext_compute_check_and_step_claims():
    a = analyse(
        "convnext",
        "paper",
        ["seeds=[0,1]"],
        final={
            "resnet50-torchvision-recipe": [0.50, 0.51],
            "resnet50": [0.40, 0.41],
            "stage_ratio": [0.30, 0.31],
            "patchify_stem": [0.40, 0.50],
            "separate_downsample": [0.20, 0.21],
        },
    )  # errors, so accuracy rises
    v = by_id(a)
    assert v["compute"].scale == "exact" and v["compute"].outcome == REFUTED  # 14 of 16, see docs
    assert "14 of 16 steps agree" in v["compute"].statistic()
    assert v["recipe"].outcome == HOLDS and v["stage-ratio"].outcome == HOLDS
    assert v["patchify-stem"].outcome in (UNRESOLVED, REFUTED) and v["gelu"].outcome == "not measured"
    t = a.extra_table[0].set_index("arm")
    assert t.loc["stage_ratio", "parent"] == "resnet50" and round(t.loc["stage_ratio", "paper_effect"], 2) == 0.54


def test_convnext_quick_tests_the_recipe_and_the_roadmap_only():
    # Its three arms: the single steps (tenths of a point each) are claims of the full profiles.
    a = analyse(
        "convnext",
        final={
            "resnet50-torchvision-recipe": [0.50, 0.51, 0.52, 0.50],
            "resnet50": [0.40, 0.41, 0.40, 0.42],
            "separate_downsample": [0.45, 0.46, 0.44, 0.45],
        },
    )
    v = by_id(a)
    assert set(v) == {"recipe", "roadmap", "compute"}
    assert v["recipe"].outcome == HOLDS and v["roadmap"].outcome == REFUTED
    gap = [n for n in a.notes if n.startswith("ConvNeXt-T ends below ResNet-50")]
    assert len(gap) == 1 and "test error 45.0% vs 40.8%" in gap[0] and "more slowly too" in gap[0]


def test_convnext_gap_on_the_test_set_only_reads_as_generalisation():
    exp = load_experiment("convnext", "quick")
    runs, curves = frames(
        exp, final={"resnet50": [0.40, 0.41, 0.40, 0.42], "separate_downsample": [0.45, 0.46, 0.44, 0.45]}
    )
    runs.loc[runs.arm == "separate_downsample", "final_train_error"] = 0.30  # fits better, tests worse
    gap = [n for n in analyze_frames(exp, runs, curves).notes if n.startswith("ConvNeXt-T ends below")]
    assert len(gap) == 1 and "one of generalisation" in gap[0] and "training error 30.0% vs 40.8%" in gap[0]
    runs.loc[runs.arm == "separate_downsample", "final_test_error"] = 0.35  # ConvNeXt-T ahead: no note
    assert not any(n.startswith("ConvNeXt-T ends below") for n in analyze_frames(exp, runs, curves).notes)


@pytest.mark.slow  # no training, but 15 power searches by simulation (~10 s)
def test_convnext_cpu_judges_every_step_and_says_what_the_papers_effects_would_need():
    exp = load_experiment("convnext", "cpu")
    rng = __import__("numpy").random.default_rng(0)
    final = {arm: list(0.45 + 0.02 * rng.standard_normal(3)) for arm in exp.arms}  # sd ~2 points everywhere
    a = analyze_frames(exp, *frames(exp, final=final))
    v = by_id(a)
    steps = [c.id for c in exp.claims if c.id not in ("recipe", "roadmap")]
    assert len(steps) == 15 and all(v[s].outcome != "not measured" for s in steps)  # every step judged
    t = a.extra_table[0].set_index("arm")
    need = t.seeds_for_paper_effect
    # The paper's +0.54 (stage ratio) and +2.22 (width) points at ~2 points of noise: hundreds vs dozens.
    assert need["stage_ratio"] > 100 and 5 < need["increase_width"] < need["stage_ratio"]
    assert need.isna()["resnet50-torchvision-recipe"]  # no parent step
    note = [n for n in a.notes if n.startswith("Single steps:")]
    assert len(note) == 1 and "seeds per arm" in note[0]
    assert "seeds to resolve the paper's effect" in a.extra_table[1]
