"""Which claims a grid judges, and how: a fixed design in one look (ablate.verdicts.evaluate), a
sequential design by replaying its looks on the stored runs (ablate.verdicts.sequential), from
whatever seeds are present. `run` and `submit` choose each round with `next_round`; the analysis
(`run`, `analyze`) makes its verdicts with `judge`: the same decisions, from the same function.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ablate.config import flatten
from ablate.experiment import Cell
from ablate.report.frames import load_runs, with_derived
from ablate.verdicts import sequential
from ablate.verdicts.claims import Claim
from ablate.verdicts.evaluate import Verdict, evaluate, measure


@dataclass
class Judged:
    verdicts: list[Verdict]
    elsewhere: list[Claim] = field(default_factory=list)  # claims about other profiles or arms
    progress: sequential.Progress | None = None  # a sequential design's state


def judge(exp, runs: pd.DataFrame, curves: pd.DataFrame) -> Judged:
    """The verdicts of the grid's claims on these runs (the analysis frames, derived columns included)."""
    claims, elsewhere = claims_of_this_grid(exp)
    if exp.schedule is None:
        return Judged(evaluate(claims, runs, curves, exp.profile), elsewhere)
    state = progress(exp, claims, runs, curves)
    return Judged(state.verdicts, elsewhere, state)


def claims_of_this_grid(exp) -> tuple[list[Claim], list[Claim]]:
    """(claims about this grid, claims about other profiles or arms): a claim is about this grid if
    its profiles allow it and both sides select cells of it."""
    cell_configs = [(cell.arm, flatten(cell.config)) for cell in exp.cells]
    here, elsewhere = [], []
    for c in exp.claims:
        in_grid = all(any(side.matches(arm, flat) for arm, flat in cell_configs) for side in (c.a, c.b))
        (here if (not c.profiles or exp.profile in c.profiles) and in_grid else elsewhere).append(c)
    return here, elsewhere


def progress(exp, claims: list[Claim], runs: pd.DataFrame, curves: pd.DataFrame) -> sequential.Progress:
    """The looks of exp.schedule replayed on these runs: a look is taken once every run it needs
    has finished."""
    arms = {c.id: exp.arms_of(c.a) | exp.arms_of(c.b) for c in claims}
    done = set(runs.run_id) if len(runs) else set()

    def measure_at(claim: Claim, n: int):
        if any(cell.run_id not in done for cell in exp.cells_for(arms[claim.id], n)):
            return None  # this look's runs have not all finished
        return measure(claim, runs[runs.seed < n], curves)

    return sequential.explain(sequential.replay(claims, exp.schedule, measure_at), exp.schedule)


def next_cells(exp, state: sequential.Progress) -> list[Cell]:
    """The cells of the next look: the first `next_seeds` seeds of every arm an open claim compares."""
    if state.next_seeds is None:
        return []
    arms = set().union(*(exp.arms_of(c.a) | exp.arms_of(c.b) for c in state.waiting))
    return exp.cells_for(arms, state.next_seeds)


def next_round(exp, root: Path) -> tuple[sequential.Progress, list[Cell]]:
    """(where the design stands on the stored runs, the cells its next look needs, done or not).
    The first look trains every arm of the grid (claims or not: the table shows them all)."""
    runs, curves, _ = load_runs(exp, root)
    claims, _ = claims_of_this_grid(exp)
    state = progress(exp, claims, with_derived(exp, runs, curves), curves)
    first = exp.cells_for(set(exp.arms), exp.schedule.start)
    done = set(runs.run_id) if len(runs) else set()
    if any(c.run_id not in done for c in first):
        return state, first
    return state, next_cells(exp, state)


def summary(exp, state: sequential.Progress) -> str:
    """One line: the looks taken, the claims judged so far, what the next look needs."""
    judged = [f"{v.id} {v.outcome} at look {v.look}" for v in state.verdicts if v.stage != "open"]
    text = f"{state.looks_taken} of {len(exp.schedule.looks)} looks taken ({exp.schedule.describe()})"
    if judged:
        text += "; " + ", ".join(judged)
    if state.next_seeds is not None:
        text += f"; next look: {state.next_seeds} seeds per arm for " + ", ".join(c.id for c in state.waiting)
    return text
