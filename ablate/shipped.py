"""Where the files that ship with ablate live: the experiment definitions and their analyses.

The repository keeps them in the top-level folders `experiments/` and `analysis/`; a wheel installs
them inside the package as `ablate.experiments` and `ablate.analyses` (pyproject's package-dir), so
`pip install ablate` can run `degradation` from any directory without a top-level package called
`analysis`. From a source checkout or an editable install they are read where they stand.
"""

from __future__ import annotations

import importlib
from pathlib import Path

PACKAGES = {"experiments": "ablate.experiments", "analysis": "ablate.analyses"}


def shipped_dir(folder: str) -> Path:
    """The directory of the shipped `experiments` or `analysis` files."""
    try:  # installed from a wheel: a folder of data files, imported as a namespace package
        return Path(next(iter(importlib.import_module(PACKAGES[folder]).__path__)))
    except ModuleNotFoundError:  # a source checkout (also what an editable install points at)
        return Path(__file__).resolve().parent.parent / folder
