"""`submit` on a seed schedule, on the real one-node dev cluster (slurm/dev-cluster.sh): each call is
one round (an array of the next look's cells); a call while the round runs submits nothing; the
last call says that no claim needs more seeds; `analyze` then says where each claim stopped.

Two arms with the same config (x and y): every seed trains the same network in both, so a - b is
exactly 0 and the claim `x differs from y` has a scale-free path through schedule (2, 1, 4):
look 1 (2 seeds, 95% interval ± 4.3 sd) could still be resolved at 4 seeds; look 2 (3 seeds,
± 2.3 sd) could not (80% power at 4 seeds needs more than 2.3 sd), so it stops there.
"""

from __future__ import annotations

import json

import pytest
import yaml

from ablate.experiment import load_experiment
from tests.helpers import TINY_BASE

try:
    from tests import slurm_helpers as H
except ImportError:
    import slurm_helpers as H  # type: ignore[no-redef]

needs_slurm = pytest.mark.skipif(H.missing_slurm() is not None, reason=H.missing_slurm() or "")

GRID = {
    "description": "two identical arms, a seed schedule (the rounds test)",
    "base": TINY_BASE,
    "arms": {"x": {}, "y": {}},
    "seeds": {"start": 2, "step": 1, "max": 4},
    "profiles": {"quick": {}},
    "claims": [{"id": "xy", "metric": "final_train_error", "a": "x", "b": "y", "expect": "differ"}],
}


def submit(env, path, results):
    proc = H.ablate(env, "submit", str(path), "--results-dir", str(results), "--time", "10", "--wandb", "off")
    lines = [ln for ln in proc.stdout.splitlines() if ln[:1].isdigit()]
    return [ln.split("\t")[1] for ln in lines], proc.stderr


@pytest.mark.slurm
@needs_slurm
@pytest.mark.slow
def test_submit_runs_one_round_per_call_until_no_claim_needs_seeds(tmp_path):
    path, results = tmp_path / "rounds.yaml", tmp_path / "results"
    path.write_text(yaml.safe_dump(GRID))
    exp = load_experiment(str(path))
    assert [(c.index, c.arm, c.seed) for c in exp.cells][:2] == [(0, "x", 0), (1, "x", 1)]
    with H.dev_cluster() as env:
        arrays, err = submit(env, path, results)
        assert arrays == ["cells 0-1,4-5"], err  # look 1: seeds 0, 1 of x (cells 0-3) and y (4-7)
        second = None
        if H.queued(env):  # a second call while the round runs submits nothing
            again, err = submit(env, path, results)
            if again:  # the tiny round ended between the check and the call: this is look 2's
                second = (again, err)
            else:
                assert "still queued or running" in err, err
        if second is None:
            H.wait_until_idle(env, results, timeout=600)
            second = submit(env, path, results)
        arrays, err = second
        assert arrays == ["cells 2,6"] and "look 2 (x, y)" in err, err  # seed 2 of both arms
        H.wait_until_idle(env, results, timeout=600)
        arrays, err = submit(env, path, results)
        assert arrays == [] and "no claim needs more seeds" in err, err
        H.ablate(env, "analyze", str(path), "--results-dir", str(results), "--wandb", "off")
    (v,) = json.loads((results / "rounds" / "_report-quick" / "verdicts.json").read_text())
    assert (v["outcome"], v["stage"], v["look"], v["seeds"]) == ("unresolved", "stopped", 2, 3), v
    assert v["estimate"] == 0 and v["a"]["values"] == v["b"]["values"]  # the same network, seed by seed
