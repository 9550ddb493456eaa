"""Experiment files: expansion (pure, stable order, stable ids) and validation errors."""

from pathlib import Path

import pytest
import yaml

from ablate.errors import ExperimentError
from ablate.experiment import load_experiment, make_run_id
from tests.helpers import run_cli


def write(tmp_path: Path, spec: dict, name: str = "exp.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def minimal(**extra) -> dict:
    spec = {
        "base": {"model.name": "cifar_resnet", "model.width": 4, "data.name": "digits"},
        "arms": {"plain": {"model.shortcut": "none"}, "res": {"model.shortcut": "A"}},
        "seeds": [0, 1],
        "profiles": {"quick": {"set": {"train.max_steps": 5}}, "other": {"seeds": [3]}},
    }
    spec.update(extra)
    return spec


def test_expansion_order_and_ids_are_stable(tmp_path):
    path = write(tmp_path, minimal())
    a, b = load_experiment(str(path)), load_experiment(str(path))
    assert [(c.arm, c.seed) for c in a.cells] == [("plain", 0), ("plain", 1), ("res", 0), ("res", 1)]
    assert [c.index for c in a.cells] == [0, 1, 2, 3]
    assert [c.run_id for c in a.cells] == [c.run_id for c in b.cells]
    assert len({c.run_id for c in a.cells}) == 4
    assert a.cells[0].config["train"]["max_steps"] == 5 and a.profile == "quick"


def test_run_id_changes_with_any_setting(tmp_path):
    path = write(tmp_path, minimal())
    base = load_experiment(str(path)).cells[0]
    changed = load_experiment(str(path), overrides=["optim.lr=0.05"]).cells[0]
    assert changed.run_id != base.run_id and changed.run_id.startswith("plain-s0-")
    # A setting of every section, a nested list and a value of another type: each its own run id.
    settings = [
        "model.width=8",
        "data.batch_size=64",
        "optim.momentum=0.8",
        "schedule.milestones=[3]",
        "train.max_steps=6",
        "optim.nesterov=true",
    ]
    ids = [load_experiment(str(path), overrides=[s]).cells[0].run_id for s in settings]
    assert len({base.run_id, changed.run_id, *ids}) == len(settings) + 2, ids
    assert make_run_id("plain", 0, {"x": {"y": 1}}) != make_run_id("plain", 0, {"x": {"y": 2}})


def test_precedence_base_profile_arm_cli(tmp_path):
    spec = minimal()
    spec["profiles"]["quick"]["set"]["optim.lr"] = 0.2
    spec["profiles"]["quick"]["arms"] = {"res": {"optim.lr": 0.3}}
    path = write(tmp_path, spec)
    cells = load_experiment(str(path)).cells
    assert [c.config["optim"]["lr"] for c in cells] == [0.2, 0.2, 0.3, 0.3]
    cli = load_experiment(str(path), overrides=["optim.lr=0.01", "seeds=[7]"]).cells
    assert [(c.seed, c.config["optim"]["lr"]) for c in cli] == [(7, 0.01), (7, 0.01)]
    assert [c.seed for c in load_experiment(str(path), "other").cells] == [3, 3]


@pytest.mark.parametrize(
    "mutate, fragments",
    [
        (lambda s: s["base"].update({"optim.lrr": 0.1}), ["exp.yaml", "optim.lrr", "optim.lr"]),
        (lambda s: s["base"].update({"optim.lr": "fast"}), ["exp.yaml", "optim.lr", "float"]),
        (lambda s: s["base"].update({"model.name": "resnet9000"}), ["exp.yaml", "model.name", "cifar_resnet20"]),
        (
            lambda s: s["base"].update({"data.name": "imagenet"}),
            ["exp.yaml", "data.name", "cifar10, digits, imagefolder, mnist"],
        ),
        (
            lambda s: s["arms"]["res"].update({"model.shortcutt": "A"}),
            ["arms.res", "model.shortcutt", "model.shortcut"],
        ),
        (lambda s: s["base"].update({"data.augment": "mixup"}), ["data.augment", "crop_flip"]),
        (
            lambda s: s["base"].update({"trainer.max_steps": 3}),
            ["trainer", "valid: model, data, optim, schedule, train"],
        ),
        (lambda s: s.update({"armz": {}}), ["exp.yaml", "armz", "arms"]),
        (lambda s: s["profiles"]["quick"].update({"arms": {"nope": {}}}), ["profiles.quick", "nope", "plain, res"]),
        (lambda s: s.update({"seeds": ["a"]}), ["seeds", "integers"]),
    ],
)
def test_validation_errors_name_file_key_and_choices(tmp_path, mutate, fragments):
    spec = minimal()
    mutate(spec)
    path = write(tmp_path, spec)
    with pytest.raises(ExperimentError) as e:
        load_experiment(str(path))
    msg = str(e.value)
    assert "\n" not in msg
    for fragment in fragments:
        assert fragment in msg, (fragment, msg)


def test_unknown_profile_and_experiment(tmp_path):
    path = write(tmp_path, minimal())
    with pytest.raises(ExperimentError, match="unknown profile 'gpu'; valid: quick, other"):
        load_experiment(str(path), "gpu")
    with pytest.raises(ExperimentError, match="unknown experiment 'degradashun'; valid: .*degradation"):
        load_experiment("degradashun")


def test_bad_set_syntax():
    with pytest.raises(ExperimentError, match="expected key=value"):
        load_experiment("degradation", overrides=["optim.lr"])


def test_shipped_experiments_validate():
    for profile in ("quick", "paper"):
        exp = load_experiment("degradation", profile)
        assert exp.cells and len({c.run_id for c in exp.cells}) == len(exp.cells)
    paper = load_experiment("degradation", "paper")
    c = paper.cells[0].config
    assert (c["data"]["name"], c["data"]["batch_size"], c["data"]["val_size"]) == ("cifar10", 128, 5000)
    assert c["schedule"]["milestones"] == [32000, 48000] and c["train"]["max_steps"] == 64000
    r110 = next(x for x in paper.cells if x.arm == "residual-110").config["schedule"]
    assert (r110["warmup_steps"], r110["warmup_lr"]) == (400, 0.01)
    assert paper.seeds == list(range(9)) and paper.schedule.looks == [3, 5, 7, 9]


def test_cli_bad_key_is_one_line_and_trains_nothing(tmp_path):
    res = run_cli("run", "degradation", "--set", "optim.momentun=0.5", "--results-dir", str(tmp_path / "r"))
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "degradation.yaml" in lines[0] and "optim.momentun" in lines[0]
    assert "optim.momentum" in lines[0]
    assert not (tmp_path / "r").exists()


def test_cli_help_lists_commands():
    res = run_cli("--help")
    assert res.returncode == 0
    for cmd in ("list", "run", "analyze"):
        assert cmd in res.stdout


def test_a_key_added_to_the_defaults_later_keeps_every_run_id_until_a_run_sets_it(monkeypatch):
    from ablate import config as C

    before = [c.run_id for c in load_experiment("degradation").cells]
    monkeypatch.setitem(C.DEFAULTS, "train", {**C.DEFAULTS["train"], "new_knob": False})
    monkeypatch.setattr(C, "ADDED_KEYS", (*C.ADDED_KEYS, "train.new_knob"))
    assert [c.run_id for c in load_experiment("degradation").cells] == before
    changed = [c.run_id for c in load_experiment("degradation", overrides=["train.new_knob=true"]).cells]
    assert all(a != b for a, b in zip(changed, before))
    monkeypatch.setattr(C, "ADDED_KEYS", ())  # without the rule, the new key would change every id
    assert all(a != b for a, b in zip((c.run_id for c in load_experiment("degradation").cells), before))
