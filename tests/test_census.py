"""The claims table: the verdict rule, the measured counts of the seeds' printed figures, the
command's output formats, and the zoo figure."""

from __future__ import annotations

import dataclasses
import json
import math
from argparse import Namespace

import pytest

from ablate.census.catalog import STATEMENTS
from ablate.census.core import ABOUT, EXACT, ROUNDED, Between, evaluate, relative_error, verdict
from ablate.census.measure import zoo_gmacs, zoo_params

BY_ID = {c.id: c for c in STATEMENTS}


# --- the verdict rule ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "expected,measured,tol,want",
    [
        (44426, 44426, EXACT, "holds"),
        (44426, 44427, EXACT, "approximately"),
        (55, 54, EXACT, "refuted"),  # 1.8% off an exact figure
        (61e6, 60_965_224, ROUNDED, "holds"),
        (11.7e6, 11_166_912, ROUNDED, "approximately"),  # 4.6%
        (4.1, 8.18, ROUNDED, "refuted"),
        (60000, 54000, ABOUT, "holds"),  # "about 60,000": one significant digit
        (100, 89.4, ABOUT, "approximately"),  # "almost all" = 100%, holds from 90%
        (Between(8, 9), 8.56, ROUNDED, "holds"),
        (Between(8, 9), 7.9, ROUNDED, "holds"),  # 1.25% below the range: within rounding
        (Between(8, 9), 7.5, ROUNDED, "approximately"),  # 6.25% below
        (Between(8, 9), 4.0, ROUNDED, "refuted"),
        ((6, 24, 24), (6, 24, 24), EXACT, "holds"),
        ((6, 24, 24), (6, 28, 28), EXACT, "refuted"),
        ((6, 24, 24), (6, 24), EXACT, "refuted"),
    ],
)
def test_verdict_rule(expected, measured, tol, want):
    assert verdict(expected, measured, tol.holds, tol.approx) == want


def test_relative_error_edges():
    assert relative_error(0, 0) == 0.0
    assert relative_error(0, 1) == math.inf
    assert relative_error(Between(0, 10), 3.8) == 0.0


def test_deliberately_wrong_expected_figure_is_refuted():
    for cid, wrong in (
        ("lenet28_params", 50_000),
        ("vgg16_138m", 100e6),
        ("resnet50_25.6m", 40e6),
        ("bottleneck_5x5_ratio", 3),
    ):
        row = evaluate(dataclasses.replace(BY_ID[cid], expected=wrong))
        assert row.verdict == "refuted", (cid, row.measured)
        assert evaluate(BY_ID[cid]).verdict == "holds"


# --- the measured counts of the seeds' printed figures (exact, from our built models) -----------

PRINTED_COUNTS = {
    "lenet5": 60_000,  # LeCun et al. 1998; seeds: "60K", "about 60,000"
    "lenet5_28": 44_426,  # seed 000's table
    "mnist_cnn": 206_922,  # inferred to match seed 000's table exactly
    "simple_resnet": 56_170,  # inferred to match seed 000's table exactly
    "alexnet": 60_965_224,  # "61M", "roughly 60 million"
    "alexnet_onetower": 61_100_840,
    "vgg16": 138_357_544,  # "138M"
    "googlenet": 6_998_552,  # "6.8M" (approximately)
    "googlenet_torchvision": 6_624_904,
    "resnet18": 11_689_512,  # "11.7 M"
    "resnet34": 21_797_672,
    "resnet50": 25_557_032,  # "25.6 million"
    "resnet152": 60_192_808,
    "densenet121": 7_978_856,  # "8 million"
    "efficientnet_b0": 5_288_548,  # "5.3 million"
    "efficientnet_b7": 66_347_960,  # "66 million"
    "convnext_tiny": 28_589_128,
    "mobilenet_v1": 4_231_976,  # Howard et al.: 4.2M
    "cifar_resnet20": 269_722,  # He et al. Table 6: 0.27M
    "cifar_resnet56": 853_018,  # 0.85M
    "cifar_resnet110": 1_727_962,  # 1.7M
    "cifar_resnet1202": 19_421_274,  # 19.4M
}


@pytest.mark.parametrize("name,count", sorted(PRINTED_COUNTS.items()))
def test_measured_parameter_counts(name, count):
    assert zoo_params(name) == count


