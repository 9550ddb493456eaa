"""On the real dev cluster: a damaged hpc checkpoint (what a pre-emption that hit a full disk or a
node failure leaves) is set aside where Lightning's SLURM connector does not look, so the array
task starts clean or resumes from the periodic checkpoint instead of asking Lightning for a file
that is gone (a `hpc_ckpt_1.ckpt.corrupt` beside the run made it select "hpc" on every requeue)."""

from __future__ import annotations

import json

import pytest

from ablate import results
from ablate.experiment import load_experiment
from ablate.slurm import store
from ablate.train.run import RunOptions, run_cell
from tests.faults import Crash, CrashAt

try:  # tests/ as a package or as a plain folder on sys.path
    from tests import slurm_helpers as H
except ImportError:
    import slurm_helpers as H  # type: ignore[no-redef]

TINY = str(H.FIXTURES / "tiny.yaml")


@pytest.mark.slow
@pytest.mark.slurm
@pytest.mark.skipif(H.missing_slurm() is not None, reason=H.missing_slurm() or "")
def test_a_damaged_hpc_checkpoint_falls_back_to_a_periodic_one_or_a_clean_start(tmp_path):
    root = tmp_path / "results"
    cells = load_experiment(TINY, "requeue").cells  # 2 cells of 600 steps, a checkpoint every 50
    dirs = [results.run_dir(root, "tiny", c.run_id) for c in cells]
    exp = load_experiment(TINY, "requeue")
    with pytest.raises(Crash):  # cell 1 gets a real periodic checkpoint at step 50
        run_cell(exp, cells[1], RunOptions(root, wandb="off", progress=False), callbacks=[CrashAt(55)])
    for d in dirs:  # then both a newer hpc checkpoint that a disk filling up cut short
        d.mkdir(parents=True, exist_ok=True)
        (d / "hpc_ckpt_1.ckpt").write_bytes(b"PK\x03\x04 cut short")

    with H.dev_cluster() as env:
        H.ablate(
            env, "submit", TINY, "--profile", "requeue", "--results-dir", str(root), "--time", "10", "--wandb", "off"
        )
        H.wait_until_idle(env, root, timeout=400)
    logs = [store.cell_log(root, "tiny", i).read_text() for i in range(2)]
    for d, log in zip(dirs, logs):
        assert results.is_complete(d), log
        assert "hpc_ckpt_1.ckpt is unusable" in log and "Traceback" not in log, log
        assert (d / "corrupt" / "hpc_ckpt_1.ckpt").is_file() and not list(d.glob("*hpc_ckpt_*")), log
    summaries = [results.read_summary(d) for d in dirs]
    assert [s["resumed_from_step"] for s in summaries] == [0, 50]
    assert all(s["status"] == "completed" and s["steps"] == 600 for s in summaries)
    last = json.loads((dirs[1] / results.PROVENANCE).read_text())
    assert last["checkpoints_found"] == ["hpc_ckpt_1.ckpt", "step50.ckpt"] and last["resume_from"].endswith(
        "step50.ckpt"
    )
