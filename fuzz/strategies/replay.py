"""Replay a saved trace, action by action.

Strict replay (the recorded variant) must find every action on offer, or the
model is nondeterministic. Lenient replay (another variant: "does my fix
survive this schedule?") follows the trace while it can; from the first
action the variant does not offer, it applies the trace's remaining
deviations from the default instead (`Deviations`), and records where.
"""

from __future__ import annotations

from typing import Sequence

from ..machine import NondeterministicModel
from ..trace import Action
from .deviations import Deviations, deviations_of


class Replay:
    def __init__(self, trace: Sequence[Action], kinds: str | None = None, *, strict: bool = True):
        self.trace = list(trace)
        self.kinds = kinds
        self.strict = strict
        self.pos = 0
        self.diverged_at: int | None = None
        self.rest: Deviations | None = None

    def choose(self, machine, enabled: list[Action]) -> Action:
        if self.rest is not None:
            return self.rest.choose(machine, enabled)
        if self.pos >= len(self.trace):
            return enabled[0]
        action = self.trace[self.pos]
        if action in enabled:
            self.pos += 1
            return action
        if self.strict or self.kinds is None:
            raise NondeterministicModel(
                f"model nondeterministic at decision {self.pos}: the trace says {action}, "
                f"the machine offers {', '.join(map(str, enabled))}. Is the model fully deterministic?"
            )
        self.diverged_at = self.pos
        self.rest = Deviations(deviations_of(self.trace[self.pos :], self.kinds[self.pos :]))
        return self.rest.choose(machine, enabled)
