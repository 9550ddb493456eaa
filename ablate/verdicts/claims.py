"""The `claims:` of an experiment file: what the researcher expects the runs to show.

    claims:
      - id: plain-degrades                      # a name: [A-Za-z0-9][A-Za-z0-9._+-]*
        text: plain-56 ends with higher training error than plain-20     # optional
        metric: final_train_error               # a runs-table metric, or a curve crossing:
                                                #   {first_step: train/error, at_most: 0.25,
                                                #    window: epoch | record, unit: steps | epochs}
        a: {model.shortcut: none, model.depth: 56}   # an arm name, or a selector on the config
        b: plain-20
        expect: greater        # less | greater | at_most | at_least | equal | differ
                               #   | ratio_at_least | ratio_at_most
        by: 0.0                # less/greater: the margin a must clear; equal: the half-width δ;
                               # at_most/at_least: the non-inferiority margin δ (a - b < δ / > -δ)
        ratio: 3               # ratio_at_least / ratio_at_most: r (a / b against r)
        diverged: worst        # a diverged run counts as the metric's worst value (error 100%,
                               # never reaching a target) | exclude (left out, and reported)
        profiles: [paper]      # optional: the profiles the claim is about (default: all)

A selector names sides by what they are, not by what they are called, so renaming an arm cannot
silently unmeasure a claim. Without `claims:` every arm is compared with the first arm on the
final test error (`expect: differ`). Claims are checked with the rest of the grid, before training.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ablate.errors import UserError
from ablate.verdicts.metrics import CURVES, RUN_METRICS, UNITS, WINDOWS, FirstStep, Metric

CLAIM_KEYS = ("id", "text", "metric", "a", "b", "expect", "by", "ratio", "diverged", "profiles")
EXPECT = ("less", "greater", "at_most", "at_least", "equal", "differ", "ratio_at_least", "ratio_at_most")
MARGINED = ("less", "greater", "at_most", "at_least", "equal")  # the expects that take `by`
DIVERGED = ("worst", "exclude")
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")
DEFAULT_METRIC = "final_test_error"


class ClaimError(UserError):
    """A bad claim: one line naming the file, the claim, the key and the valid choices."""


@dataclass(frozen=True)
class Side:
    arm: str | None = None  # an arm name ...
    select: tuple[tuple[str, Any], ...] = ()  # ... or (dotted config key, value) pairs

    @property
    def label(self) -> str:
        if self.arm is not None:
            return self.arm
        return "{" + ", ".join(f"{k}: {v}" for k, v in self.select) + "}"

    def matches(self, arm: str, flat_config: dict) -> bool:
        if self.arm is not None:
            return arm == self.arm
        return all(k in flat_config and flat_config[k] == v for k, v in self.select)


@dataclass(frozen=True)
class Claim:
    id: str
    text: str
    metric: Metric
    curve: FirstStep | None  # set when the metric is a curve crossing
    a: Side
    b: Side
    expect: str
    by: float = 0.0
    ratio: float | None = None
    diverged: str = "worst"
    profiles: tuple[str, ...] = field(default=())


def _fail(path: Path, where: str, message: str) -> ClaimError:
    return ClaimError(f"{path}: {where}: {message}")


def _number(path, where, key, value, *, positive=False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _fail(path, where, f"key {key!r} must be a number, got {type(value).__name__} {value!r}")
    if positive and not value > 0:
        raise _fail(path, where, f"key {key!r} must be > 0, got {value!r}")
    if value < 0:
        raise _fail(path, where, f"key {key!r} must be >= 0, got {value!r}")
    return float(value)


def _metric(path, where, raw, extra: dict[str, Metric]) -> tuple[Metric, FirstStep | None]:
    known = {**RUN_METRICS, **extra}
    if isinstance(raw, str):
        if raw not in known:
            raise _fail(
                path,
                where,
                f"key 'metric': unknown metric {raw!r}; valid: {', '.join(known)}, "
                "or {first_step: CURVE, at_most|at_least: LEVEL}",
            )
        return known[raw], None
    if not isinstance(raw, dict):
        raise _fail(path, where, f"key 'metric' must be a metric name or a mapping, got {type(raw).__name__}")
    allowed = ("first_step", "at_most", "at_least", "window", "unit")
    for key in raw:
        if key not in allowed:
            raise _fail(path, where, f"unknown key 'metric.{key}'; valid: {', '.join(allowed)}")
    curve = raw.get("first_step")
    if curve not in CURVES:
        raise _fail(path, where, f"key 'metric.first_step': {curve!r} is not a curve; valid: {', '.join(CURVES)}")
    directions = [d for d in ("at_most", "at_least") if d in raw]
    if len(directions) != 1:
        raise _fail(path, where, "key 'metric' needs exactly one of at_most, at_least (the level to cross)")
    level = _number(path, where, f"metric.{directions[0]}", raw[directions[0]])
    if "error" in curve and level > 1:
        raise _fail(path, where, f"key 'metric.{directions[0]}': {level!r} is not an error rate in [0, 1]")
    window, unit = raw.get("window", "epoch"), raw.get("unit", "steps")
    if window not in WINDOWS:
        raise _fail(path, where, f"key 'metric.window': {window!r} is not one of {', '.join(WINDOWS)}")
    if unit not in UNITS:
        raise _fail(path, where, f"key 'metric.unit': {unit!r} is not one of {', '.join(UNITS)}")
    fs = FirstStep(curve, level, directions[0], window, unit)
    return fs.metric, fs


def _side(path, where, key, raw, arms: list[str], config_keys: set[str]) -> Side:
    if isinstance(raw, str):
        if raw not in arms:
            raise _fail(path, where, f"key {key!r}: unknown arm {raw!r}; valid: {', '.join(arms)}")
        return Side(arm=raw)
    if isinstance(raw, dict) and raw:
        for k in raw:
            if k not in config_keys:
                raise _fail(
                    path,
                    where,
                    f"key '{key}.{k}': not a config key of any arm; valid: {', '.join(sorted(config_keys))}",
                )
        return Side(select=tuple(sorted(raw.items())))
    raise _fail(path, where, f"key {key!r} must be an arm name or a mapping of config keys to values, got {raw!r}")


def _default_text(metric: Metric, a: Side, b: Side, expect: str, by: float, ratio: float | None) -> str:
    m = metric.label
    # A margin on a percentage is a difference of percentages: points, never "%" (20% of what?).
    points = by * metric.scale
    shown = f"{points:g} point{'s' * (points != 1)}" if metric.unit == "%" else f"{points:g}{metric.unit}"
    if expect == "less":
        return f"{a.label} has lower {m} than {b.label}" + (f" by at least {shown}" if by else "")
    if expect == "greater":
        return f"{a.label} has higher {m} than {b.label}" + (f" by at least {shown}" if by else "")
    if expect in ("at_most", "at_least"):
        return f"{a.label}'s {m} is at {expect[3:]} {b.label}'s {'+' if expect == 'at_most' else '-'} {shown}"
    if expect == "equal":
        return f"{a.label} has the {m} of {b.label} within {shown}"
    if expect == "differ":
        return f"{a.label} differs from {b.label} in {m}"
    return f"{a.label}'s {m} is at {'least' if expect == 'ratio_at_least' else 'most'} {ratio:g}x {b.label}'s"


def parse_claims(
    path: Path, spec: dict, config_keys: set[str], extra_metrics: dict[str, Metric] | None = None
) -> list[Claim]:
    """The experiment's claims, validated; `config_keys`: the dotted keys of the grid's configs
    (what a selector may name); `extra_metrics`: columns the experiment's analysis module adds."""
    raw_claims = spec.get("claims")
    if raw_claims is None:
        return default_claims(list(spec["arms"]))
    if not isinstance(raw_claims, list):
        raise ClaimError(f"{path}: key 'claims' must be a list of claims, got {type(raw_claims).__name__}")
    out, seen = [], set()
    for i, raw in enumerate(raw_claims):
        claim = _parse_one(path, i, raw, spec, config_keys, extra_metrics or {})
        if claim.id in seen:
            raise _fail(path, f"claims[{i}]", f"key 'id': {claim.id!r} is used by an earlier claim")
        seen.add(claim.id)
        out.append(claim)
    return out


