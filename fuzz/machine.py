"""The simulated machine: CPUs as trio tasks in lockstep.

How a run goes
--------------
Every CPU is a trio task. Its bottom context is the model's entry coroutine for
that CPU; an interrupt is delivered by awaiting the handler coroutine *inside*
the schedule point of the interrupted primitive, exactly as hardware pushes a
frame onto the interrupted stack. So one trio task holds the whole context
stack of its CPU.

Every access to shared state is a primitive (`panicfuzz.kernel`) that first calls
`schedule_point()` and only then takes effect. A schedule point ends the step
of the CPU that reached it: the machine checks the oracles, asks the decision
source for the next action and hands the baton to the chosen CPU. Exactly one
task is runnable at any time; every other CPU is parked in
`wait_task_rescheduled`. When the chosen CPU is the one that is already running
(the default action) nothing is switched at all.

    CPU0 task ... READ_ONCE(x) -> schedule_point -> _next() -> CPU1
    CPU1 task (was parked)  <- reschedule ---------------------'
              applies its op, runs local code to its next schedule point

A run is a pure function of (model, variant, config, decisions): no wall
clock, no hash order, no randomness outside the decision source.
"""

from __future__ import annotations

import os
import sys
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import attrs
import trio

from panicfuzz import protocols

from .cells import Cell, raw_spinlock_t
from .helper import is_helper
from .trace import Action, Inject, Run, StallFor, duration
from .watchdog import Stuck, watching

if TYPE_CHECKING:
    from .model import Model


class Kind(Enum):
    """What an interrupt or exception is, which decides when it is delivered."""

    IRQ = "irq"  # maskable: device interrupt, IPI
    NMI = "nmi"  # pseudo-NMI on arm64; latched, never nested
    MCE = "#MC"  # unmaskable; NMI-class only when it interrupts kernel mode
    EXC = "exc"  # synchronous exception (#GP, #PF, #BP): taken at once


# Delivery priority when several are pending at once.
_PRIORITY = (Kind.EXC, Kind.MCE, Kind.NMI, Kind.IRQ)


class HarnessBug(Exception):
    """An internal error in panicfuzz, not in the model: please file a bug."""


class Violation(Exception):
    """A protocol invariant failed. `key` names the invariant (stable, for signatures)."""

    def __init__(self, key: str, message: str):
        super().__init__(message)
        self.key = key
        self.message = message


class NondeterministicModel(Exception):
    """A replayed trace chose an action the machine did not offer."""


# ---------------------------------------------------------------------------
# Why a parked CPU cannot run.


@attrs.frozen
class Spin:
    """Spinning in a loop whose last iteration changed nothing: woken by a write."""

    cells: tuple[Cell, ...]


@attrs.frozen
class Sleep:
    """udelay()/mdelay(): runnable again once the virtual clock reaches deadline."""

    deadline: int


@attrs.frozen
class Poll:
    """A timed poll loop that changed nothing: woken by a write or the deadline."""

    cells: tuple[Cell, ...]
    deadline: int


@attrs.frozen
class Halt:
    """Halted in a stop/park loop: only a deliverable interrupt runs it again."""

    where: str


@attrs.frozen
class Idle:
    """Running user code: nothing shared happens until an interrupt arrives."""


IDLE = Idle()


# The vector of every NMI on x86 (one vector, one latch). An arm64 pseudo-NMI IPI is
# named by its SGI instead: each SGI has its own pending bit in the GIC.
NMI_VECTOR = "NMI"

# What a stalled CPU's column says when its stall begins and ends (the timeline dots it between).
STALL_BEGINS = "stalls for "
STALL_ENDS = "stall ends: runs again"


