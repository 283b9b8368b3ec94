"""Shared state of a model: every cell is one word the CPUs race on.

A cell records who watches it (CPUs spinning on it) so that a write wakes them,
and who wrote it last, so that a deadlock report can say who could release whom.
Models read and write cells only through the primitives in `panicfuzz.kernel`.
"""

from __future__ import annotations

from typing import Any

import attrs


@attrs.define(eq=False)
class Cell:
    """One shared memory word (`READ_ONCE`/`WRITE_ONCE`)."""

    name: str
    value: Any = 0
    # CPUs blocked in a spin loop that read this cell; a write wakes them all.
    watchers: list = attrs.field(init=False, factory=list, repr=False)
    last_writer: int | None = attrs.field(init=False, default=None, repr=False)

    def __str__(self) -> str:
        return self.name


@attrs.define(eq=False)
class atomic_t(Cell):  # noqa: N801 - kernel name
    """`atomic_t`: a cell operated on by the atomic_* primitives."""


@attrs.define(eq=False)
class raw_spinlock_t(Cell):  # noqa: N801 - kernel name
    """A spinlock; `value` is the owning CPU or None. Not recursive, no owner checks."""

    # Innermost model function that took the lock (for reports).
    taken_in: str = attrs.field(init=False, default="", repr=False)

    def __init__(self, name: str):
        self.__attrs_init__(name, None)


arch_spinlock_t = raw_spinlock_t
spinlock_t = raw_spinlock_t


@attrs.define(eq=False)
class cpumask_t(Cell):  # noqa: N801 - kernel name
    """A cpumask as an int bitmask (bit n = CPU n)."""

    @classmethod
    def of(cls, name: str, cpus) -> "cpumask_t":
        return cls(name, sum(1 << c for c in cpus))


@attrs.define(eq=False)
class DeviceCounter(Cell):
    """A free-running device counter (HPET main counter): each `readl` returns the next tick."""


class mutex(raw_spinlock_t):  # noqa: N801 - kernel name (struct mutex)
    """A sleeping lock; `value` is the owning CPU's task or None (see `panicfuzz.kernel.mutex_lock`)."""
