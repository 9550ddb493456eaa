"""How many CPU threads a run may use: the CPUs it was given, never the machine's core count.

A SLURM task with one CPU on a 64-core node that starts 64 torch threads runs them all on that one
CPU (measured on the dev cluster: 47 s against 4 s for a quick cell). The allocation is
SLURM_CPUS_PER_TASK when SLURM set it, and the process's CPU affinity mask in every case (SLURM's
task/affinity and cgroup plugins, `taskset`, container CPU sets all narrow it).
"""

from __future__ import annotations

import os


def allocated_cpus() -> int:
    """CPUs this process may run on (>= 1)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows: no affinity API; the core count is all there is
        cpus = os.cpu_count() or 1
    slurm = os.environ.get("SLURM_CPUS_PER_TASK", "")
    if slurm.isdigit() and int(slurm) > 0:
        cpus = min(cpus, int(slurm))
    return max(1, cpus)


def set_torch_threads(threads: int | None = None) -> int:
    """Set torch's intra-op threads to `threads` (default: the allocation); returns the number."""
    import torch

    n = max(1, threads if threads is not None else allocated_cpus())
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n
