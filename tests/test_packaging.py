"""A wheel of ablate, installed into a fresh environment, runs the shipped experiments from any
directory: the experiment files and their analyses travel inside the package, and no top-level
package called `analysis` is installed."""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from tests.helpers import REPO

# Every test here builds a wheel (and one installs it into a fresh environment).
pytestmark = pytest.mark.slow

SHIPPED = {"activation", "batchnorm", "convnext", "degradation", "kernels", "mnist"}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out, src = tmp_path_factory.mktemp("wheel"), tmp_path_factory.mktemp("src")
    # Build from a copy of the tracked files: setuptools' build/ folder in the checkout would
    # otherwise keep modules that no longer exist, and the test would write into the repository.
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    for f in files:
        if (REPO / f).is_file() and not f.startswith(("tests/", "docs/")):
            (src / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / f, src / f)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", str(src), "-w", str(out)],
        check=True,
        capture_output=True,
        cwd=out,
    )
    return next(out.glob("ablate_cnn-*.whl"))


def test_wheel_carries_experiments_and_analyses_inside_the_package(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert {f"ablate/experiments/{e}.yaml" for e in SHIPPED} <= set(names)
    assert {f"ablate/analyses/{e}.py" for e in SHIPPED} <= set(names)
    assert not [n for n in names if n.startswith(("analysis/", "experiments/"))]


def test_installed_wheel_lists_and_loads_the_experiments_from_anywhere(wheel, tmp_path):
    env = tmp_path / "env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env)], check=True)
    py = env / "bin" / "python"
    site = subprocess.run(
        [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    # The dependencies come from this environment's site-packages (a path, not a site dir: the
    # editable install of the checkout there is not seen); ablate itself only from the wheel.
    Path(site, "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    with zipfile.ZipFile(wheel) as z:
        z.extractall(site)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    run = lambda *a: subprocess.run([str(py), *a], cwd=elsewhere, capture_output=True, text=True)
    where = run("-c", "import ablate; print(ablate.__file__)")
    assert where.stdout.startswith(site), where.stdout + where.stderr
    listed = run("-m", "ablate", "list")
    assert listed.returncode == 0, listed.stderr
    assert {line.split()[0] for line in listed.stdout.splitlines() if line and not line[0].isspace()} == SHIPPED
    loaded = run(
        "-c",
        "from ablate.experiment import load_experiment as L; e = L('degradation');"
        "print(len(e.cells), e.hooks.title); from ablate.hooks import load_module as A; print(A('kernels', e.path)[1].TITLE)",
    )
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.splitlines()[0].startswith("24 Degradation") and loaded.stdout.splitlines()[1].startswith(
        "Kernels"
    )
    assert run("-c", "import analysis").returncode != 0
