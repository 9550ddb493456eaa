"""Analyses of ablate's results: pure functions, results -> DataFrame -> summary -> figure.

One module per experiment (named by the experiment file's `analysis` key), each providing
`analyze(runs, curves, spec) -> common.Analysis`; shared pieces live in `common`.
"""