def default_claims(arms: list[str]) -> list[Claim]:
    """Without `claims:`: every arm differs from the first on the final test error."""
    first, m = Side(arm=arms[0]), RUN_METRICS[DEFAULT_METRIC]
    return [
        Claim(
            f"{arm}-vs-{arms[0]}",
            _default_text(m, Side(arm=arm), first, "differ", 0, None),
            m,
            None,
            Side(arm=arm),
            first,
            "differ",
        )
        for arm in arms[1:]
    ]


def _parse_one(path: Path, i: int, raw, spec: dict, config_keys: set[str], extra: dict[str, Metric]) -> Claim:
    where = f"claims[{i}]"
    if not isinstance(raw, dict):
        raise _fail(path, where, f"a claim must be a mapping with keys {', '.join(CLAIM_KEYS)}")
    for key in raw:
        if key not in CLAIM_KEYS:
            raise _fail(path, where, f"unknown key {key!r}; valid: {', '.join(CLAIM_KEYS)}")
    for key in ("id", "metric", "a", "b", "expect"):
        if key not in raw:
            raise _fail(path, where, f"key {key!r} is required")
    cid = raw["id"]
    if not isinstance(cid, str) or not NAME.fullmatch(cid):
        raise _fail(path, where, f"key 'id': {cid!r} must match {NAME.pattern}")
    where = f"claims[{i}] ({cid})"
    arms = list(spec["arms"])
    metric, curve = _metric(path, where, raw["metric"], extra)
    a = _side(path, where, "a", raw["a"], arms, config_keys)
    b = _side(path, where, "b", raw["b"], arms, config_keys)
    expect = raw["expect"]
    if expect not in EXPECT:
        raise _fail(path, where, f"key 'expect': {expect!r} is not one of {', '.join(EXPECT)}")
    by, ratio = _margin(path, where, raw, expect)
    diverged = raw.get("diverged", "worst")
    if diverged not in DIVERGED:
        raise _fail(path, where, f"key 'diverged': {diverged!r} is not one of {', '.join(DIVERGED)}")
    profiles = raw.get("profiles") or []
    if not isinstance(profiles, list) or any(p not in spec["profiles"] for p in profiles):
        raise _fail(path, where, f"key 'profiles': {profiles!r}; valid profiles: {', '.join(spec['profiles'])}")
    text = raw.get("text") or _default_text(metric, a, b, expect, by, ratio)
    if not isinstance(text, str):
        raise _fail(path, where, "key 'text' must be a string")
    return Claim(cid, " ".join(text.split()), metric, curve, a, b, expect, by, ratio, diverged, tuple(profiles))


def _margin(path: Path, where: str, raw: dict, expect: str) -> tuple[float, float | None]:
    """(by, ratio) of a claim, each where its `expect` takes it."""
    by = _number(path, where, "by", raw.get("by", 0.0))
    if expect in ("equal", "at_most", "at_least") and by == 0:
        raise _fail(path, where, f"key 'by' (the margin δ of {expect!r}) is required and must be > 0")
    if "by" in raw and expect not in MARGINED:
        raise _fail(path, where, f"key 'by' applies to expect {', '.join(MARGINED)}, not {expect!r}")
    if expect.startswith("ratio_"):
        if "ratio" not in raw:
            raise _fail(path, where, f"key 'ratio' (r of {expect}) is required")
        return by, _number(path, where, "ratio", raw["ratio"], positive=True)
    if "ratio" in raw:
        raise _fail(path, where, f"key 'ratio' applies to expect ratio_at_least, ratio_at_most, not {expect!r}")
    return by, None
