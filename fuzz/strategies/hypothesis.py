"""The default strategy: Hypothesis chooses dice schedules, and a bounded sweep runs beside it.

Each Hypothesis example is one integer, the seed of a schedule's dice
(`Dice`): the seed picks the schedule's deviation rate (swarm testing: each
schedule its own rate) and then, at each decision that offers anything but
the default, whether to deviate and to which alternative. One draw per
schedule, because Hypothesis' per-example cost grows with what it draws:
drawing a byte per decision cost about 1 ms per schedule on the seed models,
as much as running the schedule (Hypothesis generates bytes one at a time).
Hypothesis' own shrink phase is left out: the trace passes in `shrinkers/`
(ending in an exhaustive minimality check) shrink any strategy's finding, in
far fewer runs.

Dense dice find most bugs in a few schedules, but not a bug that needs one
preemption and one injected event at two exact decisions of a long run and
nothing else: a schedule of k decisions with a alternatives each hits it
with probability about (rate/a)^2 (1-rate)^(k-2) (text_poke/
emulate-stack-desc: 2 of 10 seeds within 2000 schedules). Such bugs are few
schedules apart for a systematic search, so in each round, from the
`SWEEP_AFTER`-th run on, one schedule in every `SWEEP_EVERY + 1` comes from a
bounded exhaustive sweep (`Explorer`: at most one preemption and one
injected event, pruned by state) until the sweep is complete. On the seed
models the sweep completes within about 1200 schedules and hits every bug
whose minimum is within its bounds in at most about 200.

Once a failure with a new signature is hit the search returns it; the others
are found in later rounds with this one masked (the sweep continues where it
stopped).
"""

from __future__ import annotations

import contextlib
import random
from typing import Callable, Iterator

from hypothesis import HealthCheck, Phase, Verbosity, find, settings
from hypothesis import strategies as st
from hypothesis.errors import NoSuchExample
from hypothesis.internal.conjecture import providers

from ..run import RunResult
from .random import Dice

# Deviation rates, one per schedule (swarm testing, Groce et al., ISSTA 2012).
# Measured per failing variant (bench/run.py, 60 runs per rate): rates of
# 0.1-0.5 find every seed bug most often; 0.01-0.03 rarely find any.
RATES = (0.1, 0.2, 0.3, 0.5)
# The dice alone find 12 of the 15 seed bugs in a median of at most 8
# schedules; a sweep schedule costs more (a state fingerprint per decision).
SWEEP_AFTER = 30  # runs before the sweep starts
SWEEP_EVERY = 3  # Hypothesis examples per schedule of the sweep
SWEEP_BOUNDS = (1, 1)  # (preemptions, injected events) of the sweep


def dice(seed: int) -> Dice:
    """The schedule of Hypothesis' example `seed`."""
    rate = RATES[random.Random(f"panicfuzz/hypothesis/rate/{seed}").randrange(len(RATES))]
    return Dice(f"panicfuzz/hypothesis/{seed}", rate)


@contextlib.contextmanager
def isolated() -> Iterator[None]:
    """Hypothesis draws that depend on nothing but the search's own inputs.

    Hypothesis (6.131+) mixes integer literals of every importable local
    module into its draws, and caches them under `.hypothesis/constants/` in
    the current directory: importing an unrelated module changed the
    schedules a search explored, and every run wrote into the user's tree.
    Inside this block the local-constants pool is empty (the global pool,
    fixed per Hypothesis version, stays), so no module source is read and
    nothing is written. A no-op on a Hypothesis without the pool.
    """
    get = getattr(providers, "_get_local_constants", None)
    cache = getattr(providers, "CONSTANTS_CACHE", None)
    if get is None or cache is None:
        yield
        return
    empty = type(providers._local_constants)()
    providers._get_local_constants = lambda: empty
    providers.CONSTANTS_CACHE = type(cache)(cache.max_size)
    try:
        yield
    finally:
        providers._get_local_constants = get
        providers.CONSTANTS_CACHE = cache


class _Hit(BaseException):
    """Ends Hypothesis' search from inside the test, with the failing run (or None: budget spent).

    A BaseException, so Hypothesis neither reports nor re-runs it: the run is
    the answer, whichever source (Hypothesis' seed, or the sweep) produced it.
    """

    def __init__(self, result: RunResult | None):
        super().__init__("search over")
        self.result = result


def hypothesis_search(
    run: Callable[[Dice], RunResult],
    *,
    max_examples: int,
    seed: int,
    masked: set[str],
    on_run: Callable[[RunResult], None],
    sweep: Iterator[RunResult] | None = None,
) -> RunResult | None:
    """The first failing run with a new signature, or None (unshrunk: see `shrinkers`).

    `sweep` yields the runs of the bounded sweep; the caller keeps it across
    rounds. `max_examples` counts every run, of either source.
    """
    spent = 0

    def take(result: RunResult) -> None:
        nonlocal spent
        spent += 1
        on_run(result)
        if result.signature is not None and result.signature not in masked:
            raise _Hit(result)
        if spent >= max_examples:
            raise _Hit(None)

    def test(example: int) -> bool:
        nonlocal sweep
        if example == 0:
            return False  # Hypothesis' first example: run below, before its engine started
        take(run(dice(example)))
        if sweep is not None and spent >= SWEEP_AFTER and spent % (SWEEP_EVERY + 1) == 0:
            result = next(sweep, None)
            if result is None:
                sweep = None  # complete
            else:
                take(result)
        return False

    quiet = settings(
        max_examples=max_examples,
        database=None,
        deadline=None,
        derandomize=False,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
        verbosity=Verbosity.quiet,
    )
    try:
        if max_examples < 1:
            return None
        # Hypothesis' first example is always the simplest, 0: run it before
        # paying for Hypothesis' engine (about 1 ms per search).
        take(run(dice(0)))
        with isolated():
            find(st.integers(0, 2**64 - 1), test, settings=quiet, random=random.Random(seed))
    except _Hit as hit:
        return hit.result
    except NoSuchExample:
        pass
    return None
