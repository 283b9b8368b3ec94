"""panicfuzz engine: a deterministic trio machine for panic-path protocols."""

__version__ = "0.1.0"
