"""A researcher's own ablation, written only as a YAML file outside the repository: it runs end to
end with `python -m ablate run path/to/file.yaml`, gets the generic table, curves, report and a
three-way verdict per claim, and a misspelled claim is one line of error before anything trains."""

from __future__ import annotations

import json

import pytest
import yaml

from tests.helpers import run_cli

OWN = {
    "description": "He et al.'s option A (zero-padded identity) vs option B (projection) shortcuts.",
    "base": {
        "model": {"name": "cifar_resnet", "depth": 8, "width": 4},
        "data": {"name": "digits", "batch_size": 64, "augment": "crop", "pad": 1},
        "optim": {"name": "sgd", "lr": 0.1},
    },
    "arms": {"option-A": {"model.shortcut": "A"}, "option-B": {"model.shortcut": "B"}},
    "seeds": [0, 1],
    "profiles": {
        "quick": {"set": {"train": {"max_steps": 16, "log_every": 2, "eval_every": 8, "checkpoint_every": 8}}}
    },
    "claims": [
        {
            "id": "b-has-more-parameters",
            "metric": "params",
            "a": {"model.shortcut": "B"},
            "b": "option-A",
            "expect": "greater",
        },
        {
            "id": "b-not-worse",
            "text": "projection shortcuts train at least as well (He et al., Table 3)",
            "metric": "final_train_error",
            "a": "option-B",
            "b": "option-A",
            "expect": "less",
        },
    ],
}


def write(tmp_path, spec, name="my_ablation.yaml"):
    path = tmp_path / "elsewhere" / name
    path.parent.mkdir(exist_ok=True)
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


@pytest.mark.slow
def test_own_yaml_runs_end_to_end_with_three_way_verdicts(tmp_path):
    path = write(tmp_path, OWN)
    res = run_cli("run", str(path), "--results-dir", str(tmp_path / "results"), "--wandb", "off", "--no-progress")
    assert res.returncode == 0, res.stderr[-3000:]
    out = res.stdout
    assert "| option-A | 2 |" in out and "| option-B | 2 |" in out
    assert "[HOLDS] b-has-more-parameters:" in out  # exact: 2 projections more
    assert any(f"[{o}] b-not-worse:" in out for o in ("HOLDS", "REFUTED", "UNRESOLVED"))
    report = tmp_path / "results" / "my_ablation" / "_report-quick"
    for f in ("curves.png", "report.md", "table.csv", "table.md", "verdicts.json"):
        assert (report / f).stat().st_size > 0 and (f not in ("report.md", "curves.png") or str(report / f) in out)
    verdicts = {v["id"]: v for v in json.loads((report / "verdicts.json").read_text())}
    assert verdicts["b-has-more-parameters"]["scale"] == "exact"
    noisy = verdicts["b-not-worse"]
    assert noisy["a"]["n"] == noisy["b"]["n"] == 2 and {"estimate", "ci_low", "ci_high", "p", "p_adjusted"} <= set(
        noisy
    )
    assert f"[{noisy['outcome'].upper()}] b-not-worse:" in out and noisy["outcome"] == (
        "holds" if noisy["ci_high"] < 0 else "refuted" if noisy["ci_low"] > 0 else "unresolved"
    )


@pytest.mark.slow
def test_without_claims_every_arm_is_compared_with_the_first(tmp_path):
    spec = {k: v for k, v in OWN.items() if k != "claims"}
    spec["seeds"] = [0]
    path = write(tmp_path, spec)
    res = run_cli("run", str(path), "--results-dir", str(tmp_path / "r"), "--wandb", "off", "--no-progress")
    assert res.returncode == 0, res.stderr[-3000:]
    assert "[UNRESOLVED] option-B-vs-option-A: option-B differs from option-A in final test error" in res.stdout
    assert "fewer than 2 runs on a side" in res.stdout


def test_misspelled_arm_or_metric_in_claims_is_one_line_before_training(tmp_path):
    for field, bad, message in (
        ("b", "option-C", "unknown arm 'option-C'; valid: option-A, option-B"),
        ("metric", "final_train_err", "unknown metric 'final_train_err'"),
    ):
        spec = json.loads(json.dumps(OWN))
        spec["claims"][1][field] = bad
        path = write(tmp_path, spec, f"bad_{field}.yaml")
        res = run_cli("run", str(path), "--results-dir", str(tmp_path / "r"), "--wandb", "off")
        assert res.returncode == 2
        err = res.stderr.strip()
        assert len(err.splitlines()) == 1 and message in err and str(path) in err and "claims[1] (b-not-worse)" in err
        assert not (tmp_path / "r").exists()  # nothing trained, no run folder


