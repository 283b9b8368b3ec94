"""The same machine driven by bare coroutines: the throughput ceiling.

`Machine` runs every CPU as a trio task and hands a baton between them with
`wait_task_rescheduled`/`reschedule`. Nothing in a run needs an event loop:
exactly one CPU is runnable at a time and the machine itself chooses which.
So the same CPU coroutines can be driven by hand, `coro.send(None)` into the
chosen CPU until it parks (yields) again, with no trio at all:

    driver: send -> CPU0 runs ... _yield -> _next chooses CPU1 -> _wake(CPU1)
            <- CPU0 parks (yields _PARK)
            send -> CPU1 runs ...

`BareMachine` overrides only the driver interface of `Machine` (`run`,
`_park`, `_wake`, `_current_task`, `_finish`); every decision, oracle and log
line is the inherited code, so a trace gives the identical event log on both
(tests/test_bare_driver.py checks that). trio stays the reference: this
driver exists to measure how much of a step is trio's (bench/run.py).
"""

from __future__ import annotations

import contextvars
from typing import Any

from .machine import Cpu, Machine, Outcome, _current_machine
from .model import Model
from .run import RunResult, result_of
from .watchdog import watching


class _Park:
    """The one awaitable a bare CPU coroutine yields on: back to the driver."""

    __slots__ = ()

    def __await__(self):
        yield self


_PARK = _Park()


class _Task:
    """Stands in for trio's Task: the machine only reads `.coro` (for stack walks)."""

    __slots__ = ("coro",)

    def __init__(self) -> None:
        self.coro: Any = None


class BareMachine(Machine):
    """`Machine` with the trio driver replaced by a `coro.send(None)` loop."""

    def run(self) -> Outcome:
        # A fresh context per run, as trio.run gives each run its own.
        with watching(self):
            return contextvars.copy_context().run(self._drive)

    def _drive(self) -> Outcome:
        _current_machine.set(self)
        self._baton: _Task | None = None
        tasks = []
        for cpu in self.cpus:
            t = _Task()
            t.coro = self._cpu_main(cpu)
            tasks.append(t)
        try:
            # Start every CPU in order: all but the last park before their first
            # step; the last makes the first decision (as under trio).
            for t in tasks:
                self._send(t)
            while self._baton is not None:
                t, self._baton = self._baton, None
                self._send(t)
        finally:
            for t in tasks:  # parked CPUs of a finished run: unwind them
                t.coro.close()
        if self.outcome is None:
            from .machine import HarnessBug

            raise HarnessBug("bare run ended without an outcome")
        return self.outcome

    def _send(self, task: _Task) -> None:
        self._running = task
        try:
            task.coro.send(None)
        except StopIteration:
            pass

    async def _park(self) -> None:
        await _PARK

    def _wake(self, cpu: Cpu) -> None:
        self._baton = cpu.task

    def _current_task(self) -> Any:
        return self._running

    def _finish(self, outcome: Outcome) -> None:
        # No cancel scope: the CPU that ends the run unwinds with _Finished and
        # the driver closes the parked ones.
        if self.outcome is None:
            self.outcome = outcome


def execute_bare(
    model_cls: type[Model], variant: str, decisions, *, max_steps: int | None = None, logging: bool = False, final_state: bool = False
) -> RunResult:
    """`panicfuzz.run.execute` on the bare driver."""
    model = model_cls(variant)
    m = BareMachine(model, decisions, max_steps=max_steps or model_cls.max_steps, logging=logging)
    m.run()
    return result_of(m, final_state)


__all__ = ["BareMachine", "execute_bare"]
