"""The protocol models, by name. Each module defines one `fuzz.model.Model`."""

from __future__ import annotations

import importlib

from fuzz.model import Model

# name -> "module:Class", in the order `panicfuzz list` shows them.
REGISTRY = {
    "hpet": "protocols.hpet:Hpet",
}


def load(name: str) -> type[Model]:
    module, _, cls = REGISTRY[name].partition(":")
    return getattr(importlib.import_module(module), cls)


def names() -> list[str]:
    return list(REGISTRY)
