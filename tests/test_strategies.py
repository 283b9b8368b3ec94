"""Search strategies: PCT and exhaustive DFS, and their place in `search()`."""

from __future__ import annotations

import collections

import pytest

from panicfuzz import protocols
from panicfuzz.run import execute
from panicfuzz.search import STRATEGIES, search
from panicfuzz.strategies.exhaustive import Explorer, deepening, event_capacity, execute_cut
from panicfuzz.strategies.pct import PctSearch, PctSource
from panicfuzz.trace import Inject
from tests import toys

HPET = protocols.load("hpet")


def _runner(model, variant):
    return lambda source: execute_cut(model, variant, source)


# -- PCT -----------------------------------------------------------------------------


def test_pct_is_a_pure_function_of_seed_and_index():
    a = execute(HPET, "mainline", PctSource(4, 9, depth=3, k=60, ncpus=2))
    b = execute(HPET, "mainline", PctSource(4, 9, depth=3, k=60, ncpus=2))
    assert a.trace == b.trace and a.outcome == b.outcome


def test_pct_has_depth_minus_one_change_points_and_depth_one_injects_nothing():
    for seed in range(20):
        src = PctSource(seed, 0, depth=3, k=50, ncpus=2)
        assert len(src.change_points) == 2
        assert sorted(src.priority.values()) == [3, 4]  # d .. d+n-1
    for i in range(30):
        r = execute(HPET, "mainline", PctSource(0, i, depth=1, k=60, ncpus=2))
        assert "i" not in r.kinds


def test_pct_search_learns_k_from_the_first_run():
    pct = PctSearch(seed=0, depth=3, ncpus=2)
    first = pct.source(0)
    assert not first.change_points  # nothing known yet: priorities only
    r = execute(HPET, "mainline", first)
    pct.observe(len(r.trace))
    assert pct.k == len(r.trace) and len(pct.source(1).change_points) == 2


def test_pct_finds_the_hpet_deadlock():
    found = 0
    for seed in range(3):
        report = search(HPET, "mainline", strategy="pct", depth=2, seed=seed, max_schedules=400, first_only=True)
        found += any(f.result.outcome.kind == "deadlock" for f in report.findings)
    assert found == 3


# -- exhaustive ------------------------------------------------------------------------


def test_strategies_are_all_selectable():
    assert set(STRATEGIES) >= {"hypothesis", "random", "pct", "exhaustive"}
    with pytest.raises(ValueError, match="unknown strategy"):
        search(HPET, "mainline", strategy="nope", max_schedules=1)


def test_every_explored_schedule_stays_within_the_bounds():
    ex = Explorer(_runner(HPET, "mainline"), preemptions=1, events=1)
    for r in ex.runs():
        assert r.kinds.count("p") <= 1 and r.kinds.count("i") <= 1
    assert ex.schedules > 10 and ex.states > 0
    assert ex.clipped  # more preemptions were on offer


def test_zero_bounds_explore_only_free_choices():
    ex = Explorer(_runner(HPET, "mainline"), preemptions=0, events=0)
    runs = list(ex.runs())
    assert all(set(r.kinds) <= {"d", "s"} for r in runs)
    assert not any(r.failed for r in runs)  # the default schedule completes


def test_pruning_keeps_every_failure_and_every_outcome():
    """State caching is sound: the same set of failure signatures as plain DFS, in fewer runs."""
    for k, e in ((0, 1), (1, 1)):
        plain = Explorer(_runner(toys.Semantics, "base"), preemptions=k, events=e, prune=False)
        plain_sigs = {r.signature for r in plain.runs()}
        pruned = Explorer(_runner(toys.Semantics, "base"), preemptions=k, events=e)
        pruned_sigs = {r.signature for r in pruned.runs()}
        assert plain_sigs == pruned_sigs and len(plain_sigs) >= 3
        assert pruned.schedules <= plain.schedules
    assert pruned.pruned > 0 and pruned.schedules < plain.schedules


def test_a_cut_off_run_is_a_partial_held_run():
    ex = Explorer(_runner(HPET, "panic-cpu-check"), preemptions=1, events=1)
    cut = [r for r in ex.runs() if r.outcome.message == "pruned"]
    assert cut and all(not r.failed and r.trace for r in cut)


def test_deepening_finds_the_zero_preemption_bug_before_the_one_preemption_bug():
    first: dict[str, int] = {}
    for r in deepening(_runner(HPET, "mainline"), HPET, max_preemptions=1):
        if r.failed:
            first.setdefault(r.signature, r.size.preemptions)
            if len(first) == 2:
                break
    assert list(first.values()) == [0, 1]


def test_exhaustive_search_finds_both_hpet_deadlocks():
    report = search(HPET, "mainline", strategy="exhaustive", max_schedules=400)
    sizes = sorted((f.result.size.preemptions, f.result.size.injected) for f in report.findings)
    assert sizes == [(0, 1), (1, 1)]
    assert event_capacity(HPET) == sum(e.limit for e in HPET.events)


def test_injections_respect_event_limits_in_exhaustive_runs():
    ex = Explorer(_runner(HPET, "mainline"), preemptions=0, events=event_capacity(HPET))
    for r in ex.runs():
        per_event = collections.Counter(a.event for a in r.trace if isinstance(a, Inject))
        assert all(per_event[e.name] <= e.limit for e in HPET.events)
