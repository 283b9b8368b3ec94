"""`@helper`: mark a model coroutine that is not a kernel function.

A model's methods are the kernel functions it models. A helper is not one: a
piece of modelled hardware, a dispatch on the variant, a body shared by two
kernel functions. Its frames stay out of timelines, of where a CPU is said to
be, and of failure signatures and names (`panicfuzz.oracles`,
`panicfuzz.claims`): a CPU inside a helper is in the kernel function that
called it, so renaming, splitting or inlining a helper changes no signature.
The machine still runs it, and fingerprints its state, like any other code.
"""

from __future__ import annotations

from types import CodeType
from typing import TypeVar

F = TypeVar("F")

# The code of every marked function, by identity (equal code objects of two
# functions are still two functions); kept alive here, so an id is never reused.
_HELPERS: dict[int, CodeType] = {}


def helper(fn: F) -> F:
    """Decorator: `fn` (a model coroutine function) is a helper, not a kernel function."""
    code = fn.__code__  # type: ignore[attr-defined]
    _HELPERS[id(code)] = code
    return fn


def is_helper(code: CodeType) -> bool:
    return id(code) in _HELPERS
