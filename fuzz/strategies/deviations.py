"""A schedule as a short list of deviations from the default action.

Each deviation is (gap, choice): take `gap` default decisions, then the
non-default action `choice`. `choice` is an index into the non-default actions
on offer (what Hypothesis draws and shrinks toward 0) or an Action (what the
trace shrinkers and lenient replay use). A deviation that cannot be taken
yet (nothing else on offer, or that action not on offer) waits for the next
decision where it can.
"""

from __future__ import annotations

from typing import Sequence

from ..trace import Action

Deviation = tuple[int, "int | Action"]


class Deviations:
    def __init__(self, deviations: Sequence[Deviation]):
        self.todo = list(deviations)
        self.countdown = self.todo[0][0] if self.todo else 0

    def choose(self, machine, enabled: list[Action]) -> Action:
        if not self.todo:
            return enabled[0]
        if self.countdown > 0:
            self.countdown -= 1
            return enabled[0]
        choice = self.todo[0][1]
        others = enabled[1:]
        if isinstance(choice, int):
            if not others:
                return enabled[0]
            action = others[choice % len(others)]
        elif choice in enabled:
            action = choice
        else:
            return enabled[0]
        self.todo.pop(0)
        self.countdown = self.todo[0][0] if self.todo else 0
        return action


def deviations_of(trace: Sequence[Action], kinds: str) -> list[tuple[int, Action]]:
    """The deviations (gap, action) that reproduce `trace` under `Deviations`."""
    out: list[tuple[int, Action]] = []
    gap = 0
    for action, kind in zip(trace, kinds):
        if kind == "f":  # the machine's own fair continuation: replays by itself
            break
        if kind == "d":
            gap += 1
        else:
            out.append((gap, action))
            gap = 0
    return out
