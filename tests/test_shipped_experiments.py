"""Every shipped experiment (experiments/*.yaml) validates in every profile, models built on meta.

Profiles that set `optim.lr: tuned` need an Optuna study; here a stub lookup stands in for it, so
the rest of the grid is still validated."""

from pathlib import Path

import pytest

from ablate.analysis.pipeline import experiment_claims
from ablate.experiment import expand, read_spec
from ablate.grid_checks import check_models, check_name
from ablate.shipped import shipped_dir

CASES = [(p, prof) for p in sorted(Path(shipped_dir("experiments")).glob("*.yaml")) for prof in read_spec(p)["profiles"]]


def stub_tuned(arm, keys):
    return {k: 0.01 for k in keys}  # any value in range: the study's best is looked up at run time


@pytest.mark.parametrize("path,profile", CASES, ids=[f"{p.stem}-{prof}" for p, prof in CASES])
def test_shipped_experiment_validates(path, profile):
    check_name(path, "experiment", path.stem)
    spec = read_spec(path)
    cells = expand(spec, profile, {}, path, stub_tuned)
    check_models(path, cells)
    experiment_claims(path, spec, cells)  # the `analysis:` and `claims:` sections
    assert cells and len({c.run_id for c in cells}) == len(cells)

