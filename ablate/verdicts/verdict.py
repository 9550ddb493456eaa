"""A verdict and what it prints: the outcome, the numbers the decision used, and what it rests on.

The printed statistic says what was decided: both sides (mean, sd), the runs of each side that
diverged, were left out, were censored or had no value, the boundary the claim draws (with its
margin), the estimate with its 95% interval and with the interval the decision used (the level
Holm's correction and, in a sequential design, the look set), p, d, the flags that make the
verdict fragile at this number of seeds, and, when unresolved, what would settle it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np

HOLDS, REFUTED, UNRESOLVED, NOT_MEASURED = "holds", "refuted", "unresolved", "not measured"
# A verdict's place in its design: fixed (one look); sequential: settled (resolved at this look),
# stopped (unresolved; more seeds within the schedule could not settle it), final (the last look),
# open (waiting for the runs of the next look).
STAGES = ("fixed", "settled", "stopped", "final", "open")


@dataclass
class SideValues:
    label: str
    arms: list[str]
    n: int  # values used
    values: list[float]
    censored: list[bool]
    excluded: int = 0  # diverged runs left out (diverged: exclude, or a metric without a worst value)
    diverged: int = 0  # diverged runs, counted as the metric's worst value or left out
    no_value: list[str] = field(default_factory=list)  # runs whose value is NaN or inf: left out, named

    @property
    def mean(self) -> float:
        return float(np.mean(self.values)) if self.values else math.nan

    @property
    def sd(self) -> float:
        return float(np.std(self.values, ddof=1)) if len(self.values) > 1 else math.nan

    @property
    def seeds_per_arm(self) -> float:
        return self.n / max(1, len(self.arms))


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
    ci_low: float = math.nan  # 95%
    ci_high: float = math.nan
    df: float = math.nan
    p: float = math.nan
    p_exact: float | None = None  # exact permutation p, when a side has no variation
    p_adjusted: float = math.nan
    alpha: float = math.nan  # the level of this look (ALPHA in a fixed design)
    holm_factor: float = math.nan  # c: p_adjusted = min(1, c·p)
    decision_level: float = math.nan  # 1 - alpha / c: resolved iff this interval excludes the boundary
    decision_low: float = math.nan
    decision_high: float = math.nan
    effect_size: float = math.nan
    seeds_needed: int | None = None
    remedy: str = ""  # unresolved: what would settle it (seeds, a longer run, nothing)
    flags: list[str] = field(default_factory=list)  # why the verdict is fragile at this n
    ask_seeds: int | None = None  # seeds per arm a flagged verdict asks for before it is trusted
    reason: str = ""  # why unresolved or not measured; notes on censoring
    unit: str = ""
    value_scale: float = 1.0
    stage: str = "fixed"
    look: int | None = None  # sequential: the look of these numbers (1-based) ...
    looks: int | None = None  # ... of this many planned
    seeds: int | None = None  # ... with this many seeds per arm
    _test: object | None = field(default=None, repr=False)  # stats.Test
    _blocked: dict = field(default_factory=dict, repr=False)  # outcome -> why censoring forbids it
    _claimed: str = field(default="", repr=False)  # the claimed side of a - b (stats.SIDES)
    _held_back: bool = field(default=False, repr=False)  # resolved, but censoring forbids the outcome
    _untested: str = field(default="", repr=False)  # why not tested: few, flat, empty, nonpositive

    def to_dict(self) -> dict:
        return _finite({k: v for k, v in asdict(self).items() if not k.startswith("_")})

    # -------------------------------------------------------------------------------- text
    def line(self) -> str:
        return f"[{self.outcome.upper()}] {self.id}: {self.text}\n" + "\n".join(f"    {p}" for p in self._lines())

    def statistic(self) -> str:
        return "; ".join(self._lines())

    def _lines(self) -> list[str]:
        if self.a is None:
            return [p for p in (self.reason, self.remedy, self._look_text()) if p]
        sides = f"{self._side(self.a)} vs {self._side(self.b)}; {self._runs()}"
        if self.scale == "exact":
            return [f"{sides} (exact: a property of the architecture, the same for every seed)"] + [
                p for p in (self.reason,) if p
            ]
        numbers = [self._claimed_text()]
        if math.isfinite(self.estimate) and math.isfinite(self.ci_low):
            numbers += [self._intervals(), self._p_text(), f"d = {self.effect_size:.2g}"]
        notes = [self.reason, self._flags_text(), self.remedy, self._look_text()]
        return [sides, "; ".join(numbers)] + ["; ".join(p for p in notes if p)] * any(notes)

    def _shown(self, v: float) -> str:
        if self.scale == "log ratio":
            return f"{math.exp(v):.3g}x"
        unit = " pp" if self.unit == "%" else self.unit  # a difference of percentages
        return "0" if v == 0 else f"{v * self.value_scale:+.3g}{unit}"

    def _claimed_text(self) -> str:
        lo = self.boundary[0] if self.boundary else 0.0
        what = "ratio" if self.scale == "log ratio" else "Δ"
        if self._claimed in ("inside", "outside") and len(self.boundary) == 2 and self.boundary[0] != self.boundary[1]:
            op = "inside" if self._claimed == "inside" else "outside"
            return f"claimed: {what} {op} [{self._shown(lo)}, {self._shown(self.boundary[1])}]"
        op = {"less": "<", "greater": ">", "inside": "=", "outside": "≠"}.get(self._claimed, "vs")
        margin = " (the margin `by`)" if self.scale == "difference" and lo != 0 else ""
        return f"claimed: {what} {op} {self._shown(lo)}{margin}"

    def _intervals(self) -> str:
        pair = lambda lo, hi: f"[{self._shown(lo)}, {self._shown(hi)}]"
        text = f"{'ratio' if self.scale == 'log ratio' else 'Δ'} = {self._shown(self.estimate)}, 95% CI "
        text += pair(self.ci_low, self.ci_high)
        if not math.isfinite(self.decision_low):
            return text
        if abs(self.decision_level - 0.95) < 1e-12:
            return text + " (the interval the decision used)"
        where = f"look {self.look} of {self.looks}: " if self.look else ""
        holm = f", Holm ×{self.holm_factor:.3g}" if self.holm_factor != 1 else ""
        return (
            f"{text}; decision interval {100 * self.decision_level:.4g}% ({where}α {self.alpha:.2g}{holm}) "
            f"{pair(self.decision_low, self.decision_high)}"
        )

    def _p_text(self) -> str:
        text = f"p = {self.p:.2g}"
        if self.p_exact is not None:
            text += " (the exact permutation test's: a side has no variation)"
        if math.isfinite(self.p_adjusted) and self.p_adjusted != self.p:
            text += f", Holm {self.p_adjusted:.2g}"
        return text

    def _flags_text(self) -> str:
        if not self.flags:
            return ""
        ask = f"; it asks for {self.ask_seeds} seeds per arm before it is trusted" if self.ask_seeds else ""
        return "fragile: " + ", ".join(self.flags) + ask

    def _look_text(self) -> str:
        if self.stage == "fixed" or self.look is None:
            return ""
        when = f"look {self.look} of {self.looks}, {self.seeds} seeds per arm"
        return {
            "settled": f"settled at {when}",
            "stopped": f"stopped at {when}",
            "final": f"judged at the last look ({when})",
            "open": f"open after {when}",
        }[self.stage]

    def _runs(self) -> str:
        a, b = self.a, self.b
        pair = lambda x, y: f"{x}/{y}"
        text = f"runs a/b: {pair(a.n, b.n)}, diverged {pair(a.diverged, b.diverged)}"
        text += f", excluded {pair(a.excluded, b.excluded)}, censored {pair(sum(a.censored), sum(b.censored))}"
        if a.no_value or b.no_value:
            text += f", no value {pair(len(a.no_value), len(b.no_value))}"
        return text

    def _side(self, s: SideValues) -> str:
        if not s.values:
            return f"{s.label} (no values)"
        shown = s.mean * self.value_scale
        if self.scale == "exact":
            return f"{s.label} {shown:,.4g}{self.unit}" if abs(shown) < 1e4 else f"{s.label} {shown:,.0f}{self.unit}"
        bound = "≥ " if any(s.censored) else ""
        digits = ".2f" if self.unit == "%" else ".4g"
        sd = f" (sd {s.sd * self.value_scale:{digits}})" if len(s.values) > 1 else ""
        return f"{s.label} {bound}{shown:{digits}}{self.unit}{sd}"


def _finite(obj):
    """JSON has no NaN: None instead."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_finite(v) for v in obj]
    return obj
