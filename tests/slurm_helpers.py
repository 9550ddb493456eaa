"""Helpers for the SLURM tests: a private dev cluster (slurm/dev-cluster.sh) and waiting on it."""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEV_CLUSTER = REPO / "slurm" / "dev-cluster.sh"
FIXTURES = REPO / "tests" / "fixtures" / "slurm"
DAEMONS = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scontrol", "scancel")


def missing_slurm() -> str | None:
    """Why the cluster tests cannot run here, or None when they can."""
    missing = [d for d in DAEMONS if not (shutil.which(d) or Path("/usr/sbin", d).exists())]
    if missing:
        return f"SLURM packages absent ({', '.join(missing)}): run `bash slurm/ci-install.sh`"
    if os.geteuid() != 0:
        return "the dev cluster runs its daemons and jobs as root; run the tests as root"
    return None


def _port_pair_free(port: int) -> bool:
    for p in (port, port + 1):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", p))
            except OSError:
                return False
    return True


def free_port_pair() -> int:
    for _ in range(200):
        port = random.randrange(20000, 40000, 2)
        if _port_pair_free(port):
            return port
    raise RuntimeError("no free port pair for the dev cluster")


@contextmanager
def dev_cluster(max_array_size: int = 1001, cred_expire: int = 5) -> Iterator[dict]:
    """A private one-node cluster (own state dir, own ports); yields the env for SLURM clients."""
    state = tempfile.mkdtemp(prefix="ablate-slurm-")  # short: munge's socket path must be < 108 chars
    env = {
        **os.environ,
        "ABLATE_SLURM_DIR": state,
        "ABLATE_SLURM_PORT": str(free_port_pair()),
        "ABLATE_SLURM_MAX_ARRAY_SIZE": str(max_array_size),
        "ABLATE_SLURM_CRED_EXPIRE": str(cred_expire),
    }
    t0 = time.monotonic()
    up = subprocess.run(["bash", str(DEV_CLUSTER), "up"], env=env, capture_output=True, text=True)
    if up.returncode != 0:
        subprocess.run(["bash", str(DEV_CLUSTER), "down"], env=env, capture_output=True)
        raise RuntimeError(f"dev cluster did not start: {up.stderr}")
    conf = up.stdout.strip().splitlines()[-1].split("=", 1)[1]
    client_env = {**os.environ, "SLURM_CONF": conf, "ABLATE_SLURM_DIR": state}
    client_env.pop("ABLATE_RESULTS_DIR", None)
    client_env["ABLATE_TEST_CLUSTER_UP_S"] = f"{time.monotonic() - t0:.2f}"
    try:
        yield client_env
    finally:
        subprocess.run(["bash", str(DEV_CLUSTER), "down"], env=env, capture_output=True)


def ablate(env: dict, *args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, "-m", "ablate", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"ablate {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


def slurm(env: dict, *args: str) -> str:
    return subprocess.run(list(args), env=env, capture_output=True, text=True, check=True, timeout=60).stdout


def job_ids(submit_stdout: str) -> list[str]:
    """`submit` prints 'JOBID<TAB>cells ...' per array."""
    return [line.split("\t", 1)[0] for line in submit_stdout.splitlines() if line[:1].isdigit()]


def queued(env: dict) -> list[str]:
    """Ids ('12_3') of every task still in the queue."""
    return slurm(env, "squeue", "-h", "-r", "-o", "%i").split()


def wait_until_idle(env: dict, results: Path, timeout: float = 420) -> float:
    """Wait until the queue is empty; on timeout, fail with the queue and the logs' tails."""
    t0 = time.monotonic()
    while queued(env):
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"queue not empty after {timeout} s:\n{slurm(env, 'squeue')}\n{dump_logs(results)}")
        time.sleep(1)
    return time.monotonic() - t0


def wait_for(predicate, timeout: float, what: str, poll: float = 0.5) -> float:
    t0 = time.monotonic()
    while not predicate():
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(poll)
    return time.monotonic() - t0


def dump_logs(results: Path, lines: int = 30) -> str:
    out = []
    for log in sorted(results.rglob("slurm/logs/*")):
        text = log.read_text(errors="replace").splitlines()[-lines:]
        out.append(f"==> {log} <==\n" + "\n".join(text))
    return "\n".join(out)
