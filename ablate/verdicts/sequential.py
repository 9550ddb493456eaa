"""Sequential verdicts: seeds are added look by look while a claim is unresolved and more seeds
could settle it, and the chance of a false HOLDS or REFUTED stays at α over all looks together.

A seed schedule `seeds: {start: 3, step: 2, max: 15}` plans looks at 3, 5, 7, ..., 15 seeds per
arm (seeds 0, 1, 2, ... in order; the last look at `max` even when the steps overshoot it).

- **α spending, union bound.** Look k tests at its own level α_k, fixed by the schedule alone,
  before any data, summing to α: the last look keeps 75% of α, the earlier looks share the other
  25% in the shape of the Lan-DeMets O'Brien-Fleming-type spending function
  α(t) = 2 - 2Φ(z_{1-α/2} / √t) at t_k = n_k / max (little at first, more as seeds accumulate).
  A claim settled at look k passed a test at level α_k there, so by the union bound the
  probability of any false HOLDS or REFUTED over all looks is at most Σ α_k = α, whatever the
  looks' correlation and whether or not they are all taken. A fixed-level test repeated at every
  look would not be valid (docs/verdicts.md measures it).
- **Holm at each look** across the claims not settled before it: the ones tested at this look with
  their p, the rest (stopped, or not testable at this look) with p = 1: they count but cannot be
  rejected. The first false rejection can only come at a look where every true null is still in
  the family, so each look keeps its α_k. (Dropping the stopped claims from the family would let
  a claim stopped for looking hopeless raise the others' levels.)
- **Stopping.** A claim is settled at the look that resolves it and keeps that look's numbers. An
  unresolved claim gets more seeds only while they could settle it: not when censoring blocked the
  outcome (a longer run would), not when the seed does not change the runs, and not when even the
  end of its 95% interval farthest from the boundary would need more than `max` seeds for 80%
  power at the last look's level. A fragile resolution (diverged, excluded or valueless runs, a
  side without variation or strongly skewed) below ROBUST_SEEDS seeds per arm is provisional: the
  claim stays open and is judged again at the next look, with that look's α.

`replay` is the one function that decides: `run` and `submit` call it on the stored runs to choose
the next round, `analyze` to rebuild the verdicts, the tests on simulated samples.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from scipy import special

from ablate.verdicts import stats
from ablate.verdicts.claims import Claim
from ablate.verdicts.evaluate import decide, plan
from ablate.verdicts.verdict import HOLDS, NOT_MEASURED, REFUTED, UNRESOLVED, Verdict

SCHEDULE_KEYS = ("start", "step", "max")
# The share of α the looks before the last may spend. Under a union bound every α spent early is
# taken from the last look: Lan-DeMets O'Brien-Fleming spending alone leaves the last of (3, 1, 10)'s
# eight looks 22% of α and 37% power at 1 sd; spending a quarter early in its shape leaves 75% and
# 53% (the fixed design at 10 seeds: 58%), and a first look that can still settle effects of ~15 sd
# at 3 seeds (docs/verdicts.md, `python -m benchmarks.sequential_table`).
EARLY_SHARE = 0.25
MIN_START = 2  # a look needs 2 seeds per arm to estimate the seed-to-seed noise


@dataclass(frozen=True)
class Schedule:
    start: int
    step: int
    max: int

    @property
    def looks(self) -> list[int]:
        """Seeds per arm at each look."""
        return list(range(self.start, self.max, self.step)) + [self.max]

    def alphas(self, alpha: float = stats.ALPHA) -> list[float]:
        """The level of each look (sum: alpha): the last keeps 1 - EARLY_SHARE of it, the earlier
        ones share EARLY_SHARE in proportion to the increments of `spending` (module docstring)."""
        spent = [spending(n / self.max, alpha) for n in self.looks]
        steps = [s - prev for s, prev in zip(spent, [0.0] + spent[:-1])]
        if len(steps) == 1:
            return [alpha]
        early = EARLY_SHARE * alpha / sum(steps[:-1])
        return [s * early for s in steps[:-1]] + [(1 - EARLY_SHARE) * alpha]

    def capped(self, n: int | None) -> Schedule:
        """The schedule with at most n seeds per arm (`--seeds-max N`)."""
        if n is None or n >= self.max:
            return self
        return Schedule(min(self.start, n), self.step, n)

    def describe(self) -> str:
        return f"seeds per arm at each look: {', '.join(map(str, self.looks))}"


def spending(t: float, alpha: float = stats.ALPHA) -> float:
    """Lan-DeMets O'Brien-Fleming-type α spent by information fraction t (0 < t <= 1)."""
    z = special.ndtri(1 - alpha / 2)
    return float(2 - 2 * special.ndtr(z / math.sqrt(t)))


@dataclass
class Progress:
    """Where a sequential design stands: one verdict per claim, and what the next look needs."""

    verdicts: list[Verdict]
    looks_taken: int
    next_seeds: int | None = None  # seeds per arm the next look needs; None: nothing left to run
    waiting: list[Claim] = field(default_factory=list)  # the claims that look is for (their arms)