def test_measured_compute():
    assert zoo_gmacs("resnet50") == pytest.approx(4.089, abs=0.001)  # GMACs, V1.5
    assert zoo_gmacs("resnet50_v1") == pytest.approx(3.858, abs=0.001)  # He et al.'s "3.8"
    assert zoo_gmacs("mobilenet_v1") == pytest.approx(0.569, abs=0.001)  # Howard et al.: 569M
    assert zoo_gmacs("vgg16") == pytest.approx(15.47, abs=0.01)


@pytest.mark.parametrize(
    "cid,measured,want",
    [
        ("alexnet_conv1_35k", 34_944, "holds"),
        ("alexnet_fc6_37.7m", 37_752_832, "holds"),
        ("alexnet_conv1_55", 54, "refuted"),
        ("resnet18_bn_params", 9_600, "holds"),
        ("naive_5x5_params", 1_638_400, "holds"),
        ("bottleneck_5x5_params", 135_168, "holds"),
        ("rf_two_3x3", 5, "holds"),
        ("rf_three_3x3", 7, "holds"),
        ("googlenet_depth", 22, "holds"),
        ("resnet152_depth", 152, "holds"),
        ("two_3x3_per_c2", (18, 25), "holds"),
        ("three_3x3_per_c2", (27, 49), "holds"),
        ("resnet50_stages", (3, 4, 6, 3), "holds"),
    ],
)
def test_claim_rows(cid, measured, want):
    row = evaluate(BY_ID[cid])
    assert row.measured == measured and row.verdict == want


# --- the whole table -----------------------------------------------------------------------------

REQUIRED = [
    "lenet5_60k",
    "lenet28_params",
    "mnist_cnn_params",
    "simple_resnet_params",
    "alexnet_61m",
    "alexnet_conv1_35k",
    "alexnet_fc6_37.7m",
    "vgg16_138m",
    "vgg16_fc_params",
    "googlenet_6.8m",
    "resnet18_conv_11.7m",
    "resnet18_bn_params",
    "resnet50_25.6m",
    "resnet50_4.1gflops",
    "resnet152_vs_34_budget",
    "densenet121_8m",
    "efficientnet_b0_5.3m",
    "efficientnet_b7_66m",
    "convnext_equal_compute",
    "cifar_resnet110_params",
    "two_3x3_params_pct",
    "three_3x3_params_pct",
    "rf_two_3x3",
    "bottleneck_5x5_ratio",
    "resnet_block_17x",
    "mobilenet_layer_8_9x",
    "mobilenet_network_8_9x",
    "efficientnet_doubling_phi",
    "alexnet_conv1_55",
    "alexnet_conv_compute",
    "vgg16_conv_compute",
]


def test_catalog_covers_the_issue_and_ids_are_unique():
    ids = [c.id for c in STATEMENTS]
    assert len(ids) == len(set(ids))
    assert not set(REQUIRED) - set(ids)
    assert {c.source for c in STATEMENTS} == {"000_d3f32fda5f8ed65b.txt", "001_24847cd6ab689f07.txt"}


@pytest.mark.slow
def test_every_claim_evaluates_and_json_is_plain():
    rows = [evaluate(c) for c in STATEMENTS]
    verdicts = {r.id: r.verdict for r in rows}
    # Every statement measures a finite figure, and its verdict is the band its relative error falls
    # in under the statement's own tolerance (a NaN would come out "refuted" without a word).
    for c, r in zip(STATEMENTS, rows):
        figures = r.measured if isinstance(r.measured, tuple) else (r.measured,)
        assert figures and all(math.isfinite(x) for x in figures), (c.id, r.measured)
        err = relative_error(c.expected, r.measured)
        band = "holds" if err <= c.tol.holds else "approximately" if err <= c.tol.approx else "refuted"
        assert r.verdict == band, (c.id, r.measured, err)
    # The seed errors this table exists to catch.
    for cid in (
        "resnet50_4.1gflops",
        "resnet152_vs_34_budget",
        "efficientnet_doubling_phi",
        "alexnet_conv1_55",
        "vgg_width_doubles",
    ):
        assert verdicts[cid] == "refuted", cid
    assert verdicts["googlenet_6.8m"] == "approximately"
    data = json.loads(json.dumps([r.as_json() for r in rows]))
    for obj in data:
        assert set(obj) == {"id", "source", "statement", "expected", "measured", "unit", "verdict", "note", "compared"}
        assert isinstance(obj["measured"], (int, float, list))
        if obj["unit"] == "parameters" and not isinstance(obj["measured"], list):
            assert isinstance(obj["measured"], int)  # counts are exact integers
    compared = {d["id"]: d["compared"] for d in data}
    for cid, row in {r.id: r for r in rows}.items():  # a ratio carries both numbers it divides
        if row.unit == "×" and set(compared[cid]) >= {"a", "b"}:
            assert compared[cid]["a"] / compared[cid]["b"] == pytest.approx(row.measured, rel=1e-5)
    assert set(compared["alexnet_vs_lenet_1000x"]) == {"a", "b"} and compared["alexnet_vs_lenet_1000x"]["b"] < 1e5
    notes = {r.id: r.note for r in rows}
    assert "8.178" in notes["resnet50_4.1gflops"] or "8.18" in notes["resnet50_4.1gflops"]


