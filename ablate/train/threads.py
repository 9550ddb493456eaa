"""How many CPU threads a run may use: the CPUs it was given, never the machine's core count.

A SLURM task with one CPU on a 64-core node that starts 64 torch threads runs them all on that one
CPU (measured on the dev cluster: 47 s against 4 s for a quick cell). The allocation is
SLURM_CPUS_PER_TASK when SLURM set it (--cpus-per-task), else, inside a SLURM job, the job's CPUs
on this node over its tasks per node (SLURM_CPUS_ON_NODE / SLURM_NTASKS_PER_NODE: a cluster
without task/affinity or cgroup binding leaves the mask at the whole node), and the process's CPU
affinity mask in every case (SLURM's binding plugins, `taskset`, container CPU sets narrow it).
A run's threads are its share of that, at most an explicit OMP_NUM_THREADS: two `run --cell`
processes on 2 cores with OMP_NUM_THREADS=1 that each took both cores ran about 10x slower.
"""

from __future__ import annotations

import os


def allocated_cpus() -> int:
    """CPUs this process may run on (>= 1)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows: no affinity API; the core count is all there is
        cpus = os.cpu_count() or 1
    per_task = _env_int("SLURM_CPUS_PER_TASK")
    if per_task is None and "SLURM_JOB_ID" in os.environ and _env_int("SLURM_CPUS_ON_NODE"):
        per_task = _env_int("SLURM_CPUS_ON_NODE") // (_env_int("SLURM_NTASKS_PER_NODE") or 1)
    if per_task:
        cpus = min(cpus, per_task)
    return max(1, cpus)


def _env_int(name: str) -> int | None:
    value = os.environ.get(name, "")
    return int(value) if value.isdigit() and int(value) > 0 else None


def default_threads(jobs: int = 1) -> int:
    """Threads of each of `jobs` runs sharing the allocation, at most $OMP_NUM_THREADS where set."""
    n = max(1, allocated_cpus() // max(1, jobs))
    asked = _env_int("OMP_NUM_THREADS")
    return min(n, asked) if asked else n


def set_torch_threads(threads: int | None = None) -> int:
    """Set torch's intra-op threads to `threads` (default: default_threads()); returns the number."""
    import torch

    n = max(1, threads if threads is not None else default_threads())
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n
