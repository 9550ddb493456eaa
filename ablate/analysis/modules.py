"""Experiment analysis modules: the files of the top-level `analysis/` folder, found by name.

An experiment file may name one (`analysis: degradation`); the module adds only what is the
experiment's own, through any of these names (all optional):

    TITLE: str                                   the report's title
    METRICS: dict[str, Metric]                   run columns that `derive` adds, for claims
    derive(runs, curves, spec) -> runs           add those columns
    table(runs, spec) -> (DataFrame, markdown)   an extra table (e.g. ours beside the paper's)
    checks(runs, spec) -> list[Verdict]          exact checks against published numbers
    figures(runs, curves, spec) -> {name: Figure}   the paper's figures redrawn
    notes(runs, spec) -> list[str]               what the report must say about this setting

The name is checked when the experiment is loaded, before anything trains.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from ablate.errors import UserError
from ablate.shipped import shipped_dir

HOOKS = ("TITLE", "METRICS", "derive", "table", "checks", "figures", "notes")
PACKAGE = "ablate.analyses"


def list_analyses() -> list[str]:
    return sorted(p.stem for p in shipped_dir("analysis").glob("*.py") if not p.stem.startswith("_"))


def load_analysis(name: str, path: Path) -> ModuleType:
    """The analysis module `name`; a one-line UserError naming `path` (the experiment file) if
    there is none."""
    valid = list_analyses()
    if name not in valid:
        raise UserError(f"{path}: key 'analysis': no analysis module {name!r}; valid: {', '.join(valid)} "
                        "(or leave the key out for the generic analysis)")  # fmt: skip
    module_name = f"{PACKAGE}.{name}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    file = shipped_dir("analysis") / f"{name}.py"
    spec = importlib.util.spec_from_file_location(module_name, file)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise
    return module


def hook(module: ModuleType | None, name: str, default=None):
    return getattr(module, name, default) if module is not None else default
