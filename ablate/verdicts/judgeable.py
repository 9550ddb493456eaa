"""Claims that no run of the file could ever judge, refused before anything trains.

parse_claims checks each claim against the grid being loaded; this looks at every profile of the
file at once (the loader expands each, ablate.experiment), because a claim about cells that exist
only in another profile is a claim about that profile, reported as a note when this one is
analysed. A claim is refused, in one line naming the file, the claim and why, when in every
profile it is about

- a side selects no cell (a typo in an arm name or a selector value: `optim.lr: 0.5` where no arm
  has that rate), or the two sides never select cells of the same profile;
- the two sides select the same cells (an arm against itself: p = 1, nothing tested) — refused if
  that is so in any profile the claim is about;
- the metric is one the runs will not have: a training-curve metric where the runs record no
  training window (train.log_every > train.max_steps), or a metric of the analysis module's
  METRICS that it has no `derive` hook to add.

A `tuned` value is not looked up for these checks (its study may not exist yet): it stands for any
value (ANY), and a claim whose sides differ only through one is not refused.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from ablate.verdicts.claims import ClaimError, Side
from ablate.verdicts.metrics import RUN_METRICS

# The metrics read from the training records (train.log_every): without a record there is no value.
TRAINING_RECORD_METRICS = ("final_train_error_running", "late_train_error_change")

Cells = Sequence[tuple[str, dict]]  # (arm, flattened config) of each cell of a profile


class _Any:
    """A value not known before training (a `tuned` key): equal to every value."""

    def __eq__(self, other) -> bool:
        return True

    def __hash__(self) -> int:
        return 0

    def __repr__(self) -> str:
        return "tuned"


ANY = _Any()


def _selected(side: Side, cells: Cells, unknown_matches: bool) -> frozenset[int]:
    """The cells a side selects; a key whose value is ANY matches (unknown_matches) or does not."""
    out = set()
    for i, (arm, flat) in enumerate(cells):
        if not unknown_matches:
            flat = {k: v for k, v in flat.items() if v is not ANY}
        if side.matches(arm, flat):
            out.add(i)
    return frozenset(out)


def _records_training(cells: Cells, chosen: Iterable[int]) -> bool:
    return any(cells[i][1]["train.log_every"] <= cells[i][1]["train.max_steps"] for i in chosen)


def _fail(path: Path, where: str, message: str) -> ClaimError:
    return ClaimError(f"{path}: {where}: {message}")


def check_claims_judgeable(
    path: Path,
    spec: dict,
    claims: list,
    cells_by_profile: dict[str, Cells | None],
    underived: Iterable[str] = (),
) -> None:
    """Raise ClaimError for the first claim of the file's `claims:` that can never be judged.
    cells_by_profile: each profile's cells (None: the profile could not be expanded; then only what
    its known profiles prove is refused); underived: metric names nothing will add to the runs."""
    if spec.get("claims") is None:
        return  # the default claims (each arm against the first) are ablate's, not a typo of the user's
    for i, claim in enumerate(claims):
        where = f"claims[{i}] ({claim.id})"
        if claim.metric.name in set(underived) and claim.metric.name not in RUN_METRICS:
            raise _fail(
                path,
                where,
                f"key 'metric': {claim.metric.name!r} is in the analysis module's METRICS, but the module has no "
                "`derive` hook to add it: the runs will never have it",
            )
        profiles = {p: cells for p, cells in cells_by_profile.items() if not claim.profiles or p in claim.profiles}
        _check_sides(path, where, claim, profiles)


def _check_sides(path: Path, where: str, claim, profiles: dict[str, Cells | None]) -> None:
    known = {p: cells for p, cells in profiles.items() if cells is not None}
    scope = "of any profile" if not claim.profiles else f"of the profiles it is about ({', '.join(claim.profiles)})"
    both = []
    for p, cells in known.items():
        a, b = _selected(claim.a, cells, True), _selected(claim.b, cells, True)
        if a and b and a == b == _selected(claim.a, cells, False) == _selected(claim.b, cells, False):
            raise _fail(
                path,
                where,
                f"sides a ({claim.a.label}) and b ({claim.b.label}) select the same cells in profile {p!r} "
                f"({len(a)} run{'s' * (len(a) != 1)}): an arm against itself has nothing to test; make the sides differ, or name the profiles "
                f"the claim is about in its `profiles:`",
            )
        if a and b:
            both.append(p)
    if len(known) < len(profiles):
        return  # a profile that did not expand may hold what the claim needs
    for key, side in (("a", claim.a), ("b", claim.b)):
        if not any(_selected(side, cells, True) for cells in known.values()):
            raise _fail(path, where, f"key {key!r}: {side.label} selects no cell {scope}{_values_hint(side, known)}")
    if not both:
        raise _fail(path, where, f"sides a ({claim.a.label}) and b ({claim.b.label}) never select cells of one profile")
    _check_metric(path, where, claim, {p: known[p] for p in both})


def _check_metric(path: Path, where: str, claim, profiles: dict[str, Cells]) -> None:
    """Refused when in no profile both sides have runs with the training records the metric needs."""
    curve = claim.curve.curve if claim.curve is not None else None
    if claim.metric.name not in TRAINING_RECORD_METRICS and not (curve or "").startswith("train/"):
        return
    for cells in profiles.values():
        sides = (_selected(claim.a, cells, True), _selected(claim.b, cells, True))
        if all(_records_training(cells, chosen) for chosen in sides):
            return
    raise _fail(
        path,
        where,
        f"key 'metric': {claim.metric.name!r} is read from the training records, and the cells of a side record "
        "none (train.log_every is more than train.max_steps): the runs will never have it",
    )


def _values_hint(side: Side, known: dict[str, Cells]) -> str:
    """For a selector: the values its keys take in the file's cells (what the user may have meant)."""
    if side.arm is not None:
        arms = sorted({arm for cells in known.values() for arm, _ in cells})
        return f"; the arms of its profiles: {', '.join(arms)}"
    hints = []
    for key, _ in side.select:
        values = {repr(flat[key]) for cells in known.values() for _, flat in cells if key in flat}
        hints.append(f"{key} is {' or '.join(sorted(values))}" if values else f"no cell sets {key}")
    return "; in this file's cells " + ", ".join(hints)
