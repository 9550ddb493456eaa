"""Verdicts: the claims of an experiment file, the statistics behind them, their evaluation on runs."""
