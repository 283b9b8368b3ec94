"""Hypothesis as a decision source: a schedule is a string of bytes, one pair per decision.

Hypothesis draws one `binary` per schedule (one draw: cheap) and the source
reads it as dice: byte 0 picks the schedule's deviation rate (swarm testing:
each schedule its own rate); then at each decision that offers anything but
the default, one byte says whether to deviate (with the rate's probability)
and the next which alternative. Decisions past the end take the default.

Why this encoding (measured with bench/run.py on every seed model): the
schedules that find these bugs are dense, many deviations along the whole
run. The earlier encoding, a short list of (gap, choice) deviations with gaps
drawn blind to the run's length, needed about ten times more schedules than
the random source; this one needs about as many or fewer. Hypothesis' own
shrink phase is left out: the trace passes in `shrinkers/` (ending in an
exhaustive minimality check) shrink any strategy's finding, in far fewer
runs. Once one failure signature is hit the search returns it; the others
are found in later rounds with this one masked.
"""

from __future__ import annotations

import functools
import random
from typing import Callable

from hypothesis import HealthCheck, Phase, Verbosity, find, settings
from hypothesis import strategies as st
from hypothesis.errors import NoSuchExample

from ..run import RunResult
from ..trace import Action

# Deviation rates, one per schedule (swarm testing, Groce et al., ISSTA 2012).
# Measured per failing variant (bench/run.py, 60 runs per rate): rates of
# 0.1-0.5 find every seed bug most often; 0.01-0.03 rarely find any.
RATES = (0.1, 0.2, 0.3, 0.5)


@functools.cache
def _pad(n: int) -> bytes:
    return random.Random("panicfuzz/hypothesis/pad").randbytes(n)


class ByteSchedule:
    """Decision source reading Hypothesis' bytes (see the module docstring)."""

    def __init__(self, data: bytes):
        # Read through a fixed pad (a bijection: uniform bytes stay uniform) so
        # that Hypothesis' first example, all zero bytes, is a dense schedule
        # and not the default one (which models are written to pass).
        self.data = bytes(a ^ b for a, b in zip(data, _pad(len(data))))
        self.rate = RATES[self.data[0] % len(RATES)] if data else 0.0
        self.pos = 1

    def choose(self, machine, enabled: list[Action]) -> Action:
        if len(enabled) == 1:
            return enabled[0]
        roll, pick = self.data[self.pos : self.pos + 2].ljust(2, b"\0")
        self.pos += 2
        if roll < 256 * (1 - self.rate):
            return enabled[0]
        return enabled[1 + pick % (len(enabled) - 1)]


def schedules(decisions: int) -> st.SearchStrategy:
    """Byte strings that cover `decisions` decisions."""
    size = 1 + 2 * decisions
    return st.binary(min_size=size, max_size=size)


def hypothesis_search(
    run: Callable[[ByteSchedule], RunResult],
    *,
    decisions: int,
    max_examples: int,
    seed: int,
    masked: set[str],
    on_run: Callable[[RunResult], None],
) -> RunResult | None:
    """The first failing run with a new signature, or None (unshrunk: see `shrinkers`)."""
    hit: list[RunResult] = []
    # Hypothesis' first example is always the simplest, all zero bytes: run it
    # before paying for Hypothesis' engine (a few ms per search), and answer
    # Hypothesis' own call for it from this run.
    first = run(ByteSchedule(bytes(1 + 2 * decisions)))
    on_run(first)
    if first.signature is not None and first.signature not in masked:
        return first
    # Bytes for twice the decisions of that run (Hypothesis' cost per example
    # grows with the length; decisions past the end take the default).
    decisions = min(decisions, 2 * len(first.trace))

    spent = [1]

    def fails(data: bytes) -> bool:
        if not any(data) or spent[0] >= max_examples:
            return False  # the first run, above; or the budget is spent
        spent[0] += 1
        result = run(ByteSchedule(data))
        on_run(result)
        sig = result.signature
        if sig is None or sig in masked:
            return False
        hit.append(result)
        return True

    quiet = settings(
        max_examples=max_examples,  # one is the all-zero example, run above
        database=None,
        deadline=None,
        derandomize=False,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
        verbosity=Verbosity.quiet,
    )
    if max_examples <= 1:
        return None
    try:
        find(schedules(decisions), fails, settings=quiet, random=random.Random(seed))
    except NoSuchExample:
        return None
    return hit[0]
