"""The experiment file: reading it (YAML) and checking its shape, before any config is resolved.

An experiment file has a base config, arms, seeds and named profiles (see ablate.experiment for
how they combine into a grid) and, optionally, claims, published numbers, an analysis module and
tuning ranges. Every check here names the file, the key and the valid choices in one line.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from ablate.errors import ExperimentError

# Experiment, arm and profile names become folder names, W&B run names and SLURM job names:
# no `/`, no `..`, no shell metacharacters, no leading dot or dash.
NAME_RULE = r"[A-Za-z0-9][A-Za-z0-9._+-]*"
_NAME = re.compile(NAME_RULE)

TOP_LEVEL_KEYS = {
    "description": str,
    "claim": str,
    "analysis": str,
    "base": dict,
    "arms": dict,
    "seeds": (list, dict),  # a fixed list, or a schedule {start, step, max} (ablate.experiment)
    "profiles": dict,
    "default_profile": str,
    "published": dict,
    "claims": list,  # what the runs are expected to show (ablate.verdicts.claims)
    "tune": dict,  # search ranges for `python -m ablate tune`, e.g. {optim.lr: [1.0e-4, 1.0]}
}
PROFILE_KEYS = {"description": str, "set": dict, "arms": dict, "seeds": (list, dict), "only_arms": list}


def check_name(path: Path, what: str, name) -> None:
    if not isinstance(name, str) or _NAME.fullmatch(name) is None:
        raise ExperimentError(
            f"{path}: {what} name {name!r} is not allowed; names match {NAME_RULE} "
            f"(letters, digits, '.', '_', '+', '-'; no leading '.' or '-')"
        )


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
    return yaml.load(text_or_stream, Loader=_Loader)


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


def read_spec(path: Path) -> dict:
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
        raise ExperimentError(
            f"{path}: default_profile {spec['default_profile']!r} is not a profile; "
            f"valid: {', '.join(spec['profiles'])}"
        )
    return spec


def _check_mapping(path: Path, where: str, value) -> None:
    """An arm, a base or a profile's `set` is a mapping of (dotted) keys, or empty."""
    if value is not None and not isinstance(value, dict):
        raise ExperimentError(
            f"{path}: {where} must be a mapping of config keys (e.g. optim.lr: 0.1), "
            f"got {type(value).__name__} {value!r}"
        )
    for key in value or {}:
        if not isinstance(key, str):
            raise ExperimentError(f"{path}: {where}: key {key!r} is not a config key (e.g. optim.lr)")


def _check_keys(path: Path, prefix: str, mapping: dict, allowed: dict[str, type]) -> None:
    for key, value in mapping.items():
        if key not in allowed:
            raise ExperimentError(f"{path}: unknown key {prefix}{key!r}; valid: {', '.join(allowed)}")
        if value is not None and not isinstance(value, allowed[key]):
            kinds = allowed[key] if isinstance(allowed[key], tuple) else (allowed[key],)
            raise ExperimentError(
                f"{path}: key {prefix}{key!r} must be a {' or a '.join(k.__name__ for k in kinds)}, "
                f"got {type(value).__name__}"
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
