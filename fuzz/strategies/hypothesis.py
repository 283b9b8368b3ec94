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
import itertools
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
# Examples per Hypothesis engine. An engine keeps every example it ran (its tree of
# choices, and a cache of up to 10,000 results): about 2.5 MB per 1,000 schedules, without
# bound. A long search (with a seed) runs a fresh engine every CHUNK examples, seeded from
# the search's seed and the chunk's number, so its memory stays flat (bench/memory.py).
CHUNK = 2000


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

    def __init__(self, hit: tuple[RunResult, dict | None] | None):
        super().__init__("search over")
        self.hit = hit


SEEDS = st.integers(0, 2**64 - 1)


def hypothesis_search(
    run: Callable[[Dice, dict | None], RunResult],
    *,
    max_examples: int,
    seed: int | None,
    masked: set[str],
    on_run: Callable[[RunResult], None],
    sweep: Iterator[RunResult] | None = None,
    scenarios: st.SearchStrategy[dict] | None = None,
    parent: settings | None = None,
    key: bytes | None = None,
) -> tuple[RunResult, dict | None] | None:
    """The first failing run with a new signature and its scenario, or None (unshrunk: see `shrinkers`).

    `run(dice, scenario)` runs one schedule; with `scenarios`, each example
    draws a scenario before its seed (None: the model as given). `sweep`
    yields the runs of the bounded sweep (in the model as given); the caller
    keeps it across rounds. `max_examples` counts every run, of either source.

    `parent` None (the command line): no database, Hypothesis' randomness
    from `seed` alone. Otherwise Hypothesis' settings (a profile) are
    honoured: its database under `key` (a failing example is saved there
    and replayed first next time), `derandomize` when `seed` is None, its
    phases but shrinking (the trace passes shrink).
    """
    spent = 0
    hits: dict[tuple, RunResult] = {}

    def take(result: RunResult) -> bool:
        """Count one run; whether it is the failure searched for. Ends the search when the budget is spent."""
        nonlocal spent
        spent += 1
        on_run(result)
        if result.signature is not None and result.signature not in masked:
            return True
        if spent >= max_examples:
            raise _Hit(None)
        return False

    def split(example) -> tuple[dict | None, int]:
        return example if scenarios is not None else (None, example)

    def ident(example) -> tuple:
        scenario, n = split(example)
        return (tuple(sorted(scenario.items())) if scenario else None, n)

    def test(example) -> bool:
        nonlocal sweep
        k = ident(example)
        if k in hits:  # Hypothesis replaying the failure it found, or the first example run below
            return hits[k] is not None
        scenario, n = split(example)
        result = run(dice(n), scenario)
        if take(result):
            hits[k] = result
            return True
        if sweep is not None and spent >= SWEEP_AFTER and spent % (SWEEP_EVERY + 1) == 0:
            swept = next(sweep, None)
            if swept is None:
                sweep = None  # complete
            elif take(swept):
                raise _Hit((swept, None))
        return False

    quiet = dict(deadline=None, suppress_health_check=list(HealthCheck), verbosity=Verbosity.quiet)
    if parent is None:
        config = settings(max_examples=max_examples, database=None, derandomize=False, phases=[Phase.generate], **quiet)
    else:
        phases = [p for p in parent.phases if p is not Phase.shrink and p is not Phase.explain]
        config = settings(parent, max_examples=max_examples, phases=phases, **quiet)
    strategy = SEEDS if scenarios is None else st.tuples(scenarios, SEEDS)
    try:
        if max_examples < 1:
            return None
        # Hypothesis' first example is always the simplest (the defaults, seed 0): run it
        # before paying for Hypothesis' engine (about 1 ms per search).
        first = 0 if scenarios is None else (_simplest(scenarios), 0)
        result = run(dice(0), split(first)[0])
        hits[ident(first)] = result if take(result) else None
        if hits[ident(first)] is not None:
            return result, split(first)[0]
        with isolated():
            if seed is None:  # Hypothesis' randomness (or derandomize: every engine would draw the same)
                found = find(strategy, test, settings=config, random=None, database_key=key)
                return hits[ident(found)], split(found)[0]
            for chunk in itertools.count():
                before = spent
                try:
                    found = find(strategy, test, settings=settings(config, max_examples=min(max_examples, CHUNK)),
                                 random=random.Random(seed if chunk == 0 else f"{seed}/{chunk}"), database_key=key)
                    return hits[ident(found)], split(found)[0]
                except NoSuchExample:
                    if spent == before:  # nothing left that Hypothesis would try
                        return None
    except _Hit as hit:
        return hit.hit
    except NoSuchExample:
        return None


def _simplest(strategy: st.SearchStrategy):
    """The example Hypothesis tries first (the shrink target of every draw)."""
    with isolated():
        return find(strategy, lambda _: True, settings=settings(database=None, phases=[Phase.generate], max_examples=1))
