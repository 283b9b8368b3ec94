"""Stopping other CPUs, arm64 IPI-then-NMI (seed 002): each variant's outcome, found by searching."""

from __future__ import annotations

import re

import pytest

from panicfuzz import protocols
from panicfuzz.run import execute
from panicfuzz.strategies import RandomSource
from panicfuzz.strategies.deviations import Deviations
from tests.support import assert_expected, replay_on, saved_cases, search_variant

MODEL = protocols.load("smp_stop")


def keys(report) -> set[str]:
    return {f.result.outcome.signature_parts[1] for f in report.findings if f.result.outcome.kind == "invariant"}


@pytest.mark.parametrize("variant", [v.name for v in MODEL.variants])
def test_the_default_schedule_stops_everyone(variant):
    """No preemption: CPU2 is stopped before it starts, CPU0 when its irqs-off section ends."""
    result = execute(MODEL, variant, Deviations([]))
    assert not result.failed, result.outcome.message
    assert result.size.preemptions == 0


def test_nmi_only_parks_the_console_cpu_holding_the_port_lock():
    report = search_variant("smp_stop", "nmi-only", max_schedules=300, seed=0)
    assert_expected("smp_stop", "nmi-only", report)
    assert "port-lock-parked" in keys(report)
    parked = ("invariant", "port-lock-parked")
    f = next(f for f in report.findings if f.result.outcome.signature_parts == parked)
    # d7402513c935 sends both stop IPIs (the panic's crash stop and the reboot's stop)
    # as pseudo-NMIs: either one parks the console CPU inside its port lock.
    assert re.search(r"CPU0 was parked by IPI_CPU_(CRASH_)?STOP 0 us into the stop while holding port\.lock", f.result.outcome.message)
    assert (f.result.size.preemptions, f.result.size.injected) == (1, 0)


def test_v1_has_three_distinct_bugs():
    # The random source finds all three within 250 schedules for seeds 0..5; hypothesis needs
    # up to ~1700 schedules for the nested stop (a single preemption at one exact step).
    report = search_variant("smp_stop", "v1", max_schedules=600, seed=0, strategy="random")
    assert_expected("smp_stop", "v1", report)
    assert {"crash-regs-lost", "crash-stop-nested", "single-stopper"} <= keys(report), keys(report)
    messages = {f.result.outcome.signature_parts[1]: f.result.outcome.message for f in report.findings}
    assert "counted CPU{0,2} as stopped, but CPU0 signalled" in messages["crash-regs-lost"]
    assert "regs of the IPI_CPU_STOP handler overwrote the crash note" in messages["crash-stop-nested"]
    assert "overwrote the global stop_mask" in messages["single-stopper"]
    assert all(f.result.size.preemptions == 1 for f in report.findings)


def test_v1_regs_missing_and_single_stopper_under_hypothesis():
    report = search_variant("smp_stop", "v1", max_schedules=300, seed=0)
    assert {"crash-regs-lost", "single-stopper"} <= keys(report), keys(report)


@pytest.mark.parametrize("strategy", ["hypothesis", "random"])
@pytest.mark.parametrize("variant", ["merged", "x86"])
def test_fixes_survive_a_real_search(variant, strategy):
    report = search_variant("smp_stop", variant, max_schedules=600, seed=1, strategy=strategy)
    assert report.schedules >= 600
    assert_expected("smp_stop", variant, report)


@pytest.mark.parametrize("variant", ["merged", "x86"])
def test_fixes_survive_every_saved_case(variant):
    cases = saved_cases("smp_stop", "v1") + saved_cases("smp_stop", "nmi-only")
    assert len(cases) >= 4
    for path in cases:
        result = replay_on(path, variant)
        assert not result.failed, f"{variant} fails on {path}: {result.outcome.message}"


def test_merged_still_lets_the_nmi_in_before_local_daif_mask_but_saves_once():
    """The late IRQ stop and the NMI fallback do meet in merged: the NMI can arrive between the
    IRQ entry and local_daif_mask(), and then the note holds the IRQ handler's frame. The body
    still runs once (the outer never resumes), so crash-stop-nested holds."""
    notes = []

    class Probe(MODEL):
        def final_check(self):
            notes.append(self.crash_notes[0].value)
            super().final_check()

    for i in range(400):
        result = execute(Probe, "merged", RandomSource(11, i))
        assert not result.failed, result.outcome.message
    assert "regs of the IPI_CPU_STOP handler" in notes
    assert "regs of the interrupted task" in notes
