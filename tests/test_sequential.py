"""Sequential verdicts: seed schedules in the experiment file, α spending over the looks, the replay
that decides (ablate.verdicts.sequential), the rounds of `run` and `submit` on stored runs, and
`analyze` reproducing them. The simulations call the engine itself (tests/sequential_sim.py)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import yaml

from ablate import results
from ablate.errors import ExperimentError
from ablate.experiment import load_experiment
from ablate.report.judging import next_round
from ablate.report.pipeline import analyze
from ablate.verdicts import sequential, stats
from ablate.verdicts.evaluate import HOLDS, UNRESOLVED, judge
from ablate.verdicts.sequential import Schedule, replay
from tests import sequential_sim as sim
from tests.helpers import TINY_BASE, run_cli

SCHEDULES = [(3, 1, 10), (3, 2, 15), (5, 5, 30)]


# ----------------------------------------------------------------------------- the schedule
def test_looks_and_their_levels_are_fixed_by_the_schedule_alone():
    s = Schedule(3, 2, 15)
    assert s.looks == [3, 5, 7, 9, 11, 13, 15]
    assert Schedule(3, 2, 10).looks == [3, 5, 7, 9, 10]  # the last look at max
    for sch in SCHEDULES:
        alphas = Schedule(*sch).alphas()
        assert sum(alphas) == pytest.approx(stats.ALPHA) and alphas[-1] == pytest.approx(0.75 * stats.ALPHA)
        assert all(a > 0 for a in alphas) and alphas[:-1] == sorted(alphas[:-1])  # little early, more later
    assert Schedule(4, 1, 4).alphas() == [stats.ALPHA]  # one look: a fixed design
    assert Schedule(3, 2, 15).capped(6) == Schedule(3, 2, 6) and Schedule(3, 2, 15).capped(2).looks == [2]


def write_yaml(tmp_path, seeds, claims=None, name="seq.yaml"):
    spec = {
        "description": "a sequential test grid",
        "base": TINY_BASE,
        "arms": {"x": {"model.shortcut": "none"}, "y": {"model.shortcut": "A"}, "z": {"model.depth": 14}},
        "seeds": seeds,
        "profiles": {"quick": {}},
        "claims": claims
        or [
            {"id": "xy", "metric": "final_train_error", "a": "x", "b": "y", "expect": "less"},
            {"id": "xz", "metric": "final_train_error", "a": "x", "b": "z", "expect": "less"},
        ],
    }
    path = tmp_path / name
    path.write_text(yaml.safe_dump(spec))
    return path


def test_a_schedule_holds_every_cell_up_to_max_and_a_list_stays_fixed(tmp_path):
    exp = load_experiment(str(write_yaml(tmp_path, {"start": 2, "step": 1, "max": 4})))
    assert exp.schedule == Schedule(2, 1, 4) and exp.seeds == [0, 1, 2, 3] and len(exp.cells) == 12
    assert [c.index for c in exp.cells_for({"x", "z"}, 2)] == [0, 1, 8, 9]  # stable array indices
    fixed = load_experiment(str(write_yaml(tmp_path, [0, 1, 2])))
    assert fixed.schedule is None and fixed.seeds == [0, 1, 2]
    capped = load_experiment(str(write_yaml(tmp_path, {"start": 3, "step": 2, "max": 15})), seeds_max=5)
    assert capped.schedule.looks == [3, 5] and capped.seeds == list(range(5))
    assert load_experiment(str(write_yaml(tmp_path, [0, 1, 2])), seeds_max=2).seeds == [0, 1]


def test_a_shipped_experiment_takes_a_schedule_on_the_command_line():
    exp = load_experiment("degradation", overrides=["seeds={start: 3, step: 3, max: 6}"])
    assert exp.schedule.looks == [3, 6] and len(exp.cells) == 4 * 6


@pytest.mark.parametrize(
    "seeds, fragments",
    [
        ({"start": 1, "step": 1, "max": 5}, ["seq.yaml: seeds:", "2 <= start <= max"]),
        ({"start": 3, "stp": 1, "max": 5}, ["unknown key 'stp'", "valid: start, step, max"]),
        ({"start": 3, "step": 1}, ["seeds.max must be a whole number"]),
        ({"start": 3, "step": 0, "max": 5}, ["step >= 1"]),
        ({"start": 6, "step": 1, "max": 5}, ["start <= max"]),
        ({"start": 3.5, "step": 1, "max": 5}, ["seeds.start must be a whole number"]),
        ("three", ["key 'seeds' must be a list or a dict"]),
    ],
)
def test_a_bad_schedule_is_one_line_naming_file_and_key(tmp_path, seeds, fragments):
    with pytest.raises(ExperimentError) as e:
        load_experiment(str(write_yaml(tmp_path, seeds)))
    assert "\n" not in str(e.value) and all(f in str(e.value) for f in fragments), str(e.value)


def test_seeds_max_must_be_a_number_of_seeds(tmp_path):
    with pytest.raises(ExperimentError, match="--seeds-max 1: must be a whole number >= 2"):
        load_experiment(str(write_yaml(tmp_path, {"start": 2, "step": 1, "max": 4})), seeds_max=1)


# ----------------------------------------------------------------------------- the replay
def arrays_measure(values: dict[str, dict[str, np.ndarray]], diverged: dict | None = None):
    """measure(claim, n) on fixed samples: claim id -> {"a": values, "b": values}."""

    def measure(claim, n):
        v = values[claim.id]
        div = (diverged or {}).get(claim.id, {})
        a = sim.side("a", v["a"][:n], div.get("a", np.zeros(len(v["a"]), bool))[:n])
        b = sim.side("b", v["b"][:n], div.get("b", np.zeros(len(v["b"]), bool))[:n])
        return judge(claim, a, b)

    return measure


def test_a_settled_claim_keeps_the_numbers_of_its_look():
    rng = np.random.default_rng(0)
    a = np.concatenate([rng.normal(0, 0.01, 3), [50.0] * 7])  # later seeds would reverse it
    b = rng.normal(10, 0.01, 10)
    c = sim.claim("less")
    state = replay([c], Schedule(3, 1, 10), arrays_measure({"c": {"a": a, "b": b}}))
    v = state.verdicts[0]
    assert v.outcome == HOLDS and (v.stage, v.look, v.seeds) == ("settled", 1, 3) and len(v.a.values) == 3
    assert state.next_seeds is None and "settled at look 1 of 8, 3 seeds per arm" in v.line()
    assert v.alpha == pytest.approx(Schedule(3, 1, 10).alphas()[0]) and "look 1 of 8: α" in v.line()


def test_a_claim_more_seeds_cannot_settle_stops_and_still_counts_in_holms_family():
    rng = np.random.default_rng(1)
    same = rng.normal(0, 1, 10)
    hopeless = {"a": same, "b": same.copy()}  # no difference at all: it stops once the CI is narrow
    later = {"a": rng.normal(0, 1, 10), "b": rng.normal(1.6, 1, 10)}
    cs = [sim.claim("less", id="hopeless"), sim.claim("less", id="later")]
    state = replay(cs, Schedule(3, 1, 10), arrays_measure({"hopeless": hopeless, "later": later}))
    h, lt = state.verdicts
    assert h.stage == "stopped" and h.outcome == UNRESOLVED and h.seeds < 10, h.line()
    assert "stopped at look" in h.line()
    assert lt.outcome == HOLDS and lt.look > h.look, (h.line(), lt.line())
    assert lt.holm_factor == 2  # tested alone at its look, yet the stopped claim still counts (p = 1)


def test_censoring_stops_a_claim_seeds_cannot_help():
    def measure(claim, n):  # a's first run never reached the target: its value is the run length
        a = sim.side("a", ([300.0] + [10.0, 20.0] * 5)[:n], censored=[i == 0 for i in range(n)])
        return judge(claim, a, sim.side("b", [280.0, 290.0, 300.0, 285.0, 295.0, 290.0, 288.0, 292.0][:n]))

    state = replay([sim.claim("less")], Schedule(3, 1, 8), measure)
    v = sequential.explain(state, Schedule(3, 1, 8)).verdicts[0]
    assert v.stage == "stopped" and v.outcome == UNRESOLVED and "a longer run" in v.remedy, v.line()


def test_a_fragile_resolution_below_10_seeds_stays_open():
    # a's first seed diverged (worst value 1.0): huge effect, but flagged, so the claim is judged
    # again with more seeds until 10 per arm.
    rng = np.random.default_rng(2)
    a = np.concatenate([[1.0], rng.normal(0.1, 0.005, 11)])
    b = rng.normal(0.9, 0.005, 12) + 0.5
    div = {"c": {"a": np.array([True] + [False] * 11)}}
    state = replay([sim.claim("less")], Schedule(4, 2, 12), arrays_measure({"c": {"a": a, "b": b}}, div))
    v = state.verdicts[0]
    assert v.outcome == HOLDS and v.flags and v.seeds == 10 and v.look == 4, v.line()


def test_the_replay_waits_for_the_runs_of_a_look():
    c = sim.claim("less")
    state = replay([c], Schedule(3, 1, 10), lambda claim, n: None)
    assert state.looks_taken == 0 and state.next_seeds == 3 and state.waiting == [c]
    assert state.verdicts[0].stage == "open" and "waiting for the first look" in state.verdicts[0].line()


# ----------------------------------------------------------------------------- by simulation
@pytest.mark.parametrize("schedule", SCHEDULES)
def test_no_true_difference_false_holds_stay_at_2_5_percent_over_all_looks(schedule):
    """Every look taken (no stopping for futility): the worst case of the design. The docs table
    (benchmarks/sequential_table.py, 4,000 experiments) measures 1.7-1.8%."""
    r = sim.sequential_rates(sim.claim("less"), Schedule(*schedule), sim.normal(0.0), 1000, seed=1, stop_early=False)
    assert r.holds <= 0.025 and r.holds + r.refuted <= stats.ALPHA, r  # any false settlement: at most α


def test_a_fixed_level_test_repeated_at_every_look_would_not_be():
    """The same looks each at 5% (raising the seeds by hand after UNRESOLVED): 7% false HOLDS."""

    class FixedLevel(Schedule):
        def alphas(self, alpha=stats.ALPHA):
            return [alpha] * len(self.looks)

    r = sim.sequential_rates(sim.claim("less"), FixedLevel(3, 1, 10), sim.normal(0.0), 500, seed=1, stop_early=False)
    assert r.holds > 0.05, r


@pytest.mark.slow  # a benchmark: ~20 s of simulated experiments
@pytest.mark.parametrize("schedule", SCHEDULES)
def test_sequential_power_and_seeds_against_the_fixed_design(schedule):
    """True effects of 1, 2, 3 sd: the sequential design keeps nearly the fixed design's power with
    its maximum of seeds, and uses far fewer seeds where the effect is large (docs/verdicts.md)."""
    c, seq, fixed = sim.claim("less"), Schedule(*schedule), Schedule(schedule[2], 1, schedule[2])
    for d in (1.0, 2.0, 3.0):
        s = sim.sequential_rates(c, seq, sim.normal(d), 400, seed=3)
        f = sim.sequential_rates(c, fixed, sim.normal(d), 400, seed=3)  # the same draws
        assert s.holds >= f.holds - 0.08 and s.refuted == 0, (d, s, f)
        if d >= 2:
            assert s.holds >= 0.95 and s.seeds <= 0.8 * schedule[2], (d, s)


# ----------------------------------------------------------------------------- rounds on stored runs
def fake_result(root, exp, cell, value: float) -> None:
    summary = {
        "status": "completed",
        "steps": 6,
        **{f"final_{k}_error": value for k in ("train", "val", "test")},
        "final_train_error_running": value,
        "params": 1000,
        "wall_time_s": 1.0,
        "data_sizes": {"train": 1293, "val": 144, "test": 360},
    }
    results.write_json(results.run_dir(root, exp.name, cell.run_id) / results.SUMMARY, summary)


def test_rounds_add_seeds_only_where_claims_are_open_and_analyze_replays_them(tmp_path):
    """xy: a huge difference (settled at the first look); xz: none (open until it stops). The
    rounds train only what the replay asks for; `analyze` on the stored runs makes the same
    verdicts; y never gets more than the first look's seeds."""
    exp = load_experiment(str(write_yaml(tmp_path, {"start": 3, "step": 1, "max": 6})))
    rng = np.random.default_rng(4)
    level, sd = {"x": 0.10, "y": 0.60, "z": 0.10}, {"x": 0.002, "y": 0.001, "z": 0.02}
    rounds = []
    while True:
        state, cells = next_round(exp, tmp_path)
        if not cells:
            break
        rounds.append(sorted({(c.arm, c.seed) for c in cells}))
        for cell in cells:
            if not results.is_complete(results.run_dir(tmp_path, exp.name, cell.run_id)):
                fake_result(tmp_path, exp, cell, level[cell.arm] + rng.normal(0, sd[cell.arm]))
        assert len(rounds) <= 4
    assert rounds[0] == [(a, s) for a in "xyz" for s in (0, 1, 2)]
    assert all({a for a, _ in r} == {"x", "z"} for r in rounds[1:]) and len(rounds) >= 2
    verdicts = {v.id: v for v in state.verdicts}
    assert (verdicts["xy"].outcome, verdicts["xy"].look, verdicts["xy"].seeds) == (HOLDS, 1, 3)
    assert verdicts["xz"].stage in ("stopped", "final") and verdicts["xz"].outcome == UNRESOLVED
    stored = {
        c.arm for c in exp.cells if results.is_complete(results.run_dir(tmp_path, exp.name, c.run_id)) and c.seed >= 3
    }
    assert stored == {"x", "z"}
    again = {v.id: v for v in analyze(exp, tmp_path).verdicts}
    for cid, v in verdicts.items():
        w = again[cid]
        assert (w.outcome, w.stage, w.look, w.seeds, w.a.values) == (v.outcome, v.stage, v.look, v.seeds, v.a.values)
        assert math.isclose(w.p, v.p) if v.p == v.p else w.p != w.p


