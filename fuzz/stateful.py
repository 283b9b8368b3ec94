"""A protocol variant as a Hypothesis stateful test whose rules are the scheduler's real choices.

A schedule is built rule by rule. A model with parameters has its scenario
drawn first (`configure(scenario)`, shrunk toward the defaults:
`panicfuzz.scenarios`). `swarm(seed)` picks how the schedule runs where no
rule says otherwise: the default search's
dice (`panicfuzz.strategies.hypothesis.dice`: a deviation rate per schedule,
then a random alternative at each decision that offers one), or, for `None`
(what Hypothesis shrinks toward), always the default action. Each
`deviate(at, alternative)` forces one decision: `at` counts the decisions of
the run so far that offered anything but the default (so it always names a
real one), `alternative` one of the actions on offer there. After every
rule the invariant runs the schedule (on the bare driver, memoised: the
runs Hypothesis repeats while it replays and shrinks cost nothing).

When the protocol fails, the failure is shrunk by the trace passes of
`shrinkers/` (the default search's, once per signature) and saved to
`corpus` when one is given; the invariant raises `ProtocolFailure` with the
shrunk run's timeline and the replay command. So the machine's default
settings (`TestCase.settings`: the current profile's) leave out Hypothesis'
shrink phase, as the default search does. Hypothesis then prints the rule
sequence as code:

    state = ScheduleMachine_hpet_mainline()
    state.swarm(seed=5)
    state.deviate(at=4, alternative=1)
    state.teardown()

Use it in a test module:

    from panicfuzz.stateful import schedule_machine
    TestHpetFix = schedule_machine("hpet", "panic-cpu-check").TestCase
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

from hypothesis import Phase, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from . import loader, scenarios
from .bare import execute_bare
from .hypothesis_api import ProtocolFailure, report, tally, untraced
from .model import Model
from .strategies.hypothesis import SEEDS, dice
from .trace import Action


NOT_NEEDED = (Phase.shrink, Phase.explain)  # phases the machine's default settings leave out


class Forced:
    """The machine's decision source: at decision i in `forced`, the alternative forced[i] (an index
    into the non-default actions on offer, modulo their number); elsewhere `tail` (dice) or the
    default. Records how many actions each decision offered (`offers`)."""

    def __init__(self, forced: dict[int, int], tail):
        self.forced, self.tail, self.offers = forced, tail, []

    def choose(self, machine, enabled: list[Action]) -> Action:
        i = len(self.offers)
        self.offers.append(len(enabled))
        if i in self.forced and len(enabled) > 1:
            return enabled[1 + self.forced[i] % (len(enabled) - 1)]
        return enabled[0] if self.tail is None else self.tail.choose(machine, enabled)


def schedule_machine(protocol: str | type[Model], variant: str, *, corpus: str | Path | None = None) -> type[RuleBasedStateMachine]:
    """`protocol`: a model class or a reference (a name, path.py[:Class], module:Class);
    `corpus`: where a failure is saved (None: nowhere)."""
    model = loader.resolve(protocol)
    model.variant_info(variant)  # KeyError names a variant the model lacks
    root = None if corpus is None else Path(corpus)

    drawn = scenarios.strategy(model)  # None: no parameters (or a model bound to a scenario)

    @functools.lru_cache(maxsize=4096)
    def run(scenario: tuple, seed: int | None, forced: tuple[tuple[int, int], ...]) -> tuple[Any, tuple[int, ...]]:
        source = Forced(dict(forced), None if seed is None else dice(seed))
        tally(model, variant)
        with untraced():
            return execute_bare(scenarios.bind(model, dict(scenario)), variant, source), tuple(source.offers)

    class ScheduleMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.scenario: dict = {}
            self.seed: int | None = None
            self.forced: dict[int, int] = {}

        if drawn is not None:

            @initialize(scenario=drawn)
            def configure(self, scenario: dict) -> None:
                self.scenario = scenario

        @initialize(seed=SEEDS | st.none())
        def swarm(self, seed: int | None) -> None:
            self.seed = seed

        @rule(at=st.integers(0, 15) | st.integers(0, model.max_steps), alternative=st.integers(0, 15))
        def deviate(self, at: int, alternative: int) -> None:
            _, offers = self.run()
            choices = [i for i, n in enumerate(offers) if n > 1]
            if choices:
                self.forced[choices[at % len(choices)]] = alternative

        @invariant()
        def protocol_holds(self) -> None:
            result, _ = self.run()
            if result.failed:
                bound = scenarios.bind(model, self.scenario)
                failure = report(bound, variant, result, root, how="hypothesis-stateful", seed=self.seed or 0)
                raise ProtocolFailure(failure.message)

        def run(self) -> tuple[Any, tuple[int, ...]]:
            return run(tuple(sorted(self.scenario.items())), self.seed, tuple(sorted(self.forced.items())))

    ScheduleMachine.__name__ = ScheduleMachine.__qualname__ = re.sub(r"\W", "_", f"ScheduleMachine_{model.name}_{variant}")
    # The failure is shrunk already (and proven minimal): Hypothesis' shrink phase would only run
    # hundreds more schedules, each new signature it slips to shrunk again. Settings passed to
    # run_state_machine_as_test, or assigned to TestCase.settings, are used as given.
    test_case = ScheduleMachine.TestCase
    test_case.settings = settings(test_case.settings, phases=[p for p in test_case.settings.phases if p not in NOT_NEEDED])
    return ScheduleMachine


__all__ = ["ProtocolFailure", "schedule_machine"]
