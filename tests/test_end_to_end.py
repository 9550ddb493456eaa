"""The user's path: `run` a tiny degradation grid (W&B offline on its own), read back what W&B
logged from the offline files, rerun (nothing retrains), `analyze` from stored results alone."""

import json
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from ablate import results
from tests.helpers import TINY, run_cli

WANDB = Path(__import__("sys").executable).parent / "wandb"


def sets(*items):
    return [a for item in items for a in ("--set", item)]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("results")
    res = run_cli("run", "degradation", *sets(*TINY), "--results-dir", str(root))  # --wandb auto
    return root, res


@pytest.mark.slow
def test_run_prints_table_verdicts_and_paths(tiny_run):
    root, res = tiny_run
    assert res.returncode == 0, res.stderr[-3000:]
    out = res.stdout
    for arm in ("plain-20", "plain-56", "residual-20", "residual-56"):
        assert f"| {arm} | 1 |" in out
    assert (
        "plain-56-worse: plain-56 ends with higher training error than plain-20" in out and "residual-fixes-56" in out
    )
    report = root / "degradation" / "_report-quick"
    for name in ("figure.png", "curves.png", "report.md", "table.csv", "table.md", "verdicts.json"):
        assert (report / name).is_file() and (report / name).stat().st_size > 0
        assert str(report / name) in out or name not in ("figure.png", "report.md")
    # Nothing a newcomer cannot act on: W&B's warning about a setting Lightning passes (ablate.tracking).
    assert "anonymous" not in res.stdout + res.stderr
    verdicts = json.loads((report / "verdicts.json").read_text())
    assert len(verdicts) == 3
    for v in verdicts:  # the numbers, not only prose; one seed: the noise is unknown
        assert v["outcome"] == "unresolved" and v["a"]["n"] == v["b"]["n"] == 1 and "estimate" in v


@pytest.mark.slow
def test_each_run_folder_is_complete(tiny_run):
    root, _ = tiny_run
    runs = [d for d in (root / "degradation").iterdir() if not d.name.startswith("_")]
    assert len(runs) == 4
    for d in runs:
        s = results.read_summary(d)
        assert s["status"] == "completed" and s["steps"] == 12 and s["wandb_mode"] == "offline"
        cfg = json.loads((d / "config.json").read_text())
        assert cfg["run_id"] == d.name and cfg["config"]["train"]["max_steps"] == 12
        prov = json.loads((d / "provenance.json").read_text())
        assert {"git", "packages", "host", "device"} <= set(prov) and prov["packages"]["torch"]
        m = pd.read_csv(d / "metrics.csv")
        assert {"step", "train/loss", "train/error", "val/error", "test/error"} <= set(m.columns)
        assert m["step"].max() == 12


def _offline_summary(folder: Path) -> tuple[Path, dict]:
    """The offline W&B run under folder/wandb/ and its summary record, as `wandb leet inspect` reads it."""
    offline = next((folder / "wandb").glob("offline-run-*"))
    cmd = [str(WANDB), "leet", "inspect", "--summary", "--json", str(offline)]
    return offline, json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)


def _wandb_records(run_dir: Path) -> tuple[dict, list[dict]]:
    offline, summary = _offline_summary(run_dir)
    lines = subprocess.run(
        [str(WANDB), "leet", "inspect", "--json", str(offline)], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    history = [json.loads(x)["history"]["item"] for x in lines if '"type":"history"' in x]
    return summary, history


@pytest.mark.slow
def test_wandb_offline_files_hold_what_was_logged(tiny_run):
    root, _ = tiny_run
    d = next((root / "degradation").glob("residual-56-*"))
    s = results.read_summary(d)
    summary, history = _wandb_records(d)
    assert summary["project"] == "ablate" and summary["run_id"] == s["wandb_run_id"]
    assert set(summary["tags"]) == {"residual-56", "seed=0", "profile=quick"}
    assert summary["config"]["model"]["depth"] == 56 and summary["config"]["arm"] == "residual-56"
    assert summary["summary"]["final_train_error"] == pytest.approx(s["final_train_error"])
    # Training loss logged to W&B equals our own metrics.csv, step for step.
    ours = pd.read_csv(d / "metrics.csv").dropna(subset=["train/loss"])
    theirs = {h["trainer/global_step"] + 1: h["train/loss"] for h in history if "train/loss" in h}
    assert len(theirs) == len(ours) >= 5
    for step, loss in zip(ours["step"], ours["train/loss"]):
        assert theirs[step] == pytest.approx(loss, rel=1e-6)
    evals = [h for h in history if "test/error" in h]
    assert len(evals) == 2  # eval_every=6 over 12 steps


@pytest.mark.slow
def test_rerun_skips_and_analyze_rebuilds_same_table(tiny_run):
    root, first = tiny_run
    table_before = (root / "degradation" / "_report-quick" / "table.md").read_text()
    (root / "degradation" / "_report-quick" / "table.md").unlink()
    res = run_cli("analyze", "degradation", *sets(*TINY), "--results-dir", str(root))
    assert res.returncode == 0, res.stderr
    assert (root / "degradation" / "_report-quick" / "table.md").read_text() == table_before
    again = run_cli("run", "degradation", *sets(*TINY), "--results-dir", str(root), "--wandb", "off")
    assert again.returncode == 0 and "0 run, 4 already done" in again.stdout


def test_analyze_with_no_results_says_so(tmp_path):
    res = run_cli("analyze", "degradation", "--results-dir", str(tmp_path))
    assert res.returncode == 1 and "no finished runs" in res.stdout


def test_list_shows_degradation():
    res = run_cli("list")
    line = next(x for x in res.stdout.splitlines() if x.startswith("degradation "))
    assert res.returncode == 0 and "profiles: quick, cpu, paper" in line


@pytest.mark.slow
def test_wandb_analysis_run_holds_the_table_verdicts_and_figures(tiny_run):
    root, _ = tiny_run
    report = root / "degradation" / "_report-quick"
    offline, summary = _offline_summary(report)
    assert summary["project"] == "ablate" and summary["name"] == "analysis-quick"
    s = summary["summary"]
    ours = json.loads((report / "verdicts.json").read_text())
    assert {f"verdict/{v['id']}": v["outcome"] for v in ours} == {
        k: v for k, v in s.items() if k.startswith("verdict/")
    }
    assert s["table"]["_type"] == "table-file" and s["table"]["nrows"] == 4
    assert s["verdicts"]["_type"] == "table-file" and s["verdicts"]["nrows"] == len(ours)
    table = json.loads((offline / "files" / s["verdicts"]["path"]).read_text())
    rows = [dict(zip(table["columns"], r)) for r in table["data"]]
    assert [r["id"] for r in rows] == [v["id"] for v in ours]
    assert rows[0]["estimate"] == pytest.approx(ours[0]["estimate"])
    assert {"figures/curves", "figures/figure"} <= set(s) and s["figures/curves"]["_type"] == "image-file"
