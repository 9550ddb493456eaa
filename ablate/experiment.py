"""Experiment definitions: a YAML file of base config, arms, seeds and named profiles.

`seeds` is a list (a fixed design: every cell is run, then judged once) or a schedule
`{start: 3, step: 2, max: 15}` (a sequential design, ablate.verdicts.sequential: seeds 0, 1, 2, ...
are added look by look while claims are unresolved; `--seeds-max N` caps it). Either way the grid
holds every cell up to the last seed, so that validation covers all of them and SLURM array
indices stay stable; `Experiment.schedule` tells the runner about the looks.

An experiment expands into cells (arm x seed) in a stable order. Each cell's config is resolved as

    DEFAULTS <- base <- profile.set <- arm <- profile.arms[arm] <- --set overrides

and its run id is the arm, the seed and a hash of the resolved config, so a changed setting never
reuses an old result. The whole grid is validated before anything trains.

`optim.lr: tuned` (or `optim.weight_decay: tuned`) is replaced, after validation and before the
hash, by the best value of the arm's Optuna study (ablate.tuning), so a new best value is a new run.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ablate import config as C
from ablate.data import list_datasets
from ablate.errors import ExperimentError
from ablate.grid_checks import check_models
from ablate.hooks import Hooks, load_hooks
from ablate.models import UnknownModelError, builder_choices, builder_params, get_builder
from ablate.results import results_root as default_results_root
from ablate.search_path import find_experiment
from ablate.spec import check_name, parse_overrides, read_spec
from ablate.studies import tuned_values
from ablate.verdicts.claims import Claim, Side, parse_claims
from ablate.verdicts.judgeable import ANY, check_claims_judgeable
from ablate.verdicts.sequential import MIN_START, SCHEDULE_KEYS, Schedule

TunedLookup = Callable[[str, list[str]], dict[str, Any]]


@dataclass(frozen=True)
class Cell:
    index: int
    arm: str
    seed: int
    run_id: str
    config: dict = field(repr=False, compare=False)


@dataclass(frozen=True)
class Experiment:
    name: str
    profile: str
    path: Path
    spec: dict = field(repr=False)
    cells: list[Cell] = field(repr=False)
    claims: list[Claim] = field(default_factory=list, repr=False)  # parsed and checked at load
    hooks: Hooks = field(default_factory=Hooks, repr=False)  # its analysis module's hooks
    schedule: Schedule | None = None  # a sequential design's looks; None: a fixed list of seeds

    @property
    def arms(self) -> list[str]:
        return list(dict.fromkeys(c.arm for c in self.cells))

    @property
    def seeds(self) -> list[int]:
        return list(dict.fromkeys(c.seed for c in self.cells))

    def arms_of(self, side: Side) -> set[str]:
        """The arms whose cells a claim's side selects."""
        return {c.arm for c in self.cells if side.matches(c.arm, C.flatten(c.config))}

    def cells_for(self, arms: set[str], n: int) -> list[Cell]:
        """The cells of these arms with the first n seeds (a look of a sequential design)."""
        return [c for c in self.cells if c.arm in arms and c.seed < n]


def load_experiment(
    name_or_path: str,
    profile: str | None = None,
    overrides: Sequence[str] = (),
    *,
    results_root: str | Path | None = None,
    arms: Sequence[str] | None = None,
    tuned: TunedLookup | None = None,
    seeds_max: int | None = None,
) -> Experiment:
    """Read, resolve and validate a whole experiment grid, its claims and its analysis module;
    raise ExperimentError on bad input. Everything later stages need is in the result.

    results_root: where the tuning studies of `tuned` values live (default: results.results_root);
    arms: keep only these arms of the profile (`tune` trains one); tuned: the lookup of `tuned`
    values (default: the arm's Optuna study); seeds_max: at most this many seeds per arm
    (`--seeds-max`: caps a schedule, or keeps the first N of a list). The tuned values used are
    described in the returned spec under `_tuned` (arm -> record).
    """
    path = find_experiment(name_or_path)
    check_name(path, "experiment", path.stem)
    spec = file_spec = read_spec(path)
    profile = profile or spec.get("default_profile") or next(iter(spec["profiles"]))
    if profile not in spec["profiles"]:
        raise ExperimentError(f"{path}: unknown profile {profile!r}; valid: {', '.join(spec['profiles'])}")
    if arms is not None:
        spec = _only_arms(path, spec, profile, list(arms))
    records: dict[str, dict] = {}
    lookup = tuned or _study_lookup(path, profile, results_root, records)
    cli = parse_overrides(overrides)
    _, schedule = seed_design(spec, profile, cli, path, seeds_max)
    cells = expand(spec, profile, cli, path, lookup, seeds_max)
    check_models(path, cells)  # constructor rules (depth 6n+2, ...) fail here, not in every cell
    if records:
        spec = {**spec, "_tuned": records}
    hooks = load_hooks(spec.get("analysis"), path)
    keys = {k for c in cells for k in C.flatten(c.config)}
    claims = parse_claims(path, spec, keys, hooks.metrics)
    check_claims_judgeable(
        path, file_spec, claims, cells_by_profile(path, file_spec, profile, overrides), _underived(hooks)
    )
    return Experiment(path.stem, profile, path, spec, cells, claims, hooks, schedule)