def test_status_calls_a_cell_missing_only_if_the_next_look_needs_it(tmp_path, capsys):
    """xy settles at look 1 and xz stays open: after look 1, the next look's x and z seeds are missing,
    y's later seeds are not needed yet ('later'); once the design ends, what nobody ran is 'unneeded'."""
    from ablate import cli

    path = write_yaml(tmp_path, {"start": 2, "step": 1, "max": 3})
    exp = load_experiment(str(path))
    args = ["status", str(path), "--results-dir", str(tmp_path / "r")]
    for cell in exp.cells_for({"x", "y", "z"}, 2):
        spread = 0.02 if cell.arm == "z" else 0.01  # x and z alike but for their noise: xz stays open
        fake_result(tmp_path / "r", exp, cell, {"x": 0.1, "y": 0.6, "z": 0.1}[cell.arm] + spread * cell.seed)
    capsys.readouterr()
    assert cli.main(args) == 0
    out = capsys.readouterr().out
    assert "xy holds at look 1" in out and "next look: 3 seeds per arm for xz" in out, out
    assert "9 cells: 6 done, 2 missing, 1 later" in out, out
    for cell in exp.cells_for({"x", "z"}, 3):
        fake_result(tmp_path / "r", exp, cell, 0.1 + 0.01 * cell.seed)
    assert cli.main(args) == 0
    out = capsys.readouterr().out
    assert "9 cells: 8 done, 1 unneeded" in out, out


