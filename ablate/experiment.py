"""Experiment definitions: a YAML file of base config, arms, seeds and named profiles.

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
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import yaml

from ablate import config as C
from ablate.errors import ExperimentError, UserError  # noqa: F401 (ExperimentError re-exported)
from ablate.search_path import find_experiment, list_experiments  # noqa: F401 (re-exported)

TOP_LEVEL_KEYS = {
    "description": str,
    "claim": str,
    "analysis": str,
    "base": dict,
    "arms": dict,
    "seeds": list,
    "profiles": dict,
    "default_profile": str,
    "published": dict,
    "claims": list,  # what the runs are expected to show (ablate.verdicts.claims)
    "tune": dict,  # search ranges for `python -m ablate tune`, e.g. {optim.lr: [1.0e-4, 1.0]}
}
PROFILE_KEYS = {"description": str, "set": dict, "arms": dict, "seeds": list, "only_arms": list}


class _Loader(yaml.SafeLoader):
    """yaml.SafeLoader that also reads YAML 1.2 floats such as 1e-3 and 1e6 (YAML 1.1, which
    PyYAML follows, wants 1.0e-3 and would read `--set optim.lr=1e-3` as a string), and refuses a
    key given twice in one mapping (PyYAML would silently keep the last)."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen = set()
            for key_node, _ in node.value:  # the keys written here; `<<` merges may be overridden
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                if isinstance(key, (str, int, float, bool)) or key is None:
                    if key in seen:
                        raise yaml.constructor.ConstructorError(
                            None, None, f"key {key!r} is given twice in this mapping", key_node.start_mark
                        )
                    seen.add(key)
        return super().construct_mapping(node, deep=deep)


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def yaml_load(text_or_stream):
    return yaml.load(text_or_stream, Loader=_Loader)  # noqa: S506 (a SafeLoader subclass)


def yaml_error_line(where: str, e: yaml.YAMLError) -> str:
    """One line, `file:line:column: problem` (1-based, as editors count), for a YAML error."""
    mark = getattr(e, "problem_mark", None)
    problem = getattr(e, "problem", None) or str(e)
    context = getattr(e, "context", None)
    text = f"{problem} ({context})" if context and context not in problem else problem
    text = " ".join(text.split())  # one line
    if mark is None:
        return f"{where}: invalid YAML: {text}"
    return f"{where}:{mark.line + 1}:{mark.column + 1}: {text}"


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

    @property
    def arms(self) -> list[str]:
        return list(dict.fromkeys(c.arm for c in self.cells))

    @property
    def seeds(self) -> list[int]:
        return list(dict.fromkeys(c.seed for c in self.cells))


def read_spec(path: Path) -> dict:
    from ablate.grid_checks import check_name

    try:
        with open(path, encoding="utf-8") as f:
            spec = yaml_load(f)
    except yaml.YAMLError as e:
        raise ExperimentError(yaml_error_line(str(path), e)) from None
    except (OSError, UnicodeDecodeError) as e:
        raise ExperimentError(f"{path}: cannot be read: {e}") from None
    if not isinstance(spec, dict):
        raise ExperimentError(f"{path}: expected a mapping at the top level")
    _check_keys(path, "", spec, TOP_LEVEL_KEYS)
    for key in ("arms", "profiles"):
        if not spec.get(key):
            raise ExperimentError(f"{path}: key {key!r} is required and may not be empty")
    for arm, overrides in spec["arms"].items():
        check_name(path, "arm", arm)
        _check_mapping(path, f"arms.{arm}", overrides)
    _check_mapping(path, "base", spec.get("base"))
    for name, prof in spec["profiles"].items():
        check_name(path, "profile", name)
        if not isinstance(prof, dict):
            raise ExperimentError(f"{path}: profiles.{name} must be a mapping")
        _check_keys(path, f"profiles.{name}.", prof, PROFILE_KEYS)
        _check_mapping(path, f"profiles.{name}.set", prof.get("set"))
        for arm, overrides in (prof.get("arms") or {}).items():
            _check_mapping(path, f"profiles.{name}.arms.{arm}", overrides)
        only = prof.get("only_arms") or []
        if len(set(map(str, only))) != len(only):
            raise ExperimentError(f"{path}: profiles.{name}.only_arms lists an arm twice: {only!r}")
        for arm in list(prof.get("arms") or {}) + list(only):
            if not isinstance(arm, str) or arm not in spec["arms"]:
                raise ExperimentError(
                    f"{path}: profiles.{name} names unknown arm {arm!r}; valid: {', '.join(spec['arms'])}"
                )
    if spec.get("default_profile") is not None and spec["default_profile"] not in spec["profiles"]:
        raise ExperimentError(f"{path}: default_profile {spec['default_profile']!r} is not a profile; "
                              f"valid: {', '.join(spec['profiles'])}")  # fmt: skip
    return spec


