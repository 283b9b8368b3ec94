"""The Hypothesis stateful form of a protocol: any model, the scheduler's real choices, the shrunk timeline."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import run_state_machine_as_test

from panicfuzz import corpus
from panicfuzz.bare import execute_bare
from panicfuzz.run import execute
from panicfuzz.stateful import Forced, ProtocolFailure, schedule_machine
from panicfuzz.strategies import Replay

from .test_hypothesis_api import Abba


def quick(machine, **changes):
    """The machine's own settings (no Hypothesis shrink phase), derandomized and without a database."""
    fields = {"max_examples": 300, "stateful_step_count": 6, "database": None, "derandomize": True, **changes}
    return settings(machine.TestCase.settings, suppress_health_check=list(HealthCheck), **fields)


def test_stateful_search_finds_the_mainline_deadlock_with_its_shrunk_timeline():
    machine = schedule_machine("hpet", "mainline")
    assert Phase.shrink not in machine.TestCase.settings.phases
    with pytest.raises(ProtocolFailure) as e:
        run_state_machine_as_test(machine, settings=quick(machine))
    assert str(e.value).startswith("deadlock-")
    assert "hpet / mainline: DEADLOCK   (2 CPUs; " in str(e.value) and "replay in Python: Schedule(" in str(e.value)


def test_stateful_search_of_the_fix_passes():
    machine = schedule_machine("hpet", "panic-cpu-check")
    run_state_machine_as_test(machine, settings=quick(machine, max_examples=40))


@pytest.mark.parametrize("model", [Abba, "tests.test_hypothesis_api:Abba", "tests/test_hypothesis_api.py:Abba"])
def test_any_model_class_or_reference_and_the_failure_is_saved(model, tmp_path):
    machine = schedule_machine(model, "abba", corpus=tmp_path)
    assert machine.__name__ == "ScheduleMachine_toy_abba_abba"
    with pytest.raises(ProtocolFailure) as e:
        run_state_machine_as_test(machine, settings=quick(machine))
    (path,) = corpus.files(tmp_path)
    assert f"replay: panicfuzz replay {path}" in str(e.value)
    data = json.loads(path.read_text())
    assert data["failure"]["kind"] == "deadlock" and data["failure"]["preemptions"] == 1
    assert execute(Abba, "abba", Replay(corpus.trace_of(path, data)), logging=True).log_digest() == data["event_log_sha256"]


def test_a_deviation_lands_on_a_decision_that_offers_an_alternative_and_a_fix_survives():
    state = schedule_machine(Abba, "abba")()
    state.swarm(seed=None)
    for at in range(6):
        state.deviate(at=at * 7, alternative=at)
    source = Forced(dict(state.forced), None)
    execute_bare(Abba, "abba", source)
    assert state.forced and all(source.offers[i] > 1 for i in state.forced)
    machine = schedule_machine(Abba, "ordered")
    run_state_machine_as_test(machine, settings=quick(machine, max_examples=60))
    with pytest.raises(KeyError):
        schedule_machine(Abba, "no-such-variant")


def test_a_model_with_parameters_has_its_scenario_drawn_and_the_failure_shrunk_to_the_option(tmp_path):
    from .test_scenarios import Notifiers

    machine = schedule_machine(Notifiers, "v", corpus=tmp_path)
    with pytest.raises(ProtocolFailure) as e:
        run_state_machine_as_test(machine, settings=quick(machine, max_examples=400))
    assert "[crash_kexec_post_notifiers=True]" in str(e.value)  # the timeline names the one option it needs
    (path,) = corpus.files(tmp_path)
    data = json.loads(path.read_text())
    assert data["scenario"] == {"ncpus": 2, "crash_kexec_post_notifiers": True, "panic_print": 0}


def test_the_machine_settings_follow_the_loaded_profile():
    before = settings.get_current_profile_name()
    settings.register_profile("panicfuzz-test-tiny", max_examples=7, stateful_step_count=3, database=None)
    settings.load_profile("panicfuzz-test-tiny")
    try:
        machine = schedule_machine(Abba, "ordered")
    finally:
        settings.load_profile(before)
    s = machine.TestCase.settings
    assert (s.max_examples, s.stateful_step_count) == (7, 3) and Phase.shrink not in s.phases
    machine.TestCase().runTest()  # the profile's budget: seven examples of the fix, each at most three rules
