"""The reference reports in docs/results/ are what the current code and experiment files give:
the run ids each folder's PROVENANCE.md lists are cells of its profile as the profile stands today
(a setting changed since, or a folder left stale, fails here), every arm of the profile is there,
and the report's verdicts count exactly those runs (a claim a seed schedule settled at an earlier
look: the runs of that look's seeds)."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ablate.experiment import load_experiment
from tests.helpers import REPO

RESULTS = REPO / "docs" / "results"
FOLDERS = sorted(p for p in RESULTS.iterdir() if (p / "PROVENANCE.md").is_file())
ROW = re.compile(r"^\| ([A-Za-z0-9][A-Za-z0-9._+-]*-s(\d+)-[0-9a-f]{10}) \|", re.M)


def committed_runs(folder: Path) -> dict[str, int]:
    """run id -> seed, from the per-run table of the folder's PROVENANCE.md."""
    return {m.group(1): int(m.group(2)) for m in ROW.finditer((folder / "PROVENANCE.md").read_text())}


def no_study(arm: str, keys: list[str]) -> dict:
    raise AssertionError(f"arm {arm}: {keys} is 'tuned'; a reference profile writes its tuned values out")


def test_there_are_reference_folders_and_they_name_their_runs():
    assert len(FOLDERS) >= 9
    assert all(len(committed_runs(f)) >= 2 for f in FOLDERS)


@pytest.mark.parametrize("folder", FOLDERS, ids=[f.name for f in FOLDERS])
def test_a_reference_folder_holds_runs_the_current_profile_makes(folder):
    experiment, profile = folder.name.split("-", 1)
    exp = load_experiment(experiment, profile, tuned=no_study)
    runs = committed_runs(folder)
    cells = {c.run_id: c for c in exp.cells}
    stale = sorted(set(runs) - set(cells))
    assert not stale, f"{folder.name}: {len(stale)} runs are not cells of {experiment}:{profile} today: {stale[:3]}"
    for arm in exp.arms:
        seeds = sorted(cells[r].seed for r in runs if cells[r].arm == arm)
        assert seeds, f"{folder.name}: no run of arm {arm}"
        assert seeds == list(range(len(seeds))), f"{folder.name}: arm {arm} has seeds {seeds}, not 0..n-1"
    verdicts = json.loads((folder / "verdicts.json").read_text())
    for v in verdicts:
        for side in ("a", "b"):
            if v.get(side) and v["scale"] != "exact":
                arms = v[side]["arms"]
                counted = v[side]["n"] + v[side].get("excluded", 0)
                # A claim of a seed schedule settled at an earlier look keeps that look's seeds.
                seeds = v.get("seeds") or math.inf
                made = sum(cells[r].arm in arms and cells[r].seed < seeds for r in runs)
                assert counted == made, (folder.name, v["id"], side)


def test_the_tables_of_docs_results_readme_are_what_the_committed_files_say():
    res = subprocess.run([sys.executable, str(RESULTS / "summary.py"), "--check"], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr


def test_every_row_of_the_summary_names_a_claim_its_profile_judges():
    """A row names a committed verdict (summary.py --check fails on one it cannot find) or, for a folder
    not committed yet, a claim its profile's experiment file judges: a typo cannot wait for the run."""
    spec = yaml.safe_load((RESULTS / "sources.yaml").read_text())
    for row in spec["rows"]:
        for ref in row["verdicts"]:
            folder, claim = ref.split("/", 1)
            assert folder in spec["scales"], f"sources.yaml: {ref}: no scale for {folder}"
            if (RESULTS / folder / "verdicts.json").exists():
                continue
            experiment, profile = folder.split("-", 1)
            exp = load_experiment(experiment, profile, tuned=lambda _arm, keys: dict.fromkeys(keys, 0.1))
            judged = [c.id for c in exp.claims if not c.profiles or profile in c.profiles]
            assert claim in judged, f"sources.yaml: {ref}: {experiment}:{profile} judges {judged}"
