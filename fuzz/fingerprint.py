"""A fingerprint of the whole machine state, for lasso proofs and DFS pruning.

Two states with the same fingerprint behave the same from then on (the run is
a pure function of state and decisions), provided the model keeps all its
state in cells and in the locals of its coroutines. A fingerprint is a plain
tuple compared by value (no hash collisions can fake a repeat); it is only
ever kept in memory, never saved.

It covers: every cell reachable from the model instance (or the model's own
`fingerprint()` when it overrides one, e.g. to abstract a growing counter),
and per CPU its flags, pending interrupts, why it waits (relative to the
clock), its context stack and each model frame's position and simple locals.
The virtual clock itself is left out: only deadlines relative to it count.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from types import CodeType
from typing import TYPE_CHECKING, Any

from .cells import Cell
from .machine import Poll, Sleep, Spin, _is_model_code

if TYPE_CHECKING:
    from .machine import Cpu, Machine

_SIMPLE = (int, str, bool, float, type(None))
_SIMPLE_TYPES = frozenset(_SIMPLE)  # the fast path of `_simple`


def cells_of(model: Any) -> list[Cell]:
    """Every cell held by the model instance, in attribute order."""
    out: list[Cell] = []
    for value in vars(model).values():
        if isinstance(value, Cell):
            out.append(value)
        elif isinstance(value, (list, tuple)):
            out += [v for v in value if isinstance(v, Cell)]
        elif isinstance(value, dict):
            out += [v for v in value.values() if isinstance(v, Cell)]
    return out


def model_state(model: Any) -> tuple:
    return tuple((c.name, _simple(c.value)) for c in cells_of(model))


def fingerprint(m: Machine) -> tuple:
    custom = getattr(m.model, "fingerprint", None)
    shared = custom() if custom is not None else model_state(m.model)
    return (shared, tuple(_cpu_state(m, c) for c in m.cpus), tuple(sorted(m.used.items())), m.goal_reached, m.settle_left)


def _cpu_state(m: Machine, cpu: Cpu) -> tuple:
    if cpu.done:  # a finished CPU: nothing about it can matter any more
        return (True,)
    w = cpu.wait
    if isinstance(w, (Sleep, Poll)):
        wait = (type(w).__name__, _remaining(m, w.deadline), tuple(c.name for c in getattr(w, "cells", ())))
    elif isinstance(w, Spin):
        wait = ("Spin", tuple(c.name for c in w.cells))
    else:
        wait = repr(w)
    return (
        cpu.done,
        cpu.irqs_off,
        cpu.nmi_blocked,
        cpu.nmi_depth,
        cpu.user,
        tuple(cpu.contexts),
        tuple((p.kind.value, p.name) for p in cpu.pending),
        wait,
        tuple((c.name, _simple(v)) for c, v in cpu.reads.items()),
        None if cpu.last_reads is None else tuple((c.name, _simple(v)) for c, v in cpu.last_reads.items()),
        cpu.wrote,
        None if cpu.stalled_until is None else _remaining(m, cpu.stalled_until),
        _frames(m, cpu),
    )


def _frames(m: Machine, cpu: Cpu) -> tuple:
    """Each frame of the CPU's stack, outermost first: model frames and the engine's
    primitives (a CPU between the two steps of `spin_lock_irqsave` is not where it was
    before them), with their simple locals; a deadline counts relative to the clock."""
    if cpu.task is None:
        return ()
    frames = []
    if cpu is m.current and _running_in(m, cpu):
        # Only the CPU's own frames: those older than the machine's decision point.
        f = sys._getframe(1)
        while f is not None and f.f_code.co_name != "_next":
            f = f.f_back
        f = f.f_back if f is not None else None
        while f is not None and f.f_code.co_name != "_cpu_main":
            frames.append(f)
            f = f.f_back
        frames.reverse()
    else:
        coro = cpu.task.coro
        while coro is not None:
            if getattr(coro, "cr_frame", None) is not None:
                frames.append(coro.cr_frame)
            coro = getattr(coro, "cr_await", None)
    return tuple(
        (f.f_code.co_qualname, f.f_lasti, tuple((k, _local(m, k, v)) for k, v in f.f_locals.items() if k not in _SKIP))
        for f in frames
        if _kept(f.f_code)
    )


@functools.cache
def _kept(code: CodeType) -> bool:
    """Whether a frame of `code` is part of a CPU's state: model code and the engine's primitives."""
    return code.co_name not in _DRIVER and (_is_model_code(code.co_filename) or code.co_filename.startswith(_ENGINE))


# The driver's own frames say nothing about the CPU's state.
_DRIVER = frozenset({"_cpu_main", "_yield", "_park", "_next", "_take_interrupts", "schedule_point", "_host_cpu"})  # _host_cpu: panicfuzz.host
_SKIP = frozenset({"self", "m", "cpu", "nxt"})
_ENGINE = str(Path(__file__).parent)


def _local(m: Machine, name: str, value: Any) -> Any:
    if name == "deadline" and isinstance(value, int):
        return ("in", _remaining(m, value))
    return _simple(value)


def _remaining(m: Machine, deadline: int) -> int:
    """Time left until `deadline`: a deadline that has passed has passed, however long ago."""
    return max(deadline - m.now, 0)


def _running_in(m: Machine, cpu: Cpu) -> bool:
    try:
        return m._current_task() is cpu.task  # the driver's task (trio, or panicfuzz.bare)
    except RuntimeError:  # outside any run
        return False


def _simple(v: Any) -> Any:
    if type(v) in _SIMPLE_TYPES or isinstance(v, _SIMPLE):
        return v
    if isinstance(v, (tuple, list)):
        return tuple(_simple(x) for x in v)
    if isinstance(v, Cell):
        return ("cell", v.name)
    if isinstance(v, dict):
        return tuple((_simple(k), _simple(x)) for k, x in v.items())
    if isinstance(v, (set, frozenset)):
        return tuple(sorted(map(repr, v)))
    name = getattr(v, "__qualname__", None)
    return name if isinstance(name, str) else type(v).__name__
