"""Partial-order reduction in the exhaustive search: the same answer from fewer schedules.

Differential, on every shipped model and variant: within the same bounds the
reduced and the plain search give the same verdict and the same set of failure
signatures (`panicfuzz.strategies.exhaustive`: sleep sets for injected events).
"""

from __future__ import annotations

import pytest

from panicfuzz import protocols
from panicfuzz.search import verify
from panicfuzz.strategies.exhaustive import Explorer, execute_cut

VARIANTS = [(name, v.name) for name in protocols.names() for v in protocols.load(name).variants]
# (preemptions, events), as large as the suite's time allows: text_poke's four targeted
# events, console's long runs and panic_path's three CPUs make their spaces the largest.
BOUNDS = {"console": (0, 2), "text_poke": (0, 1), "panic_path": (0, 1)}


def _explore(model, variant: str, bounds: tuple[int, int], reduce: bool) -> tuple[Explorer, set[str]]:
    ex = Explorer(lambda s: execute_cut(model, variant, s), preemptions=bounds[0], events=bounds[1], reduce=reduce)
    signatures = {r.signature for r in ex.runs() if r.signature is not None}
    return ex, signatures


@pytest.mark.parametrize("name, variant", VARIANTS, ids=[f"{n}/{v}" for n, v in VARIANTS])
def test_reduced_search_finds_the_same_failures(name, variant):
    model = protocols.load(name)
    bounds = BOUNDS.get(name, (1, 1))
    plain, plain_sigs = _explore(model, variant, bounds, reduce=False)
    reduced, reduced_sigs = _explore(model, variant, bounds, reduce=True)
    assert reduced_sigs == plain_sigs
    if model.variant_info(variant).expected == "holds":
        assert not plain_sigs
    assert reduced.schedules <= plain.schedules and plain.slept == 0


def test_reduction_skips_schedules_where_injections_commute():
    model = protocols.load("console")
    plain, _ = _explore(model, "v6.9", (1, 1), reduce=False)
    reduced, _ = _explore(model, "v6.9", (1, 1), reduce=True)
    assert reduced.slept > 0 and reduced.schedules < plain.schedules


def test_verify_reports_whether_it_reduced():
    model = protocols.load("hpet")
    on = verify(model, "panic-cpu-check", preemptions=1, events=1)
    off = verify(model, "panic-cpu-check", preemptions=1, events=1, reduce=False)
    assert on.holds and off.holds and on.reduced and not off.reduced
    assert on.schedules <= off.schedules