@attrs.frozen
class Pending:
    """An interrupt waiting on one CPU.

    An NMI carries no handler: whoever sent it, the CPU runs the model's NMI
    entry (`Model.nmi_handler`), and what the sender wanted lives in shared
    state (`crash_ipi_issued`, `cpus_stop_mask`, the registered handlers).
    `name` is then the vector (`NMI_VECTOR`, or an arm64 SGI), which the entry
    can read back with `context_of(smp_processor_id())`.
    """

    kind: Kind
    name: str
    handler: Callable[[], Any] | None


@attrs.define(eq=False)
class Cpu:
    id: int
    label: str
    task: Any = None
    # Invariant: at most one pending NMI (the latch).
    pending: list[Pending] = attrs.field(factory=list)
    irqs_off: bool = False
    nmi_blocked: bool = False  # in an NMI handler (x86 latch) or DAIF-masked (arm64)
    nmi_depth: int = 0  # in_nmi()
    user: bool = False  # the interrupted context is user mode
    # The context stack: (name, interrupted user mode?) per frame, task first.
    contexts: list[tuple[str, bool]] = attrs.field(factory=lambda: [("task", False)])
    wait: Any = None
    done: bool = False
    stalled_until: int | None = None  # stalled (`StallFor`): takes no step before this time (ns)
    # Spin recognition: shared reads of the current loop iteration and the last one.
    reads: dict = attrs.field(factory=dict)
    last_reads: dict | None = None
    wrote: bool = False  # this iteration wrote a cell, or read one that changed under it
    # Timeline bookkeeping (only while logging).
    shown_frames: list = attrs.field(factory=list)

    def deliverable(self) -> Pending | None:
        for kind in _PRIORITY:
            for p in self.pending:
                if p.kind is not kind:
                    continue
                if kind is Kind.NMI and self.nmi_blocked:
                    continue
                if kind is Kind.IRQ and self.irqs_off:
                    continue
                return p
        return None


@attrs.frozen
class Outcome:
    """How a run ended. `kind` is None for a run that held."""

    kind: str | None
    message: str = ""
    signature_parts: tuple = ()
    detail: dict = attrs.field(factory=dict)


_CHANGED = object()  # `note_write`'s default: the write changed the value


class _Finished(BaseException):
    """Unwinds the CPU task that ended the run."""


_ENGINE_DIRS = (str(Path(__file__).parent) + os.sep, str(Path(trio.__file__).parent) + os.sep)
# Installed, the shipped models (panicfuzz.protocols) live inside the engine's own directory.
_MODEL_DIRS = tuple(str(Path(p)) + os.sep for p in protocols.__path__)


def _is_model_code(filename: str) -> bool:
    return filename.startswith(_MODEL_DIRS) or not filename.startswith(_ENGINE_DIRS)


