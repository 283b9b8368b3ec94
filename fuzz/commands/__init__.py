"""The subcommands of `panicfuzz`, one module each.

A command module defines `ORDER` (its place in `panicfuzz --help`) and
`add_parser(sub)`, which adds its subparser to `sub` and sets `func` to the
function that runs it (`func(args) -> exit code`). `panicfuzz.cli` finds every
module of this package whose name does not start with `_`: adding a command
is adding a module. Glue shared by several commands is in `_common`.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType


def modules() -> list[ModuleType]:
    """Every command module, in `--help` order."""
    found = [
        importlib.import_module(f"{__name__}.{m.name}") for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")
    ]
    return sorted(found, key=lambda m: (m.ORDER, m.__name__))
