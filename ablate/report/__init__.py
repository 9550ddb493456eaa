"""The analysis every experiment gets: results store -> runs frame -> table, curves, verdicts, report.

An experiment may add what is truly its own through a module in the top-level `analysis/` folder
(found by name, see `modules`); the generic path needs none.
"""
