"""The shrink passes: each proposes smaller schedules from the current best.

A schedule is shrunk as its list of deviations from the default action,
[(gap, action), ...] (`panicfuzz.strategies.deviations_of`): `gap` default
decisions, then `action`. A pass is a function (devs, ctx) -> candidates;
it never needs to know whether a candidate is smaller, the loop checks that
by running it. Passes are cheap first: removals (which cut preemptions and
injected events, the first keys of the size order), then moves (steps, then
the lexicographic tail), then the exhaustive check of the first two keys.
"""

from __future__ import annotations

import itertools
from typing import Iterator

import attrs

from panicfuzz.trace import Action, Inject, Run, StallFor

Devs = list[tuple[int, Action]]


def _without(devs: Devs, i: int, j: int | None = None) -> Devs:
    """devs minus the segment [i, j): its decisions become default ones."""
    j = i + 1 if j is None else j
    folded = sum(g for g, _ in devs[i:j]) + (j - i)
    return devs[:i] + _shift(devs[j:], folded)


def _shift(rest: Devs, by: int) -> Devs:
    if not rest:
        return []
    gap, action = rest[0]
    return [(max(0, gap + by), action)] + rest[1:]


def drop_injections(devs: Devs, ctx) -> Iterator[Devs]:
    """Inject nothing where the schedule injected one event (or stalled a CPU)."""
    for i, (_, action) in enumerate(devs):
        if isinstance(action, Inject):
            yield _without(devs, i)


def shorten_stalls(devs: Devs, ctx) -> Iterator[Devs]:
    """Stall a CPU for a shorter time the model allows, shortest first."""
    for i, (gap, action) in enumerate(devs):
        if isinstance(action, StallFor):
            for ns in sorted(n for n in ctx.stall_durations.get(action.event, ()) if n < action.ns):
                yield devs[:i] + [(gap, attrs.evolve(action, ns=ns))] + devs[i + 1 :]


def drop_preemptions(devs: Devs, ctx) -> Iterator[Devs]:
    """Turn one preemption or switch back into the default step."""
    for i, (_, action) in enumerate(devs):
        if isinstance(action, Run):
            yield _without(devs, i)


def drop_pairs(devs: Devs, ctx) -> Iterator[Devs]:
    """Turn two deviations anywhere into default steps at once (two preemptions that only
    matter together, as a switch away and the switch back)."""
    for i, j in itertools.combinations(range(len(devs)), 2):
        yield _without(_without(devs, j), i)


def cut_tail(devs: Devs, ctx) -> Iterator[Devs]:
    """Drop every deviation from one on: shortest prefix first."""
    for i in range(len(devs)):
        yield devs[:i]


def delta_debug(devs: Devs, ctx) -> Iterator[Devs]:
    """ddmin (Zeller & Hildebrandt, TSE 2002) over contiguous segments: halves, quarters, ... pairs."""
    n = len(devs)
    size = n // 2
    while size >= 2:
        for i in range(0, n - size + 1, size):
            yield _without(devs, i, i + size)
        size //= 2


def move_switches(devs: Devs, ctx) -> Iterator[Devs]:
    """Take one deviation earlier (as early as possible, halfway, one step) or one step later."""
    for i, (gap, action) in enumerate(devs):
        for new in sorted({0, gap // 2, gap - 1}):
            if 0 <= new < gap:
                yield devs[:i] + [(new, action)] + _shift(devs[i + 1 :], gap - new)
        yield devs[:i] + [(gap + 1, action)] + _shift(devs[i + 1 :], -1)


def move_together(devs: Devs, ctx) -> Iterator[Devs]:
    """Take one deviation earlier together with every later one (a window that moves as a whole)."""
    for i, (gap, action) in enumerate(devs):
        shifts = range(gap, 0, -1) if gap <= 32 else sorted({gap >> k for k in range(gap.bit_length())}, reverse=True)
        for by in shifts:
            yield devs[:i] + [(gap - by, action)] + devs[i + 1 :]


def swap_adjacent(devs: Devs, ctx) -> Iterator[Devs]:
    """Exchange the actions of two neighbouring deviations (inject first, then switch, ...)."""
    for i in range(len(devs) - 1):
        (g1, a1), (g2, a2) = devs[i], devs[i + 1]
        if a1 != a2:
            yield devs[:i] + [(g1, a2), (g2, a1)] + devs[i + 2 :]


def lower_targets(devs: Devs, ctx) -> Iterator[Devs]:
    """Switch to (or inject on) a lower-numbered CPU: the lexicographic key."""
    for i, (gap, action) in enumerate(devs):
        cpu = action.cpu
        for c in range(cpu or 0):
            yield devs[:i] + [(gap, attrs.evolve(action, cpu=c))] + devs[i + 1 :]


def renumber_cpus(devs: Devs, ctx) -> Iterator[Devs]:
    """Where the model declares CPUs interchangeable, every renumbering of the schedule."""
    groups = ctx.symmetric_groups
    if not groups:
        return
    for perms in itertools.product(*(itertools.permutations(g) for g in groups)):
        mapping = {src: dst for g, p in zip(groups, perms) for src, dst in zip(g, p)}
        if all(k == v for k, v in mapping.items()):
            continue
        yield [(gap, a if a.cpu is None else attrs.evolve(a, cpu=mapping.get(a.cpu, a.cpu))) for gap, a in devs]


def symmetric_groups(model_cls) -> tuple[tuple[int, ...], ...]:
    """The model's `symmetric_cpus`: True (all CPUs interchangeable) or groups of CPU ids."""
    sym = getattr(model_cls, "symmetric_cpus", None) if model_cls is not None else None
    if sym is True:
        return (tuple(range(model_cls.ncpus)),)
    if not sym:
        return ()
    return tuple(tuple(g) for g in sym if len(g) > 1)
