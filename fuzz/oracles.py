"""Oracles that judge a run the machine cannot continue.

Deadlock: no CPU can run and the model's goal was not reached. The report is
the wait-for chain in words, built from what the machine knows: which cells
each spinning CPU re-reads, who holds each lock, where each CPU stopped.
Signatures leave out CPU numbers and values so that one bug found twice, or
found with the CPUs swapped, is one corpus file.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING

from .cells import raw_spinlock_t
from .machine import Halt, Idle, Outcome, Poll, Sleep, Spin

if TYPE_CHECKING:
    from .machine import Cpu, Machine


def signature(kind: str, parts: tuple) -> str:
    """A stable name for a failure's shape: `<kind>-<12 hex digits>`."""
    blob = json.dumps([kind, parts], sort_keys=True, default=str)
    return f"{kind}-{hashlib.sha256(blob.encode()).hexdigest()[:12]}"


def describe(m: Machine, cpu: Cpu) -> str:
    """What `cpu` is doing, in the words of an LKML report."""
    w = cpu.wait
    where = m.where(cpu)
    ctx = cpu.contexts[-1][0]
    inside = "" if ctx == "task" else f" (in {ctx})"
    if cpu.done:
        return f"{cpu.label} has returned"
    if isinstance(w, (Spin, Poll)):
        locks = [c for c in w.cells if isinstance(c, raw_spinlock_t) and c.value is not None]
        return f"{cpu.label} spins in {where}{inside} on " + "; ".join(_cell_state(m, cpu, c) for c in locks or w.cells)
    if isinstance(w, Halt):
        return f"{cpu.label} is halted in {where}{inside}"
    if isinstance(w, Idle):
        return f"{cpu.label} runs user code"
    if isinstance(w, Sleep):
        return f"{cpu.label} waits in {where}{inside}"
    return f"{cpu.label} is in {where}{inside}"


def _cell_state(m: Machine, cpu: Cpu, cell) -> str:
    if isinstance(cell, raw_spinlock_t):
        if cell.value is None:
            return f"{cell} (free)"
        if cell.value == cpu.id:
            return f"{cell}, which it holds itself in the interrupted {cell.taken_in}()"
        return f"{cell}, held by {m.cpus[cell.value].label.split()[0]} since {cell.taken_in}()"
    if cell.last_writer is None:
        return f"{cell} = {cell.value} (never written)"
    return f"{cell} = {cell.value} (last written by {m.cpus[cell.last_writer].label})"


def _holders(cpu: Cpu) -> list[int]:
    w = cpu.wait
    if not isinstance(w, (Spin, Poll)):
        return []
    return [c.value for c in w.cells if isinstance(c, raw_spinlock_t) and c.value is not None]


def terminal_outcome(m: Machine) -> Outcome:
    """No CPU can run and the clock cannot advance: held, or a deadlock."""
    spinners = [c for c in m.cpus if not c.done and isinstance(c.wait, (Spin, Poll))]
    if not spinners and (m.goal_reached or not m.model.goal_pending()):
        return Outcome(None)
    # The chain: each spinner, then whoever holds what it waits for, then the rest.
    order: list[Cpu] = []
    for c in spinners:
        todo = [c]
        while todo:
            x = todo.pop(0)
            if x in order:
                continue
            order.append(x)
            todo += [m.cpus[h] for h in _holders(x)]
    order += [c for c in m.cpus if c not in order and not isinstance(c.wait, Idle) and not c.done]
    lines = [describe(m, c) for c in order]
    if m.goal_reached:
        lines.append(f"Nothing can change either, after the goal ({m.model.goal}) was reached")
    elif m.model.goal is not None:
        lines.append(f"Nothing can change either, and the goal ({m.model.goal}) was not reached")
    else:
        lines.append("Nothing can change either")
    message = ";\n".join(lines) + "."
    return Outcome("deadlock", message, _shape(m, spinners or order))


def _shape(m: Machine, stuck: list[Cpu]) -> tuple:
    """What makes two deadlocks the same bug: the shape of the wait-for relation.

    Per stuck CPU (the spinners; without any, every CPU neither done nor in user
    mode): how it waits (spin, poll, halt) and the kernel function it waits in,
    and for a spinner what it waits on: the held locks (else the cells it
    re-reads), each with whoever holds it: itself, or the holder's own wait,
    function and context (task, or the interrupt that stopped it there). CPU
    numbers, values, helpers (`panicfuzz.model.helper`), the frames below the
    innermost kernel function (where an interrupt landed), the context that led
    the waiter there and where a lock was taken are left out: the same wait
    reached by another path is the same bug.
    """
    shape = sorted((_waiter(m, c) for c in stuck), key=json.dumps)
    return tuple(shape + ([{"after": "goal"}] if m.goal_reached else []))


def _waiter(m: Machine, cpu: Cpu) -> dict:
    """A stuck CPU in a deadlock's shape (see `_shape`)."""
    entry = _state(m, cpu)
    del entry["context"]  # the path that led the waiter here (a panic from an IRQ or a #GP) is not the bug
    w = cpu.wait
    if isinstance(w, (Spin, Poll)):
        locks = [c for c in w.cells if isinstance(c, raw_spinlock_t) and c.value is not None]
        entry["on"] = sorted([c.name, _holder(m, cpu, c)] for c in locks or w.cells)
    return entry


def _state(m: Machine, cpu: Cpu) -> dict:
    if cpu.done:
        return {"waits": "done", "context": ""}
    frames = m.model_frames(cpu)
    return {"waits": type(cpu.wait).__name__.lower(), "in": frames[-1] if frames else "", "context": cpu.contexts[-1][0]}


def _holder(m: Machine, cpu: Cpu, cell) -> str | dict:
    if not isinstance(cell, raw_spinlock_t) or cell.value is None:
        return "cell"
    if cell.value == cpu.id:
        return "self"
    return _state(m, m.cpus[cell.value])


def hang_outcome(m: Machine) -> Outcome:
    """The step budget ran out before the goal: a hang that is not (yet) proven."""
    busy = sorted({m.where(c) for c in m.cpus if m.runnable(c)})
    goal = m.model.goal or "every CPU finishing"
    message = (
        f"hang (unproven): {goal} not reached within {m.max_steps} steps, nor in {m.max_steps} more "
        f"under a fair schedule, and no machine state repeated; still running: {', '.join(busy)}"
    )
    return Outcome("hang", message, ("hang", tuple(busy)))
