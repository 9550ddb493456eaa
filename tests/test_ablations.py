"""The issue-4 ablations: every experiment file validates (both profiles), each runs a tiny grid end
to end through the CLI, and each analysis computes its verdicts on hand-made frames, including
frames where the claim does not hold. (activation's tiny run is in test_tuning.py, with lr tuned.)"""

import json
import math

import numpy as np
import pandas as pd
import pytest

from ablate.experiment import load_experiment
from tests.conftest import TINY, run_cli

EXPERIMENTS = ("activation", "kernels", "batchnorm")
TINY_NO_WIDTH = [s for s in TINY if not s.startswith("model.width")]


def sets(*items):
    return [a for item in items for a in ("--set", item)]


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_experiment_files_validate(name):
    quick = load_experiment(name, "quick")
    assert quick.cells and len({c.run_id for c in quick.cells}) == len(quick.cells)
    assert {c.config["data"]["name"] for c in quick.cells} == {"digits"}  # no download
    paper = load_experiment(name, "paper", overrides=["optim.lr=0.01"])  # paper tunes its lr
    assert {c.config["data"]["name"] for c in paper.cells} <= {"cifar10", "mnist"}


def test_list_shows_the_ablations():
    out = run_cli("list").stdout
    for name in ("degradation", *EXPERIMENTS):
        assert name in out


@pytest.mark.parametrize("name,tiny", [("kernels", TINY), ("batchnorm", TINY_NO_WIDTH)])
def test_tiny_grid_end_to_end(tmp_path, name, tiny):
    res = run_cli("run", name, *sets(*tiny), "--results-dir", str(tmp_path), "--wandb", "off", "--no-progress")
    assert res.returncode == 0, res.stderr[-3000:]
    report = tmp_path / name / "_report-quick"
    for f in ("figure.png", "report.md", "table.csv", "verdicts.json"):
        assert (report / f).stat().st_size > 0
    verdicts = json.loads((report / "verdicts.json").read_text())
    assert verdicts and all(v["holds"] in (True, False, None) for v in verdicts)
    assert "[HOLDS]" in res.stdout or "[DOES NOT HOLD]" in res.stdout


# ----------------------------------------------------------------------------- activation
def act_frames(steps_to_25: dict[str, list[float | None]], length: int = 200, spe: int = 20):
    """runs + curves where each run's mini-batch error drops from 0.9 to 0.05 linearly and crosses
    25% (trailing-epoch mean) at about the given step (None: stays at 0.5)."""
    from analysis.activation import time_to_target  # noqa: F401

    runs, curves = [], []
    for arm, hits in steps_to_25.items():
        for seed, hit in enumerate(hits):
            rid = f"{arm}-s{seed}"
            runs.append({"arm": arm, "seed": seed, "run_id": rid, "status": "completed", "steps": length,
                         "data_sizes": {"train": spe * 64, "val": 10, "test": 10}, "cfg.data.batch_size": 64,
                         "cfg.train.log_every": 1, "cfg.data.name": "digits", "cfg.optim.lr": 0.1,
                         "final_train_error": 0.05, "final_test_error": 0.08})  # fmt: skip
            steps = np.arange(1, length + 1)
            err = np.full(length, 0.5) if hit is None else np.where(steps < hit - spe / 2, 0.9, 0.0)
            curves.append(pd.DataFrame({"step": steps, "metric": "train/error", "value": err, "run_id": rid,
                                        "arm": arm, "seed": seed}))  # fmt: skip
    return pd.DataFrame(runs), pd.concat(curves, ignore_index=True)


def test_activation_relu_six_times_faster_holds():
    from analysis.activation import analyze

    runs, curves = act_frames({"relu": [20, 22, 24], "tanh": [120, 140, 150]})
    a = analyze(runs, curves, {"published": {"target_train_error": 0.25, "speedup": 6, "several": 3}})
    v = {x.id: x for x in a.verdicts}
    assert v["relu faster"].holds is True and v["several times"].holds is True
    assert "speed-up" in v["several times"].statistic and "| relu | 3 |" in a.table_md


def test_activation_claim_fails_when_tanh_is_as_fast():
    from analysis.activation import analyze

    runs, curves = act_frames({"relu": [40, 44, 48], "tanh": [38, 46, 50]})
    v = {x.id: x for x in analyze(runs, curves, {}).verdicts}
    assert v["several times"].holds is False
    assert 0.8 < float(v["relu faster"].statistic.split("×")[0].split()[-1]) < 1.2


def test_activation_tanh_never_reaching_target_is_a_lower_bound():
    from analysis.activation import time_to_target, verdicts

    runs, curves = act_frames({"relu": [30, 30], "tanh": [None, None]})
    v = {x.id: x for x in verdicts(time_to_target(runs, curves, 0.25))}
    assert v["relu faster"].holds is True and "≥" in v["relu faster"].statistic
    assert "never reached" in v["relu faster"].statistic