class Machine:
    """One run of one model under one decision source."""

    def __init__(self, model: Model, decisions, *, max_steps: int, logging: bool = False):
        self.model = model
        self.decisions = decisions
        self.max_steps = max_steps
        self.logging = logging
        self.cpus = [Cpu(i, model.cpu_label(i), user=model.starts_in_user_mode(i)) for i in range(model.ncpus)]
        self.now = 0  # virtual time, ns
        self.steps = 0
        self.trace: list[Action] = []
        # Per decision: d(efault) p(reemption) s(witch) i(njection), or f: taken by the
        # machine's own fair scheduler after the step budget (see panicfuzz.livelock).
        self.kinds: list[str] = []
        self.fair = None
        self.log: list[tuple] = []
        # For timelines only, outside the log (and its digest): the virtual time of each log
        # entry, and notes (log position, cpu, text) such as an interrupt left pending by a mask.
        self.clock: list[int] = []
        self.notes: list[tuple[int, int, str]] = []
        self.last = 0  # CPU that took the last step
        self.current: Cpu = self.cpus[0]
        self.used: dict[str, int] = {}
        self.outcome: Outcome | None = None
        self.goal_reached = False
        self.goal_owed = False  # Model.goal_pending() was true at a step boundary of this run
        self.accesses = 0  # reads and writes of shared cells by CPUs (a run with none tested nothing)
        self.settle_left = 0  # after the goal: steps left for the other CPUs to settle
        self._parked = 0
        self._cancel: trio.CancelScope | None = None
        # What the current step (or injection) touched, for partial-order reduction
        # (panicfuzz.strategies.exhaustive): the ids of the CPUs it raised an
        # interrupt on and the cells it wrote. None: not recorded.
        self.footprint: set | None = None

    # -- running -----------------------------------------------------------

    def run(self) -> Outcome:
        try:
            with watching(self):
                trio.run(self._main)
        except BaseExceptionGroup as group:  # re-raise the original error, not the group
            raise group.exceptions[0] from None
        if self.outcome is None:
            raise HarnessBug("run ended without an outcome")
        return self.outcome

    async def _main(self) -> None:
        _current_machine.set(self)
        with trio.CancelScope() as self._cancel:
            async with trio.open_nursery() as nursery:
                for cpu in self.cpus:
                    nursery.start_soon(self._cpu_main, cpu)

    async def _cpu_main(self, cpu: Cpu) -> None:
        cpu.task = self._current_task()
        try:
            # Parked before its first step: trio's start order never matters.
            # The last CPU task to start makes the first decision.
            self._parked += 1
            if self._parked < len(self.cpus):
                await self._park()
                if self.outcome is not None:
                    raise _Finished
                self.current = cpu
            else:
                await self._yield(cpu, count=False)
            await self._take_interrupts(cpu)
            await self.model.cpu_main(cpu.id)
            cpu.done = True
            self.event(cpu, "returns")
            nxt = self._next()
            if nxt is not None:
                self._wake(nxt)
        except _Finished:
            pass
        except Violation as v:
            self._finish(Outcome("invariant", v.message, ("invariant", v.key)))
        except NondeterministicModel as e:
            self._finish(Outcome("model-error", str(e), ("nondeterministic",)))
        except HarnessBug:
            raise
        except Stuck as e:  # local code that never reached a schedule point (panicfuzz.watchdog)
            where = _model_location(e)
            file, _, func = where.partition(":")
            self._finish(Outcome("model-error", f"stuck at {where}: {e}", ("model-error", "stuck", file, func.partition(" in ")[2])))
        except Exception as e:  # a bug in the model, not in the protocol
            where = _model_location(e)
            self._finish(
                Outcome(
                    "model-error",
                    f"{type(e).__name__}: {e} (at {where})",
                    ("model-error", type(e).__name__, where),
                )
            )

    def _finish(self, outcome: Outcome) -> None:
        if self.outcome is None:
            self.outcome = outcome
        assert self._cancel is not None
        self._cancel.cancel()

    async def _park(self) -> None:
        await trio.lowlevel.wait_task_rescheduled(lambda _: trio.lowlevel.Abort.SUCCEEDED)

    def _wake(self, cpu: Cpu) -> None:
        trio.lowlevel.reschedule(cpu.task)

    # _park/_wake/_current_task/_finish and run() are the whole driver interface:
    # panicfuzz.bare.BareMachine overrides them to drive the same CPUs without trio.
    def _current_task(self) -> Any:
        return trio.lowlevel.current_task()

    async def _yield(self, cpu: Cpu, count: bool = True) -> None:
        """End `cpu`'s step; return when `cpu` is chosen to take its next one."""
        nxt = self._next(count)
        if nxt is None:
            raise _Finished
        if nxt is not cpu:
            self._wake(nxt)
            await self._park()
            if self.outcome is not None:
                raise _Finished
        self.current = cpu

    async def schedule_point(self, cpu: Cpu) -> None:
        """Every primitive awaits this before it takes effect."""
        await self._yield(cpu)
        await self._take_interrupts(cpu)

    async def _take_interrupts(self, cpu: Cpu) -> None:
        """At an instruction boundary: run every deliverable interrupt, each ending a step."""
        while True:
            p = cpu.deliverable()
            if p is None:
                self._set_wait(cpu, None)
                return
            cpu.pending.remove(p)
            await self._deliver(cpu, p)
            await self._yield(cpu)

    async def _deliver(self, cpu: Cpu, p: Pending) -> None:
        """Push an interrupt frame on `cpu` and run the handler to completion."""
        saved = (cpu.irqs_off, cpu.nmi_blocked, cpu.nmi_depth, cpu.user, cpu.wait)
        nmi_class = p.kind is Kind.NMI or (p.kind is Kind.MCE and not cpu.user)
        origin = "user" if cpu.user else "kernel"
        self._set_wait(cpu, None)
        cpu.last_reads = None
        cpu.irqs_off = True
        cpu.user = False
        if p.kind is Kind.NMI:
            cpu.nmi_blocked = True
        if nmi_class:
            cpu.nmi_depth += 1
        cpu.contexts.append((p.name, origin == "user"))
        if p.kind in (Kind.MCE, Kind.EXC):
            how = f"from {origin} ({'NMI-class' if nmi_class else 'not NMI-class'})"
        else:
            how = "(NMI)" if p.kind is Kind.NMI else "(irq)"
        self.event(cpu, f"> {p.name} {how}")
        await (self.model.nmi_handler(cpu.id) if p.kind is Kind.NMI else p.handler)()
        cpu.contexts.pop()
        cpu.irqs_off, cpu.nmi_blocked, cpu.nmi_depth, cpu.user, wait = saved
        cpu.last_reads = None
        # A spin is re-evaluated after the handler; timed waits and halts resume.
        self._set_wait(cpu, None if isinstance(wait, (Spin, Poll)) else wait)
        self.event(cpu, f"< return from {p.name}")

    # -- choosing the next action -------------------------------------------

    def runnable(self, cpu: Cpu) -> bool:
        if cpu.done or cpu.stalled_until is not None:
            return False
        w = cpu.wait
        if w is None or cpu.deliverable() is not None:
            return True
        return isinstance(w, (Sleep, Poll)) and self.now >= w.deadline

    def _next(self, count: bool = True) -> Cpu | None:
        """The heart of the loop: oracles, then the decision source. None ends the run."""
        if self.outcome is not None:
            return None
        if count:
            self.steps += 1
        if self.goal_reached:
            if self.settle_left <= 0:
                self._finish(self._final(Outcome(None)))
                return None
            self.settle_left -= 1
        try:
            self.model.check()
        except Violation as v:
            self._finish(Outcome("invariant", v.message, ("invariant", v.key)))
            return None
        if not self.goal_owed and self.model.goal is not None:
            self.goal_owed = self.model.goal_pending()
        while True:
            runnable = [c for c in self._rotation() if self.runnable(c)]
            if not runnable:
                if self._advance_clock():
                    continue
                from .oracles import terminal_outcome

                self._finish(self._final(terminal_outcome(self)))
                return None
            enabled: list[Action] = [Run(c.id) for c in runnable]
            if not self.goal_reached:  # (settling after the goal: no step budget, nothing injected)
                if self.steps >= self.max_steps and self.fair is None:
                    from .livelock import FairContinuation

                    self.fair = FairContinuation()
                    self.event(None, f"step budget ({self.max_steps}) spent before the goal: continuing fairly")
                if self.steps >= 2 * self.max_steps:
                    from .oracles import hang_outcome

                    self._finish(hang_outcome(self))
                    return None
                if self.fair is not None:
                    action = self.fair.choose(self, enabled)
                    if isinstance(action, Outcome):
                        self._finish(action)
                        return None
                    self.trace.append(action)
                    self.kinds.append("f")
                    self.last = action.cpu
                    return self.cpus[action.cpu]
                enabled += self._injections()
            action = self.decisions.choose(self, enabled)
            self.trace.append(action)
            if action == enabled[0]:
                self.kinds.append("d")
            elif isinstance(action, Inject):
                self.kinds.append("i")
            else:
                self.kinds.append("p" if enabled[0] == Run(self.last) else "s")
            if isinstance(action, Inject):
                self._inject(action)
                continue
            self.last = action.cpu
            return self.cpus[action.cpu]

    def _rotation(self) -> list[Cpu]:
        """CPUs in default order: the last one first, then cyclically after it."""
        n = len(self.cpus)
        return [self.cpus[(self.last + k) % n] for k in range(n)]

    def _advance_clock(self) -> bool:
        deadlines = [
            c.wait.deadline
            for c in self.cpus
            if not c.done and isinstance(c.wait, (Sleep, Poll)) and c.wait.deadline > self.now
        ] + [c.stalled_until for c in self.cpus if c.stalled_until is not None]
        if not deadlines:
            return False
        self.now = min(deadlines)
        for c in self.cpus:
            if c.stalled_until is not None and c.stalled_until <= self.now:
                c.stalled_until = None
                self._note_on(c, STALL_ENDS)
        return True

    def _final(self, outcome: Outcome) -> Outcome:
        if outcome.kind is not None:
            return outcome
        try:
            self.model.final_check()
        except Violation as v:
            return Outcome("invariant", v.message, ("invariant", v.key))
        return outcome

    # -- injectable events -------------------------------------------------

    def _injections(self) -> list[Action]:
        """Events, then stalls, the model allows now (each within its limit per run)."""
        out: list[Action] = []
        for ev in self.model.events:
            if self.used.get(ev.name, 0) >= ev.limit:
                continue
            if ev.broadcast:
                if ev.guard is None or ev.guard(self.model, None):
                    out.append(Inject(ev.name, None))
                continue
            for c in self.cpus:
                if not c.done and (ev.guard is None or ev.guard(self.model, c.id)):
                    out.append(Inject(ev.name, c.id))
        for st in self.model.stalls:
            if self.used.get(st.name, 0) >= st.limit:
                continue
            for c in self.cpus:
                if c.done or c.stalled_until is not None or (st.cpus is not None and c.id not in st.cpus):
                    continue
                if st.guard is None or st.guard(self.model, c.id):
                    out += [StallFor(st.name, c.id, ns) for ns in st.durations]
        return out

    def _inject(self, action: Inject) -> None:
        if isinstance(action, StallFor):
            self._stall(action)
            return
        ev = self.model.event(action.event)
        self.used[ev.name] = self.used.get(ev.name, 0) + 1
        targets = [c for c in self.cpus if not c.done] if action.cpu is None else [self.cpus[action.cpu]]
        self.event(None, f"injected: {ev.name}" + (" (broadcast)" if action.cpu is None else f" on CPU{action.cpu}"))
        for c in targets:
            if ev.kind is Kind.NMI:
                if ev.handler is not None:  # the source asserts its device state first
                    ev.handler(self.model, c.id)
                self.raise_interrupt(c, Kind.NMI, NMI_VECTOR)
            else:
                self.raise_interrupt(c, ev.kind, ev.name, ev.bind(self.model))

    def _stall(self, action: StallFor) -> None:
        """`action.cpu` takes no step (nor interrupt) for `action.ns`; the others run on."""
        cpu = self.cpus[action.cpu]
        self.used[action.event] = self.used.get(action.event, 0) + 1
        cpu.stalled_until = self.now + action.ns
        if self.footprint is not None:
            self.footprint.add(cpu.id)
        self.event(None, f"injected: {action.event} on CPU{cpu.id}: no progress for {duration(action.ns)}")
        self._note_on(cpu, f"{STALL_BEGINS}{duration(action.ns)} ({action.event})")

    def _note_on(self, cpu: Cpu, text: str) -> None:
        """Log `text` in `cpu`'s column while another CPU (or none) runs."""
        if self.logging:
            self.log.append((self.steps, cpu.id, len(cpu.shown_frames), text))
            self.clock.append(self.now)

    def raise_interrupt(self, cpu: Cpu, kind: Kind, name: str, handler: Callable[[], Any] | None = None) -> None:
        """Make an interrupt pending on `cpu`.

        NMIs carry no handler and latch: while one with the same vector is
        pending, another merges into it (x86: every NMI; arm64: per SGI).
        """
        if self.footprint is not None:
            self.footprint.add(cpu.id)
        if kind is Kind.NMI:
            if handler is not None:
                raise HarnessBug("an NMI runs the model's NMI entry, not a handler of its sender")
            if any(p.kind is Kind.NMI and p.name == name for p in cpu.pending):
                return
        elif handler is None:
            raise HarnessBug(f"{name}: an interrupt other than an NMI needs its handler")
        cpu.pending.append(Pending(kind, name, handler))
        masked = (kind is Kind.NMI and cpu.nmi_blocked) or (kind is Kind.IRQ and cpu.irqs_off)
        if self.logging and masked:
            self.notes.append((len(self.log), cpu.id, f"{name} pending ({'NMIs blocked' if kind is Kind.NMI else 'irqs off'})"))
        if isinstance(cpu.wait, (Spin, Poll)):
            self._set_wait(cpu, None)
            cpu.last_reads = None

    # -- shared memory and spin recognition ---------------------------------

    def note_read(self, cpu: Cpu, cell: Cell, value: Any) -> None:
        self.accesses += 1
        if cpu.reads.get(cell, value) != value:
            cpu.wrote = True  # it changed under this iteration: not a fixed point
        cpu.reads[cell] = value

    def note_write(self, cpu: Cpu | None, cell: Cell, old: Any = _CHANGED) -> None:
        """`cell` was written by `cpu` (None: by a device, at an injection).

        `old`: the value a read-modify-write found (it may have left it
        unchanged). Every write makes `cpu` the last writer and is in the
        step's footprint (dependence); only a changed value wakes the spinners
        on `cell` and ends the writer's spin fixed point. A write that leaves
        the value as it was changes no state: a woken spinner would re-read
        the same value and block again, and two CPUs spinning with a locked
        RMW on one held word (`while (test_and_set_bit(0, &l))`) would wake
        each other forever instead of being reported as the deadlock they are.
        """
        if self.footprint is not None:
            self.footprint.add(cell)
        if cpu is not None:
            cell.last_writer = cpu.id
        if old is not _CHANGED and old == cell.value:
            if cpu is not None:
                self.note_read(cpu, cell, old)  # to the spin recognition (and the access count), a read
            return
        if cpu is not None:
            self.accesses += 1
            cpu.wrote = True
        for w in cell.watchers[:]:
            self._set_wait(w, None)
            w.last_reads = None

    def end_iteration(self, cpu: Cpu) -> tuple[Cell, ...] | None:
        """At cpu_relax(): the cells this loop spins on, if its last iteration changed nothing.

        An iteration is a fixed point when it wrote nothing, read the same values
        as the iteration before, and every cell it read *still* holds the value
        it read. The last part matters: an iteration that takes a schedule point
        after a read (a second read, `local_irq_enable()` in a poll condition)
        can see another CPU write the cell in between; that write woke no one
        (the CPU was not yet watching), so blocking would lose the wakeup.

        () means an iteration that reads nothing at all: `while (1) cpu_relax();`.
        """
        same = (
            not cpu.wrote
            and cpu.last_reads is not None
            and cpu.reads == cpu.last_reads
            and all(c.value == v for c, v in cpu.reads.items())
        )
        cells = tuple(cpu.reads) if same else None
        cpu.last_reads, cpu.reads, cpu.wrote = cpu.reads, {}, False
        return cells

    def _set_wait(self, cpu: Cpu, wait) -> None:
        old = cpu.wait
        if isinstance(old, (Spin, Poll)):
            for cell in old.cells:
                if cpu in cell.watchers:
                    cell.watchers.remove(cpu)
        cpu.wait = wait
        if isinstance(wait, (Spin, Poll)):
            for cell in wait.cells:
                cell.watchers.append(cpu)

    def block(self, cpu: Cpu, wait) -> None:
        self._set_wait(cpu, wait)

    def reach_goal(self) -> None:
        self.goal_reached = True
        self.settle_left = self.model.settle_after_goal

    def reached(self) -> bool:
        """Whether the run got where the model says it should, without a failure: its goal
        (`goal_reached()`, or `goal_pending()` true at some step and false at the end: a run that
        ends held owes nothing), or (a model without one) every CPU returned."""
        if self.outcome is None or self.outcome.kind is not None:
            return False
        if self.model.goal is not None:
            return self.goal_reached or self.goal_owed
        return all(c.done for c in self.cpus)

    # -- reports -------------------------------------------------------------

    def model_frames(self, cpu: Cpu) -> list[str]:
        """Model function names on `cpu`'s stack, outermost first."""
        if cpu is self.current and self._current_task() is cpu.task:
            return [f.f_code.co_name for f in _model_stack(sys._getframe(1))]
        names = []
        coro = cpu.task.coro if cpu.task is not None else None
        while coro is not None:
            frame = getattr(coro, "cr_frame", None)
            if frame is not None and _shown(frame.f_code):
                names.append(frame.f_code.co_name)
            coro = getattr(coro, "cr_await", None)
        return names

    def where(self, cpu: Cpu) -> str:
        frames = self.model_frames(cpu)
        return f"{frames[-1]}()" if frames else "its entry"

    def event(self, cpu: Cpu | None, text: str) -> None:
        """Append to the event log (only while logging: replays, timelines)."""
        if not self.logging:
            return
        if cpu is None:
            self.log.append((self.steps, None, 0, text))
            self.clock.append(self.now)
            return
        stack = _model_stack(sys._getframe(1))
        shown = cpu.shown_frames
        common = 0
        while common < min(len(stack), len(shown)) and stack[common] is shown[common]:
            common += 1
        for depth in range(common, len(stack)):
            self.log.append((self.steps, cpu.id, depth, f"{stack[depth].f_code.co_name}()"))
        cpu.shown_frames = stack
        self.log.append((self.steps, cpu.id, len(stack), text))
        self.clock += [self.now] * (len(self.log) - len(self.clock))