def _only_arms(path: Path, spec: dict, profile: str, arms: list[str]) -> dict:
    prof = spec["profiles"][profile]
    valid = prof.get("only_arms") or list(spec["arms"])
    for arm in arms:
        if arm not in valid:
            raise ExperimentError(f"{path}: profile {profile!r} has no arm {arm!r}; valid: {', '.join(valid)}")
    return {**spec, "profiles": {**spec["profiles"], profile: {**prof, "only_arms": arms}}}


def _study_lookup(path: Path, profile: str, results_root, records: dict) -> TunedLookup:
    """The default lookup of `tuned` values: the best of each arm's Optuna study (recorded)."""
    root = Path(results_root) if results_root is not None else default_results_root(None)

    def lookup(arm: str, keys: list[str]) -> dict[str, float]:
        records[arm] = tuned_values(root, path, path.stem, profile, arm, keys)
        return records[arm]["values"]

    return lookup


def seed_design(
    spec: dict, profile: str, cli: dict[str, Any], path: Path, seeds_max: int | None = None
) -> tuple[list[int], Schedule | None]:
    """Pure: (the grid's seeds, the schedule of a sequential design or None for a fixed list)."""
    layers = [("--set seeds", cli.get("seeds")), (f"profiles.{profile}.seeds", spec["profiles"][profile].get("seeds"))]
    where, seeds = next(((w, v) for w, v in [*layers, ("seeds", spec.get("seeds"))] if v), ("seeds", [0]))
    if seeds_max is not None and (
        isinstance(seeds_max, bool) or not isinstance(seeds_max, int) or seeds_max < MIN_START
    ):
        raise ExperimentError(f"{path}: --seeds-max {seeds_max!r}: must be a whole number >= {MIN_START}")
    if isinstance(seeds, dict):
        schedule = _schedule(path, where, seeds).capped(seeds_max)
        return list(range(schedule.max)), schedule
    # Seeds seed numpy and Lightning, which take 0 .. 2**32 - 1; a repeated seed repeats a run id.
    if not isinstance(seeds, list) or not all(
        isinstance(s, int) and not isinstance(s, bool) and 0 <= s < 2**32 for s in seeds
    ):
        raise ExperimentError(
            f"{path}: {where} must be a list of integers in 0..{2**32 - 1} or a schedule "
            f"{{start: N, step: N, max: N}}, got {seeds!r}"
        )
    if len(set(seeds)) != len(seeds):
        raise ExperimentError(f"{path}: {where} lists a seed twice: {seeds!r}")
    return seeds[:seeds_max], None


def _schedule(path: Path, where: str, raw: dict) -> Schedule:
    """A seed schedule {start, step, max}, checked: whole numbers, 2 <= start <= max, step >= 1."""
    for key in raw:
        if key not in SCHEDULE_KEYS:
            raise ExperimentError(f"{path}: {where}: unknown key {key!r}; valid: {', '.join(SCHEDULE_KEYS)}")
    for key in SCHEDULE_KEYS:
        value = raw.get(key)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ExperimentError(
                f"{path}: {where}.{key} must be a whole number (e.g. {{start: 3, step: 2, max: 15}}), got {value!r}"
            )
    start, step, top = (raw[k] for k in SCHEDULE_KEYS)
    if not MIN_START <= start <= top or step < 1 or top >= 2**32:
        raise ExperimentError(
            f"{path}: {where}: needs {MIN_START} <= start <= max < 2**32 and step >= 1 "
            f"(a look needs {MIN_START} seeds per arm to see the noise), got {raw!r}"
        )
    return Schedule(start, step, top)