def _check_mapping(path: Path, where: str, value) -> None:
    """An arm, a base or a profile's `set` is a mapping of (dotted) keys, or empty."""
    if value is not None and not isinstance(value, dict):
        raise ExperimentError(f"{path}: {where} must be a mapping of config keys (e.g. optim.lr: 0.1), "
                              f"got {type(value).__name__} {value!r}")  # fmt: skip
    for key in (value or {}):
        if not isinstance(key, str):
            raise ExperimentError(f"{path}: {where}: key {key!r} is not a config key (e.g. optim.lr)")


def _check_keys(path: Path, prefix: str, mapping: dict, allowed: dict[str, type]) -> None:
    for key, value in mapping.items():
        if key not in allowed:
            raise ExperimentError(
                f"{path}: unknown key {prefix}{key!r}; valid: {', '.join(allowed)}"
            )
        if value is not None and not isinstance(value, allowed[key]):
            raise ExperimentError(
                f"{path}: key {prefix}{key!r} must be a {allowed[key].__name__}, got {type(value).__name__}"
            )


def parse_overrides(items: Sequence[str]) -> dict[str, Any]:
    """['optim.lr=0.05', 'seeds=[0,1]'] -> {'optim.lr': 0.05, 'seeds': [0, 1]} (values as YAML)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ExperimentError(f"--set {item!r}: expected key=value, e.g. --set optim.lr=0.05")
        try:
            out[key.strip()] = yaml_load(raw)
        except yaml.YAMLError as e:
            raise ExperimentError(yaml_error_line(f"--set {item!r}", e)) from None
    return out


def load_experiment(
    name_or_path: str, profile: str | None = None, overrides: Sequence[str] = (), *,
    results_root: str | Path | None = None,
) -> Experiment:
    """Read, resolve and validate a whole experiment grid; raise ExperimentError on bad input.

    results_root: where the tuning studies of `tuned` values live (default: results.results_root).
    The tuned values used are described in the returned spec under `_tuned` (arm -> record).
    """
    from ablate.grid_checks import check_models, check_name

    path = find_experiment(name_or_path)
    check_name(path, "experiment", path.stem)
    spec = read_spec(path)
    profile = profile or spec.get("default_profile") or next(iter(spec["profiles"]))
    if profile not in spec["profiles"]:
        raise ExperimentError(
            f"{path}: unknown profile {profile!r}; valid: {', '.join(spec['profiles'])}"
        )
    cli = parse_overrides(overrides)
    from ablate.results import results_root as default_root

    tuned: dict[str, dict] = {}
    root = Path(results_root) if results_root is not None else default_root(None)

    def lookup(arm: str, keys: list[str]) -> dict[str, float]:
        from ablate.studies import tuned_values  # optuna is imported only when a value is tuned

        record = tuned_values(root, path, path.stem, profile, arm, keys)
        tuned[arm] = record
        return record["values"]

    cells = expand(spec, profile, cli, path, lookup)
    check_models(path, cells)  # constructor rules (depth 6n+2, ...) fail here, not in every cell
    if tuned:
        spec = {**spec, "_tuned": tuned}
    from ablate.analysis.pipeline import experiment_claims  # checks `analysis:` and `claims:` now

    experiment_claims(path, spec, cells)
    return Experiment(name=path.stem, profile=profile, path=path, spec=spec, cells=cells)


TunedLookup = Callable[[str, list[str]], dict[str, Any]]


def expand(spec: dict, profile: str, cli: dict[str, Any], path: Path,
           tuned: TunedLookup | None = None) -> list[Cell]:  # fmt: skip
    """Pure: spec x profile x overrides -> cells, arms in file order, then seeds in list order.

    tuned(arm, keys) -> {dotted key: value} replaces the keys an arm sets to "tuned"."""
    prof = spec["profiles"][profile]
    cli = dict(cli)  # pure: the caller's overrides stay as they were
    seeds = cli.pop("seeds", None) or prof.get("seeds") or spec.get("seeds") or [0]
    # Seeds seed numpy and Lightning, which take 0 .. 2**32 - 1; a repeated seed repeats a run id.
    if not isinstance(seeds, list) or not all(
        isinstance(s, int) and not isinstance(s, bool) and 0 <= s < 2**32 for s in seeds
    ):
        raise ExperimentError(f"{path}: seeds must be a list of integers in 0..{2**32 - 1}, got {seeds!r}")
    if len(set(seeds)) != len(seeds):
        raise ExperimentError(f"{path}: seeds lists a seed twice: {seeds!r}")
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
                raise ExperimentError(f"{path}: arm {arm!r}: {', '.join(keys)} is 'tuned' but no study lookup was given")
            for key, value in tuned(arm, keys).items():
                C.set_dotted(cfg, key, value)
        for seed in seeds:
            run_id = make_run_id(arm, seed, cfg)
            cells.append(Cell(len(cells), arm, seed, run_id, {**cfg, "seed": seed}))
    return cells


def resolve(layers: list[tuple[str, dict]], path: Path) -> dict:
    from ablate.data import list_datasets
    from ablate.models import UnknownModelError, builder_choices, builder_params, get_builder

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
    canonical = json.dumps(cfg, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:10]


def make_run_id(arm: str, seed: int, cfg: dict) -> str:
    return f"{arm}-s{seed}-{config_hash({**cfg, 'seed': seed})}"
