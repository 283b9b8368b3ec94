"""The protocol models: module `protocols/<name>.py` defines the `panicfuzz.model.Model` named <name>.

`load(name)` imports only that module, so one broken model does not stop the
others; `names()` imports them all and lists them in the order of their
`seed` (the LKML seed they come from).
"""

from __future__ import annotations

import functools
import importlib
import inspect
import pkgutil

from panicfuzz.model import Model


@functools.cache
def load(name: str) -> type[Model]:
    """The model class of protocol `name`; KeyError if there is none."""
    if name.startswith("_") or name not in _modules():
        raise KeyError(name)
    module = importlib.import_module(f"{__name__}.{name}")
    for _, obj in inspect.getmembers(module, inspect.isclass):
        if issubclass(obj, Model) and obj.__module__ == module.__name__ and obj.name == name:
            return obj
    raise KeyError(f"protocols/{name}.py defines no Model named {name!r}")


@functools.cache
def _modules() -> tuple[str, ...]:
    return tuple(info.name for info in pkgutil.iter_modules(__path__) if not info.name.startswith("_") and not info.ispkg)


def names() -> list[str]:
    return [m.name for m in sorted(map(load, _modules()), key=lambda m: (m.seed, m.name))]
