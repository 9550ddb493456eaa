"""ablate: controlled, reproducible ablations of the claims of CNN history."""

__version__ = "0.1.0"
