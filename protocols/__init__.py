"""The shipped protocol models: module `protocols/<name>.py` defines the `panicfuzz.model.Model` named <name>.

Other modules and subpackages here (helpers, `blocks/`) are not models. Finding,
importing and checking models is `panicfuzz.loader`'s job; `load()` and `names()`
are its shipped-models-only shorthand.
"""

from __future__ import annotations

import functools
import pkgutil
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from panicfuzz.model import Model


@functools.cache
def modules() -> tuple[str, ...]:
    """The modules that may hold a shipped model (not packages, not private)."""
    return tuple(info.name for info in pkgutil.iter_modules(__path__) if not info.ispkg and not info.name.startswith("_"))


def load(name: str) -> type[Model]:
    """The shipped model `name`; KeyError if there is none, ModelLoadError if it does not load."""
    from panicfuzz.loader import shipped_entry

    entry = shipped_entry(name) if name in modules() else None
    if entry is None or (entry.model is None and entry.error is None):
        raise KeyError(name)
    if entry.error is not None:
        from panicfuzz.errors import ModelLoadError

        raise ModelLoadError(entry.error)
    return entry.model


def names() -> list[str]:
    """The shipped models that load, in the order of their `seed` (the LKML seed they come from)."""
    from panicfuzz.loader import shipped_entries

    return [e.name for e in shipped_entries() if e.model is not None]