def expand(
    spec: dict,
    profile: str,
    cli: dict[str, Any],
    path: Path,
    tuned: TunedLookup | None = None,
    seeds_max: int | None = None,
) -> list[Cell]:
    """Pure: spec x profile x overrides -> cells, arms in file order, then seeds in list order
    (a schedule's seeds: 0 .. max - 1).

    tuned(arm, keys) -> {dotted key: value} replaces the keys an arm sets to "tuned"."""
    prof = spec["profiles"][profile]
    seeds, _ = seed_design(spec, profile, cli, path, seeds_max)
    cli = {k: v for k, v in cli.items() if k != "seeds"}  # pure: the caller's overrides stay as they were
    arms = prof.get("only_arms") or list(spec["arms"])
    cells = []
    for arm in arms:
        layers = [
            ("base", spec.get("base") or {}),
            (f"profiles.{profile}.set", prof.get("set") or {}),
            (f"arms.{arm}", spec["arms"][arm] or {}),
            (f"profiles.{profile}.arms.{arm}", (prof.get("arms") or {}).get(arm) or {}),
            ("--set", cli),
        ]
        cfg = resolve(layers, path)
        keys = [k for k, v in C.flatten(cfg).items() if k in C.TUNABLE and v == C.TUNED]
        if keys:
            if tuned is None:
                raise ExperimentError(
                    f"{path}: arm {arm!r}: {', '.join(keys)} is 'tuned' but no study lookup was given"
                )
            for key, value in tuned(arm, keys).items():
                C.set_dotted(cfg, key, value)
        for seed in seeds:
            run_id = make_run_id(arm, seed, cfg)
            cells.append(Cell(len(cells), arm, seed, run_id, {**cfg, "seed": seed}))
    return cells


def resolve(layers: list[tuple[str, dict]], path: Path) -> dict:
    cfg = C.default_config()
    for where, overrides in layers:
        try:
            cfg = C.apply_overrides(cfg, overrides)
        except C.ConfigError as e:
            raise ExperimentError(f"{path}: {where}: {e}") from None
    where = " <- ".join(w for w, o in layers if o)
    if not isinstance(cfg.get("model"), dict) or not isinstance(cfg["model"].get("name"), str):
        raise ExperimentError(f"{path}: {where}: key 'model.name' must be the name of a registered model")
    try:
        get_builder(cfg["model"]["name"])
    except UnknownModelError as e:
        raise ExperimentError(f"{path}: {where}: key 'model.name': {e}") from None
    try:
        name = cfg["model"]["name"]
        C.validate(cfg, builder_params(name), list_datasets(), builder_choices(name))
        cli = dict(layers).get("--set") or {}
        C.check_consistency(cfg, only=set(C.flatten(cli)))  # a --set: only the rules of what it sets
    except C.ConfigError as e:
        raise ExperimentError(f"{path}: {where}: {e}") from None
    file_layers = [(w, o) for w, o in layers if w != "--set"]
    file_cfg = C.default_config()
    for _, overrides in file_layers:
        file_cfg = C.apply_overrides(file_cfg, overrides)
    try:
        C.check_consistency(file_cfg)  # the file's own schedule fits the file's own run length
    except C.ConfigError as e:
        raise ExperimentError(f"{path}: {' <- '.join(w for w, o in file_layers if o)}: {e}") from None
    return cfg


def config_hash(cfg: dict) -> str:
    """The first 10 hex digits of the SHA-256 of the config as canonical JSON, without the keys
    added to the defaults after run ids were first published (config.ADDED_KEYS) that sit at their
    default: adding a knob never orphans the results made before it existed."""
    canonical = json.dumps(C.without_added_defaults(cfg), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:10]


def make_run_id(arm: str, seed: int, cfg: dict) -> str:
    return f"{arm}-s{seed}-{config_hash({**cfg, 'seed': seed})}"


def cells_by_profile(path: Path, spec: dict, profile: str, overrides: Sequence[str]) -> dict[str, list | None]:
    """Every profile's cells as (arm, flat config), for the checks of claims across profiles: the
    file's settings (and the `--set` overrides for `profile`), every arm of each profile, a `tuned`
    value not looked up (judgeable.ANY). None for a profile that does not expand."""

    def unlooked(arm: str, keys: list[str]) -> dict[str, Any]:
        return dict.fromkeys(keys, C.TUNED)

    out: dict[str, list | None] = {}
    for name in spec["profiles"]:
        try:
            cells = expand(spec, name, parse_overrides(overrides) if name == profile else {}, path, unlooked)
        except ExperimentError:
            out[name] = None
            continue
        flats = [(c.arm, C.flatten(c.config)) for c in cells]
        out[name] = [
            (arm, {k: ANY if k in C.TUNABLE and v == C.TUNED else v for k, v in f.items()}) for arm, f in flats
        ]
    return out


def _underived(hooks: Hooks) -> set[str]:
    """The analysis module's METRICS that nothing adds to the runs (it has no `derive` hook)."""
    return set() if "derive" in hooks.functions else set(hooks.metrics)
