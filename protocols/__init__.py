"""The protocol models, discovered by module: each module defines one `fuzz.model.Model`.

Models are listed in the order of their `seed` (the LKML seed they come from).
"""

from __future__ import annotations

import functools
import importlib
import inspect
import pkgutil

from fuzz.model import Model


@functools.cache
def _registry() -> dict[str, type[Model]]:
    found = []
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if issubclass(obj, Model) and obj is not Model and obj.__module__ == module.__name__:
                found.append(obj)
    found.sort(key=lambda m: (m.seed, m.name))
    return {m.name: m for m in found}


def load(name: str) -> type[Model]:
    return _registry()[name]


def names() -> list[str]:
    return list(_registry())
