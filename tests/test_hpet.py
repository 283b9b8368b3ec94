"""HPET read under panic (seed 000): each variant's outcome, found by actually searching."""

from __future__ import annotations

import pytest

from tests.support import assert_expected, replay_on, saved_cases, search_variant


def test_mainline_deadlocks_in_both_of_tglx_scenarios():
    report = search_variant("hpet", "mainline", max_schedules=600, seed=0)
    assert_expected("hpet", "mainline", report)
    messages = [f.result.outcome.message for f in report.findings]
    # Scenario 2: the user-mode #MC panics and spins on the lock held by the other CPU.
    assert any("spins in read_hpet() (in #MC) on hpet.lock, held by CPU0" in m for m in messages), messages
    # Scenario 1: a #GP inside the locked region panics and spins on its own lock.
    assert any("spins in read_hpet() (in #GP) on hpet.lock, which it holds itself" in m for m in messages), messages
    sizes = {f.result.outcome.message.split(" (in ")[1][:3]: f.result.size for f in report.findings}
    assert (sizes["#MC"].preemptions, sizes["#MC"].injected) == (1, 1)
    assert (sizes["#GP"].preemptions, sizes["#GP"].injected) == (0, 1)


@pytest.mark.parametrize("strategy", ["hypothesis", "random"])
@pytest.mark.parametrize("variant", ["panic-cpu-check", "panic-nmi-context"])
def test_fixes_survive_a_real_search(variant, strategy):
    report = search_variant("hpet", variant, max_schedules=1500, seed=1, strategy=strategy)
    assert report.schedules >= 1500
    assert_expected("hpet", variant, report)


@pytest.mark.parametrize("variant", ["panic-cpu-check", "panic-nmi-context"])
def test_fixes_survive_every_saved_mainline_case(variant):
    cases = saved_cases("hpet", "mainline")
    assert len(cases) >= 2
    for path in cases:
        result = replay_on(path, variant)
        assert not result.failed, f"{variant} fails on {path.name}: {result.outcome.message}"
