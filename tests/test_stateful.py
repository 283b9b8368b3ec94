"""The Hypothesis stateful form of a protocol runs the same trio machine."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, settings
from hypothesis.stateful import run_state_machine_as_test

from panicfuzz.stateful import ProtocolFailure, schedule_machine

QUICK = settings(max_examples=300, stateful_step_count=6, database=None, deadline=None, derandomize=True,
                 suppress_health_check=list(HealthCheck))


def test_stateful_search_finds_the_mainline_deadlock_with_its_timeline():
    with pytest.raises(ProtocolFailure) as e:
        run_state_machine_as_test(schedule_machine("hpet", "mainline"), settings=QUICK)
    assert str(e.value).startswith("deadlock-")
    assert "hpet / mainline: DEADLOCK" in str(e.value)


def test_stateful_search_of_the_fix_passes():
    run_state_machine_as_test(schedule_machine("hpet", "panic-cpu-check"), settings=settings(QUICK, max_examples=60))
