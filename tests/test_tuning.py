"""Optuna tuning: a study is stored per (experiment, profile, arm), a second `tune` resumes it,
`optim.lr: tuned` resolves to its best value (and changes the run id), a missing study is one line
naming the command to run. Tiny budgets: digits, width 4, 12 steps."""

import pytest

from ablate.errors import ExperimentError
from ablate.experiment import expand, load_experiment
from ablate.search_path import find_experiment
from ablate.spec import read_spec
from ablate.tuning import (
    STORAGE_FILES,
    TuningError,
    best_params,
    choose_storage,
    describe_tuned,
    load_study,
    median_pruner,
    parse_point,
    tune,
    tune_dir,
    tuned_values,
)
from tests.helpers import TINY, run_cli


def sets(*items):
    return [a for item in items for a in ("--set", item)]


@pytest.fixture(scope="module")
def tuned_root(tmp_path_factory):
    """Both activation arms tuned in-process (1 trial each), as a following `run` needs."""
    root = tmp_path_factory.mktemp("tuned")
    for arm in ("relu", "tanh"):
        tune("activation", arm, 1, overrides=TINY, results_root=root, echo=lambda *_: None)
    return root


@pytest.mark.slow
def test_tune_cli_stores_the_study_and_resumes_it(tuned_root):
    res = run_cli(
        "tune", "activation", "--arm", "tanh", "--trials", "1", *sets(*TINY), "--results-dir", str(tuned_root)
    )
    assert res.returncode == 0, res.stderr[-2000:]
    assert "1 trials so far" in res.stdout and "2 trials in the study" in res.stdout
    assert "activation/quick/tanh" in res.stdout and "validation error" in res.stdout
    assert (tune_dir(tuned_root, "activation") / STORAGE_FILES["sqlite"]).is_file()
    study = load_study(tuned_root, "activation", "quick", "tanh")
    assert len(study.trials) == 2 and study.user_attrs["split"] == "val"
    assert study.user_attrs["budget"]["max_steps"] == 12
    # Trial runs live under _tune/, never among the grid's cells.
    trial_runs = list((tune_dir(tuned_root, "activation") / "quick" / "tanh").rglob("summary.json"))
    assert len(trial_runs) >= 1
    assert not [d for d in (tuned_root / "activation").iterdir() if not d.name.startswith("_")]


@pytest.mark.slow
def test_lr_tuned_uses_each_arms_best_value(tuned_root):
    exp = load_experiment("activation", overrides=[*TINY, "optim.lr=tuned"], results_root=tuned_root)
    for arm in ("relu", "tanh"):
        best = best_params(tuned_root, "activation", "quick", arm)["optim.lr"]
        assert [c.config["optim"]["lr"] for c in exp.cells if c.arm == arm] == [best]
        record = exp.spec["_tuned"][arm]
        assert record["values"] == {"optim.lr": best} and record["split"] == "val"
        assert record["budget"]["max_steps"] == 12 and sum(record["trials"].values()) >= 1


@pytest.mark.slow
def test_run_with_lr_tuned_trains_with_the_best_value_and_reports_it(tuned_root):
    res = run_cli(
        "run",
        "activation",
        *sets(*TINY, "optim.lr=tuned"),
        "--results-dir",
        str(tuned_root),
        "--wandb",
        "off",
        "--no-progress",
    )
    assert res.returncode == 0, res.stderr[-2000:]
    import json

    for arm in ("relu", "tanh"):
        best = best_params(tuned_root, "activation", "quick", arm)["optim.lr"]
        cfg = json.loads(next((tuned_root / "activation").glob(f"{arm}-s0-*/config.json")).read_text())
        assert cfg["config"]["optim"]["lr"] == best
    report = (tuned_root / "activation" / "_report-quick" / "report.md").read_text()
    assert "Tuned, arm `tanh`" in report and "validation" in report and "test set was not used" in report


def test_run_id_follows_the_tuned_value():
    path = find_experiment("activation")
    spec = read_spec(path)

    def ids(lr):
        return [
            c.run_id for c in expand(spec, "quick", {"optim.lr": "tuned"}, path, lambda arm, keys: {"optim.lr": lr})
        ]

    assert ids(0.01) == ids(0.01) and ids(0.01) != ids(0.02)


def test_missing_study_names_the_command(tmp_path):
    with pytest.raises(ExperimentError) as e:
        load_experiment("activation", overrides=["optim.lr=tuned"], results_root=tmp_path)
    msg = str(e.value)
    assert "activation.yaml" in msg and "'relu'" in msg
    assert "python -m ablate tune activation --arm relu --profile quick" in msg
    res = run_cli("run", "activation", "--set", "optim.lr=tuned", "--results-dir", str(tmp_path))
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1
    assert "ablate tune activation --arm relu" in res.stderr


@pytest.mark.slow
def test_journal_storage_for_shared_file_systems(tmp_path):
    study = tune(
        "activation", "relu", 1, overrides=TINY, results_root=tmp_path, storage="journal", echo=lambda *_: None
    )
    assert (tune_dir(tmp_path, "activation") / STORAGE_FILES["journal"]).is_file()
    assert choose_storage(tmp_path, "activation") == "journal"  # auto keeps using the existing one
    assert load_study(tmp_path, "activation", "quick", "relu").trials[0].params == study.trials[0].params


