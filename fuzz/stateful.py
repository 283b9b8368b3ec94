"""A protocol variant as a Hypothesis stateful test.

The rules are scheduler decisions: `deviate(gap, choice)` says "after `gap`
more default decisions, take the non-default action number `choice`" (see
`panicfuzz.strategies.deviations`). After every rule, the invariant runs the same
trio machine on the schedule so far and fails with the timeline when the
protocol fails. Hypothesis shrinks the rule sequence and prints it as code:

    state = ScheduleMachine()
    state.deviate(gap=4, choice=0)
    state.deviate(gap=0, choice=1)
    state.teardown()

Use it in a test module:

    from panicfuzz.stateful import schedule_machine
    TestHpetFix = schedule_machine("hpet", "panic-cpu-check").TestCase
"""

from __future__ import annotations

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from panicfuzz import protocols

from .run import execute
from .strategies.deviations import Deviations


class ProtocolFailure(AssertionError):
    """The protocol failed under the schedule built so far."""


def schedule_machine(protocol: str, variant: str) -> type[RuleBasedStateMachine]:
    model = protocols.load(protocol)
    gaps = st.one_of(st.integers(0, 15), st.integers(0, model.max_steps))

    class ScheduleMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.deviations: list[tuple[int, int]] = []

        @rule(gap=gaps, choice=st.integers(0, 15))
        def deviate(self, gap: int, choice: int) -> None:
            self.deviations.append((gap, choice))

        @invariant()
        def protocol_holds(self) -> None:
            result = execute(model, variant, Deviations(self.deviations), logging=True)
            if result.failed:
                from .timeline import timeline_of

                raise ProtocolFailure(f"{result.signature}\n\n{timeline_of(model, variant, result)}")

    ScheduleMachine.__name__ = ScheduleMachine.__qualname__ = f"ScheduleMachine_{protocol}_{variant}".replace("-", "_")
    return ScheduleMachine
