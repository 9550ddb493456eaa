"""Claims x runs -> verdicts: HOLDS, REFUTED or UNRESOLVED, each with the numbers behind it.

Every experiment goes through these functions: `measure` (a claim's two sides from the runs, and
its test), `decide` (Holm's correction across the claims of one look, and each outcome) and
`plan` (what would settle an unresolved claim); `evaluate` is the three for a fixed design, and
ablate.verdicts.sequential calls the same three at every look of a seed schedule.

A side's values are one per finished run (seed) of the cells it selects. Diverged runs count as
the metric's worst value (or are left out, if the claim says `diverged: exclude`, and reported).
A value that is NaN or inf is left out and the run named: it never enters a mean or a test.
Censored values (a target never reached: the run length, a lower bound) are kept; a verdict that
a lower bound could overturn is UNRESOLVED: "a reaches the target sooner than b" can hold with b
censored, never with a censored, and more seeds cannot change that (a longer run can).
Exact metrics (an architecture's parameters) are compared directly, not tested; their values
must agree within each side. A verdict resting on diverged, excluded or valueless runs, a side
without variation, or a strongly skewed side is flagged as fragile and asks for more seeds.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ablate.verdicts import stats
from ablate.verdicts.claims import Claim, Side
from ablate.verdicts.metrics import first_step
from ablate.verdicts.verdict import HOLDS, NOT_MEASURED, REFUTED, UNRESOLVED, SideValues, Verdict

__all__ = ["HOLDS", "NOT_MEASURED", "REFUTED", "UNRESOLVED", "SideValues", "Verdict", "evaluate", "exact_check"]

# expect -> the claimed side of a - b; ratios are tested on log values.
CLAIMED = {
    "less": "less",
    "greater": "greater",
    "at_most": "less",
    "at_least": "greater",
    "equal": "inside",
    "differ": "outside",
    "ratio_at_least": "greater",
    "ratio_at_most": "less",
}
ROBUST_SEEDS = 10  # a flagged verdict asks for this many seeds per arm (docs/verdicts.md, small n)
SKEW_MIN_SEEDS = 5  # below this, a sample's skewness says nothing about its distribution's
SKEW_LIMIT = 2.0  # |adjusted sample skewness| beyond this flags a side (normal samples: 2% at 5 seeds, 0.7% at 10)


def side_values(claim: Claim, side: Side, runs: pd.DataFrame, curves: pd.DataFrame) -> SideValues:
    """One value per finished run of the cells the side selects (see the module docstring)."""
    rows = runs[[side.matches(arm, cfg) for arm, cfg in zip(runs.arm, runs["_flat_config"])]] if len(runs) else runs
    if claim.curve is not None:
        vals = first_step(rows, curves, claim.curve) if len(rows) else pd.DataFrame(columns=["value", "censored"])
        values, censored = vals["value"].astype(float), vals["censored"].astype(bool)
    else:
        values = rows[claim.metric.name].astype(float) if claim.metric.name in rows else pd.Series(dtype=float)
        censored = pd.Series(False, index=values.index)
    diverged = (rows.status == "diverged") if len(rows) else pd.Series(dtype=bool)
    excluded = 0
    if diverged.any():
        if claim.diverged == "exclude" or claim.metric.worst is None:
            excluded = int(diverged.sum())
            values, censored = values[~diverged], censored[~diverged]
        elif claim.curve is None:
            values = values.where(~diverged, claim.metric.worst)
        # curve metrics: a diverged run never reached the target, so it is already censored
    finite = np.isfinite(values.to_numpy(dtype=float))
    no_value = [str(r) for r in rows.loc[values.index[~finite], "run_id"]] if len(rows) else []
    values, censored = values[finite], censored[finite]
    arms = sorted(set(rows.arm)) if len(rows) else []
    label = arms[0] if side.arm is None and len(arms) == 1 else side.label  # a selector of one arm: its name
    return SideValues(
        label,
        arms,
        len(values),
        [float(v) for v in values],
        [bool(c) for c in censored],
        excluded,
        int(diverged.sum()),
        no_value,
    )


def evaluate(claims: list[Claim], runs: pd.DataFrame, curves: pd.DataFrame, profile: str) -> list[Verdict]:
    """A fixed design: the verdict of every claim that applies to `profile`, Holm-corrected
    together at ALPHA. runs: the analysis runs frame with a `_flat_config` column."""
    verdicts = [measure(c, runs, curves) for c in claims if not c.profiles or profile in c.profiles]
    decide(verdicts, stats.ALPHA)
    plan(verdicts, stats.ALPHA)
    return verdicts


def measure(claim: Claim, runs: pd.DataFrame, curves: pd.DataFrame) -> Verdict:
    """The claim's sides and test, not yet decided (`decide` does that across claims)."""
    return judge(claim, side_values(claim, claim.a, runs, curves), side_values(claim, claim.b, runs, curves))


