"""Simulated experiments for the verdict engine, shared by the tests and benchmarks/sequential_table.py.

Each simulated experiment draws every seed a design could use up front, then lets the engine itself
(ablate.verdicts.sequential.replay, the function `run`, `submit` and `analyze` decide with) take
its looks on the first n of them: nothing here re-implements a decision.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ablate.verdicts import sequential, stats
from ablate.verdicts.claims import Claim, parse_claims
from ablate.verdicts.evaluate import HOLDS, REFUTED, decide, judge
from ablate.verdicts.verdict import SideValues

SPEC = {"arms": {"a": {}, "b": {}}, "profiles": {"quick": {}}}


def claim(expect: str = "less", id: str = "c", **kw) -> Claim:
    raw = {"id": id, "metric": "final_train_error", "a": "a", "b": "b", "expect": expect, **kw}
    return parse_claims("sim.yaml", {**SPEC, "claims": [raw]}, set())[0]


def side(label: str, values, diverged=None, censored=None) -> SideValues:
    div = np.zeros(len(values), bool) if diverged is None else np.asarray(diverged, bool)
    cens = [False] * len(values) if censored is None else [bool(c) for c in censored]
    return SideValues(label, [label], len(values), [float(x) for x in values], cens, 0, int(div.sum()))


@dataclass
class Rates:
    holds: float
    refuted: float
    seeds: float  # mean seeds per arm used (the look that settled or stopped the claim)
    flagged: float = 0.0  # verdicts flagged as fragile
    holds_unflagged: float = 0.0


# draw(rng, n) -> ((a values, a diverged or None), (b values, b diverged or None)), n seeds each
Draw = Callable[[np.random.Generator, int], tuple]


def normal(effect: float) -> Draw:
    """a ~ N(0, 1), b ~ N(effect, 1): a claim that a < b is true for effect > 0."""
    return lambda rng, n: ((rng.normal(0, 1, n), None), (rng.normal(effect, 1, n), None))


def sequential_rates(
    c: Claim, schedule: sequential.Schedule, draw: Draw, sims: int, seed: int, stop_early: bool = True
) -> Rates:
    """How often the sequential design (or a fixed one: a schedule of one look) ends HOLDS / REFUTED."""
    rng = np.random.default_rng(seed)
    holds = refuted = seeds = 0
    for _ in range(sims):
        (a, da), (b, db) = draw(rng, schedule.max)

        def measure(claim, n, a=a, b=b, da=da, db=db):
            return judge(
                claim,
                side("a", a[:n], None if da is None else da[:n]),
                side("b", b[:n], None if db is None else db[:n]),
            )

        v = sequential.replay([c], schedule, measure, stop_early=stop_early).verdicts[0]
        holds, refuted, seeds = holds + (v.outcome == HOLDS), refuted + (v.outcome == REFUTED), seeds + v.seeds
    return Rates(holds / sims, refuted / sims, seeds / sims)


def fixed_rates(c: Claim, n: int, draw: Draw, sims: int, seed: int) -> Rates:
    """A fixed design of n seeds (what `evaluate` decides), with how often it is flagged as fragile."""
    rng = np.random.default_rng(seed)
    holds = refuted = flagged = holds_unflagged = 0
    for _ in range(sims):
        (a, da), (b, db) = draw(rng, n)
        v = judge(c, side("a", a, da), side("b", b, db))
        decide([v], stats.ALPHA)
        holds, refuted, flagged = (
            holds + (v.outcome == HOLDS),
            refuted + (v.outcome == REFUTED),
            flagged + bool(v.flags),
        )
        holds_unflagged += v.outcome == HOLDS and not v.flags
    return Rates(holds / sims, refuted / sims, n, flagged / sims, holds_unflagged / sims)


def exp_vs_normal(rng, n):
    """Same mean (1), different shapes: a ~ Exp(1), b ~ N(1, 0.1)."""
    return (rng.exponential(1.0, n), None), (rng.normal(1.0, 0.1, n), None)


def rare_divergence(rng, n, rate: float = 0.1):
    """Same mean error (20%): a diverges one time in ten (100% error) and otherwise ends near
    11.1%; b never diverges and ends near 20%."""
    div = rng.random(n) < rate
    a = np.where(div, 1.0, rng.normal((0.2 - rate) / (1 - rate), 0.02, n))
    return (a, div), (rng.normal(0.2, 0.02, n), None)
