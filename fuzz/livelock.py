"""Livelock: the goal is never reached although CPUs keep making steps.

When a run spends its step budget without reaching the model's goal, the
machine stops asking the decision source and continues under a *fair*
round-robin scheduler (each step goes to the next runnable CPU after the one
that ran last; nothing is injected). Three things can happen:

- the goal is reached: the budget only ran out because the schedule starved
  a CPU, which is not a bug, so the run holds;
- the whole machine state (`panicfuzz.fingerprint`) repeats: the run is a lasso, a
  prefix and then a cycle that the fair scheduler repeats forever without the
  goal: a proven **livelock**;
- a second budget runs out first: "hang (unproven)".

A spinning CPU blocks (see `panicfuzz.kernel.cpu_relax`), so a CPU that another
one could still release never makes a cycle on its own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .fingerprint import fingerprint
from .machine import Outcome
from .trace import Action, Run

if TYPE_CHECKING:
    from .machine import Machine


class FairContinuation:
    def __init__(self) -> None:
        # fingerprint -> (decision index, event-log length, virtual time, steps)
        self.seen: dict[tuple, tuple[int, int, int, int]] = {}
        self.ran: list[tuple[int, str]] = []  # (cpu, where) for each step taken

    def choose(self, m: Machine, enabled: list[Action]) -> Action | Outcome:
        fp = (fingerprint(m), m.last)
        if fp in self.seen:
            return self._lasso(m, *self.seen[fp])
        self.seen[fp] = (len(m.trace), len(m.log), m.now, m.steps)
        action = next((a for a in enabled if isinstance(a, Run) and a.cpu != m.last), enabled[0])
        if isinstance(action, Run):
            self.ran.append((action.cpu, m.where(m.cpus[action.cpu])))
        return action

    def _lasso(self, m: Machine, start: int, log_at: int, then: int, steps_then: int) -> Outcome:
        length = len(m.trace) - start
        cycle = self.ran[-(m.steps - steps_then) :] if m.steps > steps_then else []
        places = sorted({(cpu, where) for cpu, where in cycle})
        doing = "; ".join(f"{m.cpus[c].label} in {w}" for c, w in places) or "no CPU steps"
        goal = m.model.goal or "every CPU finishing"
        message = (
            f"livelock: the goal ({goal}) is never reached. Under a fair round-robin schedule the machine state at "
            f"decision {start} comes back at decision {start + length}: a cycle of {length} decisions "
            f"({m.steps - steps_then} steps, {_duration(m.now - then)} of virtual time) that repeats forever. "
            f"In the cycle: {doing}."
        )
        if m.logging:
            m.log.insert(log_at, (steps_then, None, 0, "livelock cycle starts here (everything below repeats forever)"))
            m.log.append((m.steps, None, 0, "the state is back to the cycle's start"))
        parts = ("livelock", tuple(sorted({w for _, w in places})))
        return Outcome("livelock", message, parts, {"cycle": {"start": start, "length": length}})


def _duration(ns: int) -> str:
    for unit, size in (("s", 10**9), ("ms", 10**6), ("us", 10**3)):
        if ns >= size:
            return f"{ns / size:g} {unit}"
    return f"{ns} ns"
