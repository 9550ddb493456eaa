"""An experiment's own analysis module: the hooks it adds to the analysis every experiment gets.

`analysis: NAME` in an experiment file names `NAME.py`, found beside the file, else along the
experiment search path, else among the shipped analyses (ablate.search_path). Without the key,
`<stem>.py` beside `<stem>.yaml` is used if it exists. The module lists the hooks it provides in
`__all__`, any of:

    TITLE: str                                   the report's title
    METRICS: dict[str, Metric]                   run columns that `derive` adds, for claims
    derive(runs, curves, spec) -> runs           add those columns
    table(runs, spec) -> (DataFrame, markdown)   an extra table (e.g. ours beside the paper's)
    checks(runs, spec) -> list[Verdict]          exact checks against published numbers
    figures(runs, curves, spec) -> {name: Figure}   the paper's figures redrawn
    notes(runs, spec) -> list[str]               what the report must say about this setting

The module is loaded once, when the experiment is (before anything trains); a missing module, a
name in `__all__` that is not a hook, or a hook of the wrong kind is one line of error there.
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from ablate.errors import ExperimentError
from ablate.search_path import find_analysis, list_analyses, shipped_dir

CALLABLE_HOOKS = ("derive", "table", "checks", "figures", "notes")
HOOKS = ("TITLE", "METRICS", *CALLABLE_HOOKS)
SHIPPED_PACKAGE = "ablate.analyses"


@dataclass(frozen=True)
class Hooks:
    """The hooks of one analysis module (all None/empty for an experiment without one). Pickles
    as the module's path, so worker processes load the module themselves."""

    path: Path | None = None
    title: str | None = None
    metrics: dict = field(default_factory=dict)
    functions: dict[str, Any] = field(default_factory=dict, repr=False)

    def call(self, name: str, *args, default):
        """The hook `name` called with `args`, or `default` when the module does not provide it."""
        hook = self.functions.get(name)
        return default if hook is None else hook(*args)

    def __reduce__(self):
        return (_hooks_from_path, (self.path,))


def _hooks_from_path(path: Path | None) -> Hooks:
    return Hooks() if path is None else hooks_of(_import(path), path, path)


def load_hooks(name: str | None, experiment_file: Path) -> Hooks:
    """The hooks of the experiment's analysis module (see the module docstring)."""
    if name is None:
        beside = experiment_file.with_suffix(".py")
        return _hooks_from_path(beside) if beside.is_file() else Hooks()
    path, module = load_module(name, experiment_file)
    return hooks_of(module, path, experiment_file)


def load_module(name: str, experiment_file: Path) -> tuple[Path, ModuleType]:
    """(path, module) of the analysis module `name` of an experiment file; one-line errors."""
    path = find_analysis(name, experiment_file)
    if path is None:
        valid = ", ".join(list_analyses(experiment_file))
        raise ExperimentError(
            f"{experiment_file}: key 'analysis': no analysis module {name!r} beside the file, on the "
            f"experiment search path or shipped; valid: {valid} (or leave the key out for the generic analysis)"
        )
    try:
        return path, _import(path)
    except Exception as e:
        raise ExperimentError(f"{experiment_file}: key 'analysis': {path} cannot be imported: {e!r}") from None


def hooks_of(module: ModuleType, path: Path, where: Path) -> Hooks:
    names = getattr(module, "__all__", None)
    if names is None:
        raise ExperimentError(
            f"{where}: analysis module {path} has no __all__; list the hooks it provides in it, "
            f"from: {', '.join(HOOKS)}"
        )
    unknown = [n for n in names if n not in HOOKS]
    if unknown:
        raise ExperimentError(
            f"{where}: analysis module {path}: __all__ names {', '.join(map(repr, unknown))}, "
            f"not a hook; valid: {', '.join(HOOKS)}"
        )
    missing = [n for n in names if not hasattr(module, n)]
    if missing:
        raise ExperimentError(
            f"{where}: analysis module {path}: __all__ names {missing[0]!r}, which it does not define"
        )
    functions = {n: getattr(module, n) for n in names if n in CALLABLE_HOOKS}
    bad = [n for n, f in functions.items() if not callable(f)]
    title, metrics = getattr(module, "TITLE", None) if "TITLE" in names else None, {}
    if "METRICS" in names:
        metrics = module.METRICS
    if bad or not isinstance(title, (str, type(None))) or not isinstance(metrics, dict):
        what = bad[0] if bad else ("TITLE" if not isinstance(title, (str, type(None))) else "METRICS")
        raise ExperimentError(
            f"{where}: analysis module {path}: hook {what!r} has the wrong kind (TITLE: a string, "
            f"METRICS: a dict of Metric, the others functions)"
        )
    return Hooks(path, title, dict(metrics), functions)


def _module_name(path: Path) -> str:
    if path.parent.resolve() == shipped_dir("analysis").resolve():
        return f"{SHIPPED_PACKAGE}.{path.stem}"
    digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:10]
    return f"ablate_user_analysis_{digest}_{path.stem}"


def _import(path: Path) -> ModuleType:
    """The module at `path`, imported once per process."""
    name = _module_name(path)
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module
