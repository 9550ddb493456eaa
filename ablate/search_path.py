"""Where experiments are found: a path to a YAML file, or a name looked up, in this order, in
$ABLATE_EXPERIMENTS (folders separated by ':'), ./experiments, and the experiments shipped with
ablate. The first folder that has `<name>.yaml` wins, so a researcher's own file shadows a
shipped one of the same name."""

from __future__ import annotations

import os
from pathlib import Path

from ablate.errors import ExperimentError
from ablate.shipped import shipped_dir


def search_path() -> list[Path]:
    env = [Path(p).expanduser() for p in os.environ.get("ABLATE_EXPERIMENTS", "").split(os.pathsep) if p]
    folders, seen = [], set()
    for folder in [*env, Path.cwd() / "experiments", shipped_dir("experiments")]:
        key = folder.resolve()
        if key not in seen and folder.is_dir():
            seen.add(key)
            folders.append(folder)
    return folders


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
    raise ExperimentError(f"unknown experiment {name_or_path!r}; valid: {', '.join(list_experiments())} "
                    f"(searched {', '.join(map(str, search_path()))}), or a path to a .yaml file")  # fmt: skip
