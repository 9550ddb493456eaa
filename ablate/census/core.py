"""A statement is data: what the seed says, the figure it states, and a function that measures it.

Verdicts come from one rule, `verdict(expected, measured, rel_tol_holds, rel_tol_approx)`, on the
relative error |measured - expected| / |expected| (for a range, the distance to the nearer end; for
a list of figures, the worst element). Three tolerance presets, chosen by how the seed states the
figure (see docs/statements.md):

  EXACT    0 / 1%   a printed exact figure: 44,426; 1,638,400; a shape; a layer count
  ROUNDED  2% / 10% a figure rounded to two or three digits: 61M, 25.6M, 28%, "twelve times"
                    (2% covers rounding to two significant digits and counting conventions such
                    as biases)
  ABOUT    10% / 25% a hedged figure with one significant digit: "about 60,000", "roughly a
                    thousand times", "almost all" (= 100%, so >= 90% holds)

Within the first bound the statement holds, within the second it holds approximately, else refuted.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Between:
    """An expected range, inclusive: "an 8-9x reduction" is Between(8, 9)."""

    lo: float
    hi: float

    def __str__(self) -> str:
        return f"{_fmt(self.lo)}–{_fmt(self.hi)}"


Figure = int | float | Between | Sequence[int | float]


@dataclass(frozen=True)
class Tolerance:
    holds: float  # relative error up to which the statement holds
    approx: float  # ... and up to which it holds approximately


EXACT = Tolerance(0.0, 0.01)
ROUNDED = Tolerance(0.02, 0.10)
ABOUT = Tolerance(0.10, 0.25)

VERDICTS = ("holds", "approximately", "refuted")


def relative_error(expected: Figure, measured: Figure) -> float:
    if isinstance(expected, Between):
        if expected.lo <= measured <= expected.hi:
            return 0.0
        edge = expected.lo if measured < expected.lo else expected.hi
        return abs(measured - edge) / abs(edge) if edge else math.inf
    if isinstance(expected, (list, tuple)):
        if not isinstance(measured, (list, tuple)) or len(measured) != len(expected):
            return math.inf
        return max(relative_error(e, m) for e, m in zip(expected, measured))
    if expected == 0:
        return 0.0 if measured == 0 else math.inf
    return abs(measured - expected) / abs(expected)


def verdict(expected: Figure, measured: Figure, rel_tol_holds: float, rel_tol_approx: float) -> str:
    """'holds', 'approximately' or 'refuted', from the relative error of measured vs expected."""
    err = relative_error(expected, measured)
    if err <= rel_tol_holds:
        return "holds"
    return "approximately" if err <= rel_tol_approx else "refuted"


@dataclass(frozen=True)
class Statement:
    """One countable statement of a seed. `measure` returns the measured figure, or (figure, extras)
    where extras fill `{...}` fields of `note` with further measured numbers."""

    id: str
    source: str  # the seed file
    statement: str  # as the seed states it
    expected: Figure
    unit: str
    measure: Callable[[], Any]
    tol: Tolerance = ROUNDED
    note: str = ""  # where the seed and the paper (or our measurement) differ
    tags: tuple[str, ...] = field(default=())


@dataclass
class Row:
    id: str
    source: str
    statement: str
    expected: Figure
    measured: Figure
    unit: str
    verdict: str
    note: str
    compared: dict = field(default_factory=dict)  # the measured numbers behind the figure (a ratio's a and b)

    def as_json(self) -> dict:
        exp = self.expected
        if isinstance(exp, Between):
            exp = {"min": exp.lo, "max": exp.hi}
        elif isinstance(exp, tuple):
            exp = list(exp)
        meas = list(self.measured) if isinstance(self.measured, tuple) else self.measured
        return {
            "id": self.id,
            "source": self.source,
            "statement": self.statement,
            "expected": exp,
            "measured": meas,
            "unit": self.unit,
            "verdict": self.verdict,
            "note": self.note,
            "compared": self.compared,
        }


def _clean(x: Any) -> Any:
    """Plain numbers: exact ints stay ints, floats keep 6 significant digits."""
    if isinstance(x, (list, tuple)):
        return tuple(_clean(v) for v in x)
    if isinstance(x, bool):
        return int(x)
    if isinstance(x, int):
        return x
    if isinstance(x, float):
        return float(f"{x:.6g}")
    if hasattr(x, "item"):  # a 0-d tensor
        return _clean(x.item())
    raise TypeError(f"measured figure must be a number or a list of numbers, got {type(x)}")


def evaluate(statement: Statement) -> Row:
    result = statement.measure()
    measured, extras = (
        result if isinstance(result, tuple) and len(result) == 2 and isinstance(result[1], dict) else (result, {})
    )
    measured = _clean(measured)
    # Note fields: ints stay ints (so '{x:,}' works), floats print with 4 significant digits.
    fields = {k: f"{v:.4g}" if isinstance(v, float) else v for k, v in {**extras, "measured": measured}.items()}
    note = statement.note.format(**fields) if statement.note else ""
    compared = {k: _clean(v) if isinstance(v, (int, float)) else v for k, v in extras.items()}
    return Row(
        statement.id,
        statement.source,
        statement.statement,
        statement.expected,
        measured,
        statement.unit,
        verdict(statement.expected, measured, statement.tol.holds, statement.tol.approx),
        note,
        {k: list(v) if isinstance(v, tuple) else v for k, v in compared.items()},
    )


def _fmt(x: Any, unit: str = "") -> str:
    if isinstance(x, Between):
        return str(x)
    if isinstance(x, dict):  # a range as JSON
        return f"{_fmt(x['min'])}–{_fmt(x['max'])}"
    if isinstance(x, (list, tuple)):
        return (" × " if "×" in unit else " / ").join(_fmt(v) for v in x)
    if isinstance(x, int):
        return f"{x:,}"
    if isinstance(x, float):
        if x == int(x) and abs(x) >= 1000:
            return f"{int(x):,}"
        return f"{x:.4g}"
    return str(x)


fmt = _fmt  # public name for the table formatters