@pytest.mark.slow
def test_tune_rejects_unknown_arm_and_changed_budget(tuned_root):
    from ablate.errors import UserError

    with pytest.raises(UserError, match="no arm 'sigmoid'"):
        tune("activation", "sigmoid", 1, results_root=tuned_root)
    with pytest.raises(UserError, match="other settings"):
        tune("activation", "relu", 1, overrides=[*TINY, "train.max_steps=14"], results_root=tuned_root)


@pytest.mark.slow
def test_a_trial_over_seeds_scores_their_mean_and_the_study_keeps_its_seeds(tmp_path):
    tiny = [o for o in TINY if not o.startswith("seeds=")]
    study = tune("activation", "relu", 1, overrides=tiny, results_root=tmp_path, n_seeds=2, echo=lambda *_: None)
    trial = study.trials[0]
    per_seed = trial.user_attrs["seed_val_errors"]
    assert len(per_seed) == 2 and len(set(trial.user_attrs["run_ids"])) == 2
    assert trial.value == pytest.approx(sum(per_seed) / 2)
    assert study.user_attrs["budget"]["seeds"] == [0, 1]
    runs = list((tune_dir(tmp_path, "activation") / "quick" / "relu").rglob("summary.json"))
    assert len(runs) == 2
    # The same study with other seeds would mix two objectives: refused in one line.
    with pytest.raises(TuningError, match="--seeds"):
        tune("activation", "relu", 1, overrides=tiny, results_root=tmp_path, n_seeds=1, echo=lambda *_: None)
    with pytest.raises(TuningError, match=r"--seeds 31: profile 'quick' has 30 seeds \(0, 1, 2, .*, 29\)"):
        tune("activation", "relu", 1, overrides=tiny, results_root=tmp_path, n_seeds=31, echo=lambda *_: None)
    record = tuned_values(tmp_path, find_experiment("activation"), "activation", "quick", "relu", ["optim.lr"])
    assert "seeds 0, 1 (the mean of their validation errors)" in describe_tuned({"_tuned": {"relu": record}})[0]


def test_an_enqueued_point_names_every_tuned_key_inside_its_range():
    ranges, keys = {"optim.lr": (0.001, 0.5)}, ["optim.lr"]
    assert parse_point("optim.lr=0.03", keys, ranges, "k.yaml") == {"optim.lr": 0.03}
    for text, why in (
        ("lr=0.03", "KEY one of optim.lr"),
        ("optim.lr=fast", "is not a number"),
        ("optim.lr=0.9", r"outside k.yaml's range \[0.001, 0.5\]"),
    ):
        with pytest.raises(TuningError, match=why):
            parse_point(text, keys, ranges, "k.yaml")
    with pytest.raises(TuningError, match="give a value for optim.weight_decay"):
        parse_point("optim.lr=0.03", [*keys, "optim.weight_decay"], {**ranges, "optim.weight_decay": (1e-5, 1e-2)}, "k")


@pytest.mark.slow
def test_enqueued_points_are_the_first_trials_and_a_finished_one_is_not_run_again(tmp_path):
    quiet = {"results_root": tmp_path, "overrides": TINY, "echo": lambda *_: None}
    study = tune("activation", "relu", 2, enqueue=["optim.lr=0.02", "optim.lr=0.2"], **quiet)
    assert [t.params["optim.lr"] for t in study.trials] == [0.02, 0.2]
    study = tune("activation", "relu", 1, enqueue=["optim.lr=0.2"], **quiet)  # already finished: sampled instead
    assert len(study.trials) == 3 and study.trials[2].params["optim.lr"] not in (0.02, 0.2)


def test_the_pruner_waits_for_half_the_run():
    import optuna

    study = optuna.create_study(direction="minimize", pruner=median_pruner(600))
    for _ in range(3):  # three finished trials, good at every evaluation
        trial = study.ask()
        for step in (100, 200, 300, 400, 500, 600):
            trial.report(0.10, step)
        study.tell(trial, 0.10)
    late_starter = study.ask()
    for step in (100, 200):  # a higher learning rate's noisy start is not judged yet
        late_starter.report(0.90, step)
        assert not late_starter.should_prune()
    late_starter.report(0.90, 300)  # from step 300 of 600 on, it is
    assert late_starter.should_prune()


@pytest.mark.slow
def test_two_arms_tuned_at_once_open_a_fresh_sqlite_storage_without_a_race(tmp_path):
    """Two `tune` processes creating the study database at the same moment raced on the schema
    ("UNIQUE constraint failed: alembic_version"); the creation now holds a lock."""
    import subprocess
    import sys

    code = (
        "import sys; from ablate.studies import open_storage; open_storage(sys.argv[1], 'exp', 'sqlite'); print('ok')"
    )
    for attempt in range(3):
        root = tmp_path / f"r{attempt}"
        procs = [
            subprocess.Popen([sys.executable, "-c", code, str(root)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            for _ in range(4)
        ]
        outs = [p.communicate(timeout=120) for p in procs]
        assert all(p.returncode == 0 for p in procs), [err.decode()[-500:] for _, err in outs]
