"""Claims no run could ever judge are refused before anything trains, in one line naming the file,
the claim and why; a claim about cells of another profile stays a note."""

from __future__ import annotations

import pytest
import yaml

from ablate.cli import main
from ablate.experiment import load_experiment
from ablate.verdicts.claims import ClaimError
from tests.faults import TINY_NET

SPEC = {
    "base": {
        **TINY_NET,
        "data": {"name": "digits", "batch_size": 32},
        "optim": {"name": "sgd", "lr": 0.1},
        "train": {"max_steps": 12, "log_every": 2, "eval_every": 6, "checkpoint_every": 0},
    },
    "arms": {
        "plain-8": {"model.shortcut": "none"},
        "residual-8": {"model.shortcut": "A"},
        "residual-14": {"model.depth": 14, "model.shortcut": "A"},
    },
    "seeds": [0, 1],
    "profiles": {"quick": {"only_arms": ["plain-8", "residual-8"]}, "deep": {}},
}


def load(tmp_path, *claims, spec=SPEC, profile=None, overrides=()):
    path = tmp_path / "claimgrid.yaml"
    path.write_text(yaml.safe_dump({**spec, "claims": list(claims)}, sort_keys=False))
    return load_experiment(str(path), profile, overrides)


def claim(a, b, **kw):
    return {"id": "c1", "metric": "final_train_error", "a": a, "b": b, "expect": "less", **kw}


def refused(tmp_path, *claims, **kw) -> str:
    with pytest.raises(ClaimError) as e:
        load(tmp_path, *claims, **kw)
    message = str(e.value)
    assert "\n" not in message and "claimgrid.yaml: claims[0] (c1)" in message, message
    return message


def test_a_selector_value_no_arm_has_is_refused_naming_the_values_there_are(tmp_path):
    msg = refused(tmp_path, claim({"optim.lr": 0.5}, "plain-8"))
    assert "key 'a': {optim.lr: 0.5} selects no cell of any profile" in msg
    assert "optim.lr is 0.1" in msg


def test_an_arm_that_no_profile_runs_is_refused(tmp_path):
    spec = {**SPEC, "profiles": {"quick": {"only_arms": ["plain-8", "residual-8"]}}}
    msg = refused(tmp_path, claim("plain-8", "residual-14"), spec=spec)
    assert "key 'b': residual-14 selects no cell of any profile; the arms of its profiles: plain-8, residual-8" in msg


def test_an_arm_against_itself_is_refused(tmp_path):
    msg = refused(tmp_path, claim("plain-8", {"model.shortcut": "none"}))
    assert "select the same cells in profile 'quick' (2 runs)" in msg and "nothing to test" in msg


def test_sides_that_are_the_same_cells_in_one_profile_are_refused_unless_the_claim_names_its_profiles(tmp_path):
    # In `quick` the residual arms are residual-8 alone; in `deep` residual-14 too.
    msg = refused(tmp_path, claim({"model.shortcut": "A"}, "residual-8"))
    assert "select the same cells in profile 'quick' (2 runs)" in msg and "profiles:" in msg
    load(tmp_path, claim({"model.shortcut": "A"}, "residual-8", profiles=["deep"]), profile="deep")


def test_sides_that_never_meet_in_one_profile_are_refused(tmp_path):
    spec = {
        **SPEC,
        "profiles": {"quick": {"only_arms": ["plain-8"]}, "deep": {"only_arms": ["residual-14"]}},
    }
    msg = refused(tmp_path, claim("plain-8", "residual-14"), spec=spec)
    assert "never select cells of one profile" in msg


def test_a_claim_about_cells_of_another_profile_only_loads_and_stays_a_note(tmp_path):
    exp = load(tmp_path, claim("residual-14", "residual-8"), profile="quick")
    assert [c.id for c in exp.claims] == ["c1"]  # the analysis of `quick` lists it as about another grid


def test_a_claim_limited_to_a_profile_where_a_side_selects_nothing_is_refused(tmp_path):
    msg = refused(tmp_path, claim("residual-14", "residual-8", profiles=["quick"]))
    assert "selects no cell of the profiles it is about (quick)" in msg


def test_a_training_curve_metric_without_training_records_is_refused(tmp_path):
    spec = {**SPEC, "base": {**SPEC["base"], "train": {**SPEC["base"]["train"], "log_every": 100}}}
    msg = refused(tmp_path, claim("plain-8", "residual-8", metric="final_train_error_running"), spec=spec)
    assert "read from the training records" in msg
    curve = {"first_step": "train/error", "at_most": 0.5}
    assert "read from the training records" in refused(
        tmp_path, claim("plain-8", "residual-8", metric=curve), spec=spec
    )
    load(tmp_path, claim("plain-8", "residual-8", metric={"first_step": "val/error", "at_most": 0.5}), spec=spec)


def test_a_tuned_value_matches_any_selector_and_is_not_looked_up_for_other_profiles(tmp_path):
    spec = {
        **SPEC,
        "profiles": {
            "quick": {"only_arms": ["plain-8", "residual-8"]},
            "tuned": {"set": {"optim.lr": "tuned"}},  # no study exists: expanding it must not look one up
        },
    }
    exp = load(tmp_path, claim({"optim.lr": 0.05, "model.depth": 14}, "plain-8"), spec=spec, profile="quick")
    assert exp.claims[0].id == "c1"  # in `tuned`, residual-14's rate may turn out 0.05


def test_the_default_claims_are_not_checked(tmp_path):
    spec = {**SPEC, "profiles": {"quick": {"only_arms": ["plain-8", "residual-8"]}}}
    path = tmp_path / "noclaims.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    assert [c.id for c in load_experiment(str(path)).claims] == ["residual-8-vs-plain-8", "residual-14-vs-plain-8"]


def test_cli_refuses_an_unjudgeable_claim_in_one_line_before_any_run_folder(tmp_path, capsys):
    path = tmp_path / "claimgrid.yaml"
    path.write_text(yaml.safe_dump({**SPEC, "claims": [claim("plain-8", "plain-8")]}, sort_keys=False))
    code = main(["run", str(path), "--results-dir", str(tmp_path / "r"), "--wandb", "off"])
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert code == 2 and len(lines) == 1, lines
    assert "claims[0] (c1)" in lines[0] and "select the same cells" in lines[0]
    assert not (tmp_path / "r").exists()
