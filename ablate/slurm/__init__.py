"""SLURM support: one array job per experiment grid, one array task per pending cell.

- render.py      pure: job settings + array chunk -> sbatch script text; MaxArraySize splitting
- cluster.py     thin wrappers over sbatch / scontrol / squeue / sacct, and parsers of their output
- (commands/submit.py) `python -m ablate submit`: pending cells -> sbatch array(s), returns at once
- (commands/status.py) `python -m ablate status`: results store joined with squeue (and sacct)
- (commands/sync.py)   `python -m ablate sync`: uploads offline W&B runs with `wandb sync`

The array task id plus the script's OFFSET is the cell index of `ablate.experiment` (its stable
order), so `python -m ablate run EXP --cell N` inside a task trains exactly what a local run would.
"""
