"""Claims x runs -> verdicts: HOLDS, REFUTED or UNRESOLVED, each with the numbers behind it.

Every experiment goes through this one function. A side's values are one per finished run (seed)
of the cells it selects. Diverged runs count as the metric's worst value (or are left out, if the
claim says `diverged: exclude`, and reported). Censored values (a target never reached: the run
length, a lower bound) are kept; a verdict that a lower bound could overturn is UNRESOLVED:
"a reaches the target sooner than b" can hold with b censored, never with a censored.
Exact metrics (an architecture's parameters) are compared directly, not tested.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from ablate.verdicts import stats
from ablate.verdicts.claims import Claim, Side
from ablate.verdicts.metrics import first_step

HOLDS, REFUTED, UNRESOLVED, NOT_MEASURED = "holds", "refuted", "unresolved", "not measured"
# expect -> (claimed side of a - b, scale); ratios are tested on log values.
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


@dataclass
class SideValues:
    label: str
    arms: list[str]
    n: int
    values: list[float]
    censored: list[bool]
    excluded: int = 0  # diverged runs left out (diverged: exclude)
    diverged: int = 0

    @property
    def mean(self) -> float:
        return float(np.mean(self.values)) if self.values else math.nan

    @property
    def sd(self) -> float:
        return float(np.std(self.values, ddof=1)) if len(self.values) > 1 else math.nan


@dataclass
class Verdict:
    id: str
    text: str
    outcome: str
    metric: str
    expect: str
    a: SideValues | None = None
    b: SideValues | None = None
    scale: str = "difference"  # difference | log ratio | exact
    boundary: list[float] = field(default_factory=list)  # on the tested scale
    estimate: float = math.nan
    ci_low: float = math.nan
    ci_high: float = math.nan
    df: float = math.nan
    p: float = math.nan
    p_adjusted: float = math.nan
    effect_size: float = math.nan
    seeds_needed: int | None = None
    reason: str = ""  # why unresolved or not measured; notes on censoring and exclusions
    unit: str = ""
    value_scale: float = 1.0
    _test: stats.Test | None = field(default=None, repr=False)
    _blocked: dict = field(default_factory=dict, repr=False)  # outcome -> why censoring forbids it

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("_test"), d.pop("_blocked")
        return _finite(d)

    # -------------------------------------------------------------------------------- text
    def line(self) -> str:
        return f"[{self.outcome.upper()}] {self.id}: {self.text}\n    {self.statistic()}"

    def statistic(self) -> str:
        if self.outcome == NOT_MEASURED or self.a is None:
            return self.reason
        sides = f"{self._side(self.a)} vs {self._side(self.b)}"
        if self.scale == "exact":
            return f"{sides} (exact: a property of the architecture, the same for every seed)" + (
                f"; {self.reason}" if self.reason else ""
            )
        parts = [sides]
        if math.isfinite(self.estimate) and math.isfinite(self.ci_low):
            if self.scale == "log ratio":
                parts.append(
                    f"ratio {math.exp(self.estimate):.3g}x, 95% CI [{math.exp(self.ci_low):.3g}, "
                    f"{math.exp(self.ci_high):.3g}]x"
                )
            else:
                unit = " pp" if self.unit == "%" else self.unit  # a difference of percentages
                f = lambda v: f"{v * self.value_scale:+.3g}{unit}"
                parts.append(f"Δ = {f(self.estimate)}, 95% CI [{f(self.ci_low)}, {f(self.ci_high)}]")
            parts.append(f"p = {self.p:.2g}" + (f" (Holm {self.p_adjusted:.2g})" if self.p_adjusted != self.p else ""))
            parts.append(f"d = {self.effect_size:.2g}")
        if self.reason:
            parts.append(self.reason)
        if self.outcome == UNRESOLVED:
            parts.append(
                f"seeds per arm for 80% power at the observed effect: {self.seeds_needed}"
                if self.seeds_needed
                else "no number of seeds would resolve the observed effect"
                if self._test is not None
                else ""
            )
        return "; ".join(p for p in parts if p)

    def _side(self, s: SideValues) -> str:
        if not s.values:
            return f"{s.label} (no values)"
        shown = s.mean * self.value_scale
        if self.scale == "exact":
            return f"{s.label} {shown:,.4g}{self.unit}" if abs(shown) < 1e4 else f"{s.label} {shown:,.0f}{self.unit}"
        bound = "≥ " if any(s.censored) else ""
        digits = ".2f" if self.unit == "%" else ".4g"
        sd = f"sd {s.sd * self.value_scale:{digits}}, " if len(s.values) > 1 else ""
        extra = f", {sum(s.censored)} never reached" if any(s.censored) else ""
        extra += f", {s.excluded} diverged left out" if s.excluded else ""
        return f"{s.label} {bound}{shown:{digits}}{self.unit} ({sd}n={s.n}{extra})"


def _finite(obj):
    """JSON has no NaN: None instead."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_finite(v) for v in obj]
    return obj


