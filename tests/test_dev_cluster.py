"""slurm/dev-cluster.sh runs as root: it makes its state directory with mktemp unless given an
empty one, and removes only a directory that its own `up` marked."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from tests.helpers import REPO
from tests.slurm_helpers import free_port_pair, missing_slurm

SCRIPT = REPO / "slurm" / "dev-cluster.sh"


def dev_cluster(*args: str, **env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in ("ABLATE_SLURM_DIR", "SLURM_CONF")}
    return subprocess.run(["bash", str(SCRIPT), *args], env={**base, **env}, capture_output=True, text=True, timeout=60)


def test_down_refuses_a_directory_up_did_not_make(tmp_path):
    precious = tmp_path / "home"
    precious.mkdir()
    (precious / "thesis.tex").write_text("years of work")
    for env in ({"ABLATE_SLURM_DIR": str(precious)}, {"SLURM_CONF": str(precious / "slurm.conf")}):
        res = dev_cluster("down", **env)
        assert res.returncode != 0 and "refusing to act on" in res.stderr and ".ablate-dev-cluster" in res.stderr
        assert (precious / "thesis.tex").read_text() == "years of work"


def test_down_without_a_directory_asks_which_and_removes_nothing():
    res = dev_cluster("down")
    assert res.returncode != 0 and "which cluster? set ABLATE_SLURM_DIR" in res.stderr


def test_down_removes_a_directory_up_marked(tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    (state / ".ablate-dev-cluster").write_text("made by slurm/dev-cluster.sh up")
    (state / "log").mkdir()
    res = dev_cluster("down", ABLATE_SLURM_DIR=str(state))
    assert res.returncode == 0, res.stderr
    assert not state.exists()


def test_up_refuses_a_non_empty_directory_it_did_not_make(tmp_path):
    (tmp_path / "data.csv").write_text("1,2")
    res = dev_cluster("up", ABLATE_SLURM_DIR=str(tmp_path))
    assert res.returncode != 0 and "refusing to use" in res.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.csv"]


def test_up_refuses_a_link_or_a_relative_path(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    for value in (str(tmp_path / "link"), "relative/dir", "/"):
        res = dev_cluster("up", ABLATE_SLURM_DIR=value)
        assert res.returncode != 0 and "must be an absolute path to a directory" in res.stderr, (value, res.stderr)
    assert not list((tmp_path / "real").iterdir())


@pytest.mark.slow
@pytest.mark.slurm
@pytest.mark.skipif(missing_slurm() is not None, reason=missing_slurm() or "")
def test_up_without_a_directory_makes_a_private_one_and_down_removes_it():
    port = str(free_port_pair())
    up = dev_cluster("up", ABLATE_SLURM_PORT=port)
    exports = dict(line.removeprefix("export ").split("=", 1) for line in up.stdout.splitlines())
    state = Path(exports.get("ABLATE_SLURM_DIR", "/nonexistent"))
    try:
        assert up.returncode == 0, up.stderr
        assert state.name.startswith("ablate-slurm.") and state.parent == Path("/tmp")
        assert stat.S_IMODE(state.stat().st_mode) == 0o700 and (state / ".ablate-dev-cluster").is_file()
        assert exports["SLURM_CONF"] == str(state / "slurm.conf")
        env = dev_cluster("env", SLURM_CONF=exports["SLURM_CONF"])
        assert env.returncode == 0 and env.stdout == up.stdout, env.stderr
    finally:
        down = dev_cluster("down", ABLATE_SLURM_DIR=str(state), ABLATE_SLURM_PORT=port)
    assert down.returncode == 0, down.stderr
    assert not state.exists()