def judge(claim: Claim, a: SideValues, b: SideValues) -> Verdict:
    """The claim on these two sides: exact, tested (outcome set by `decide`) or why not."""
    v = Verdict(claim.id, claim.text, NOT_MEASURED, claim.metric.label, claim.expect, a, b)
    v.unit, v.value_scale, v._claimed = claim.metric.unit, claim.metric.scale, CLAIMED[claim.expect]
    v.boundary = _boundary(claim)
    no_runs = [s.label for s in (a, b) if not s.values and not s.excluded and not s.no_value]
    if no_runs:
        v.reason = f"no finished run of {' or '.join(no_runs)} in this grid"
        return v
    v.outcome = UNRESOLVED
    empty = [s.label for s in (a, b) if not s.values]
    if empty:
        v._untested = "empty"  # more seeds may bring values
        v.reason = f"no usable value on {' or '.join(empty)}: every run diverged (left out) or has no finite value"
        return v
    xa, xb = np.array(a.values), np.array(b.values)
    if claim.expect.startswith("ratio_"):
        if (xa <= 0).any() or (xb <= 0).any():
            v._untested = "nonpositive"
            v.reason = "a ratio needs positive values on both sides"
            return v
        xa, xb, v.scale = np.log(xa), np.log(xb), "log ratio"
    if claim.metric.exact:
        return _exact(v, xa, xb)
    return _tested(v, xa, xb)


def _boundary(claim: Claim) -> list[float]:
    """The boundary a - b is tested against: less/greater clear a margin, at_most/at_least (non-
    inferiority) may fall short of it by up to δ, equal lies within ±δ, differ: away from 0."""
    if claim.expect.startswith("ratio_"):
        return [math.log(claim.ratio)]
    if claim.expect == "equal":
        return [0.0 - claim.by, claim.by]
    if claim.expect == "differ":
        return [0.0, 0.0]
    return [0.0 - claim.by if claim.expect in ("less", "at_least") else claim.by]  # 0.0 -: never -0.0


def _exact(v: Verdict, xa: np.ndarray, xb: np.ndarray) -> Verdict:
    """Compared directly; every seed of a side must give the same value (else it is not exact)."""
    v.scale = "exact"
    split = [s.label for s, x in ((v.a, xa), (v.b, xb)) if not stats.no_variation(x)]
    if split:
        v.reason = (
            f"an exact metric whose values differ within {' and '.join(split)} "
            f"({'; '.join(_spread(s) for s in (v.a, v.b) if s.label in split)}): not averaged, not compared"
        )
        return v
    v.estimate = float(xa.mean() - xb.mean())
    low, high = v.boundary[0], v.boundary[-1]
    inside = low <= v.estimate <= high
    ok = {"less": v.estimate < low, "greater": v.estimate > low, "inside": inside, "outside": not inside}
    v.outcome = HOLDS if ok[v._claimed] else REFUTED
    return v


def _spread(s: SideValues) -> str:
    return f"{s.label}: {min(s.values):,.6g} to {max(s.values):,.6g}"


def _tested(v: Verdict, xa: np.ndarray, xb: np.ndarray) -> Verdict:
    low, high = v.boundary[0], (v.boundary[1] if len(v.boundary) == 2 else math.nan)
    t = stats.welch(xa, xb, v._claimed, low, high)
    v.estimate = float(xa.mean() - xb.mean())
    if t is None:
        v._untested = "few" if min(len(xa), len(xb)) < 2 else "flat"
        v.flags = [f for f in _flags(v.a, xa) + _flags(v.b, xb) if v._untested != "flat" or "no variation" not in f]
        v.reason = {
            "few": "fewer than 2 runs on a side: the seed-to-seed noise is unknown",
            "flat": "no seed-to-seed variation on either side: the noise cannot be estimated",
        }[v._untested]
        return v
    v._test, v.flags = t, _flags(v.a, xa) + _flags(v.b, xb)
    v.ci_low, v.ci_high = t.interval(0.95)
    v.df, v.p, v.p_exact, v.p_adjusted, v.effect_size = t.df, t.p, t.p_exact, t.p, t.effect_size
    v._blocked = _censoring(v._claimed, v.a, v.b)
    v.reason = "; ".join(
        f"{s.label}: {sum(s.censored)} of {s.n} runs never reached the target (counted as the run length, "
        "a lower bound)"
        for s in (v.a, v.b)
        if any(s.censored)
    )
    return v


def _flags(s: SideValues, x: np.ndarray) -> list[str]:
    """Why a side makes the verdict fragile (docs/verdicts.md measures how much, at 3, 5, 10 seeds)."""
    out = []
    total = s.n + s.excluded + len(s.no_value)
    if s.diverged:
        how = "left out" if s.excluded else "counted as the worst value"
        out.append(f"{s.label}: {s.diverged} of {total} runs diverged ({how})")
    if s.no_value:
        out.append(f"{s.label}: {_runs(len(s.no_value))} without a finite value left out ({', '.join(s.no_value)})")
    if len(x) >= 2 and stats.no_variation(x):
        out.append(f"{s.label}: no variation across {len(x)} runs")
    elif len(x) >= SKEW_MIN_SEEDS and abs(g := skewness(x)) > SKEW_LIMIT:
        out.append(f"{s.label}: strongly skewed (sample skewness {g:+.1f})")
    return out


