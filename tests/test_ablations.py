"""The issue-4 ablations: every experiment file validates (both profiles) and each runs a tiny grid end
to end through the CLI. (Their analyses on hand-made frames are in test_analyses.py; activation's
tiny run is in test_tuning.py, with lr tuned.)"""

import json

import pytest

from ablate.experiment import load_experiment
from tests.helpers import TINY, run_cli

EXPERIMENTS = ("activation", "kernels", "batchnorm")
TINY_NO_WIDTH = [s for s in TINY if not s.startswith("model.width")]


def sets(*items):
    return [a for item in items for a in ("--set", item)]


# Every experiments/*.yaml in every profile is validated by tests/test_shipped_experiments.py.


def test_list_shows_the_ablations():
    out = run_cli("list").stdout
    for name in ("degradation", *EXPERIMENTS):
        assert name in out


@pytest.mark.slow
@pytest.mark.parametrize("name,tiny", [("kernels", TINY), ("batchnorm", TINY_NO_WIDTH)])
def test_tiny_grid_end_to_end(tmp_path, name, tiny):
    res = run_cli("run", name, *sets(*tiny), "--results-dir", str(tmp_path), "--wandb", "off", "--no-progress")
    assert res.returncode == 0, res.stderr[-3000:]
    report = tmp_path / name / "_report-quick"
    for f in ("figure.png", "report.md", "table.csv", "verdicts.json"):
        assert (report / f).stat().st_size > 0
    verdicts = json.loads((report / "verdicts.json").read_text())
    # One verdict per claim of the quick profile. One seed a side: an exact (architectural) claim is
    # decided and holds; a tested one cannot be, and says why.
    claims = [c.id for c in load_experiment(name).claims if not c.profiles or "quick" in c.profiles]
    assert [v["id"] for v in verdicts] == claims
    for v in verdicts:
        assert v["a"]["n"] == v["b"]["n"] == 1, v
        if v["scale"] == "exact":
            assert v["outcome"] == "holds", v
        else:
            assert v["outcome"] == "unresolved" and v["reason"].startswith("fewer than 2 runs on a side"), v
        assert f"[{v['outcome'].upper()}] {v['id']}:" in res.stdout
