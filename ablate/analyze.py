"""Analysis driver: results store -> the experiment's analysis module -> files and a printout.

Each experiment names an analysis module in `analysis/` (the YAML key `analysis`); the module
provides `analyze(runs, curves, spec) -> Analysis`, built from pure functions. This file only
loads the results of the current grid and writes what the analysis returns.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path

from ablate import results
from ablate.experiment import Experiment


def analyze_experiment(exp: Experiment, root: Path):
    from analysis.common import load_runs

    runs, curves = load_runs(exp, root)
    if runs.empty:
        return None, 0
    module = importlib.import_module(f"analysis.{exp.spec.get('analysis', exp.name)}")
    return module.analyze(runs, curves, exp.spec), len(exp.cells) - len(runs)


def write_outputs(exp: Experiment, root: Path, analysis, missing: int) -> dict[str, Path]:
    out = results.report_dir(root, exp.name, exp.profile)
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "table_csv": out / "table.csv", "table_md": out / "table.md", "figure": out / "figure.png",
        "verdicts": out / "verdicts.json", "report": out / "report.md",
    }  # fmt: skip
    results.atomic_write_text(paths["table_csv"], analysis.table_csv.to_csv(index=False))
    results.atomic_write_text(paths["table_md"], analysis.table_md + "\n")
    analysis.figure.savefig(paths["figure"], dpi=130, bbox_inches="tight")
    results.atomic_write_text(paths["verdicts"], json.dumps([v.to_dict() for v in analysis.verdicts], indent=2) + "\n")
    results.atomic_write_text(paths["report"], analysis.report(exp, missing, paths["figure"].name))
    return paths


def analyze_and_print(exp: Experiment, root: Path):
    analysis, missing = analyze_experiment(exp, root)
    if analysis is None:
        print(f"[ablate] no finished runs of {exp.name}/{exp.profile} under {root}: nothing to analyse")
        return None
    paths = write_outputs(exp, root, analysis, missing)
    print()
    print(analysis.table_md)
    print()
    for v in analysis.verdicts:
        print(v.line())
    if missing:
        print(f"\n[ablate] {missing} of {len(exp.cells)} runs have no result yet: the analysis covers the rest")
    print(f"\nplot:   {paths['figure']}\nreport: {paths['report']}\ntable:  {paths['table_csv']}")
    return paths
