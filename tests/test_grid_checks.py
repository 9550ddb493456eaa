"""Each class of bad input of issue 11 is refused with one line before any run folder exists."""

import pytest
import yaml

from ablate import grid_checks
from ablate.errors import ExperimentError, UserError
from ablate.experiment import load_experiment
from tests.helpers import run_cli

SPEC = {
    "base": {
        "model.name": "cifar_resnet",
        "model.width": 4,
        "model.depth": 8,
        "data": {"name": "digits", "batch_size": 32},
        "train": {"max_steps": 20},
    },
    "arms": {"plain": {"model.shortcut": "none"}, "res": {}},
    "profiles": {"tiny": {}},
}


def check(tmp_path, arm_overrides=None, text=None, name="exp"):
    path = tmp_path / f"{name}.yaml"
    spec = {**SPEC, "arms": {**SPEC["arms"], **(arm_overrides or {})}}
    path.write_text(text if text is not None else yaml.safe_dump(spec, sort_keys=False))
    root = tmp_path / "results"
    try:
        exp = load_experiment(str(path), results_root=root)
        grid_checks.preflight(exp, root)
    finally:
        assert not (root.exists() and any(root.iterdir()))
    return exp


@pytest.mark.parametrize(
    "arm,expect",
    [
        ({"model.depth": 21}, r"arm 'bad': model 'cifar_resnet' cannot be built .*depth must be 6n\+2"),
        ({"model.shortcut": "C"}, r"key 'model.shortcut': 'C' is not one of A, B, none"),
        ({"model.width": 0}, r"key 'model.width': 0 is out of range; allowed: >= 1"),
        ({"data.batch_size": -1}, r"key 'data.batch_size': -1 is out of range; allowed: >= 1"),
        ({"optim.lr": -0.1}, r"key 'optim.lr': -0.1 is out of range; allowed: > 0"),
        (
            {"data.val_size": 5000},
            r"arm 'bad': key 'data.val_size': 5000 holds out 5000 of the 1438 training images of digits; allowed",
        ),
        ({"train.max_steps": 0}, r"key 'train.max_steps': 0 is out of range; allowed: >= 1"),
        (
            {"data.batch_size": 2000},
            r"arm 'bad': key 'data.batch_size': 2000 is more than the 1294 images of the training split",
        ),
        (
            {"schedule.milestones": [10, 30]},
            r"key 'schedule.milestones': \[10, 30\]; allowed: increasing steps within \(0, train.max_steps=20\]",
        ),
        (
            {"schedule.warmup_steps": 20},
            r"key 'schedule.warmup_steps': 20 leaves no step after warm-up; allowed: 0..19",
        ),
        ({"train.label_smoothing": 1.0}, r"key 'train.label_smoothing': 1.0 is out of range; allowed: >= 0 and < 1"),
        ({"optim.lr": float("nan")}, r"key 'optim.lr': nan is out of range"),
        ({"data.train_subset": 5000}, r"key 'data.train_subset': 5000 is more than the 1438 training images"),
        ({"seed": 1}, r"unknown key 'seed'|unknown section 'seed'"),
    ],
)
def test_bad_values_are_one_line_errors_naming_file_arm_and_key(tmp_path, arm, expect):
    with pytest.raises(ExperimentError, match=expect) as e:
        check(tmp_path, {"bad": arm})
    assert "\n" not in str(e.value) and "exp.yaml" in str(e.value)


def test_yaml_syntax_errors_give_file_line_column(tmp_path):
    with pytest.raises(ExperimentError, match=r"exp.yaml:3:15: expected ',' or ']'") as e:
        check(tmp_path, text="arms:\n  a: {}\n  b: {x: [1, 2}\nprofiles: {q: {}}\n")
    assert "\n" not in str(e.value)
    with pytest.raises(ExperimentError, match=r"exp.yaml:3:3: key 'a' is given twice"):
        check(tmp_path, text="arms:\n  a: {}\n  a: {}\nprofiles: {q: {}}\n")


@pytest.mark.parametrize("arm", ["a;rm -rf x$(id)", "../up", "a/b", ".hidden", "-x", ""])
def test_arm_names_follow_the_name_rule(tmp_path, arm):
    with pytest.raises(ExperimentError, match=r"arm name .* is not allowed; names match \[A-Za-z0-9\]"):
        check(tmp_path, {arm: {}})


def test_experiment_names_follow_the_name_rule(tmp_path):
    with pytest.raises(ExperimentError, match=r"experiment name 'my exp' is not allowed"):
        check(tmp_path, name="my exp")


def test_unwritable_or_full_results_folder_is_one_error(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(UserError, match=r"results folder .* is not writable"):
        grid_checks.check_results_root(blocker / "results")
    import shutil
    from collections import namedtuple

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(10**9, 10**9 - 2**20, 2**20))
    with pytest.raises(UserError, match=r"has 1.0 MiB free; need at least 16.0 MiB: free space"):
        grid_checks.check_results_root(tmp_path / "ok")


def test_free_space_is_sized_from_the_runs_still_to_train(tmp_path, monkeypatch):
    """Each pending run needs its checkpoints (the kept ones and the one being saved) and metrics:
    a wider net needs more, a finished run nothing, no checkpoints only the metrics."""
    import shutil
    from collections import namedtuple

    exp = check(tmp_path)  # 2 arms x 1 seed, 4-channel ResNet-8, checkpoints every 100 steps
    root = tmp_path / "results"
    need, pending = grid_checks.needed_bytes(exp, root)
    per_run = grid_checks.run_bytes(exp.cells[0].config)
    assert pending == 2 and need == grid_checks.RESERVE_BYTES + 2 * per_run
    assert per_run == 3 * grid_checks.checkpoint_bytes(exp.cells[0].config) + grid_checks.RECORD_BYTES * 4
    wide = load_experiment(str(tmp_path / "exp.yaml"), overrides=["model.width=64"])
    assert grid_checks.checkpoint_bytes(wide.cells[0].config) > 100 * grid_checks.checkpoint_bytes(exp.cells[0].config)
    none = load_experiment(str(tmp_path / "exp.yaml"), overrides=["train.checkpoint_every=0"])
    assert grid_checks.run_bytes(none.cells[0].config) == grid_checks.RECORD_BYTES * 4

    usage = namedtuple("usage", "total used free")
    free = grid_checks.RESERVE_BYTES + per_run  # room for one of the two runs
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(10**9, 10**9 - free, free))
    with pytest.raises(UserError, match=r"need at least 16.\d MiB for the 2 runs still to train"):
        grid_checks.preflight(exp, root)
    done = root / exp.name / exp.cells[0].run_id
    done.mkdir(parents=True)
    (done / "summary.json").write_text("{}")
    grid_checks.preflight(exp, root)  # one run left: it fits


def test_cli_refuses_a_bad_file_in_one_line_without_a_run_folder(tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump({**SPEC, "arms": {"bad": {"model.depth": 9}}}))
    res = run_cli("run", str(path), "--results-dir", str(tmp_path / "r"), "--wandb", "off")
    assert res.returncode == 2
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "cannot be built" in lines[0] and "arm 'bad'" in lines[0], res.stderr
    assert not (tmp_path / "r").exists()
