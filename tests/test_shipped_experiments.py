"""Every shipped experiment (experiments/*.yaml) loads in every profile through the loader every
command uses: grid, models built on the meta device, claims and analysis module.

Profiles that set `optim.lr: tuned` need an Optuna study; here a stub lookup stands in for it, so
the rest of the grid is still validated."""

from pathlib import Path

import pytest

from ablate.experiment import load_experiment
from ablate.search_path import shipped_dir
from ablate.spec import read_spec

CASES = [
    (p, prof) for p in sorted(Path(shipped_dir("experiments")).glob("*.yaml")) for prof in read_spec(p)["profiles"]
]


def stub_tuned(arm, keys):
    return dict.fromkeys(keys, 0.01)  # any value in range: the study's best is looked up at run time


@pytest.mark.parametrize("path,profile", CASES, ids=[f"{p.stem}-{prof}" for p, prof in CASES])
def test_shipped_experiment_validates(path, profile):
    exp = load_experiment(str(path), profile, tuned=stub_tuned)
    assert exp.cells and len({c.run_id for c in exp.cells}) == len(exp.cells)
    assert exp.claims, f"{path.name} states no claim"
    assert exp.hooks.title, f"{path.name} has no analysis module with a title"