def _model_stack(frame) -> list:
    """Model frames from the CPU task's root to `frame`, outermost first."""
    out = []
    while frame is not None:
        code = frame.f_code
        if code.co_name == "_cpu_main" and not _is_model_code(code.co_filename):
            break
        if _shown(code):
            out.append(frame)
        frame = frame.f_back
    out.reverse()
    return out


def _shown(code) -> bool:
    """A model function worth naming: not the entry, not a local helper (a loop condition),
    not a marked one (`panicfuzz.model.helper`)."""
    return _is_model_code(code.co_filename) and code.co_name != "cpu_main" and "<locals>" not in code.co_qualname and not is_helper(code)


def _model_location(exc: BaseException) -> str:
    tb = exc.__traceback__
    where = "?"
    while tb is not None:
        if _is_model_code(tb.tb_frame.f_code.co_filename):
            where = f"{Path(tb.tb_frame.f_code.co_filename).name}:{tb.tb_lineno} in {tb.tb_frame.f_code.co_name}()"
        tb = tb.tb_next
    return where


from contextvars import ContextVar  # noqa: E402

_current_machine: ContextVar[Machine] = ContextVar("panicfuzz_machine")


def current_machine() -> Machine:
    return _current_machine.get()


__all__ = [
    "Cpu",
    "HarnessBug",
    "Halt",
    "IDLE",
    "Kind",
    "Machine",
    "NMI_VECTOR",
    "NondeterministicModel",
    "Outcome",
    "Poll",
    "Sleep",
    "Spin",
    "Violation",
    "current_machine",
    "raw_spinlock_t",
]