# ----------------------------------------------------------------------------- batchnorm
def bn_frames(hit: dict[str, int | None], final: dict[str, float | None], seeds=2, length=300):
    """hit: arm -> first eval step at >= 90% test accuracy (None: never); final accuracy (None: diverged)."""
    lr = {"mlp": 0.1, "mlp-bn": 0.1, "conv-x1": 0.02, "conv-bn-x1": 0.02, "conv-x5": 0.1, "conv-bn-x5": 0.1,
          "conv-x30": 0.6, "conv-bn-x30": 0.6}  # fmt: skip
    runs, curves = [], []
    for arm in hit:
        for seed in range(seeds):
            rid = f"{arm}-s{seed}"
            diverged = final[arm] is None
            runs.append({"arm": arm, "seed": seed, "run_id": rid, "status": "diverged" if diverged else "completed",
                         "steps": 30 if diverged else length, "cfg.train.max_steps": length,
                         "cfg.model.name": "bn_mlp" if arm.startswith("mlp") else "kernel_net",
                         "cfg.model.norm": "batch" if "bn" in arm else "none", "cfg.optim.lr": lr[arm],
                         "cfg.data.name": "digits",
                         "final_test_error": math.nan if diverged else 1 - final[arm] - 0.001 * seed})  # fmt: skip
            steps = np.arange(15, length + 1, 15)
            acc = np.where(steps >= (hit[arm] or 10**9), 0.95, 0.5)
            curves.append(pd.DataFrame({"step": steps, "metric": "test/error", "value": 1 - acc, "run_id": rid,
                                        "arm": arm, "seed": seed}))  # fmt: skip
    return pd.DataFrame(runs), pd.concat(curves, ignore_index=True)


def test_batchnorm_claims_hold():
    from analysis.batchnorm import analyze

    hit = {"mlp": 240, "mlp-bn": 60, "conv-x1": 150, "conv-bn-x1": 90, "conv-x5": 300, "conv-bn-x5": 45,
           "conv-x30": None, "conv-bn-x30": 60}  # fmt: skip
    final = {"mlp": 0.92, "mlp-bn": 0.96, "conv-x1": 0.93, "conv-bn-x1": 0.95, "conv-x5": 0.91,
             "conv-bn-x5": 0.96, "conv-x30": None, "conv-bn-x30": 0.95}  # fmt: skip
    a = analyze(*bn_frames(hit, final), {})
    v = {x.id: x for x in a.verdicts}
    assert all(x.holds for x in v.values()), [x.line() for x in a.verdicts]
    assert "2 diverged" in v["higher lr"].statistic and "| conv-x30 | no |" in a.table_md


def test_batchnorm_claims_fail_when_bn_diverges_and_is_slower():
    from analysis.batchnorm import analyze

    hit = {"mlp": 60, "mlp-bn": 120, "conv-x1": 60, "conv-bn-x1": 90, "conv-x5": 60, "conv-bn-x5": 120,
           "conv-x30": 60, "conv-bn-x30": None}  # fmt: skip
    final = {"mlp": 0.96, "mlp-bn": 0.95, "conv-x1": 0.95, "conv-bn-x1": 0.95, "conv-x5": 0.95,
             "conv-bn-x5": 0.94, "conv-x30": 0.95, "conv-bn-x30": None}  # fmt: skip
    v = {x.id: x for x in analyze(*bn_frames(hit, final), {}).verdicts}
    assert v["faster (MLP)"].holds is False and v["faster (conv)"].holds is False
    assert v["higher lr"].holds is False and v["higher lr faster"].holds is False


# ----------------------------------------------------------------------------- kernels
def kernel_runs(test_error: dict[str, list[float]]) -> pd.DataFrame:
    schemes = {"3x3x2": (3, 2), "5x5": (5, 1), "3x3x3": (3, 3), "7x7": (7, 1)}
    rows = []
    for arm, errs in test_error.items():
        k, d = schemes[arm]
        for seed, e in enumerate(errs):
            rows.append({"arm": arm, "seed": seed, "run_id": f"{arm}-s{seed}", "status": "completed",
                         "cfg.model.name": "kernel_net", "cfg.model.unit_kernel": k, "cfg.model.unit_depth": d,
                         "cfg.model.width": 8, "cfg.model.stages": 2, "cfg.data.name": "digits",
                         "final_test_error": e, "final_train_error": e / 2})  # fmt: skip
    return pd.DataFrame(rows)


def test_kernels_structure_is_measured_and_claims_hold():
    from analysis.kernels import analyze

    a = analyze(kernel_runs({"3x3x2": [0.05, 0.06], "5x5": [0.08, 0.09], "3x3x3": [0.05, 0.05],
                             "7x7": [0.07, 0.08]}), pd.DataFrame(), {})  # fmt: skip
    v = {x.id: x for x in a.verdicts}
    assert all(x.holds for x in v.values()), [x.line() for x in a.verdicts]
    assert "28.0% fewer" in v["3x3x2 vs 5x5: parameters"].statistic  # 18C^2 vs 25C^2, measured
    assert "44.9% fewer" in v["3x3x3 vs 7x7: parameters"].statistic  # 27/49
    t = a.table_csv.set_index("arm")
    assert t.loc["3x3x2", "receptive field"] == t.loc["5x5", "receptive field"]
    assert t.loc["3x3x2", "unit weights"] == 18 * 8 * 8 and t.loc["5x5", "unit weights"] == 25 * 8 * 8


def test_kernels_accuracy_claim_fails_when_the_big_kernel_wins():
    from analysis.kernels import analyze

    a = analyze(kernel_runs({"3x3x2": [0.10, 0.11], "5x5": [0.05, 0.05]}), pd.DataFrame(), {})
    v = {x.id: x for x in a.verdicts}
    assert v["3x3x2 vs 5x5: accuracy"].holds is False and v["3x3x2 vs 5x5: parameters"].holds is True
    assert v["3x3x3 vs 7x7"].holds is None
