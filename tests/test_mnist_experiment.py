"""experiments/mnist.yaml (seed 000's MNIST table) and the batchnorm `mnist` profile: the files
validate and their claims come out as hand-made numbers say (no training)."""

from __future__ import annotations

from ablate.experiment import load_experiment
from ablate.report.pipeline import analyze_frames
from ablate.verdicts.evaluate import HOLDS, REFUTED, UNRESOLVED
from tests.frames import by_id, frames

SEED_PARAMS = {"mnist_cnn": 206922, "lenet5_28": 44426, "simple_resnet": 56170}


def test_mnist_profiles_validate_on_full_mnist():
    for profile, seeds in (("cpu", 9), ("full", 9)):
        exp = load_experiment("mnist", profile)
        assert {c.config["data"]["name"] for c in exp.cells} == {"mnist"}
        assert {c.config["model"]["name"] for c in exp.cells} == set(SEED_PARAMS)
        assert len(exp.cells) == 3 * seeds and len({c.run_id for c in exp.cells}) == len(exp.cells)
    assert load_experiment("mnist", "cpu").spec["default_profile"] == "cpu"


def analyse_mnist(acc: dict[str, list[float]]):
    # eval_every 0 (the cpu profile: at the end only) has no curve grid for the hand-made frames
    exp = load_experiment("mnist", "cpu", ["seeds=[0,1,2]", "train.eval_every=430"])
    runs, curves = frames(exp, final={arm: [1 - a for a in v] for arm, v in acc.items()}, train_size=55000)
    runs["params"] = runs["cfg.model.name"].map(SEED_PARAMS)
    return analyze_frames(exp, runs, curves)


def test_mnist_seed_ordering_holds_and_table_sits_beside_the_seed():
    a = analyse_mnist(
        {
            "simple_resnet": [0.992, 0.993, 0.9925],
            "mnist_cnn": [0.990, 0.9905, 0.9898],
            "lenet5_28": [0.985, 0.986, 0.9855],
        }
    )
    v = by_id(a)
    assert {x.outcome for x in v.values()} == {HOLDS}, [x.line() for x in a.verdicts]
    assert v["cnn-has-most-parameters"].scale == "exact"
    md = a.extra_table[1]
    assert "| simple_resnet | 3 | 99.25" in md and "~99.2" in md and "206,922 | 206,922" in md
    assert "99.05" in md  # LeCun et al.'s 0.95% test error, beside LeNet-5
    assert any("sees 15x15 pixels" in n for n in a.notes)


def test_mnist_reversed_ordering_is_refuted_and_noise_unresolved():
    v = by_id(
        analyse_mnist(
            {
                "simple_resnet": [0.980, 0.981, 0.9805],
                "mnist_cnn": [0.990, 0.9905, 0.9898],
                "lenet5_28": [0.985, 0.995, 0.975],
            }
        )
    )
    assert v["resnet-beats-cnn"].outcome == REFUTED
    assert v["cnn-beats-lenet"].outcome == UNRESOLVED


def test_batchnorm_mnist_profile_is_part_a_on_full_mnist_with_its_claim():
    exp = load_experiment("batchnorm", "mnist")
    assert {c.arm for c in exp.cells} == {"mlp", "mlp-bn"} and exp.schedule.looks == [3, 6] and len(exp.cells) == 12
    cfg = exp.cells[0].config
    assert cfg["data"]["name"] == "mnist" and cfg["data"]["batch_size"] == 60 and cfg["train"]["max_steps"] == 50000
    hits = {"mlp": [9000, 9500, 10000], "mlp-bn": [1500, 2000, 1500]}
    v = by_id(analyze_frames(exp, *frames(exp, final={"mlp": [0.03] * 3, "mlp-bn": [0.02] * 3}, hits=hits)))
    assert v["faster-mlp-mnist"].outcome == HOLDS and "faster-mlp" not in v
