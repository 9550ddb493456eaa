"""Training one cell: `run.run_cell` and what it is built from (builders: network, LightningModule,
callbacks, Trainer; module, optim, recipe, recorder, checkpointing, preemption, rng_state,
provenance, threads) and the benchmark of that same loop against a raw PyTorch loop."""
