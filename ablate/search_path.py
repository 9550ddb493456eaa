"""Where experiments and their analysis modules are found.

An experiment is a path to a YAML file, or a name looked up, in this order, in
$ABLATE_EXPERIMENTS (folders separated by ':'), ./experiments, and the experiments shipped with
ablate. The first folder that has `<name>.yaml` wins, so a researcher's own file shadows a
shipped one of the same name.

An analysis module (`analysis: NAME` in the file) is `NAME.py` beside the experiment file, else in
the same folders in the same order, else among the shipped analyses. So `my_ablation.yaml` can
bring `my_ablation.py` beside it.

The shipped files: the repository keeps them in the top-level folders `experiments/` and
`analysis/`; a wheel installs them inside the package as `ablate.experiments` and
`ablate.analyses` (setup.py's package_dir), so an installed ablate runs `degradation` from any
directory without a top-level package called `analysis`. From a source checkout or an editable
install they are read where they stand.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path

from ablate.errors import ExperimentError

SHIPPED_PACKAGES = {"experiments": "ablate.experiments", "analysis": "ablate.analyses"}


def shipped_dir(folder: str) -> Path:
    """The directory of the shipped `experiments` or `analysis` files."""
    try:  # installed from a wheel: a folder of data files, imported as a namespace package
        return Path(next(iter(importlib.import_module(SHIPPED_PACKAGES[folder]).__path__)))
    except ModuleNotFoundError:  # a source checkout (also what an editable install points at)
        return Path(__file__).resolve().parent.parent / folder


def _user_folders() -> list[Path]:
    env = os.environ.get("ABLATE_EXPERIMENTS", "").split(os.pathsep)
    return [*(Path(p).expanduser() for p in env if p), Path.cwd() / "experiments"]


def search_path() -> list[Path]:
    """The folders experiments are looked up in, in order, each once."""
    return _existing_once([*_user_folders(), shipped_dir("experiments")])


def _existing_once(folders: list[Path]) -> list[Path]:
    out, seen = [], set()
    for folder in folders:
        key = folder.resolve()
        if key not in seen and folder.is_dir():
            seen.add(key)
            out.append(folder)
    return out


def list_experiments() -> list[str]:
    return sorted({p.stem for folder in search_path() for p in folder.glob("*.yaml")})


def find_experiment(name_or_path: str) -> Path:
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml"):
        if not path.is_file():
            raise ExperimentError(f"{path}: no such experiment file")
        return path
    for folder in search_path():
        if (folder / f"{name_or_path}.yaml").is_file():
            return folder / f"{name_or_path}.yaml"
    folders = ", ".join(map(str, search_path()))
    raise ExperimentError(
        f"unknown experiment {name_or_path!r}; valid: {', '.join(list_experiments())} "
        f"(searched {folders}), or a path to a .yaml file"
    )


def analysis_path(experiment_file: Path) -> list[Path]:
    """The folders an experiment's analysis module is looked up in: the file's own folder, the
    experiment search path's folders, the shipped analyses."""
    return _existing_once([experiment_file.parent, *_user_folders(), shipped_dir("analysis")])


def list_analyses(experiment_file: Path) -> list[str]:
    folders = analysis_path(experiment_file)
    return sorted({p.stem for f in folders for p in f.glob("*.py") if not p.stem.startswith("_")})


def find_analysis(name: str, experiment_file: Path) -> Path | None:
    """`name.py` beside the experiment file, else in the search path, else shipped; None if nowhere."""
    for folder in analysis_path(experiment_file):
        if (folder / f"{name}.py").is_file():
            return folder / f"{name}.py"
    return None
