"""Actions, traces and the size order of schedules.

A trace is the full list of chosen actions, one per decision; replay needs
nothing else. Its text form is a list of short strings ("cpu1",
"#MC broadcast", "#GP@cpu0", "vcpu-preempted@cpu1 for 1500 ms") so that a corpus file stays readable.

Size order (design §2, after DejaFu): fewer preemptions, then fewer injected
events (stalls included), then shorter stalls, then fewer other switches, then
fewer steps, then the smaller trace.
"""

from __future__ import annotations

import re

import attrs

# A CPU number: ASCII digits, no leading zero, below 10000 (NR_CPUS is at most 8192).
_CPU = re.compile(r"0|[1-9][0-9]{0,3}", re.ASCII)


@attrs.frozen
class Run:
    """Let `cpu` take its next step."""

    cpu: int

    def __str__(self) -> str:
        return f"cpu{self.cpu}"


@attrs.frozen
class Inject:
    """Deliver the model's injectable `event` to `cpu` (None: a broadcast)."""

    event: str
    cpu: int | None = None

    def __str__(self) -> str:
        return self.event if self.cpu is None else f"{self.event}@cpu{self.cpu}"


@attrs.frozen
class StallFor(Inject):
    """Stall `cpu` for `ns` of virtual time (the model's `Stall` named `event`): it takes no step
    while the others run and the clock moves. Counts as an injected event."""

    ns: int = 0

    def __str__(self) -> str:
        return f"{self.event}@cpu{self.cpu} for {duration(self.ns)}"


Action = Run | Inject

_UNITS = {"s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1}
_STALL = re.compile(r"([^@]+)@cpu(0|[1-9][0-9]{0,3}) for ([1-9][0-9]{0,18}) (s|ms|us|ns)", re.ASCII)


def duration(ns: int) -> str:
    """`ns` in the largest unit that divides it exactly: "1500 ms"."""
    unit = next(u for u, size in _UNITS.items() if ns >= size and ns % size == 0 or size == 1)
    return f"{ns // _UNITS[unit]} {unit}"


def parse_action(text: str) -> Action:
    """Inverse of str(action). Raises ValueError on malformed text."""
    if text.startswith("cpu"):
        if _CPU.fullmatch(text[3:]):
            return Run(int(text[3:]))
        raise ValueError("not an action")
    if stall := _STALL.fullmatch(text):
        name, cpu, n, unit = stall.groups()
        return StallFor(name, int(cpu), int(n) * _UNITS[unit])
    event, sep, where = text.rpartition("@cpu")
    if sep and _CPU.fullmatch(where) and event:
        return Inject(event, int(where))
    if not text or "@" in text:
        raise ValueError("not an action")
    return Inject(text, None)


@attrs.frozen(order=True)
class Size:
    """How big a schedule is, ordered as design §2 says."""

    preemptions: int
    injected: int  # events and stalls
    stalled: int = attrs.field(default=0, kw_only=True)  # ns of all stalls: a shorter stall is smaller
    switches: int
    steps: int
    trace: tuple[str, ...] = attrs.field(repr=False)

    def as_dict(self) -> dict:
        return {
            "preemptions": self.preemptions,
            "injected_events": self.injected,
            "switches": self.switches,
            "steps": self.steps,
        }


def measure(trace: list[Action], kinds: str) -> Size:
    """Size of a trace from the machine's record of each decision's kind.

    `kinds` has one letter per decision: d = default, p = preemption (a switch
    away from a CPU that could still run), s = another non-default switch,
    i = injected event, f = taken by the machine's fair scheduler after the
    step budget (not a choice of the schedule, so it costs nothing).
    """
    steps = sum(1 for a in trace if isinstance(a, Run))
    stalled = sum(a.ns for a in trace if isinstance(a, StallFor))
    return Size(kinds.count("p"), kinds.count("i"), kinds.count("s"), steps, tuple(map(str, trace)), stalled=stalled)
