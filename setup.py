"""Packaging that pyproject.toml cannot say: the top-level folders `experiments/` (the shipped
experiment files) and `analysis/` (their analysis modules) install inside the package, as
`ablate.experiments` and `ablate.analyses`, so a wheel can run every shipped experiment from any
directory and no top-level package called `analysis` is installed (ablate.shipped finds both)."""

from setuptools import find_packages, setup

setup(
    packages=find_packages(include=["ablate", "ablate.*"]) + ["ablate.analyses", "ablate.experiments"],
    package_dir={"ablate.analyses": "analysis", "ablate.experiments": "experiments"},
)
