"""`python -m ablate claims`: every countable claim of the seeds, measured on our own models.

- core.py: Claim (data), the verdict rule and its tolerances, Row (one table row)
- measure.py: parameter counting, GMACs (torch.utils.flop_counter), shapes, depth, receptive field
- probes.py: the measurements specific claims need (built layers, ratios)
- catalog.py: the claims themselves
- cli.py: the command (table, --json, --markdown, --plot)
Importing this package is cheap; torch is imported by the modules above, not here.
"""