def side_values(claim: Claim, side: Side, runs: pd.DataFrame, curves: pd.DataFrame) -> SideValues:
    """One value per finished run of the cells the side selects (see the module docstring)."""
    rows = runs[[side.matches(arm, cfg) for arm, cfg in zip(runs.arm, runs["_flat_config"])]]
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
    arms = sorted(set(rows.arm))
    label = arms[0] if side.arm is None and len(arms) == 1 else side.label  # a selector of one arm: its name
    return SideValues(
        label, arms, len(values), [float(v) for v in values], [bool(c) for c in censored], excluded, int(diverged.sum())
    )


def evaluate(claims: list[Claim], runs: pd.DataFrame, curves: pd.DataFrame, profile: str) -> list[Verdict]:
    """The verdict of every claim that applies to `profile`, Holm-corrected together.

    runs: the analysis runs frame with a `_flat_config` column (dotted config of each run)."""
    verdicts = [_one(c, runs, curves) for c in claims if not c.profiles or profile in c.profiles]
    tested = [v for v in verdicts if v._test is not None]
    for v, p_adj in zip(tested, stats.holm([v.p for v in tested])):
        v.p_adjusted = p_adj
        _decide(v, len(tested))
    return verdicts


def _decide(v: Verdict, m: int) -> None:
    """Outcome from the Holm-adjusted p, then censoring; seeds needed when unresolved (planned at
    the Bonferroni level ALPHA / m, which Holm never asks more of)."""
    t = v._test
    outcome = UNRESOLVED
    if v.p_adjusted < stats.ALPHA:
        outcome = HOLDS if t.supports_claim else REFUTED
        blocked = v._blocked.get(outcome)
        if blocked:
            v.reason = "; ".join(r for r in (v.reason, f"would be {outcome}, but {blocked}") if r)
            outcome = UNRESOLVED
    v.outcome = outcome
    if outcome == UNRESOLVED:
        effect = v.estimate - _nearest(v.boundary, v.estimate)
        v.seeds_needed = stats.seeds_needed(effect, t.sd_a, t.sd_b, alpha=stats.ALPHA / m)


def _nearest(boundary: list[float], x: float) -> float:
    return min(boundary, key=lambda b: abs(x - b))


def _one(claim: Claim, runs: pd.DataFrame, curves: pd.DataFrame) -> Verdict:
    v = Verdict(
        claim.id,
        claim.text,
        NOT_MEASURED,
        claim.metric.label,
        claim.expect,
        unit=claim.metric.unit,
        value_scale=claim.metric.scale,
    )
    a, b = side_values(claim, claim.a, runs, curves), side_values(claim, claim.b, runs, curves)
    v.a, v.b = a, b
    missing = [s.label for s in (a, b) if not s.values]
    if missing:
        v.reason = f"no finished run of {' or '.join(missing)} in this grid"
        return v
    ratio = claim.expect.startswith("ratio_")
    # The boundary a - b is tested against: less/greater clear a margin, at_most/at_least (non-
    # inferiority) may fall short of it by up to δ, equal lies within ±δ.
    low = math.log(claim.ratio) if ratio else (-claim.by if claim.expect in ("less", "equal", "at_least") else claim.by)
    high = claim.by if claim.expect == "equal" else math.nan
    if claim.expect == "differ":
        low = high = 0.0
    v.boundary = [low] if math.isnan(high) else [low, high]
    xa, xb = np.array(a.values), np.array(b.values)
    if ratio:
        if (xa <= 0).any() or (xb <= 0).any():
            v.outcome, v.reason = UNRESOLVED, "a ratio needs positive values on both sides"
            return v
        xa, xb, v.scale = np.log(xa), np.log(xb), "log ratio"
    claimed = CLAIMED[claim.expect]
    if claim.metric.exact:
        v.scale = "exact"
        v.estimate = float(xa.mean() - xb.mean())
        inside = low <= v.estimate <= high if claimed in ("inside", "outside") else None
        ok = {"less": v.estimate < low, "greater": v.estimate > low, "inside": inside, "outside": inside is False}[
            claimed
        ]
        v.outcome = HOLDS if ok else REFUTED
        return v
    t = stats.welch(xa, xb, claimed, low, high)
    if t is None:
        v.outcome = UNRESOLVED
        v.reason = (
            "fewer than 2 runs on a side: the seed-to-seed noise is unknown"
            if min(len(xa), len(xb)) < 2
            else "no seed-to-seed variation on either side: the noise cannot be estimated"
        )
        v.estimate = float(xa.mean() - xb.mean())
        return v
    v._test = t
    v.estimate, v.ci_low, v.ci_high, v.df, v.p, v.p_adjusted = t.estimate, t.ci_low, t.ci_high, t.df, t.p, t.p
    v.effect_size = t.effect_size
    v._blocked = _censoring(claimed, a, b)
    notes = [
        f"{s.label}: {sum(s.censored)} of {s.n} runs never reached the target (counted as the run length, "
        "a lower bound)"
        for s in (a, b)
        if any(s.censored)
    ]
    notes += [f"{s.label}: {s.excluded} diverged runs left out" for s in (a, b) if s.excluded]
    v.reason = "; ".join(notes)
    return v


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


def exact_check(id: str, text: str, ok: bool, statistic: str, metric: str = "") -> Verdict:
    """A verdict on numbers that do not vary with the seed (e.g. compute against a paper's table):
    compared directly, not tested."""
    return Verdict(id, text, HOLDS if ok else REFUTED, metric, "exact", scale="exact", reason=statistic)
