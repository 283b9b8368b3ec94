"""The errors panicfuzz reports to its user, each with its exit code.

`UsageError` is bad input (a flag, a file, a field, a model that does not
load): one line naming the file, field or value, exit code 2. Errors of
panicfuzz itself are `panicfuzz.machine.HarnessBug`.
"""

from __future__ import annotations


class UsageError(Exception):
    """Bad input: reported as one line, exit code 2."""


class ModelLoadError(UsageError):
    """A model reference that does not resolve, or a model that breaks the contract of `panicfuzz.model`."""