def skewness(x: np.ndarray) -> float:
    """The adjusted Fisher-Pearson sample skewness G1 (scipy.stats.skew(bias=False))."""
    n, d = len(x), x - x.mean()
    g1 = float(np.mean(d**3) / np.mean(d**2) ** 1.5)
    return g1 * math.sqrt(n * (n - 1)) / (n - 2)


def _runs(k: int) -> str:
    return f"{k} run{'s' * (k != 1)}"


def _censoring(claimed: str, a: SideValues, b: SideValues) -> dict[str, str]:
    """{outcome: why} for the outcomes that censored values (lower bounds) could overturn."""
    why = "{} has runs that never reached the target: their values are only lower bounds"
    if claimed in ("inside", "outside"):
        cens = [s.label for s in (a, b) if any(s.censored)]
        return {HOLDS: why.format(" and ".join(cens)), REFUTED: why.format(" and ".join(cens))} if cens else {}
    small, large = (a, b) if claimed == "less" else (b, a)  # the side the claim says is smaller
    out = {}
    if any(small.censored):
        out[HOLDS] = why.format(small.label)
    if any(large.censored):
        out[REFUTED] = why.format(large.label)
    return out


def decide(verdicts: list[Verdict], alpha: float, others: int = 0) -> None:
    """Holm's correction across the tested verdicts (plus `others` claims of the family that
    cannot be rejected here: they count, as p = 1), then each outcome at level `alpha`: resolved
    iff Holm's p < alpha, iff the decision interval (1 - alpha / c) excludes the boundary."""
    tested = [v for v in verdicts if v._test is not None]
    for v, c in zip(tested, stats.holm_factors([v.p for v in tested] + [1.0] * others)):
        v.alpha, v.holm_factor = alpha, c
        v.p_adjusted = min(1.0, c * v.p)
        v.decision_level = 1 - alpha / c
        v.decision_low, v.decision_high = v._test.interval(v.decision_level)
        v.outcome = UNRESOLVED
        if v.p_adjusted < alpha:
            v.outcome = HOLDS if v._test.supports_claim else REFUTED
            blocked = v._blocked.get(v.outcome)
            if blocked:
                v.reason = "; ".join(r for r in (v.reason, f"would be {v.outcome}, but {blocked}") if r)
                v.outcome, v._held_back = UNRESOLVED, True
    for v in verdicts:
        fewest = min(v.a.seeds_per_arm, v.b.seeds_per_arm) if v.a and v.b else 0
        v.ask_seeds = ROBUST_SEEDS if v.flags and fewest < ROBUST_SEEDS and v._untested != "flat" else None


def plan(verdicts: list[Verdict], alpha: float) -> None:
    """For each unresolved verdict, what would settle it (`remedy`, and `seeds_needed` where seeds
    can help): planned at the Bonferroni level alpha / m over the m tested claims, which Holm never
    asks more of."""
    level = alpha / max(1, sum(v._test is not None for v in verdicts))
    for v in verdicts:
        if v.outcome == UNRESOLVED and v.scale != "exact":
            v.seeds_needed, v.remedy = remedy(v, level)


def remedy(v: Verdict, level: float) -> tuple[int | None, str]:
    """(seeds per arm, what would settle the claim in words) for an unresolved verdict."""
    if v._held_back:
        return None, (
            "more seeds would not help: runs that never reached the target are lower bounds; "
            "a longer run (train.max_steps) would"
        )
    t = v._test
    if t is None:
        return {
            "few": (2, "at least 2 runs per side"),
            "flat": (
                None,
                "more seeds cannot help: the runs do not vary with the seed (does the seed reach the model?)",
            ),
        }.get(v._untested, (None, ""))
    low, high = v.boundary[0], (v.boundary[1] if len(v.boundary) == 2 else math.nan)
    n = stats.seeds_needed(v.estimate, t.sd_a, t.sd_b, level, claimed=v._claimed, low=low, high=high)
    if n is not None and t.p_exact is not None:  # a side without variation: the exact test must pass too
        n = max(n, exact_test_seeds(level))
    if n is not None:
        return n, f"80% power at the observed effect needs {n} seeds per arm"
    if stats.distance(v.estimate, v._claimed, low, high) == 0:
        return None, "the observed difference sits on the boundary: no number of seeds would resolve it"
    return None, f"more than {stats.MAX_SEEDS} seeds per arm would be needed for 80% power at the observed effect"


def exact_test_seeds(level: float) -> int:
    """The fewest seeds per arm at which the exact permutation test can reach p < level."""
    return next(n for n in range(2, 100) if 2 / math.comb(2 * n, n) < level)


def exact_check(id: str, text: str, ok: bool, statistic: str, metric: str = "") -> Verdict:
    """A verdict on numbers that do not vary with the seed (e.g. compute against a paper's table):
    compared directly, not tested."""
    return Verdict(id, text, HOLDS if ok else REFUTED, metric, "exact", scale="exact", reason=statistic)
