"""Hypothesis as a decision source: a schedule is a short list of deviations.

Hypothesis draws [(gap, choice), ...] (see `Deviations`) and shrinks it
shortlex: fewer deviations, smaller gaps, lower choice indices. That is the
simplest-schedule order of design §2 up to the final trace-level passes in
`shrinkers/`. Once one failure signature is hit, only that signature counts
as failing, so shrinking cannot slip to another bug; the others are found in
later rounds with this one masked.
"""

from __future__ import annotations

import random
from typing import Callable

from hypothesis import HealthCheck, Phase, Verbosity, find, settings
from hypothesis import strategies as st
from hypothesis.errors import NoSuchExample

from ..run import RunResult
from .deviations import Deviations


def schedules(max_gap: int, max_deviations: int = 6) -> st.SearchStrategy:
    """Deviation lists: mostly short gaps, some up to a whole run."""
    gap = st.one_of(st.integers(0, 15), st.integers(0, max_gap))
    return st.lists(st.tuples(gap, st.integers(0, 15)), max_size=max_deviations)


def hypothesis_search(
    run: Callable[[Deviations], RunResult],
    *,
    max_gap: int,
    max_examples: int,
    seed: int,
    masked: set[str],
    on_run: Callable[[RunResult], None],
) -> RunResult | None:
    """The shrunk failing run with the first new signature found, or None."""
    target: list[str] = []

    def fails(deviations) -> bool:
        result = run(Deviations(deviations))
        on_run(result)
        sig = result.signature
        if sig is None or sig in masked:
            return False
        if not target:
            target.append(sig)
        return sig == target[0]

    quiet = settings(
        max_examples=max_examples,
        database=None,
        deadline=None,
        derandomize=False,
        phases=[Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
        verbosity=Verbosity.quiet,
    )
    try:
        best = find(schedules(max_gap), fails, settings=quiet, random=random.Random(seed))
    except NoSuchExample:
        return None
    return run(Deviations(best))