def test_submit_dry_run_submits_the_next_look_only(tmp_path, capsys):
    from ablate import cli

    path = write_yaml(tmp_path, {"start": 2, "step": 1, "max": 4})
    args = ["submit", str(path), "--results-dir", str(tmp_path / "r"), "--dry-run", "--time", "10"]
    capsys.readouterr()
    assert cli.main(args) == 0
    out, err = capsys.readouterr()
    assert "look 1 (x, y, z): 6 cells, 0 done, 0 queued or running, 6 to submit" in err, err
    assert "#SBATCH --array=0-1,4-5,8-9" in out  # seeds 0-1 of each arm: indices of the full grid
    exp = load_experiment(str(path))
    for cell in exp.cells_for({"x", "y", "z"}, 2):  # every claim settled at look 1
        fake_result(tmp_path / "r", exp, cell, {"x": 0.1, "y": 0.6, "z": 0.9}[cell.arm] + 1e-3 * cell.seed)
    assert cli.main(args) == 0
    out, err = capsys.readouterr()
    assert "no claim needs more seeds" in err and "#SBATCH" not in out, err


@pytest.mark.slow  # trains 6-12 tiny cells
def test_run_trains_look_by_look_and_analyze_makes_the_same_verdicts(tmp_path):
    """`run` on a schedule: the first look's cells of every arm, then only the arms of open claims;
    verdicts.json says where each claim was settled; `analyze` rebuilds the same file."""
    claims = [
        {"id": "params", "metric": "params", "a": "z", "b": "x", "expect": "greater"},  # exact: look 1
        {"id": "xz", "metric": "final_train_error", "a": "x", "b": "z", "expect": "differ"},
    ]
    path = write_yaml(tmp_path, {"start": 2, "step": 1, "max": 3}, claims)
    root = tmp_path / "results"
    res = run_cli("run", str(path), "--results-dir", str(root), "--wandb", "off", "--no-progress")
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert "look 1: 2 seeds per arm of x, y, z" in res.stdout
    report = root / "seq" / "_report-quick" / "verdicts.json"
    verdicts = {v["id"]: v for v in json.loads(report.read_text())}
    assert (verdicts["params"]["outcome"], verdicts["params"]["look"], verdicts["params"]["stage"]) == (
        "holds",
        1,
        "settled",
    )
    xz = verdicts["xz"]
    assert xz["stage"] in ("settled", "stopped", "final") and xz["seeds"] in (2, 3)
    exp = load_experiment(str(path))
    done = {(c.arm, c.seed) for c in exp.cells if results.is_complete(results.run_dir(root, "seq", c.run_id))}
    assert {(a, s) for a, s in done if a == "y"} == {("y", 0), ("y", 1)}  # in no claim: the first look only
    assert {s for a, s in done if a == "x"} == set(range(xz["seeds"]))
    before = report.read_text()
    again = run_cli("analyze", str(path), "--results-dir", str(root), "--wandb", "off")
    assert again.returncode == 0 and report.read_text() == before
