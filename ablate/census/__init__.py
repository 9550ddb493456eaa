"""`python -m ablate census`: every countable statement of the seeds, measured on our own models.

- core.py: Statement (data), the verdict rule and its tolerances, Row (one table row)
- measure.py: parameter counting, GMACs (torch.utils.flop_counter), shapes, depth, receptive field
- probes.py: the measurements specific statements need (built layers, ratios)
- catalog.py: the statements themselves
- cli.py: the command (table, --json, --markdown, --plot)
Importing this package is cheap; torch is imported by the modules above, not here.
"""
