"""Many runs of the trio machine inside one `trio.run()`.

`Machine.run()` is one `trio.run()` per schedule: a new event loop, a
nursery and a task per CPU, which costs more than a short run's steps
(bench/run.py: `empty_trio_run_ms`). `run_all(machines)` runs a whole batch
in one `trio.run()` instead, on a pool of trio tasks that outlives the runs:
each pool task takes one CPU of the next machine, awaits its
`Machine._cpu_main` (the same code, decisions, oracles and log as a run of
its own), then waits for the next.

    pool task i: await machine._cpu_main(cpu i) -> the last to return hands
                 the next machine's CPUs to the pool -> park until given one

Only the end of a run differs: a run of its own cancels its nursery, a hosted
run wakes every parked CPU, each of which sees the outcome and unwinds
(`_Finished`), as it does after any wake-up. tests/test_bare_driver.py checks
that a trace gives the identical event log on `Machine`, `HostedMachine` and
the bare driver.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator

import trio

from .machine import Cpu, HarnessBug, Machine, Outcome, _current_machine
from .watchdog import watching


class HostedMachine(Machine):
    """`Machine` whose CPUs run on the tasks of `run_all` rather than in a `trio.run()` of their own."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._parked_tasks: set = set()

    def run(self) -> Outcome:
        run_all([self])
        assert self.outcome is not None
        return self.outcome

    async def _park(self) -> None:
        task = trio.lowlevel.current_task()
        self._parked_tasks.add(task)
        await trio.lowlevel.wait_task_rescheduled(_abort)

    def _wake(self, cpu: Cpu) -> None:
        self._parked_tasks.discard(cpu.task)
        trio.lowlevel.reschedule(cpu.task)

    def _finish(self, outcome: Outcome) -> None:
        if self.outcome is None:
            self.outcome = outcome
        parked, self._parked_tasks = self._parked_tasks, set()
        for task in parked:  # each sees the outcome and unwinds
            trio.lowlevel.reschedule(task)


def _abort(_) -> trio.lowlevel.Abort:
    return trio.lowlevel.Abort.SUCCEEDED


def run_all(machines: Iterable[HostedMachine], done: Callable[[HostedMachine], None] | None = None) -> None:
    """Run every machine to its outcome, one after the other, in one `trio.run()`.

    `machines` is consumed lazily (a generator may build the next machine from the
    last one's result); `done` is called with each machine as soon as it has ended.
    """
    try:
        trio.run(_host, iter(machines), done)
    except BaseExceptionGroup as group:  # the original error, not the group
        raise group.exceptions[0] from None


async def _host(machines: Iterator[HostedMachine], done) -> None:
    async with trio.open_nursery() as nursery:
        _Pool(nursery, machines, done).next_machine()


class _Pool:
    """Pool tasks, one per CPU slot of the widest machine so far, and the job of each.

    The pool task whose CPU returns last starts the next machine itself (no
    hand-off to a host task between two runs).
    """

    def __init__(self, nursery: trio.Nursery, machines: Iterator[HostedMachine], done):
        self.nursery = nursery
        self.machines = machines
        self.done = done
        self.tasks: dict[int, trio.lowlevel.Task] = {}
        self.jobs: dict[int, tuple[HostedMachine, Cpu] | None] = {}
        self.running = 0
        self.machine: HostedMachine | None = None
        self.watch: contextlib.AbstractContextManager | None = None
        self.over = False  # every machine has run

    def next_machine(self) -> None:
        """End the machine that ran (if any) and hand the CPUs of the next one to the pool."""
        if self.machine is not None:
            assert self.watch is not None
            self.watch.__exit__(None, None, None)
            if self.machine.outcome is None:
                raise HarnessBug("hosted run ended without an outcome")
            if self.done is not None:
                self.done(self.machine)
        m = self.machine = next(self.machines, None)
        me = trio.lowlevel.current_task()
        if m is None:  # the end: every pool task returns
            self.over = True
            for slot, task in self.tasks.items():
                self.jobs[slot] = None
                if task is not me:
                    trio.lowlevel.reschedule(task)
            return
        self.watch = watching(m)
        self.watch.__enter__()
        self.running = len(m.cpus)
        for slot, cpu in enumerate(m.cpus):
            self.jobs[slot] = (m, cpu)
            task = self.tasks.get(slot)
            if task is None:
                self.nursery.start_soon(self._host_cpu, slot)
            elif task is not me:  # the caller takes its own job when it loops
                trio.lowlevel.reschedule(task)

    async def _host_cpu(self, slot: int) -> None:
        self.tasks[slot] = trio.lowlevel.current_task()
        while (job := self.jobs[slot]) is not None:
            machine, cpu = job
            self.jobs[slot] = None
            _current_machine.set(machine)
            await machine._cpu_main(cpu)
            self.running -= 1
            if self.running == 0:
                self.next_machine()
            if self.jobs[slot] is None and not self.over:
                await trio.lowlevel.wait_task_rescheduled(_abort)


__all__ = ["HostedMachine", "run_all"]
