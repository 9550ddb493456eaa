"""Training one cell: `run.run_cell` and what it is built from (builders: network, LightningModule,
callbacks, Trainer; module, optim, recipe, recorder, checkpointing, preemption, rng_state,
provenance, threads) and the benchmark of that same loop against a raw PyTorch loop."""

# Set by rank 0 of a cell that trains on several processes (and exported by a SLURM task script
# before srun starts its ranks): the run id of that cell. A process is rank >= 1 of a launch that
# ablate started exactly when this names the cell and its launcher rank is > 0; it then trains that
# one cell, without the cell's lock (rank 0 holds it), and never walks the grid. Kept here, in an
# import-free module, so the SLURM renderer can name it without importing the training code.
DDP_RUN_ID_ENV = "ABLATE_DDP_RUN_ID"