OWN_ANALYSIS = '''"""my_ablation's own analysis: a derived column, a claim on it, a figure and a note."""

import pandas as pd
from matplotlib.figure import Figure

from ablate.verdicts.metrics import Metric

__all__ = ["TITLE", "METRICS", "derive", "figures", "notes"]

TITLE = "Shortcuts A vs B, with my own analysis"
METRICS = {"generalisation_gap": Metric("generalisation_gap", "test minus training error", 100, "%", worst=None)}


def derive(runs: pd.DataFrame, curves: pd.DataFrame, spec: dict) -> pd.DataFrame:
    return runs.assign(generalisation_gap=runs.final_test_error - runs.final_train_error)


def figures(runs: pd.DataFrame, curves: pd.DataFrame, spec: dict) -> dict:
    fig = Figure(figsize=(4, 3))
    ax = fig.subplots()
    for arm, g in runs.groupby("arm"):
        ax.plot(g.seed, 100 * g.generalisation_gap, "o", label=arm)
    ax.set(xlabel="seed", ylabel="test - training error (%)")
    ax.legend()
    return {"gap_by_seed": fig}


def notes(runs: pd.DataFrame, spec: dict) -> list:
    return [f"My note: {len(runs)} runs, largest gap {100 * runs.generalisation_gap.max():.1f} points."]
'''


def with_analysis(tmp_path, module_text: str, all_line: str | None = None):
    spec = json.loads(json.dumps(OWN))
    spec["analysis"] = "my_ablation"
    spec["claims"].append(
        {"id": "gap-differs", "metric": "generalisation_gap", "a": "option-B", "b": "option-A", "expect": "differ"}
    )
    path = write(tmp_path, spec)
    text = module_text if all_line is None else module_text.replace(module_text.split("\n")[7], all_line)
    (path.parent / "my_ablation.py").write_text(text)
    return path


@pytest.mark.slow
def test_own_analysis_module_beside_the_yaml_adds_its_figure_metric_and_notes(tmp_path):
    path = with_analysis(tmp_path, OWN_ANALYSIS)
    res = run_cli("run", str(path), "--results-dir", str(tmp_path / "results"), "--wandb", "off", "--no-progress")
    assert res.returncode == 0, res.stderr[-3000:]
    report = tmp_path / "results" / "my_ablation" / "_report-quick"
    figure = report / "gap_by_seed.png"
    assert figure.stat().st_size > 5_000 and str(figure) in res.stdout
    text = (report / "report.md").read_text()
    assert text.startswith("# Shortcuts A vs B, with my own analysis")
    assert "My note: 4 runs, largest gap" in text and "![gap_by_seed](gap_by_seed.png)" in text
    verdicts = {v["id"]: v for v in json.loads((report / "verdicts.json").read_text())}
    gap = verdicts["gap-differs"]
    assert gap["metric"] == "test minus training error" and gap["a"]["n"] == gap["b"]["n"] == 2
    assert "test minus training error" in (report / "table.md").read_text()


def test_an_analysis_module_naming_an_unknown_hook_is_one_line_before_training(tmp_path):
    path = with_analysis(tmp_path, OWN_ANALYSIS, all_line='__all__ = ["TITLE", "figure", "notes"]')
    res = run_cli("run", str(path), "--results-dir", str(tmp_path / "r"), "--wandb", "off")
    assert res.returncode == 2
    err = res.stderr.strip()
    assert len(err.splitlines()) == 1 and "'figure', not a hook; valid: TITLE, METRICS, derive" in err, err
    assert str(path) in err and not (tmp_path / "r").exists()


def test_an_analysis_module_that_is_nowhere_is_one_line_before_training(tmp_path):
    spec = {**OWN, "analysis": "not_written_yet"}
    path = write(tmp_path, spec)
    res = run_cli("run", str(path), "--results-dir", str(tmp_path / "r"), "--wandb", "off")
    assert res.returncode == 2
    err = res.stderr.strip()
    assert len(err.splitlines()) == 1 and "no analysis module 'not_written_yet' beside the file" in err, err
    assert "degradation" in err and not (tmp_path / "r").exists()  # the shipped ones are listed as valid