Measure = Callable[[Claim, int], Verdict | None]


def replay(
    claims: list[Claim], schedule: Schedule, measure: Measure, alpha: float = stats.ALPHA, stop_early: bool = True
) -> Progress:
    """Take the looks of `schedule` in order. measure(claim, n): the claim measured on the first n
    seeds of each arm it compares (ablate.verdicts.evaluate.measure), or None while some of those
    runs have not finished: the replay then stops there and says what that look needs.
    stop_early=False keeps every unresolved claim to the last look (no stopping for futility)."""
    looks, alphas = schedule.looks, schedule.alphas(alpha)
    latest: dict[str, Verdict] = {}
    open_, stopped = list(claims), 0  # stopped: testable claims that get no more looks
    for k, (n, alpha_k) in enumerate(zip(looks, alphas), 1):
        measured = [measure(c, n) for c in open_]
        if any(v is None for v in measured):
            return _finish(claims, latest, open_, schedule, k - 1, alpha, n)
        testable = [_testable(v) for v in measured]
        decide(measured, alpha_k, others=stopped + sum(t and v._test is None for t, v in zip(testable, measured)))
        level = alphas[-1] / max(1, sum(testable) + stopped)
        still = []
        for c, v, t in zip(open_, measured, testable):
            v.look, v.looks, v.seeds = k, len(looks), n
            v.stage = _stage(v, n, k == len(looks), schedule.max, level, stop_early)
            latest[c.id] = v
            still += [c] * (v.stage == "open")
            stopped += t and v.stage == "stopped"
        open_ = still
        if not open_:
            return _finish(claims, latest, [], schedule, k, alpha, None)
    raise AssertionError("the last look leaves no claim open")  # _stage: `last` is never open


def _testable(v: Verdict) -> bool:
    """A claim of Holm's family: tested now or later (not exact, with runs on both sides)."""
    return v.scale != "exact" and v.outcome != NOT_MEASURED


def _stage(v: Verdict, n: int, last: bool, n_max: int, level: float, stop_early: bool) -> str:
    """settled | stopped | final | open: what the look made of one claim."""
    if v.outcome in (HOLDS, REFUTED):
        fragile = v.ask_seeds is not None and n < min(v.ask_seeds, n_max)
        return "open" if fragile and not last else "settled"
    if v.scale == "exact" or v.outcome == NOT_MEASURED:
        return "stopped"
    if last:
        return "final"
    if v._held_back or v._untested in ("flat", "nonpositive"):
        return "stopped"  # a longer run, or nothing, would help: not seeds
    if v._test is None or not stop_early:
        return "open"
    return "open" if could_resolve(v, n_max, level) else "stopped"


def could_resolve(v: Verdict, n_max: int, level: float) -> bool:
    """Whether some difference the data allow (the end of the 95% interval farthest from the
    boundary, or the band's centre) would be resolved with 80% power at n_max seeds per arm."""
    t, low = v._test, v.boundary[0]
    high = v.boundary[1] if len(v.boundary) == 2 else math.nan
    candidates = [v.ci_low, v.ci_high]
    if v._claimed in ("inside", "outside") and v.ci_low < (low + high) / 2 < v.ci_high:
        candidates.append((low + high) / 2)
    best = max(candidates, key=lambda d: stats.distance(d, v._claimed, low, high))
    return stats.power(best, t.sd_a, t.sd_b, n_max, level, v._claimed, low, high) >= stats.POWER


def _finish(claims, latest: dict, open_: list[Claim], schedule: Schedule, taken: int, alpha, next_n) -> Progress:
    """The verdicts as they stand: settled and stopped ones with their look's numbers, open ones
    with their last look's (or none yet), each saying what would settle it."""
    verdicts = [latest.get(c.id) or _not_yet(c, schedule) for c in claims]
    for v in verdicts:
        if v.stage == "open":
            if v.outcome in (HOLDS, REFUTED):  # provisional: fragile below ROBUST_SEEDS
                why = f"would be {v.outcome}, but fragile at {v.seeds} seeds per arm"
                v.reason = "; ".join(r for r in (v.reason, why) if r)
                v.outcome = UNRESOLVED
            v.remedy = f"the next look needs {next_n} seeds per arm"
    return Progress(verdicts, taken, next_n, list(open_) if next_n is not None else [])


def explain(progress: Progress, schedule: Schedule, alpha: float = stats.ALPHA) -> Progress:
    """Say what would settle each claim the design left unresolved (seeds needed are searched, so
    this is apart from `replay`, which decides without them)."""
    plan([v for v in progress.verdicts if v.stage != "open"], alpha)
    for v in progress.verdicts:
        if v.stage == "stopped" and v.seeds_needed and v.seeds_needed > schedule.max:
            v.remedy += f", more than the schedule's {schedule.max}"
    return progress


def _not_yet(c: Claim, schedule: Schedule) -> Verdict:
    v = Verdict(c.id, c.text, UNRESOLVED, c.metric.label, c.expect, stage="open", looks=len(schedule.looks))
    v.reason = f"waiting for the first look ({schedule.start} seeds per arm)"
    return v
