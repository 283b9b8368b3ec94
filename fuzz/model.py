"""What a protocol model declares, and the base class models derive from.

A model is a class whose methods are the kernel functions it models (kernel
names, a citation above each) and whose attributes are the shared state
(cells from `panicfuzz.cells`). One instance is one fresh machine state. Variants
are small switches read inside the methods, never copies of them.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, ClassVar, Coroutine

import attrs

from .machine import Kind

from .claims import FAILURE_KINDS
from .helper import helper  # noqa: F401 - models import it from here

OUTCOMES = ("holds", "fails")


@attrs.frozen
class Variant:
    """One version of the protocol and the outcome the model claims for it.

    A failing variant names what fails: `must`, the failure names one of which
    must be found and which every failure found must answer to (e.g.
    `"invariant crash-regs-missing"`, `"deadlock on hpet.lock in read_hpet()"`),
    or, in the plain form, only a `kind` (any failure of it will do).
    `must_not`: names no failure may answer to. See `panicfuzz.claims`.
    """

    name: str
    expected: str  # "holds" | "fails"
    summary: str
    kind: str | None = None  # the plain form: the failure kind expected when it fails
    source: str = ""
    must: tuple[str, ...] = ()
    must_not: tuple[str, ...] = ()

    def __attrs_post_init__(self) -> None:
        if self.expected not in OUTCOMES:
            raise ValueError(f"variant {self.name}: expected must be one of {OUTCOMES}")
        if (self.expected == "fails") != (self.kind is not None or bool(self.must)):
            raise ValueError(f"variant {self.name}: a failing variant names what fails (must or kind), a holding one neither")


@attrs.frozen
class Event:
    """An injectable interrupt or exception, with its limit per run.

    `handler` and `guard` are functions of the model instance (plain methods).
    A broadcast event is one action that hits every CPU; otherwise there is one
    action per CPU for which `guard(model, cpu)` holds.

    An NMI event has no handler of its own: the target runs the model's NMI
    entry (`Model.nmi_entry`), as for every NMI. Its `handler`, if any, is the
    NMI's *source*: a plain function `(model, cpu) -> None` called as the event
    is injected, which asserts the source's device state with
    `panicfuzz.kernel.hw_write()` (a PMU overflow bit, the NMI reason port) for
    the entry to find.
    """

    name: str
    kind: Kind
    handler: Callable[..., Any] | None = None
    limit: int = 1
    broadcast: bool = False
    guard: Callable[[Any, int | None], bool] | None = None

    def __attrs_post_init__(self) -> None:
        if "@" in self.name or self.name.startswith("cpu"):
            raise ValueError(f"event name {self.name!r} may not contain '@' or start with 'cpu'")
        if self.kind is not Kind.NMI and self.handler is None:
            raise ValueError(f"event {self.name!r}: only an NMI event may omit its handler")
        if self.kind is Kind.NMI and inspect.iscoroutinefunction(self.handler):
            raise ValueError(
                f"event {self.name!r}: an NMI runs the model's nmi_entry; its handler may only be the "
                "source, a plain function (model, cpu) that sets device state"
            )

    def bind(self, model: Any) -> Callable[[], Coroutine]:
        return lambda: self.handler(model)


@attrs.frozen
class Stall:
    """A CPU that may make no progress for a while: a vCPU descheduled by the host, an SMI, a
    long section the model does not spell out. While it stalls, the CPU takes no step and no
    interrupt (they stay pending); the others run, and the clock moves when they all wait.

    One action per (CPU, duration) is on offer where the stall may begin: a CPU in `cpus`
    (None: any), not finished and not stalled already, for which `guard(model, cpu)` holds
    (read cells and `context_of(cpu)`, as an event guard does). `durations` are the lengths
    allowed, in ns: a bound M is written as the few lengths that matter below it (just past
    each timeout the stall must outlast). At most `limit` per run. A stall counts as an
    injected event (bounds, size order), and a shorter one is the smaller reproducer.
    """

    name: str
    durations: tuple[int, ...]
    limit: int = 1
    cpus: tuple[int, ...] | None = None
    guard: Callable[[Any, int], bool] | None = None

    def __attrs_post_init__(self) -> None:
        if "@" in self.name or self.name.startswith("cpu") or not self.name or self.name != self.name.strip():
            raise ValueError(f"stall name {self.name!r} must be non-empty, without '@' or outer spaces, not start with 'cpu'")
        if not self.durations or any(not isinstance(d, int) or isinstance(d, bool) or d < 1 for d in self.durations):
            raise ValueError(f"stall {self.name!r}: durations are ints >= 1 (ns), at least one")


@attrs.frozen
class Parameter:
    """A scenario parameter: the model's class attribute `name` holds its default, `strategy`
    (Hypothesis) the values a search may draw. See `panicfuzz.scenarios`."""

    name: str
    strategy: Any  # hypothesis.strategies.SearchStrategy of bool, int or str
    doc: str = ""


class Model:
    """Base class of protocol models. Subclasses set the class attributes."""

    name: ClassVar[str]
    seed: ClassVar[int | None] = None  # optional: the LKML seed (shared/seeds/NNN_*) of a shipped model; orders `list`
    source: ClassVar[str] = ""  # kernel files/functions/versions and the LKML thread
    variants: ClassVar[tuple[Variant, ...]]
    ncpus: ClassVar[int]
    events: ClassVar[tuple[Event, ...]] = ()
    stalls: ClassVar[tuple[Stall, ...]] = ()  # CPUs that may stall, where, how long (see `Stall`)
    parameters: ClassVar[tuple[Parameter, ...]] = ()  # scenario parameters (kernel options, ncpus, ...)
    goal: ClassVar[str | None] = None  # what goal_reached() marks; None: every CPU finishes
    # The NMI entry (a plain async method, e.g. `nmi_entry = exc_nmi`): what every CPU
    # runs for every NMI, whoever sent it (see `nmi_handler`).
    nmi_entry: ClassVar[Callable[[Any], Coroutine] | None] = None
    max_steps: ClassVar[int] = 2000  # hang budget for one run
    # Steps the machine keeps running after goal_reached() (0: the run ends at the goal). The
    # goal's CPU halts; the others settle (an NMI already raised is taken, a stop path runs on)
    # under check() until none can run or the steps are spent, then final_check() judges.
    settle_after_goal: ClassVar[int] = 0

    def __init__(self, variant: str):
        if variant not in {v.name for v in self.variants}:
            raise KeyError(variant)
        self.variant = variant

    @classmethod
    def variant_info(cls, name: str) -> Variant:
        for v in cls.variants:
            if v.name == name:
                return v
        raise KeyError(name)

    @classmethod
    def event(cls, name: str) -> Event:
        for e in cls.events:
            if e.name == name:
                return e
        raise KeyError(name)

    def cpu_label(self, cpu: int) -> str:
        return f"CPU{cpu}"

    def starts_in_user_mode(self, cpu: int) -> bool:
        """Whether CPU `cpu` runs user code from the start (its entry is `run_user_code()`)."""
        return False

    async def cpu_main(self, cpu: int) -> None:
        """What CPU `cpu` runs from the start of the run."""
        raise NotImplementedError

    def nmi_handler(self, cpu: int) -> Callable[[], Coroutine]:
        """What CPU `cpu` runs when it takes an NMI: one vector, whoever raised it.

        `send_IPI_mask(mask, nmi=True)`, injected NMI events and an NMI merged
        into a latched one all run this, as on x86 (`exc_nmi()` ->
        `default_do_nmi()` -> `nmi_handle()` over the registered handlers) and
        arm64 (the IPI dispatch of a pseudo-NMI SGI, named by
        `context_of(smp_processor_id())`). What the sender wants is shared
        state the entry reads. The default runs `nmi_entry`; override this for
        an entry that differs per CPU.
        """
        entry = type(self).nmi_entry
        if entry is None:
            raise TypeError(f"CPU{cpu} took an NMI but model {self.name!r} declares no nmi_entry")
        return lambda: entry(self)

    def goal_pending(self) -> bool:
        """Whether a run that stops now still owes its goal (default: whenever one is set)."""
        return self.goal is not None

    def check(self) -> None:
        """Invariants checked after every step: raise `Violation` (via BUG_ON)."""

    def final_check(self) -> None:
        """Invariants checked when the run ends without another failure."""