# --- the command ---------------------------------------------------------------------------------


def _args(**kw):
    return Namespace(**{"format": None, "only": None, "plot": None, **kw})


def test_cli_json_markdown_and_table(capsys):
    from ablate.commands import census as cli

    assert cli.main(_args(format="json", only="lenet28")) == 0
    data = json.loads(capsys.readouterr().out)["statements"]
    assert {d["id"] for d in data} >= {"lenet28_params", "lenet28_conv1_shape"}
    params = next(d for d in data if d["id"] == "lenet28_params")
    assert params["measured"] == 44426 and params["verdict"] == "holds"
    assert cli.main(_args(format="md", only="lenet28_params")) == 0
    md = capsys.readouterr().out
    assert md.startswith("| id | source | statement |") and "44,426" in md
    assert cli.main(_args(only="lenet28_params")) == 0
    assert "1 statements: 1 holds" in capsys.readouterr().out


def test_cli_unknown_filter_is_a_user_error():
    from ablate.commands import census as cli
    from ablate.errors import UserError

    with pytest.raises(UserError):
        cli.main(_args(only="no-such-claim"))


def test_cli_registered_and_cheap_to_import():
    import subprocess
    import sys

    from ablate.cli import COMMANDS

    assert COMMANDS["census"] == "ablate.commands.census"
    code = "import sys, ablate.commands.census; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


# --- the figure ----------------------------------------------------------------------------------


def test_zoo_figure_from_records(tmp_path):
    from ablate.census.zoo import split_frame, zoo_figure, zoo_frame

    zoo = zoo_frame(
        [
            {"model": "alexnet", "params": 6.1e7, "gmacs": 0.72},
            {"model": "resnet50", "params": 2.6e7, "gmacs": 4.1},
            {"model": "cifar_resnet20", "params": 2.7e5, "gmacs": 0.041},
        ]
    )
    assert list(zoo["family"]) == ["cifar_resnet", "resnet", "alexnet"]
    split = split_frame(
        [{"model": "alexnet", "conv_params": 2.3e6, "fc_params": 5.86e7, "conv_gmacs": 0.666, "fc_gmacs": 0.0586}]
    )
    fc = split[split["part"] == "FC layers"].iloc[0]
    assert fc["pct_params"] == pytest.approx(96.2, abs=0.1)
    assert fc["pct_gmacs"] == pytest.approx(8.1, abs=0.1)
    fig = zoo_figure(zoo, split)
    fig.savefig(tmp_path / "zoo.png")
    assert (tmp_path / "zoo.png").stat().st_size > 10_000


@pytest.mark.slow
def test_plot_of_the_whole_zoo(tmp_path):
    from ablate.commands.census import save_plot

    save_plot(str(tmp_path / "zoo.png"))
    assert (tmp_path / "zoo.png").stat().st_size > 50_000


@pytest.mark.slow
def test_zoo_table_has_every_model_of_the_seeds_with_params_and_macs():
    from ablate.commands.census import zoo_records

    zoo = {z["model"]: z for z in zoo_records()[0]}
    assert {"lenet5", "alexnet", "vgg16", "googlenet", "resnet50", "convnext_tiny", "efficientnet_b7"} <= set(zoo)
    assert zoo["resnet50"]["params"] == 25_557_032 and zoo["resnet50"]["gmacs"] == pytest.approx(4.09, abs=0.01)
    assert all(isinstance(z["params"], int) and z["gmacs"] > 0 for z in zoo.values())
