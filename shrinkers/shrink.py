"""The shrink loop and its passes."""

from __future__ import annotations

from typing import Callable, Iterator

import attrs

from fuzz.run import RunResult
from fuzz.strategies.deviations import Deviations, deviations_of
from fuzz.trace import Inject, Run

Devs = list[tuple[int, object]]


def drop_injections(devs: Devs) -> Iterator[Devs]:
    """Remove one injected event (its gap folds into the next deviation)."""
    for i, (_, action) in enumerate(devs):
        if isinstance(action, Inject):
            yield _without(devs, i)


def drop_switches(devs: Devs) -> Iterator[Devs]:
    """Turn one preemption or switch back into the default action."""
    for i, (_, action) in enumerate(devs):
        if isinstance(action, Run):
            yield _without(devs, i)


def drop_pairs(devs: Devs) -> Iterator[Devs]:
    """Remove two adjacent deviations at once (a switch away and back)."""
    for i in range(len(devs) - 1):
        yield _without(_without(devs, i + 1), i)


def move_earlier(devs: Devs) -> Iterator[Devs]:
    """Take one deviation earlier, so the failure (and the trace) comes sooner."""
    for i, (gap, action) in enumerate(devs):
        for new in (0, gap // 2, gap - 1):
            if 0 <= new < gap:
                yield devs[:i] + [(new, action)] + _shift_next(devs[i + 1 :], gap - new)


def move_later(devs: Devs) -> Iterator[Devs]:
    """Take one deviation one decision later (may let a CPU block on its own)."""
    for i, (gap, action) in enumerate(devs):
        yield devs[:i] + [(gap + 1, action)] + _shift_next(devs[i + 1 :], -1)


def _without(devs: Devs, i: int) -> Devs:
    gap = devs[i][0] + 1  # the dropped decision becomes a default one
    return devs[:i] + _shift_next(devs[i + 1 :], gap)


def _shift_next(rest: Devs, by: int) -> Devs:
    if not rest:
        return []
    gap, action = rest[0]
    return [(max(0, gap + by), action)] + rest[1:]


PASSES: list[Callable[[Devs], Iterator[Devs]]] = [
    drop_injections,
    drop_switches,
    drop_pairs,
    move_earlier,
    move_later,
]


@attrs.define
class ShrinkReport:
    calls: dict[str, int] = attrs.field(factory=dict)
    shrinks: dict[str, int] = attrs.field(factory=dict)

    def useful(self) -> list[str]:
        return [name for name, n in self.shrinks.items() if n]


def shrink(run: Callable[[Deviations], RunResult], result: RunResult, *, max_calls: int = 2000) -> tuple[RunResult, ShrinkReport]:
    """Minimise a failing run, keeping its failure signature."""
    target = result.signature
    best = result
    report = ShrinkReport()
    calls = 0
    improved = True
    while improved and calls < max_calls:
        improved = False
        for shrink_pass in PASSES:
            name = shrink_pass.__name__
            devs = deviations_of(best.trace, best.kinds)
            for candidate in shrink_pass(devs):
                if calls >= max_calls:
                    break
                calls += 1
                report.calls[name] = report.calls.get(name, 0) + 1
                got = run(Deviations(candidate))
                if got.signature == target and got.size < best.size:
                    best = got
                    report.shrinks[name] = report.shrinks.get(name, 0) + 1
                    improved = True
                    break
    return best, report
