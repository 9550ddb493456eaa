"""SLURM support: parsers and joins on recorded text, `submit --dry-run`, `status`, `sync`; then, on a
real one-node cluster (slurm/dev-cluster.sh), submit/scancel/resubmit and requeue/resume end to end.

The cluster tests (marked `slurm`) start their own private cluster and skip, saying why, only when
the SLURM packages are absent (`bash slurm/ci-install.sh` installs them) or when not run as root.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ablate.commands import sync as sync_cmd
from ablate.slurm import cluster, store
from ablate.slurm.cluster import AcctEntry, QueueEntry

try:  # tests/ as a package or as a plain folder on sys.path (pytest's rootdir-less import)
    from tests import slurm_helpers as H
except ImportError:
    import slurm_helpers as H  # type: ignore[no-redef]

FIXTURES, REPO, ablate, dev_cluster, dump_logs = H.FIXTURES, H.REPO, H.ablate, H.dev_cluster, H.dump_logs
job_ids, missing_slurm, queued, slurm = H.job_ids, H.missing_slurm, H.queued, H.slurm
wait_for, wait_until_idle = H.wait_for, H.wait_until_idle

TINY = str(FIXTURES / "tiny.yaml")


# --- parsers, on text recorded from slurm-wlm 22.05 -----------------------------------------------

SCONTROL_CONFIG = """Configuration data as of 2026-11-23T10:37:32
AccountingStorageType   = (null)
MaxArraySize            = 5
MaxJobCount             = 10000
"""


def test_parse_max_array_size():
    assert cluster.parse_max_array_size(SCONTROL_CONFIG) == 5
    assert cluster.parse_max_array_size("MaxJobCount = 10000\n") is None
    runner = lambda cmd: subprocess.CompletedProcess(cmd, 0, "MaxJobCount = 1\n", "")
    assert cluster.max_array_size(runner) == cluster.DEFAULT_MAX_ARRAY_SIZE


def test_parse_sbatch_parsable():
    assert cluster.parse_sbatch_parsable("1234\n") == "1234"
    assert cluster.parse_sbatch_parsable("1234;gpucluster\n") == "1234"
    with pytest.raises(cluster.SlurmError):
        cluster.parse_sbatch_parsable("sbatch: error: Batch job submission failed\n")


def test_sbatch_command_line_and_dependency():
    seen = []

    def runner(cmd):
        seen.append(cmd)
        return subprocess.CompletedProcess(cmd, 0, "42\n", "")

    assert cluster.sbatch("/r/a.sbatch", runner=runner) == "42"
    assert cluster.sbatch("/r/b.sbatch", after="42", runner=runner) == "42"
    assert seen == [
        ["sbatch", "--parsable", "/r/a.sbatch"],
        ["sbatch", "--parsable", "--dependency=afterany:42", "/r/b.sbatch"],
    ]


def test_parse_squeue_expands_array_ranges():
    text = "7|1-3%1|PENDING|JobArrayTaskLimit\n7|0|RUNNING|None\n8|N/A|RUNNING|None\n9|[4,6]|PENDING|Dependency\n"
    got = cluster.parse_squeue(text)
    assert [(e.job_id, e.task_id, e.status) for e in got] == [
        ("7", 1, "pending"),
        ("7", 2, "pending"),
        ("7", 3, "pending"),
        ("7", 0, "running"),
        ("8", None, "running"),
        ("9", 4, "pending"),
        ("9", 6, "pending"),
    ]


def test_squeue_filters_to_our_jobs():
    text = "7|0|RUNNING|None\n99|0|RUNNING|None\n"
    runner = lambda cmd: subprocess.CompletedProcess(cmd, 0, text, "")
    assert [e.job_id for e in cluster.squeue({"7"}, runner)] == ["7"]


def test_parse_sacct():
    text = "12_0|COMPLETED|0:0\n12_1|CANCELLED by 0|0:15\n12_[3-5%2]|PENDING|0:0\n13|FAILED|1:0\n"
    got = cluster.parse_sacct(text)
    assert got[:2] == [AcctEntry("12", 0, "COMPLETED", "0:0"), AcctEntry("12", 1, "CANCELLED", "0:15")]
    assert [e.task_id for e in got[2:5]] == [3, 4, 5]
    assert got[5] == AcctEntry("13", None, "FAILED", "1:0")


def test_sacct_without_accounting_is_none():
    def runner(cmd):
        assert "--jobs=3,12" in cmd
        return subprocess.CompletedProcess(cmd, 1, "", "Slurm accounting storage is disabled\n")

    assert cluster.sacct({"12", "3"}, runner) is None

    def missing(cmd):
        raise FileNotFoundError(cmd[0])

    assert cluster.sacct({"1"}, missing) is None


def test_cell_states_join_precedence():
    subs = [{"job_id": "10", "offset": 0, "cells": [0, 1, 2, 3, 4]}, {"job_id": "11", "offset": 3, "cells": [3, 5]}]
    queue = [QueueEntry("10", 1, "RUNNING", "None"), QueueEntry("10", 2, "PENDING", "JobArrayTaskLimit")]
    acct = [
        AcctEntry("10", 3, "FAILED", "1:0"),
        AcctEntry("11", 0, "TIMEOUT", "0:0"),
        AcctEntry("10", 0, "FAILED", "1:0"),
    ]
    states = store.cell_states(range(8), {0: "completed"}, subs, queue, acct, has_log={4, 6})
    got = {s.index: s.status for s in states}
    assert got == {
        0: "done",
        1: "running",
        2: "pending",
        3: "failed",
        4: "failed",
        5: "missing",
        6: "failed",
        7: "missing",
    }
    assert "TIMEOUT" in states[3].detail  # the newest submission of cell 3 (job 11) decides
    assert "JobArrayTaskLimit" in states[2].detail
    assert "never ran" in states[5].detail
    # Without accounting: a log means it ran and left no result.
    no_acct = store.cell_states(range(5), {}, subs, [], None, has_log={3})
    assert [s.status for s in no_acct] == ["missing", "missing", "missing", "failed", "missing"]


def test_tail_reads_only_the_end(tmp_path):
    log = tmp_path / "cell-0.log"
    log.write_text("".join(f"line {i}\n" for i in range(100_000)))
    assert store.tail(log, 3) == ["line 99997", "line 99998", "line 99999"]
    assert store.tail(tmp_path / "absent.log") == []


# --- the commands, without a cluster ----------------------------------------------------------------


@pytest.fixture
def no_slurm(tmp_path, monkeypatch, capsys):
    """Runs `python -m ablate ...` in this process with a PATH without SLURM (a laptop's view);
    returns a function args -> (exit code, stdout, stderr)."""
    from ablate import cli

    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.delenv("SLURM_CONF", raising=False)
    monkeypatch.delenv("ABLATE_RESULTS_DIR", raising=False)

    def run(*args: str):
        capsys.readouterr()
        code = cli.main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    return run


def _complete(results: Path, cells: list[int], profile: str | None = None) -> None:
    from ablate.experiment import load_experiment
    from ablate.results import run_dir, write_json

    exp = load_experiment(TINY, profile)
    for i in cells:
        write_json(run_dir(results, exp.name, exp.cells[i].run_id) / "summary.json", {"status": "completed"})


def test_submit_dry_run_splits_and_skips_done_cells(tmp_path, no_slurm):
    _complete(tmp_path, [0, 3])
    code, out, err = no_slurm(
        "submit",
        TINY,
        "--results-dir",
        str(tmp_path),
        "--dry-run",
        "--max-array-size",
        "5",
        "--array-parallelism",
        "2",
        "--time",
        "30",
    )
    assert code == 0 and "12 cells, 2 done, 0 queued or running, 10 to submit" in err
    arrays = [ln for ln in out.splitlines() if ln.startswith("#SBATCH --array=")]
    offsets = [ln for ln in out.splitlines() if ln.startswith("OFFSET=")]
    # cells 1,2,4,5 | 6-10 | 11: task ids stay below 5, the offset restores the cell index
    assert arrays == ["#SBATCH --array=0-1,3-4%2", "#SBATCH --array=0-4%2", "#SBATCH --array=0%2"]
    assert offsets == ["OFFSET=1", "OFFSET=6", "OFFSET=11"]
    assert not (tmp_path / "tiny" / "slurm").exists()  # a dry run writes nothing


@pytest.mark.parametrize(
    "args,match",
    [
        (["--profile", "nope"], "unknown profile 'nope'"),
        (["--time", "4h"], "--time '4h'"),
        (["--partition", "gpu\ntouch /tmp/x"], "newlines"),
        (["--set", "model.nope=1"], "nope"),
    ],
)
def test_submit_bad_input_is_one_line_exit_2(tmp_path, no_slurm, args, match):
    code, out, err = no_slurm("submit", TINY, "--results-dir", str(tmp_path), "--dry-run", *args)
    assert code == 2, err
    assert match in err and len(err.strip().splitlines()) == 1, err


def test_submit_checks_the_dataset_is_present(tmp_path, no_slurm):
    code, out, err = no_slurm(
        "submit",
        "degradation",
        "--profile",
        "paper",
        "--data-dir",
        str(tmp_path / "none"),
        "--results-dir",
        str(tmp_path),
        "--dry-run",
    )
    assert code == 2 and "data fetch cifar10" in err, err


def test_submit_without_slurm_says_so(tmp_path, no_slurm):
    code, out, err = no_slurm("submit", TINY, "--results-dir", str(tmp_path), "--max-array-size", "5")
    assert code == 2 and "login node" in err, err


def test_status_without_slurm_reads_the_results_store(tmp_path, no_slurm):
    _complete(tmp_path, [1, 2])
    store.append_submission(
        tmp_path, "tiny", {"job_id": "5", "offset": 0, "cells": list(range(12)), "profile": "quick", "overrides": []}
    )
    log = store.cell_log(tmp_path, "tiny", 3)
    log.parent.mkdir(parents=True)
    log.write_text("[ablate] start\nTraceback (most recent call last):\nRuntimeError: boom\n")
    (log.parent / "5_3.out").write_text(
        "slurmstepd: error: *** JOB 9 ON n1 CANCELLED AT 2026-11-23T10:37:56 DUE TO TIME LIMIT ***\n"
    )
    code, out, err = no_slurm("status", TINY, "--results-dir", str(tmp_path))
    assert code == 0 and "12 cells: 2 done, 1 failed, 9 missing" in out
    assert "| RuntimeError: boom" in out and "DUE TO TIME LIMIT" in out


def _fake_run(tmp: Path, run_id: str, attempts: int, synced: int = 0, complete: bool = True) -> Path:
    run_dir = tmp / "tiny" / run_id
    for k in range(attempts):
        folder = run_dir / "wandb" / f"offline-run-20260101_00000{k}-tiny-{run_id}"
        folder.mkdir(parents=True)
        (folder / f"run-tiny-{run_id}.wandb").write_bytes(b"x")
        if k < synced:
            (folder / f"run-tiny-{run_id}.wandb.synced").write_text("")
    if complete:
        (run_dir / "summary.json").write_text("{}")
    return run_dir


def test_sync_finds_runs_skips_synced_and_unfinished(tmp_path):
    _fake_run(tmp_path, "a", attempts=2)  # requeued once: two folders, one W&B run
    _fake_run(tmp_path, "b", attempts=1, synced=1)
    _fake_run(tmp_path, "c", attempts=1, complete=False)
    jobs = {j.run_dir.name: j for j in sync_cmd.find_jobs(tmp_path / "tiny")}
    assert sorted(jobs) == ["a", "b"]
    assert list(jobs["a"].folders) == sorted(jobs["a"].folders)  # names start with their time
    assert len(jobs["a"].folders) == 2 and jobs["b"].folders == () and jobs["b"].skipped == 1
    assert "c" in {j.run_dir.name for j in sync_cmd.find_jobs(tmp_path / "tiny", include_unfinished=True)}
    cmd = sync_cmd.sync_command("wandb", jobs["a"], project="p")
    assert cmd[:4] == ["wandb", "sync", "--project", "p"]
    assert cmd[4:] == [str(f) for f in jobs["a"].folders]  # oldest first, in one call


def test_sync_is_idempotent_and_parallel(tmp_path):
    for i in range(6):
        _fake_run(tmp_path, f"r{i}", attempts=1 + i % 2)
    calls, active, peak = [], [0], [0]

    def runner(cmd):  # stands in for `wandb sync`: marks what it was given as synced
        calls.append(cmd)
        active[0] += 1
        peak[0] = max(peak[0], active[0])
        time.sleep(0.05)
        for folder in cmd[2:]:
            Path(folder, Path(folder).name.split("-", 4)[-1] + ".wandb.synced").write_text("")
        active[0] -= 1
        return subprocess.CompletedProcess(cmd, 0, "", "")

    jobs = sync_cmd.find_jobs(tmp_path / "tiny")
    assert sync_cmd.sync_all(jobs, lambda j: ["wandb", "sync", *map(str, j.folders)], 3, runner) == {}
    assert len(calls) == 6 and peak[0] > 1
    again = sync_cmd.find_jobs(tmp_path / "tiny")
    assert all(not j.folders for j in again)
    assert sync_cmd.sync_all(again, lambda j: ["wandb", "sync"], 3, runner) == {} and len(calls) == 6


def test_sync_reports_uploads_that_did_not_happen(tmp_path):
    _fake_run(tmp_path, "a", attempts=1)
    jobs = sync_cmd.find_jobs(tmp_path / "tiny")
    fail = lambda cmd: subprocess.CompletedProcess(cmd, 1, "", "wandb: ERROR network\n")
    errors = sync_cmd.sync_all(jobs, lambda j: ["wandb", "sync"], 2, fail)
    assert list(errors.values()) == ["wandb: ERROR network (not marked synced: " + jobs[0].folders[0].name + ")"]
    silent = lambda cmd: subprocess.CompletedProcess(cmd, 0, "", "")
    assert sync_cmd.sync_all(jobs, lambda j: ["wandb", "sync"], 2, silent)


def test_sync_command_dry_run(tmp_path, no_slurm):
    _fake_run(tmp_path, "a", attempts=2)
    code, out, err = no_slurm("sync", "tiny", "--results-dir", str(tmp_path), "--dry-run", "--wandb", "/x/wandb")
    assert code == 0 and out.startswith("/x/wandb sync ") and out.count("offline-run-") == 2
    assert "1 W&B run(s) to upload (2 offline folders)" in err


# --- on a real cluster ------------------------------------------------------------------------------

needs_slurm = pytest.mark.skipif(missing_slurm() is not None, reason=missing_slurm() or "")


@pytest.fixture(scope="module")
def slurm_env():
    with dev_cluster(max_array_size=5) as env:
        print(f"\n[dev cluster up in {env['ABLATE_TEST_CLUSTER_UP_S']} s]")
        yield env


def _cells_of(submission_line: str) -> str:
    return submission_line.split("\t")[1]


@pytest.mark.slurm
@needs_slurm
@pytest.mark.slow
def test_split_grid_scancel_resubmit_completes(slurm_env, tmp_path):
    """12 cells, --array-parallelism 2, MaxArraySize 5: 3 arrays. Two pending tasks are cancelled
    and the grid resubmitted at once: only those two cells go out again. Everything completes, in
    the same form as a local run, and `status` says all done."""
    env, results = slurm_env, tmp_path / "results"
    local = subprocess.Popen(  # the same cell run locally, for the comparison of forms
        [
            sys.executable,
            "-m",
            "ablate",
            "run",
            TINY,
            "--cell",
            "9",
            "--results-dir",
            str(tmp_path / "local"),
            "--wandb",
            "off",
            "--no-progress",
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    t0 = time.monotonic()
    sub = ablate(
        env, "submit", TINY, "--results-dir", str(results), "--array-parallelism", "2", "--time", "10", "--wandb", "off"
    )
    lines = [ln for ln in sub.stdout.splitlines() if ln[:1].isdigit()]
    assert [_cells_of(ln) for ln in lines] == ["cells 0-4", "cells 5-9", "cells 10-11"]
    first, second, third = job_ids(sub.stdout)
    assert f"after {first}" in lines[1] and f"after {second}" in lines[2]
    script = Path(lines[1].split("\t")[2]).read_text()
    assert "#SBATCH --array=0-4%2\n" in script and "OFFSET=5\n" in script

    # Cancel cells 8 and 9 (tasks 3 and 4 of the second array, still pending), resubmit at once.
    slurm(env, "scancel", f"{second}_3", f"{second}_4")
    status = ablate(env, "status", TINY, "--results-dir", str(results)).stdout
    assert "missing" in status and "pending" in status
    resub = ablate(
        env, "submit", TINY, "--results-dir", str(results), "--array-parallelism", "2", "--time", "10", "--wandb", "off"
    )
    assert [_cells_of(ln) for ln in resub.stdout.splitlines() if ln[:1].isdigit()] == ["cells 8-9"]
    m = re.search(r"(\d+) done, (\d+) queued or running, 2 to submit", resub.stderr)
    assert m and int(m[1]) + int(m[2]) == 10, resub.stderr  # the live cells are not submitted twice

    wait_until_idle(env, results, timeout=600)
    elapsed = time.monotonic() - t0
    status = ablate(env, "status", TINY, "--results-dir", str(results)).stdout
    assert "12 cells: 12 done" in status, status + dump_logs(results)
    again = ablate(env, "submit", TINY, "--results-dir", str(results), "--time", "10")
    assert "0 to submit" in again.stderr and not job_ids(again.stdout)
    print(f"\n[12-cell grid, parallelism 2, 3+1 arrays: done in {elapsed:.0f} s]")

    # Same form as a local run of the same cell: same files, same config, same summary keys.
    assert local.wait(timeout=300) == 0, local.stderr.read()
    from ablate.experiment import load_experiment

    cell = load_experiment(TINY).cells[9]
    a, b = results / "tiny" / cell.run_id, tmp_path / "local" / "tiny" / cell.run_id

    def form(d: Path) -> set[str]:
        return {str(p.relative_to(d)) for p in d.iterdir() if not p.name.startswith("hpc_ckpt_")}

    assert form(a) == form(b)
    assert json.loads((a / "config.json").read_text()) == json.loads((b / "config.json").read_text())
    sa, sb = (json.loads((d / "summary.json").read_text()) for d in (a, b))
    assert sa.keys() == sb.keys() and sa["status"] == sb["status"] == "completed"
    assert sa["steps"] == sb["steps"]
    assert (a / "metrics.csv").read_text().splitlines()[0] == (b / "metrics.csv").read_text().splitlines()[0]


@pytest.mark.slurm
@needs_slurm
@pytest.mark.slow
def test_requeue_resumes_from_checkpoint_into_same_run(slurm_env, tmp_path):
    """Cell 0 gets USR1 (what --signal=USR1@N sends): Lightning saves an hpc checkpoint and requeues
    the array task. Cell 1 is requeued with `scontrol requeue`: it resumes from its periodic
    checkpoint. Both resume at a step > 0 into the same result folder and the same W&B run id."""
    env, results = slurm_env, tmp_path / "results"
    from ablate.experiment import load_experiment

    # Before submitting: loading the grid took 22 s on a loaded machine, while the cells trained.
    cells = load_experiment(TINY, "requeue").cells
    dirs = [results / "tiny" / c.run_id for c in cells]
    sub = ablate(
        env, "submit", TINY, "--profile", "requeue", "--results-dir", str(results), "--time", "10", "--wandb", "offline"
    )
    (job,) = job_ids(sub.stdout)

    def has_checkpoint(d: Path) -> bool:
        return any((d / "checkpoints").glob("*.ckpt"))

    # Each cell is signalled as soon as it has its own first checkpoint (step 50 of 600, ~25 s of
    # training left). Waiting for both let one finish first on a loaded CI machine (its restart
    # then found the result and resumed from step 0).
    signals = {
        0: ("scancel", "--signal=USR1", f"{job}_0"),  # to the job steps (srun), as --signal does
        1: ("scontrol", "requeue", f"{job}_1"),
    }

    def signal_each_once_checkpointed() -> bool:
        for i in [i for i in signals if has_checkpoint(dirs[i])]:
            assert not (dirs[i] / "summary.json").exists(), f"cell {i} finished before its signal"
            slurm(env, *signals.pop(i))
        return not signals

    wait_for(signal_each_once_checkpointed, 240, "first checkpoints")
    t0 = time.monotonic()
    wait_for(
        lambda: (
            "restart 1" in store.cell_log(results, "tiny", 0).read_text()
            and "restart 1" in store.cell_log(results, "tiny", 1).read_text()
        ),
        240,
        "restarts",
    )
    restart_s = time.monotonic() - t0
    wait_until_idle(env, results, timeout=400)

    for i, d in enumerate(dirs):
        summary = json.loads((d / "summary.json").read_text())
        log = store.cell_log(results, "tiny", i).read_text()
        assert summary["status"] == "completed" and summary["steps"] == 600, log
        assert summary["resumed_from_step"] > 0, log
        folders = sorted((d / "wandb").glob("offline-run-*"))
        assert len(folders) >= 2, folders  # one per attempt...
        assert {f.name.split("-", 3)[-1] for f in folders} == {summary["wandb_run_id"]}  # ...one run id
        print(f"\n[cell {i} resumed at step {summary['resumed_from_step']}]")
    # Cell 0's second attempt found the hpc checkpoint Lightning wrote on USR1; cell 1 only periodic
    # ones. Each resumed from the newest it found: cell 0 from the hpc file, or from a periodic one
    # written after it, in the seconds between the signal and the kill (CI: step 100). provenance.json
    # describes the last attempt; the hpc file itself is removed once the result exists.
    prov = [json.loads((d / "provenance.json").read_text()) for d in dirs]
    assert any(n.startswith("hpc_ckpt_") for n in prov[0]["checkpoints_found"]), prov[0]
    assert not any(n.startswith("hpc_ckpt_") for n in prov[1]["checkpoints_found"]), prov[1]
    for p in prov:
        assert Path(p["resume_from"]).name == p["checkpoints_found"][0], p
    assert not list(dirs[0].glob("hpc_ckpt_*.ckpt")), "hpc checkpoint left after the result was written"
    resumed = [json.loads((d / "summary.json").read_text())["resumed_from_step"] for d in dirs]
    assert resumed == [p["resumed_from_step"] for p in prov], (resumed, prov)
    assert resumed[1] % 50 == 0, resumed  # checkpoint_every: 50 in the fixture's requeue profile
    print(
        f"[USR1: resumed from {Path(prov[0]['resume_from']).name} at step {resumed[0]}; "
        f"scontrol requeue: periodic step {resumed[1]}]"
    )
    assert sorted(p.name for p in (results / "tiny").iterdir()) == sorted([*(c.run_id for c in cells), "slurm"])
    print(f"[both restarted {restart_s:.0f} s after the signal / requeue]")


@pytest.mark.slurm
@needs_slurm
@pytest.mark.slow
def test_cells_per_task_trains_k_cells_in_one_task_each_once(slurm_env, tmp_path):
    """`submit --cells-per-task 2` on the real slurmctld: 6 cells, 3 array tasks, each task starts
    its two cells as `srun --overlap` steps at once; every cell trains exactly once (one attempt,
    one start line in its log, naming its task's group), and `status` knows them all done."""
    env, results = slurm_env, tmp_path / "results"
    args = ("--results-dir", str(results), "--set", "seeds=[0]", "--time", "10", "--wandb", "off")
    sub = ablate(env, "submit", TINY, *args, "--cells-per-task", "2")
    lines = [ln for ln in sub.stdout.splitlines() if ln[:1].isdigit()]
    assert [_cells_of(ln) for ln in lines] == ["cells 0-5"], sub.stdout
    script = Path(lines[0].split("\t")[2]).read_text()
    assert "#SBATCH --array=0-2\n" in script and "srun --overlap --ntasks=1" in script
    wait_until_idle(env, results, timeout=600)
    from ablate.experiment import load_experiment

    cells = load_experiment(TINY, overrides=["seeds=[0]"]).cells
    (record,) = store.read_submissions(results, "tiny")
    assert record["tasks"] == {"0": [0, 1], "1": [2, 3], "2": [4, 5]}
    for cell in cells:
        summary = json.loads((results / "tiny" / cell.run_id / "summary.json").read_text())
        assert summary["status"] == "completed" and summary["attempts"] == 1, dump_logs(results)
        log = store.cell_log(results, "tiny", cell.index).read_text()
        starts = [ln for ln in log.splitlines() if ln.startswith("[ablate] ") and " cell " in ln and "job " in ln]
        assert len(starts) == 1 and f"group {cell.index // 2} (2 cells)" in starts[0], log
    status = ablate(env, "status", TINY, "--results-dir", str(results), "--set", "seeds=[0]").stdout
    assert "6 cells: 6 done" in status, status


@pytest.mark.slurm
@needs_slurm
@pytest.mark.slow
def test_usr1_mid_run_resumes_to_the_uninterrupted_result(slurm_env, tmp_path):
    """A cell signalled with USR1 mid-run (what --signal=USR1@N sends) saves at the next step
    boundary, is requeued and resumes; its summary and every column of metrics.csv equal those of
    the same cell run uninterrupted, one thread each (bookkeeping aside: wall time, attempts, the
    step it resumed from)."""
    env, results, local = slurm_env, tmp_path / "results", tmp_path / "local"
    args = ("--profile", "requeue", "--set", "seeds=[0]", "--wandb", "off")
    ablate(env, "run", TINY, *args, "--cell", "0", "--results-dir", str(local), "--threads", "1", "--no-progress")
    from ablate.experiment import load_experiment

    (cell,) = load_experiment(TINY, "requeue", ["seeds=[0]"]).cells
    run = results / "tiny" / cell.run_id
    sub = ablate(env, "submit", TINY, *args, "--results-dir", str(results), "--time", "10")
    (job,) = job_ids(sub.stdout)
    wait_for(lambda: any((run / "checkpoints").glob("*.ckpt")), 240, "the first checkpoint")
    assert not (run / "summary.json").exists(), "finished before the signal"
    slurm(env, "scancel", "--signal=USR1", f"{job}_0")
    wait_for(lambda: "restart 1" in store.cell_log(results, "tiny", 0).read_text(), 240, "the restart")
    wait_until_idle(env, results, timeout=400)
    log = store.cell_log(results, "tiny", 0).read_text()
    got, want = (json.loads((d / "summary.json").read_text()) for d in (run, local / "tiny" / cell.run_id))
    assert got["attempts"] == 2 and got["resumed_from_step"] > 0, log
    bookkeeping = {"wall_time_s", "attempts", "resumed_from_step"}
    assert {k: v for k, v in got.items() if k not in bookkeeping} == {
        k: v for k, v in want.items() if k not in bookkeeping
    }, log
    import pandas as pd

    pd.testing.assert_frame_equal(
        pd.read_csv(run / "metrics.csv"), pd.read_csv(local / "tiny" / cell.run_id / "metrics.csv")
    )
    prov = json.loads((run / "provenance.json").read_text())
    print(f"\n[USR1 at step <= {got['resumed_from_step']}: resumed from {Path(prov['resume_from']).name}]")
